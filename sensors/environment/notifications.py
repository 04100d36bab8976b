"""Who is told what, when, and the delivery of it.

Deciding (``on_transition``, ``on_flood``, ``escalate``) writes ``Notification`` rows in the caller's
transaction: the outbox. Delivering (``deliver_due``) runs in the notifier, outside any long
transaction: it leases due rows, hands them to their channel (``notify.get(kind)``), records every
attempt and schedules retries with backoff. So nothing is sent for a rolled-back alarm, and a
restart loses nothing.

* An annunciation (a new alarm or a re-alarm) goes to level 0 of every matching escalation policy and
  to every webhook endpoint that wants it. Other transitions (acknowledged, returned...) go to
  webhook endpoints with ``all_transitions``.
* While the alarm's console is in a flood (more than 10 alarms in 10 minutes), per-alarm messages are
  logged as ``suppressed`` and one summary goes out when the flood starts, and one when it ends.
* An alarm still unacknowledged ``after_minutes`` after it sounded is escalated to the next level.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import notify
from .choices import ActionKind, AlarmState, ChannelKind, DeliveryStatus, NotificationKind, at_least
from .models import (
    Alarm,
    AlarmEvent,
    AlarmFlood,
    DeliveryAttempt,
    EscalationPolicy,
    EscalationStep,
    Notification,
    WebhookEndpoint,
)

log = logging.getLogger(__name__)

DEFAULT_BACKOFF_S = (30, 120, 600, 1800, 3600)
LEASE_S = 120


def site_url() -> str:
    return getattr(settings, "SITE_URL", "http://127.0.0.1:8000").rstrip("/")


def backoff_s(attempts: int) -> float:
    steps = getattr(settings, "ALARM_WEBHOOK_BACKOFF_S", DEFAULT_BACKOFF_S)
    return float(steps[min(max(attempts, 1), len(steps)) - 1])


# --------------------------------------------------------------------------- recipients

_batch = threading.local()


@contextmanager
def batch():
    """Within one batch of transitions (a chunk, a tick), the recipients set-up is read once: a burst
    of alarms does not repeat the same queries for every alarm."""
    outer = getattr(_batch, "cache", None)
    if outer is None:
        _batch.cache = {}
    try:
        yield
    finally:
        if outer is None:
            _batch.cache = None


def _cached(key, load):
    cache = getattr(_batch, "cache", None)
    if cache is None:
        return load()
    if key not in cache:
        cache[key] = load()
    return cache[key]


def _level0(policy: EscalationPolicy) -> tuple[set[str], list[WebhookEndpoint]]:
    def load():
        step = policy.steps.filter(level=0).first()
        if step is None:
            return set(), []
        return step_emails(step), list(step.webhooks.filter(enabled=True))

    return _cached(("level0", policy.pk, policy.updated_at), load)


def _policies() -> list[EscalationPolicy]:
    return _cached("policies", lambda: list(EscalationPolicy.objects.filter(enabled=True)))


def policies_for(alarm: Alarm) -> list[EscalationPolicy]:
    base = (alarm.profile or "").split("~", 1)[0]
    out = []
    for policy in _policies():
        if policy.site_id is not None and policy.site_id != alarm.site_id:
            continue
        if not at_least(alarm.priority, policy.min_priority):
            continue
        if policy.profiles and base not in policy.profiles:
            continue
        out.append(policy)
    return out


def step_emails(step: EscalationStep) -> set[str]:
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    emails = set()
    if step.group_id:
        emails |= set(users.filter(groups=step.group_id).values_list("email", flat=True))
    emails |= set(step.users.filter(is_active=True).exclude(email="").values_list("email", flat=True))
    emails |= {line.strip() for line in step.emails.splitlines() if line.strip()}
    return {e.lower() for e in emails}


def endpoints_for(alarm: Alarm | None, site_id: int | None, priority: str | None) -> list[WebhookEndpoint]:
    endpoints = _cached("endpoints", lambda: list(WebhookEndpoint.objects.filter(enabled=True)))
    return [ep for ep in endpoints if (ep.site_id is None or ep.site_id == site_id)
            and (priority is None or at_least(priority, ep.min_priority))]


# --------------------------------------------------------------------------- messages


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:g}"


def alarm_subject(alarm: Alarm, event: AlarmEvent | None = None, prefix: str = "") -> str:
    what = alarm.rule.replace("_", " ")
    value = f" ({_fmt(alarm.value)})" if alarm.value is not None and alarm.quantity else ""
    state = ""
    if event is not None and event.to_state != AlarmState.UNACK:
        state = f" - {AlarmState(event.to_state).label.lower()}"
    return f"{prefix}[{alarm.priority.upper()}] {alarm.title}: {what}{value}{state}"[:300]


def alarm_body(alarm: Alarm, event: AlarmEvent | None = None, intro: str = "") -> str:
    limit = ""
    if alarm.threshold is not None:
        limit = f"{'above' if alarm.kind == 'high' else 'below'} {_fmt(alarm.threshold)}"
    lines = [
        intro,
        f"Alarm:     {alarm.rule} ({alarm.message})" if alarm.message else f"Alarm:     {alarm.rule}",
        f"Where:     {alarm.title}",
        f"Priority:  {alarm.get_priority_display()}",
        f"State:     {alarm.get_state_display()} since {alarm.since:%Y-%m-%d %H:%M:%S %Z}",
        f"Value:     {_fmt(alarm.value)} {alarm.quantity} (limit: {limit or 'n/a'})",
    ]
    if event is not None:
        lines.append(f"Change:    {event.from_state} -> {event.to_state} ({event.reason})"
                     + (f" by {event.actor}" if event.actor else ""))
    if alarm.source:
        lines.append(f"Source:    {alarm.source}")
    lines += ["", f"Acknowledge: {site_url()}/environment/alarms/{alarm.pk}/",
              f"Console:     {site_url()}/environment/alarms/"]
    return "\n".join(line for line in lines if line is not None).strip() + "\n"


def alarm_payload(alarm: Alarm, event: AlarmEvent | None, name: str, **extra) -> dict:
    from .services import alarm_dict, event_dict

    payload = {"event": name, "alarm": alarm_dict(alarm)}
    if event is not None:
        payload["transition"] = event_dict(event)
    payload.update(extra)
    return payload


def _email(target: str, kind: str, subject: str, body: str, *, alarm=None, flood=None, level=0, priority="low",
           status=DeliveryStatus.PENDING) -> Notification:
    return Notification(channel=ChannelKind.EMAIL, kind=kind, target=target, alarm=alarm, flood=flood, level=level,
                        priority=priority, subject=subject, body=body, status=status)


def _hook(endpoint: WebhookEndpoint, kind: str, subject: str, payload: dict, *, alarm=None, flood=None, level=0,
          priority="low", status=DeliveryStatus.PENDING) -> Notification:
    return Notification(channel=ChannelKind.WEBHOOK, kind=kind, target=endpoint.name, endpoint=endpoint, alarm=alarm,
                        flood=flood, level=level, priority=priority, subject=subject, payload=payload, status=status)


# --------------------------------------------------------------------------- deciding


def on_transition(alarm: Alarm, event: AlarmEvent, e, *, in_flood: bool = False) -> list[Notification]:
    """The notifications one transition causes (written now, delivered by the notifier)."""
    annunciation = event.to_state == AlarmState.UNACK
    status = DeliveryStatus.SUPPRESSED if in_flood else DeliveryStatus.PENDING
    out: list[Notification] = []
    if annunciation:
        emails: set[str] = set()
        hooks: dict[int, WebhookEndpoint] = {}
        for policy in policies_for(alarm):
            step_mails, step_hooks = _level0(policy)
            emails |= step_mails
            hooks.update({h.pk: h for h in step_hooks})
        subject = alarm_subject(alarm, event, "RE-ALARM " if event.is_realarm else "")
        body = alarm_body(alarm, event, "This alarm sounded again: it is still active." if event.is_realarm else "")
        for target in sorted(emails):
            out.append(_email(target, NotificationKind.ALARM, subject, body, alarm=alarm, priority=alarm.priority,
                              status=status))
        for ep in endpoints_for(alarm, alarm.site_id, alarm.priority):
            hooks[ep.pk] = ep
        payload = alarm_payload(alarm, event, "alarm.raised" if event.is_occurrence else "alarm.realarm")
        for ep in hooks.values():
            out.append(_hook(ep, NotificationKind.ALARM, subject, payload, alarm=alarm, priority=alarm.priority,
                             status=status))
    else:
        eps = [ep for ep in endpoints_for(alarm, alarm.site_id, alarm.priority) if ep.all_transitions]
        if eps:
            subject = alarm_subject(alarm, event)
            payload = alarm_payload(alarm, event, "alarm.transition")
            for ep in eps:
                out.append(_hook(ep, NotificationKind.TRANSITION, subject, payload, alarm=alarm,
                                 priority=alarm.priority, status=status))
    if out:
        Notification.objects.bulk_create(out)
    return out


def on_flood(flood: AlarmFlood, *, started: bool) -> list[Notification]:
    """One summary to everyone on level 0 of any policy of the site, and to every webhook."""
    s = flood.summary or {}
    if started:
        subject = f"ALARM FLOOD: {flood.headline}"
        intro = (f"More than {getattr(settings, 'ALARM_FLOOD_THRESHOLD', 10)} alarms within "
                 f"{getattr(settings, 'ALARM_FLOOD_WINDOW_S', 600) // 60:g} minutes. Individual notifications "
                 "are held back until it calms down; the console shows every alarm.")
    else:
        subject = f"Alarm flood over: {flood.headline}"
        intro = "The alarm rate has calmed down; notifications are sent one by one again."
    lines = [intro, "", f"Console group: {flood.group}", f"Started: {flood.started_at:%Y-%m-%d %H:%M:%S %Z}"]
    if flood.ended_at:
        lines.append(f"Ended:   {flood.ended_at:%Y-%m-%d %H:%M:%S %Z}")
    first = s.get("first")
    if first:
        lines.append(f"First alarm (often the cause): {first.get('key')} {first.get('rule')} ({first.get('priority')})")
    if s.get("by_priority"):
        lines.append("By priority: " + ", ".join(f"{k}: {v}" for k, v in s["by_priority"].items()))
    if s.get("by_rule"):
        lines.append("By rule:     " + ", ".join(f"{k}: {v}" for k, v in s["by_rule"].items()))
    if s.get("by_sensor"):
        lines.append("By sensor:   " + ", ".join(f"{k}: {v}" for k, v in list(s["by_sensor"].items())[:20]))
    lines += ["", f"Console: {site_url()}/environment/alarms/"]
    body = "\n".join(lines) + "\n"
    kind = NotificationKind.FLOOD_START if started else NotificationKind.FLOOD_END
    emails: set[str] = set()
    hooks: dict[int, WebhookEndpoint] = {}
    policies = EscalationPolicy.objects.filter(enabled=True).filter(Q(site=None) | Q(site_id=flood.site_id))
    for policy in policies:
        step = policy.steps.filter(level=0).first()
        if step is not None:
            emails |= step_emails(step)
            hooks.update({h.pk: h for h in step.webhooks.filter(enabled=True)})
    for ep in endpoints_for(None, flood.site_id, None):
        hooks[ep.pk] = ep
    from .services import flood_dict

    payload = {"event": "flood.started" if started else "flood.ended", "flood": flood_dict(flood)}
    prio = "high" if (s.get("by_priority") or {}).get("high") else "medium"
    out = [_email(t, kind, subject, body, flood=flood, priority=prio) for t in sorted(emails)]
    out += [_hook(ep, kind, subject, payload, flood=flood, priority=prio) for ep in hooks.values()]
    if out:
        Notification.objects.bulk_create(out)
    return out


def escalate(now=None) -> int:
    """Escalate alarms still unacknowledged past a step's delay. Returns how many were escalated."""
    from .services import system_action

    now = now or timezone.now()
    steps = list(EscalationStep.objects.filter(level__gt=0, policy__enabled=True).order_by("after_minutes"))
    if not steps:
        return 0
    earliest = now - timedelta(minutes=min(s.after_minutes for s in steps))
    count = 0
    with transaction.atomic():
        alarms = Alarm.objects.select_for_update(skip_locked=True).filter(
            state=AlarmState.UNACK, annunciated_at__lte=earliest
        )
        for alarm in alarms:
            due: list[EscalationStep] = []
            for policy in policies_for(alarm):
                for step in policy.steps.filter(level__gt=alarm.escalation_level).order_by("level"):
                    if alarm.annunciated_at + timedelta(minutes=step.after_minutes) <= now:
                        due.append(step)
            if not due:
                continue
            level = max(s.level for s in due)
            emails: set[str] = set()
            hooks: dict[int, WebhookEndpoint] = {}
            for step in due:
                if step.level == level:
                    emails |= step_emails(step)
                    hooks.update({h.pk: h for h in step.webhooks.filter(enabled=True)})
            minutes = int((now - alarm.annunciated_at).total_seconds() // 60)
            subject = alarm_subject(alarm, None, f"ESCALATED (level {level}) ")
            body = alarm_body(alarm, None, f"Nobody has acknowledged this alarm for {minutes} minutes. "
                                           f"You are escalation level {level}.")
            rows = [_email(t, NotificationKind.ESCALATION, subject, body, alarm=alarm, level=level,
                           priority=alarm.priority) for t in sorted(emails)]
            payload = alarm_payload(alarm, None, "alarm.escalated", level=level, unacknowledged_minutes=minutes)
            rows += [_hook(ep, NotificationKind.ESCALATION, subject, payload, alarm=alarm, level=level,
                           priority=alarm.priority) for ep in hooks.values()]
            Notification.objects.bulk_create(rows)
            alarm.escalation_level, alarm.escalated_at = level, now
            alarm.save(update_fields=["escalation_level", "escalated_at", "updated_at"])
            who = ", ".join(sorted(emails) + [h.name for h in hooks.values()]) or "nobody (no recipients configured)"
            system_action(alarm, ActionKind.ESCALATE, f"Escalated to level {level} after {minutes} min: {who}")
            count += 1
    return count


# --------------------------------------------------------------------------- delivering


def deliver_due(now=None, limit: int = 200) -> int:
    """Deliver what is due. Returns the number of notifications handled (sent or failed)."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING], next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")[:limit]
        )
        if not due:
            return 0
        # A lease: another notifier (or this one after a crash) retries only once it has expired.
        Notification.objects.filter(pk__in=[n.pk for n in due]).update(next_attempt_at=now + timedelta(seconds=LEASE_S))
    due = list(Notification.objects.filter(pk__in=[n.pk for n in due]).select_related("endpoint").order_by("id"))
    groups: dict[str, list[Notification]] = defaultdict(list)
    for n in due:
        try:
            channel = notify.get(n.channel)
        except KeyError as exc:
            _finish(n, notify.Result(False, error=str(exc)), now, max_attempts=1)
            continue
        groups[channel.group_key(n)].append(n)
    for items in groups.values():
        channel = notify.get(items[0].channel)
        result = channel.deliver(items)
        for n in items:
            _finish(n, result, now, max_attempts=channel.max_attempts_for(n))
    return len(due)


def _finish(n: Notification, result, now, *, max_attempts: int) -> None:
    DeliveryAttempt.objects.create(notification=n, at=now, ok=result.ok, status_code=result.status_code,
                                   error=result.error[:500], duration_ms=result.duration_ms)
    n.attempts += 1
    if result.ok:
        n.status, n.sent_at, n.last_error = DeliveryStatus.SENT, now, ""
    elif n.attempts >= max_attempts:
        n.status, n.last_error = DeliveryStatus.FAILED, result.error[:500]
        log.error("giving up on %s notification %s to %s after %d attempts: %s", n.channel, n.pk, n.target,
                  n.attempts, result.error)
    else:
        n.status, n.last_error = DeliveryStatus.RETRYING, result.error[:500]
        n.next_attempt_at = now + timedelta(seconds=backoff_s(n.attempts))
    n.save(update_fields=["status", "attempts", "sent_at", "last_error", "next_attempt_at"])
