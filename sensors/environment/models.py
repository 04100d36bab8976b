"""Environmental monitoring data: aggregates of readings, profile overrides and their audit trail,
alarms with their immutable history and operator actions, notifications and their delivery log,
excursions and the daily temperature-log reviews.

Audit records (``ProfileChange``, ``AlarmEvent``, ``AlarmAction``, ``DeliveryAttempt``) refuse to be
changed or deleted through the ORM; the admin shows them read-only.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from hospital.facility.models import Site, TimeStamped
from sensors.models import Gateway, Sensor

from .choices import (
    ActionKind,
    ActionStatus,
    AlarmState,
    ChannelKind,
    DeliveryStatus,
    NotificationKind,
    Priority,
)


class ImmutableError(RuntimeError):
    """An audit record was about to be changed or deleted."""


class Immutable(models.Model):
    """Rows are written once. ``MUTABLE_FIELDS`` (if any) may still be updated with ``update_fields``."""

    MUTABLE_FIELDS: frozenset[str] = frozenset()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            fields = kwargs.get("update_fields")
            if not fields or not set(fields) <= self.MUTABLE_FIELDS:
                raise ImmutableError(f"{self._meta.label} records are immutable")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableError(f"{self._meta.label} records are immutable")


# --------------------------------------------------------------------------- aggregates of readings


class MinuteAggregate(models.Model):
    """min, max, mean and count of one quantity of one sensor over one minute (UTC). Kept for years."""

    sensor = models.ForeignKey(Sensor, on_delete=models.CASCADE, related_name="minute_aggregates")
    quantity = models.CharField(max_length=32)
    minute = models.DateTimeField(help_text="Start of the minute (UTC).")
    count = models.PositiveIntegerField()
    min = models.FloatField()
    max = models.FloatField()
    mean = models.FloatField()
    sum = models.FloatField(help_text="Sum of the values, so longer means weigh every reading the same.")

    class Meta:
        ordering = ["-minute"]
        constraints = [
            models.UniqueConstraint(fields=["sensor", "quantity", "minute"], name="minute_aggregate_unique")
        ]
        indexes = [models.Index(fields=["minute"], name="minute_aggregate_minute_idx")]

    def __str__(self):
        return f"{self.sensor_id} {self.quantity} {self.minute:%Y-%m-%d %H:%M}"


class DailyAggregate(models.Model):
    """min, max, mean and count of one quantity of one sensor over one day (the site's local day)."""

    sensor = models.ForeignKey(Sensor, on_delete=models.CASCADE, related_name="daily_aggregates")
    quantity = models.CharField(max_length=32)
    day = models.DateField()
    count = models.PositiveIntegerField()
    min = models.FloatField()
    max = models.FloatField()
    mean = models.FloatField()
    sum = models.FloatField()

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["sensor", "quantity", "day"], name="daily_aggregate_unique")]
        indexes = [models.Index(fields=["day"], name="daily_aggregate_day_idx")]

    def __str__(self):
        return f"{self.sensor_id} {self.quantity} {self.day}"


class RollupState(models.Model):
    """How far the rollup has gone: every minute before ``upto`` has been aggregated."""

    name = models.CharField(max_length=32, unique=True)
    upto = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    rows_last_run = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} up to {self.upto}"


class RollupBacklog(models.Model):
    """A minute that received a reading after it was rolled up (a gateway that was offline and sent its
    buffer late): the next rollup recomputes it."""

    sensor = models.ForeignKey(Sensor, on_delete=models.CASCADE, related_name="+")
    quantity = models.CharField(max_length=32)
    minute = models.DateTimeField()

    class Meta:
        ordering = ["minute"]
        constraints = [
            models.UniqueConstraint(fields=["sensor", "quantity", "minute"], name="rollup_backlog_unique")
        ]

    def __str__(self):
        return f"{self.sensor_id} {self.quantity} {self.minute:%Y-%m-%d %H:%M}"


# --------------------------------------------------------------------------- profiles


class SensorProfileOverride(models.Model):
    """A facility manager's deviation from a sensor's monitoring profile: another profile, and/or
    changed limits or delays of single rules. Every change is recorded in ``ProfileChange``."""

    sensor = models.OneToOneField(Sensor, on_delete=models.CASCADE, related_name="profile_override")
    profile = models.CharField(
        max_length=64, blank=True, help_text="Use this profile instead of the sensor's own or its type's."
    )
    rules = models.JSONField(
        default=dict, blank=True,
        help_text='Per rule: {"temperature_high": {"threshold": 8.5, "on_delay_s": 900}}. Fields: threshold, '
        "deadband, on_delay_s, off_delay_s, realarm_s, priority.",
    )
    updated_at = models.DateTimeField(auto_now=True, editable=False)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="+"
    )

    class Meta:
        ordering = ["sensor"]
        permissions = [("override_profile", "Can override a sensor's monitoring profile")]

    def __str__(self):
        return f"override for {self.sensor}"


