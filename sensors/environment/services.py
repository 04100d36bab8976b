"""The actions layer of environmental monitoring: every write that clients must hear about goes
through here, and only here calls the channel layer (``group_send`` inside ``transaction.on_commit``,
so a console never shows what was rolled back).

* ``record_events``: store the state machine's transitions (Alarm, AlarmEvent), open and close
  excursions, feed the flood detector, decide notifications, publish deltas to the consoles.
* ``request_action`` / ``add_comment``: what a person does to an alarm, recorded with who and when.
* ``save_override``: a facility manager's profile override, audited.
* ``review_log`` / ``record_corrective_action``: compliance records.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from sensors.alarms import Event, FloodChange

from .choices import EVALUATOR_ACTIONS, ActionKind, ActionStatus, AlarmState
from .models import (
    Alarm,
    AlarmAction,
    AlarmEvent,
    AlarmFlood,
    Excursion,
    ProfileChange,
    SensorProfileOverride,
)

log = logging.getLogger(__name__)

ALL_GROUP = "alarms"
ACTIVE = {AlarmState.UNACK.value, AlarmState.ACKED.value}

ACTION_PERMISSIONS = {
    ActionKind.ACKNOWLEDGE: "environment.acknowledge_alarm",
    ActionKind.SHELVE: "environment.shelve_alarm",
    ActionKind.UNSHELVE: "environment.shelve_alarm",
    ActionKind.COMMENT: "environment.comment_alarm",
    ActionKind.SUPPRESS: "environment.suppress_alarm",
    ActionKind.UNSUPPRESS: "environment.suppress_alarm",
    ActionKind.OUT_OF_SERVICE: "environment.suppress_alarm",
    ActionKind.RETURN_TO_SERVICE: "environment.suppress_alarm",
}


def site_group(site_id: int) -> str:
    return f"alarms.site.{site_id}"


def groups_for(site_id: int | None) -> list[str]:
    return [ALL_GROUP] + ([site_group(site_id)] if site_id else [])


def flood_group(site_id: int | None) -> str:
    """The flood detector's group: one console per site (ISA-18.2 counts floods per operator)."""
    return site_group(site_id) if site_id else ALL_GROUP


def to_dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


# --------------------------------------------------------------------------- serialisation


def alarm_dict(alarm: Alarm) -> dict:
    """An alarm as the console, the API and webhooks see it."""
    return {
        "id": alarm.pk,
        "key": alarm.key,
        "rule": alarm.rule,
        "title": alarm.title,
        "sensor": alarm.key if alarm.sensor_id else None,
        "gateway": alarm.key.split(":", 1)[1] if alarm.gateway_id else None,
        "site": alarm.site_id,
        "profile": alarm.profile,
        "state": alarm.state,
        "state_label": AlarmState(alarm.state).label,
        "priority": alarm.priority,
        "since": iso(alarm.since),
        "value": alarm.value,
        "quantity": alarm.quantity,
        "kind": alarm.kind,
        "threshold": alarm.threshold,
        "message": alarm.message,
        "occurrences": alarm.occurrences,
        "occurred_at": iso(alarm.occurred_at),
        "acknowledged_at": iso(alarm.acknowledged_at),
        "acknowledged_by": alarm.acknowledged_by or None,
        "shelved_until": iso(alarm.shelved_until),
        "shelve_reason": alarm.shelve_reason or None,
        "shelved_by": alarm.shelved_by or None,
        "escalation_level": alarm.escalation_level,
        "version": alarm.version,
        "url": reverse("environment:alarm-detail", args=[alarm.pk]),
    }


def event_dict(event: AlarmEvent) -> dict:
    return {
        "id": event.pk, "alarm": event.alarm_id, "t": iso(event.t), "from": event.from_state,
        "to": event.to_state, "priority": event.priority, "value": event.value, "reason": event.reason,
        "actor": event.actor or None,
    }


def action_dict(action: AlarmAction) -> dict:
    return {
        "id": action.pk, "alarm": action.alarm_id, "kind": action.kind, "user": action.username or None,
        "at": iso(action.created_at), "text": action.text, "until": iso(action.until), "status": action.status,
        "result": action.result,
    }


def flood_dict(flood: AlarmFlood) -> dict:
    return {
        "id": flood.pk, "group": flood.group, "site": flood.site_id, "started_at": iso(flood.started_at),
        "ended_at": iso(flood.ended_at), "count": flood.count, "headline": flood.headline,
        "summary": flood.summary,
    }


def open_alarms(site_id: int | None = None):
    qs = Alarm.objects.exclude(state=AlarmState.NORMAL).select_related("site")
    if site_id:
        qs = qs.filter(site_id=site_id)
    return qs.order_by("-since")


def snapshot(site_id: int | None = None) -> dict:
    """What a console shows when it connects: every alarm not normal, and open floods."""
    floods = AlarmFlood.objects.filter(ended_at=None)
    if site_id:
        floods = floods.filter(site_id=site_id)
    return {
        "alarms": [alarm_dict(a) for a in open_alarms(site_id)],
        "floods": [flood_dict(f) for f in floods],
        "service": service_health(),
    }


def service_health() -> dict:
    """Is an alarm service alive? Is ingest shedding load? (Both must be visible to operators.)"""
    from sensors.ingest.status import ingest_health

    from .models import AlarmPartition

    now = timezone.now()
    stale_after = timedelta(seconds=getattr(settings, "ALARM_SERVICE_STALE_S", 30))
    parts = list(AlarmPartition.objects.values("name", "heartbeat_at", "owner"))
    alive = [p for p in parts if p["heartbeat_at"] and now - p["heartbeat_at"] < stale_after]
    return {
        "running": bool(alive),
        "partitions": [
            {"name": p["name"], "heartbeat_at": iso(p["heartbeat_at"]), "owner": p["owner"]} for p in parts
        ],
        "ingest": ingest_health(now),
    }


# --------------------------------------------------------------------------- publishing


def publish(messages: list[tuple[str, dict]]) -> None:
    """Send (group, message) pairs to the consoles once the current transaction commits."""
    if not messages:
        return

    def send():
        layer = get_channel_layer()
        if layer is None:
            return
        for group, message in messages:
            try:
                async_to_sync(layer.group_send)(group, message)
            except Exception:  # noqa: BLE001 - a console missing a delta must never break the alarm path
                log.exception("could not publish %s to %s", message.get("type"), group)

    transaction.on_commit(send)


def _delta_messages(alarms: list[Alarm], events: list[AlarmEvent], floods: list[AlarmFlood]) -> list:
    per_group: dict[str, dict] = {}
    by_alarm = {a.pk: a for a in alarms}
    for a in alarms:
        for g in groups_for(a.site_id):
            per_group.setdefault(g, {"alarms": [], "events": [], "floods": []})["alarms"].append(alarm_dict(a))
    for e in events:
        a = by_alarm.get(e.alarm_id)
        for g in groups_for(a.site_id if a else None):
            per_group.setdefault(g, {"alarms": [], "events": [], "floods": []})["events"].append(event_dict(e))
    for f in floods:
        for g in groups_for(f.site_id):
            per_group.setdefault(g, {"alarms": [], "events": [], "floods": []})["floods"].append(flood_dict(f))
    return [(g, {"type": "alarms.delta", **body}) for g, body in per_group.items()]


# --------------------------------------------------------------------------- recording transitions


@dataclass
class Recorded:
    alarms: list[Alarm] = field(default_factory=list)
    events: list[AlarmEvent] = field(default_factory=list)
    floods: list[AlarmFlood] = field(default_factory=list)
    flood_changed: bool = False


class AlarmCache:
    """(key, rule) -> Alarm pk, so the hot path does not look alarms up again."""

    def __init__(self):
        self.ids: dict[tuple[str, str], int] = {}

    def get(self, unit, rule_id: str) -> Alarm:
        pk = self.ids.get((unit.key, rule_id))
        if pk is not None:
            alarm = Alarm.objects.select_for_update().filter(pk=pk).first()
            if alarm is not None:
                return alarm
        rule = unit.profile.rule(rule_id) if rule_id in unit.profile.rule_ids else None
        alarm, _ = Alarm.objects.get_or_create(
            key=unit.key, rule=rule_id,
            defaults={
                "sensor_id": unit.sensor_pk, "gateway_id": unit.gateway_pk, "site_id": unit.site_id,
                "title": unit.title[:300], "profile": unit.profile.slug, "priority": str(rule.priority) if rule else "low",
                "since": timezone.now(), "state": AlarmState.NORMAL,
            },
        )
        self.ids[(unit.key, rule_id)] = alarm.pk
        return alarm