class ProfileChange(Immutable):
    """Audit trail of monitoring configuration: who changed what, when, why, before and after."""

    sensor = models.ForeignKey(Sensor, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    sensor_label = models.CharField(max_length=64, help_text="The sensor id, kept if the sensor is deleted.")
    changed_at = models.DateTimeField(default=timezone.now, editable=False)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="+"
    )
    changed_by_name = models.CharField(max_length=150, blank=True, editable=False)
    reason = models.TextField()
    summary = models.CharField(max_length=1000, blank=True)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["sensor", "changed_at"], name="profile_change_sensor_idx")]

    def __str__(self):
        return f"{self.sensor_label} {self.changed_at:%Y-%m-%d %H:%M} by {self.changed_by_name or 'system'}"


# --------------------------------------------------------------------------- the alarm service's state


class EvaluatorState(models.Model):
    """The alarm state machine's state for one sensor or gateway (``Evaluator.to_dict``), written in the
    same transaction as the readings that changed it, so a restarted worker continues exactly."""

    key = models.CharField(max_length=100, unique=True)
    sensor = models.OneToOneField(Sensor, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    gateway = models.OneToOneField(Gateway, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    state = models.TextField(help_text="JSON.")
    updated_at = models.DateTimeField()
    version = models.BigIntegerField(default=0, help_text="Grows with every write; a process holding an older "
                                     "copy reloads it (several ingest processes share the sensors).")

    class Meta:
        ordering = ["key"]

    def __str__(self):
        return self.key


class AlarmPartition(models.Model):
    """The alarm services of one partition (all sites, or one site; one or several ingest processes):
    the flood detector's state, shared by its processes, and the last process that ticked."""

    name = models.CharField(max_length=64, unique=True)
    owner = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    flood = models.JSONField(default=dict, blank=True, help_text="Flood detector state.")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


# --------------------------------------------------------------------------- alarms


class Alarm(models.Model):
    """The current state of one alarm: one rule on one sensor, or a gateway's offline alarm."""

    key = models.CharField(max_length=100, help_text="Sensor id, or gateway:<id>.")
    rule = models.CharField(max_length=64)
    sensor = models.ForeignKey(Sensor, on_delete=models.SET_NULL, null=True, blank=True, related_name="alarms")
    gateway = models.ForeignKey(Gateway, on_delete=models.SET_NULL, null=True, blank=True, related_name="alarms")
    site = models.ForeignKey(Site, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    title = models.CharField(max_length=300, help_text="What and where, e.g. 'Vaccine refrigerator 1E-01'.")
    profile = models.CharField(max_length=100, blank=True)
    quantity = models.CharField(max_length=32, blank=True)
    kind = models.CharField(max_length=8, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True)
    source = models.CharField(max_length=500, blank=True)
    state = models.CharField(max_length=32, choices=AlarmState.choices, default=AlarmState.NORMAL)
    priority = models.CharField(max_length=8, choices=Priority.choices)
    since = models.DateTimeField(help_text="Time of the last transition.")
    value = models.FloatField(null=True, blank=True)
    occurrences = models.PositiveIntegerField(default=0)
    occurred_at = models.DateTimeField(null=True, blank=True, help_text="Start of the latest occurrence.")
    annunciated_at = models.DateTimeField(
        null=True, blank=True, help_text="Last time it sounded (occurrence or re-alarm); escalation counts from here."
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True)
    shelved_until = models.DateTimeField(null=True, blank=True)
    shelve_reason = models.CharField(max_length=500, blank=True)
    shelved_by = models.CharField(max_length=150, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    escalated_at = models.DateTimeField(null=True, blank=True)
    version = models.BigIntegerField(default=0, help_text="Id of the last event: consoles ignore older updates.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-since"]
        constraints = [models.UniqueConstraint(fields=["key", "rule"], name="alarm_key_rule_unique")]
        indexes = [
            models.Index(fields=["state"], name="alarm_state_idx"),
            models.Index(fields=["site", "state"], name="alarm_site_state_idx"),
        ]
        permissions = [
            ("acknowledge_alarm", "Can acknowledge alarms"),
            ("shelve_alarm", "Can shelve and unshelve alarms"),
            ("comment_alarm", "Can comment on alarms"),
            ("suppress_alarm", "Can suppress alarms and take them out of service"),
        ]

    def __str__(self):
        return f"{self.key} {self.rule} ({self.get_state_display()})"

    @property
    def is_active(self) -> bool:
        return self.state in (AlarmState.UNACK, AlarmState.ACKED)

    @property
    def needs_ack(self) -> bool:
        return self.state in (AlarmState.UNACK, AlarmState.RTNUN)


class AlarmEvent(Immutable):
    """One transition of one alarm, as the state machine emitted it. Never changed, never deleted."""

    alarm = models.ForeignKey(Alarm, on_delete=models.PROTECT, related_name="events")
    t = models.DateTimeField(help_text="Exact time of the cause (e.g. when the on-delay completed).")
    from_state = models.CharField(max_length=32, choices=AlarmState.choices)
    to_state = models.CharField(max_length=32, choices=AlarmState.choices)
    priority = models.CharField(max_length=8, choices=Priority.choices)
    value = models.FloatField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    actor = models.CharField(max_length=150, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="+")
    is_occurrence = models.BooleanField(default=False)
    is_realarm = models.BooleanField(default=False)
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["t", "id"]
        indexes = [
            models.Index(fields=["alarm", "t"], name="alarm_event_alarm_t_idx"),
            models.Index(fields=["t"], name="alarm_event_t_idx"),
        ]

    def __str__(self):
        return f"{self.alarm_id} {self.from_state} -> {self.to_state} @ {self.t:%Y-%m-%d %H:%M:%S}"


class AlarmAction(Immutable):
    """What a person (or the escalation) did to an alarm, with who and when. Actions the state machine
    applies (acknowledge, shelve, ...) start ``pending`` and are applied by the alarm service."""

    MUTABLE_FIELDS = frozenset({"status", "applied_at", "result"})

    alarm = models.ForeignKey(Alarm, on_delete=models.PROTECT, related_name="actions")
    kind = models.CharField(max_length=24, choices=ActionKind.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="+")
    username = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    text = models.TextField(blank=True, help_text="Comment, or the reason for shelving/suppressing.")
    until = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=ActionStatus.choices, default=ActionStatus.PENDING)
    applied_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "created_at"], name="alarm_action_status_idx")]

    def __str__(self):
        return f"{self.kind} by {self.username or 'system'} @ {self.created_at:%Y-%m-%d %H:%M:%S}"