def record_events(batch, *, cache: AlarmCache, flood=None, users: dict[str, int] | None = None) -> Recorded:
    """Store ``batch`` (a list of ``(unit, [Event])``), in the caller's transaction.

    ``unit`` describes the alarm subject: ``key``, ``sensor_pk``, ``gateway_pk``, ``site_id``, ``title``,
    ``profile`` and its ``ev`` (Evaluator). ``flood`` is the service's FloodDetector; ``users`` maps actor
    names to user ids for operator actions.
    """
    from . import notifications

    with notifications.batch():
        return _record_events(batch, cache=cache, flood=flood, users=users or {})


def _record_events(batch, *, cache: AlarmCache, flood, users: dict[str, int]) -> Recorded:
    from . import compliance, notifications

    out = Recorded()
    touched: dict[tuple[str, str], tuple] = {}
    for unit, events in batch:
        for e in events:
            k = (unit.key, e.rule)
            if k in touched:
                alarm = touched[k][1]
            else:
                alarm = cache.get(unit, e.rule)
                _sync_alarm(alarm, unit)
                touched[k] = (unit, alarm, [])
            row = _store_event(alarm, unit, e, users)
            touched[k][2].append((e, row))
            out.events.append(row)
            in_flood = False
            if flood is not None:
                group = flood_group(unit.site_id)
                change = flood.observe(e, group)
                if change is not None:
                    out.flood_changed = True
                    out.floods.append(_flood_change(change, unit.site_id))
                in_flood = flood.in_flood(group)
                out.flood_changed = True
            notifications.on_transition(alarm, row, e, in_flood=in_flood)
    for unit, alarm, rows in touched.values():
        _sync_alarm(alarm, unit)
        compliance.track_excursion(alarm, unit, rows)
        alarm.save()
        out.alarms.append(alarm)
    publish(_delta_messages(out.alarms, out.events, out.floods))
    return out


def _store_event(alarm: Alarm, unit, e: Event, users: dict[str, int]) -> AlarmEvent:
    t = to_dt(e.t)
    row = AlarmEvent.objects.create(
        alarm=alarm, t=t, from_state=str(e.from_state), to_state=str(e.to_state), priority=str(e.priority),
        value=e.value, reason=e.reason[:500], actor=(e.actor or "")[:150], user_id=users.get(e.actor or ""),
        is_occurrence=e.is_occurrence, is_realarm=e.is_realarm,
    )
    alarm.state = str(e.to_state)
    alarm.priority = str(e.priority)
    alarm.since = t
    alarm.value = e.value
    alarm.version = row.pk
    if e.is_occurrence:
        alarm.occurrences += 1
        alarm.occurred_at = t
        alarm.acknowledged_at, alarm.acknowledged_by = None, ""
    if str(e.to_state) == AlarmState.UNACK:
        alarm.annunciated_at = t
        alarm.escalation_level, alarm.escalated_at = 0, None
    if e.reason == "acknowledged":
        alarm.acknowledged_at, alarm.acknowledged_by = t, e.actor or ""
    return row


def _sync_alarm(alarm: Alarm, unit) -> None:
    """Copy what the state machine knows beyond the events (shelving details, rule definition)."""
    try:
        info = unit.ev.alarm(unit.key, alarm.rule)
    except KeyError:
        return
    alarm.shelved_until = to_dt(info["shelved_until"]) if info.get("shelved_until") else None
    alarm.shelve_reason = (info.get("shelve_reason") or "")[:500]
    alarm.shelved_by = (info.get("shelved_by") or "")[:150]
    alarm.quantity = info.get("quantity") or ""
    alarm.kind = info.get("kind") or ""
    alarm.threshold = info.get("threshold")
    alarm.message = (info.get("message") or "")[:500]
    alarm.source = (info.get("source") or "")[:500]
    alarm.profile = unit.profile.slug[:100]
    alarm.title = unit.title[:300]


def _flood_change(change: FloodChange, site_id: int | None) -> AlarmFlood:
    from . import notifications

    summary = dict(change.summary)
    if change.flood:
        flood = AlarmFlood.objects.create(
            group=change.group, site_id=site_id, started_at=to_dt(change.t), count=change.count,
            headline=summary.get("headline", "")[:500], summary=summary,
        )
    else:
        flood = AlarmFlood.objects.filter(group=change.group, ended_at=None).order_by("-started_at").first()
        if flood is None:
            flood = AlarmFlood(group=change.group, site_id=site_id, started_at=to_dt(summary.get("since") or change.t))
        flood.ended_at = to_dt(change.t)
        flood.count = summary.get("count", flood.count)
        flood.headline = summary.get("headline", flood.headline)[:500]
        flood.summary = summary
        flood.save()
    notifications.on_flood(flood, started=change.flood)
    return flood


def record_flood_changes(changes: list[FloodChange], site_of_group) -> list[AlarmFlood]:
    floods = [_flood_change(c, site_of_group(c.group)) for c in changes]
    publish(_delta_messages([], [], floods))
    return floods


# --------------------------------------------------------------------------- operator actions


def _check(user, kind: str) -> None:
    perm = ACTION_PERMISSIONS.get(kind)
    if perm is None:
        raise ValidationError(f"unknown action {kind!r}")
    if not user.is_authenticated or not user.has_perm(perm):
        raise PermissionDenied(f"you may not {ActionKind(kind).label.lower()} alarms")


def may_act(user, kind: str) -> bool:
    """Whether ``user`` may take this action at all: views ask before reading the form, so a refusal is a
    403 and never a form error that would hide it."""
    perm = ACTION_PERMISSIONS.get(kind)
    return bool(perm and user.is_authenticated and user.has_perm(perm))


def request_action(alarm: Alarm, kind: str, user, *, text: str = "", until: datetime | None = None) -> AlarmAction:
    """Record what ``user`` does to ``alarm``. Actions the state machine applies (acknowledge, shelve,
    ...) are queued for the alarm service, which applies them within about a second."""
    _check(user, kind)
    text = (text or "").strip()
    now = timezone.now()
    if kind == ActionKind.COMMENT and not text:
        raise ValidationError("a comment needs text")
    if kind == ActionKind.SHELVE:
        if not text:
            raise ValidationError("shelving needs a reason")
        max_s = getattr(settings, "ALARM_MAX_SHELVE_S", 24 * 3600)
        if until is None or until <= now:
            raise ValidationError("shelving needs an end in the future")
        if (until - now).total_seconds() > max_s:
            raise ValidationError(f"shelving is limited to {max_s / 3600:g} hours")
    if kind == ActionKind.SUPPRESS and until is not None and until <= now:
        raise ValidationError("the suppression must end in the future")
    action = AlarmAction.objects.create(
        alarm=alarm, kind=kind, user=user, username=user.get_username(), created_at=now, text=text, until=until,
        status=ActionStatus.PENDING if kind in EVALUATOR_ACTIONS else ActionStatus.RECORDED,
    )
    publish([(g, {"type": "alarms.action", "action": action_dict(action)}) for g in groups_for(alarm.site_id)])
    return action


def add_comment(alarm: Alarm, user, text: str) -> AlarmAction:
    return request_action(alarm, ActionKind.COMMENT, user, text=text)


def system_action(alarm: Alarm, kind: str, text: str) -> AlarmAction:
    """An action taken by the system (escalation), recorded like a person's."""
    action = AlarmAction.objects.create(alarm=alarm, kind=kind, username="", text=text, status=ActionStatus.RECORDED)
    publish([(g, {"type": "alarms.action", "action": action_dict(action)}) for g in groups_for(alarm.site_id)])
    return action


def finish_action(action: AlarmAction, status: str, result: str = "") -> None:
    action.status = status
    action.applied_at = timezone.now()
    action.result = result[:500]
    action.save(update_fields=["status", "applied_at", "result"])
    publish([(g, {"type": "alarms.action", "action": action_dict(action)}) for g in groups_for(action.alarm.site_id)])


# --------------------------------------------------------------------------- profile overrides