class AlarmFlood(models.Model):
    """A period with more than 10 alarms in 10 minutes on one console (ISA-18.2)."""

    group = models.CharField(max_length=64, help_text="Console group, e.g. alarms.site.1.")
    site = models.ForeignKey(Site, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    count = models.PositiveIntegerField(default=0)
    headline = models.CharField(max_length=500, blank=True)
    summary = models.JSONField(default=dict)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"{self.group} flood from {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.ended_at is None


class Excursion(models.Model):
    """A period during which a limit rule's condition held long enough to raise an alarm: from the
    moment the value crossed the limit to the moment it was back past the deadband."""

    sensor = models.ForeignKey(Sensor, on_delete=models.SET_NULL, null=True, blank=True, related_name="excursions")
    alarm = models.ForeignKey(Alarm, on_delete=models.PROTECT, related_name="excursions")
    rule = models.CharField(max_length=64)
    quantity = models.CharField(max_length=32)
    kind = models.CharField(max_length=8)
    threshold = models.FloatField()
    priority = models.CharField(max_length=8, choices=Priority.choices)
    started_at = models.DateTimeField(help_text="The value crossed the limit (alarm time minus the on-delay).")
    alarmed_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True, help_text="Back within the limit (past the deadband).")
    returned_at = models.DateTimeField(null=True, blank=True, help_text="The alarm returned (after the off-delay).")
    extreme = models.FloatField(null=True, blank=True, help_text="Highest (high rule) or lowest (low rule) value.")
    extreme_at = models.DateTimeField(null=True, blank=True)
    mkt_c = models.FloatField(null=True, blank=True, help_text="Mean kinetic temperature over the excursion.")
    corrective_action = models.TextField(blank=True)
    corrective_action_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    corrective_action_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["sensor", "started_at"], name="excursion_sensor_idx")]
        permissions = [("record_corrective_action", "Can record the corrective action of an excursion")]

    def __str__(self):
        return f"{self.sensor_id} {self.rule} from {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def duration_s(self) -> float | None:
        end = self.ended_at or self.returned_at
        return (end - self.started_at).total_seconds() if end else None


class TemperatureLogReview(models.Model):
    """A person's review of one day of a fridge's temperature log (min, max and current value as they
    saw them). Data loggers must be reviewed each workday."""

    sensor = models.ForeignKey(Sensor, on_delete=models.PROTECT, related_name="log_reviews")
    day = models.DateField()
    min_c = models.FloatField(null=True, blank=True)
    max_c = models.FloatField(null=True, blank=True)
    current_c = models.FloatField(null=True, blank=True, help_text="The latest reading when reviewed.")
    current_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField(default=timezone.now)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["sensor", "day"], name="temperature_review_unique")]

    def __str__(self):
        return f"{self.sensor} {self.day} reviewed by {self.reviewed_by}"


# --------------------------------------------------------------------------- notifications


def new_secret() -> str:
    return secrets.token_hex(32)


class WebhookEndpoint(TimeStamped):
    """A paging system or other receiver: alarm changes are POSTed as JSON, signed with HMAC-SHA256."""

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=128, default=new_secret,
                              help_text="Shared secret for the X-Hospital-Signature HMAC-SHA256 header.")
    enabled = models.BooleanField(default=True)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, null=True, blank=True, related_name="+",
                             help_text="Only this site's alarms (empty: every site).")
    min_priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.LOW)
    all_transitions = models.BooleanField(
        default=True, help_text="Send every state change (acknowledged, returned...), not only new alarms."
    )
    timeout_s = models.FloatField(default=5.0)
    max_attempts = models.PositiveSmallIntegerField(default=8)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class EscalationPolicy(TimeStamped):
    """Who is told about an alarm, and who next when nobody acknowledges it in time."""

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, null=True, blank=True, related_name="+",
                             help_text="Only this site's alarms (empty: every site).")
    min_priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.MEDIUM)
    profiles = models.JSONField(default=list, blank=True,
                                help_text="Only these monitoring profiles (slugs; empty: all).")

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "escalation policies"

    def __str__(self):
        return self.name


class EscalationStep(models.Model):
    """Level 0 is told at once; level n when the alarm is still unacknowledged ``after_minutes`` after
    it sounded."""

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps")
    level = models.PositiveSmallIntegerField(default=0)
    after_minutes = models.PositiveIntegerField(default=0)
    group = models.ForeignKey("auth.Group", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                              help_text="E-mail every member of this group who has an address.")
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    emails = models.TextField(blank=True, help_text="More addresses, one per line.")
    webhooks = models.ManyToManyField(WebhookEndpoint, blank=True, related_name="+")

    class Meta:
        ordering = ["policy", "level"]
        constraints = [models.UniqueConstraint(fields=["policy", "level"], name="escalation_step_unique")]

    def __str__(self):
        return f"{self.policy} level {self.level} (+{self.after_minutes} min)"


class Notification(models.Model):
    """One message to one recipient (the outbox and the delivery log). Written in the transaction that
    decided it; delivered afterwards by the notifier, with retries."""

    channel = models.CharField(max_length=16, choices=ChannelKind.choices)
    kind = models.CharField(max_length=16, choices=NotificationKind.choices)
    target = models.CharField(max_length=500, help_text="E-mail address or webhook name.")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="notifications")
    alarm = models.ForeignKey(Alarm, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications")
    flood = models.ForeignKey(AlarmFlood, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="notifications")
    level = models.PositiveSmallIntegerField(default=0, help_text="Escalation level.")
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.LOW)
    subject = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="notification_due_idx")]

    def __str__(self):
        return f"{self.channel} to {self.target}: {self.subject}"


class DeliveryAttempt(Immutable):
    """One try to deliver a notification."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="delivery_attempts")
    at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.notification_id} {'ok' if self.ok else 'failed'} @ {self.at:%Y-%m-%d %H:%M:%S}"


__all__ = [
    "ActionKind", "ActionStatus", "Alarm", "AlarmAction", "AlarmEvent", "AlarmFlood", "AlarmPartition",
    "AlarmState", "ChannelKind", "DailyAggregate", "DeliveryAttempt", "DeliveryStatus", "EscalationPolicy",
    "EscalationStep", "EvaluatorState", "Excursion", "ImmutableError", "MinuteAggregate", "Notification",
    "NotificationKind", "Priority", "ProfileChange", "RollupBacklog", "RollupState", "SensorProfileOverride",
    "TemperatureLogReview", "WebhookEndpoint",
]