def save_override(sensor, user, *, profile: str, rules: dict, reason: str) -> ProfileChange | None:
    """Set (or clear, with empty values) a sensor's profile override; audited. Returns the audit record,
    or None when nothing changed."""
    from . import profiles

    if not user.has_perm("environment.override_profile"):
        raise PermissionDenied("you may not override monitoring profiles")
    if not (reason or "").strip():
        raise ValidationError("say why the monitoring is changed")
    cat = profiles.catalog()
    if profile and profile not in cat:
        raise ValidationError(f"unknown profile {profile!r}")
    target = cat.get(profile) if profile else profiles.base_profile(sensor, cat)[0]
    rules = {rid: f for rid, f in (rules or {}).items() if f}
    if rules:
        if target is None:
            raise ValidationError("the sensor has no profile to override rules of")
        errors = profiles.validate_rules(target, rules)
        if errors:
            raise ValidationError(errors)
    with transaction.atomic():
        override = SensorProfileOverride.objects.select_for_update().filter(sensor=sensor).first()
        before = profiles.profile_config(sensor, cat)
        if not profile and not rules:
            if override is None:
                return None
            override.delete()
            sensor.profile_override = None
        else:
            if override is None:
                override = SensorProfileOverride(sensor=sensor)
            override.profile, override.rules, override.updated_by = profile, rules, user
            override.save()
            sensor.profile_override = override
        after = profiles.profile_config(sensor, cat)
        if before == after:
            return None
        return ProfileChange.objects.create(
            sensor=sensor, sensor_label=sensor.sensor_id, changed_by=user, changed_by_name=user.get_username(),
            reason=reason.strip(), summary=describe_change(before, after)[:1000], before=before, after=after,
        )


def describe_change(before: dict, after: dict) -> str:
    parts = []
    for k in sorted(set(before) | set(after)):
        if k == "rule_overrides":
            continue
        if before.get(k) != after.get(k):
            parts.append(f"{k}: {before.get(k)!r} -> {after.get(k)!r}")
    b, a = before.get("rule_overrides") or {}, after.get("rule_overrides") or {}
    for rid in sorted(set(b) | set(a)):
        for f in sorted(set(b.get(rid, {})) | set(a.get(rid, {}))):
            if b.get(rid, {}).get(f) != a.get(rid, {}).get(f):
                parts.append(f"{rid}.{f}: {b.get(rid, {}).get(f, 'profile')} -> {a.get(rid, {}).get(f, 'profile')}")
    return "; ".join(parts) or "no change"


# --------------------------------------------------------------------------- compliance records


def review_log(sensor, day, user, note: str = ""):
    """A person confirms they reviewed a day of a fridge's temperature log (min, max, current)."""
    from . import compliance
    from .models import TemperatureLogReview

    if not user.has_perm("environment.add_temperaturelogreview"):
        raise PermissionDenied("you may not review temperature logs")
    row = compliance.daily_log_row(sensor, day)
    current = compliance.latest_reading(sensor, "temperature_c")
    review, created = TemperatureLogReview.objects.get_or_create(
        sensor=sensor, day=day,
        defaults={
            "min_c": row["min"], "max_c": row["max"], "current_c": current[1] if current else None,
            "current_at": current[0] if current else None, "reviewed_by": user, "note": note.strip(),
        },
    )
    if not created:
        raise ValidationError(f"{day} was already reviewed by {review.reviewed_by} at {review.reviewed_at:%Y-%m-%d %H:%M}")
    return review


def record_corrective_action(excursion: Excursion, user, text: str) -> Excursion:
    if not user.has_perm("environment.record_corrective_action"):
        raise PermissionDenied("you may not record corrective actions")
    text = (text or "").strip()
    if not text:
        raise ValidationError("describe the corrective action")
    excursion.corrective_action = text
    excursion.corrective_action_by = user
    excursion.corrective_action_at = timezone.now()
    excursion.save(update_fields=["corrective_action", "corrective_action_by", "corrective_action_at"])
    AlarmAction.objects.create(alarm=excursion.alarm, kind=ActionKind.COMMENT, user=user,
                               username=user.get_username(), text=f"Corrective action: {text}",
                               status=ActionStatus.RECORDED)
    return excursion
