"""Maintenance records: plans, safety notices, work orders with their parts and immutable event log,
the usage rules per room type, daily usage and periods of use, and the stored forecasts.

Writes that change a work order's state go through :mod:`hospital.maintenance.services`; the models
only hold the data and refuse what must never happen (an edited completion, an edited audit event).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from hospital.assets.choices import AssetCategory, RiskClass
from hospital.assets.models import Asset, AssetType
from hospital.facility.choices import RoomType
from hospital.facility.models import Room

from .choices import (
    PENDING_STATUSES,
    CountFrom,
    DueDriver,
    NoticeKind,
    Outcome,
    PlanKind,
    RunStatus,
    UsageMode,
    UsageSource,
    WorkOrderKind,
    WorkOrderStatus,
)

USER = settings.AUTH_USER_MODEL


class MaintenancePlan(models.Model):
    """What to do and how often: for every asset of a type, or for one asset (an override).

    An asset follows its own plan of a kind when it has one, else its type's plan of that kind. With
    both intervals the plan is due at whichever comes first.
    """

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=PlanKind.choices, default=PlanKind.PREVENTIVE)
    asset_type = models.ForeignKey(
        AssetType, on_delete=models.CASCADE, null=True, blank=True, related_name="maintenance_plans",
        help_text="The plan of every asset of this type (leave empty for a per-asset override).",
    )
    asset = models.ForeignKey(
        Asset, on_delete=models.CASCADE, null=True, blank=True, related_name="maintenance_plans",
        help_text="Override for one asset: replaces its type's plan of the same kind.",
    )
    interval_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Calendar interval (days)."
    )
    interval_hours = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Usage interval (hours of use)."
    )
    count_from = models.CharField(
        max_length=12, choices=CountFrom.choices, default=CountFrom.COMPLETION,
        help_text="Whether the next calendar due date counts from the day the work was done or from the "
        "day it was planned for (keeps a fixed rhythm when work is done early or late).",
    )
    risk_class = models.CharField(
        max_length=8, choices=RiskClass.choices, blank=True, help_text="Empty: the asset type's risk class."
    )
    tasks = models.TextField(blank=True, help_text="One task per line; each work order gets them as a checklist.")
    active = models.BooleanField(default=True, help_text="Inactive plans schedule nothing (keep them for history).")
    created_at = models.DateTimeField(auto_now_add=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True, editable=False)
    updated_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True, editable=False,
                                   related_name="+")

    class Meta:
        ordering = ["asset_type__name", "asset__asset_number", "kind"]
        constraints = [
            models.CheckConstraint(
                condition=Q(asset_type__isnull=False, asset__isnull=True)
                | Q(asset_type__isnull=True, asset__isnull=False),
                name="plan_for_a_type_or_an_asset",
            ),
            models.CheckConstraint(
                # NULL >= 1 is unknown, which a CHECK lets through: test for NULL explicitly.
                condition=Q(interval_days__isnull=False, interval_days__gte=1)
                | Q(interval_hours__isnull=False, interval_hours__gte=1),
                name="plan_has_an_interval",
            ),
            models.UniqueConstraint(
                fields=["asset_type", "kind"], condition=Q(asset__isnull=True), name="one_type_plan_per_kind"
            ),
            models.UniqueConstraint(
                fields=["asset", "kind"], condition=Q(asset__isnull=False), name="one_asset_plan_per_kind"
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        if (self.asset_type_id is None) == (self.asset_id is None):
            raise ValidationError("A plan is either for an asset type or for one asset (an override), not both.")
        if not self.interval_days and not self.interval_hours:
            raise ValidationError("Give a calendar interval, a usage interval, or both (whichever comes first).")

    @property
    def is_override(self) -> bool:
        return self.asset_id is not None

    @property
    def task_list(self) -> list[str]:
        return [line.strip() for line in self.tasks.splitlines() if line.strip()]

    @property
    def effective_risk(self) -> str:
        return self.risk_class or (self.asset_type or self.asset.asset_type).risk_class

    def risk_for(self, asset: Asset) -> str:
        return self.risk_class or asset.asset_type.risk_class

    def interval_text(self) -> str:
        parts = []
        if self.interval_days:
            parts.append(f"{self.interval_days} days")
        if self.interval_hours:
            parts.append(f"{self.interval_hours} h of use")
        return " or ".join(parts) + (", whichever comes first" if len(parts) == 2 else "")


class SafetyNotice(models.Model):
    """A manufacturer's recall or field safety notice for one model: one work order per unit."""

    reference = models.CharField(max_length=64, unique=True, help_text="The manufacturer's or regulator's number.")
    kind = models.CharField(max_length=24, choices=NoticeKind.choices, default=NoticeKind.FIELD_SAFETY_NOTICE)
    title = models.CharField(max_length=200)
    manufacturer = models.CharField(max_length=120)
    model = models.CharField(max_length=120, help_text="Exactly as in the asset register (case does not matter).")
    asset_type = models.ForeignKey(
        AssetType, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text="Optional: only units of this type.",
    )
    issued_on = models.DateField(default=timezone.localdate)
    action_required = models.TextField(help_text="What must be done to every unit; becomes the work order's task.")
    due_within_days = models.PositiveIntegerField(default=30, help_text="Each unit's work order is due this many days "
                                                  "after the notice is applied.")
    risk_class = models.CharField(max_length=8, choices=RiskClass.choices, default=RiskClass.HIGH)
    created_at = models.DateTimeField(auto_now_add=True, editable=False)
    created_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True, editable=False,
                                   related_name="+")
    applied_at = models.DateTimeField(null=True, blank=True, editable=False)
    applied_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True, editable=False,
                                   related_name="+")

    class Meta:
        ordering = ["-issued_on", "reference"]

    def __str__(self):
        return f"{self.reference} {self.title}"

    def matching_assets(self):
        qs = Asset.objects.filter(manufacturer__iexact=self.manufacturer, model__iexact=self.model)
        if self.asset_type_id:
            qs = qs.filter(asset_type_id=self.asset_type_id)
        return qs


class WorkOrder(models.Model):
    """One piece of maintenance work on one asset, from creation to done (or cancelled)."""

    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="work_orders")
    kind = models.CharField(max_length=16, choices=WorkOrderKind.choices)
    plan = models.ForeignKey(MaintenancePlan, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="work_orders")
    notice = models.ForeignKey(SafetyNotice, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="work_orders")
    title = models.CharField(max_length=200)
    tasks = models.TextField(blank=True, help_text="Checklist, one task per line (copied from the plan or notice).")
    description = models.TextField(blank=True, help_text="For repairs: the fault as reported.")
    status = models.CharField(max_length=20, choices=WorkOrderStatus.choices, default=WorkOrderStatus.OPEN)
    risk_class = models.CharField(max_length=8, choices=RiskClass.choices, help_text="Copied from the plan or type.")
    planned_date = models.DateField(
        null=True, blank=True, help_text="The date the plan scheduled this work for; never moved by rescheduling."
    )
    due_date = models.DateField(null=True, blank=True, help_text="The date the work is due now.")
    due_driver = models.CharField(max_length=12, choices=DueDriver.choices, default=DueDriver.NONE)
    assigned_to = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    reported_at = models.DateTimeField(
        null=True, blank=True, help_text="Repairs: when the fault was reported (the failure time for MTBF)."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    findings = models.TextField(blank=True)
    downtime_hours = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0)],
        help_text="Hours the asset was out of service for this work.",
    )
    status_reason = models.TextField(blank=True, help_text="Why it was deferred, not found or cancelled.")
    deferred_until = models.DateField(null=True, blank=True)
    previous = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="next_order",
        help_text="The completed work order that scheduled this one.",
    )
    demo = models.BooleanField(default=False, editable=False, help_text="Generated demo data, not a real record.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True, editable=False)
    created_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True, editable=False,
                                   related_name="+")

    class Meta:
        ordering = ["due_date", "pk"]
        indexes = [
            models.Index(fields=["status", "due_date"]),
            models.Index(fields=["asset", "kind", "status"]),
            models.Index(fields=["kind", "completed_at"]),
        ]
        constraints = [
            # One pending planned order per asset and kind: the forecast job and a completion may race.
            models.UniqueConstraint(
                fields=["asset", "kind"],
                condition=Q(status__in=list(PENDING_STATUSES))
                & Q(kind__in=[WorkOrderKind.PREVENTIVE, WorkOrderKind.CALIBRATION]),
                name="one_pending_planned_order_per_asset_and_kind",
            ),
            models.UniqueConstraint(
                fields=["notice", "asset"], condition=Q(notice__isnull=False), name="one_order_per_notice_and_unit"
            ),
            models.CheckConstraint(
                condition=~Q(status=WorkOrderStatus.DONE) | Q(completed_at__isnull=False),
                name="done_work_order_has_completion_time",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[WorkOrderStatus.DEFERRED, WorkOrderStatus.CANCELLED]) | ~Q(status_reason=""),
                name="deferred_or_cancelled_work_order_has_reason",
            ),
        ]
        permissions = [
            ("complete_workorder", "Can complete work orders"),
            ("view_maintenance_report", "Can view maintenance reports (PM completion, MTBF, utilisation)"),
        ]

    def __str__(self):
        return f"{self.number} {self.title}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            # A completion is part of the record: once done, who and when cannot be rewritten.
            old = WorkOrder.objects.filter(pk=self.pk).values("status", "completed_at", "completed_by_id").first()
            if old and old["status"] == WorkOrderStatus.DONE and (
                self.status != WorkOrderStatus.DONE
                or self.completed_at != old["completed_at"]
                or self.completed_by_id != old["completed_by_id"]
            ):
                raise ValidationError(f"{self.number} is done; its completion cannot be changed.")
        super().save(*args, **kwargs)

    @property
    def number(self) -> str:
        return f"WO-{self.pk:06d}" if self.pk else "WO-new"

    @property
    def is_pending(self) -> bool:
        return self.status in PENDING_STATUSES

    @property
    def task_list(self) -> list[str]:
        return [line.strip() for line in self.tasks.splitlines() if line.strip()]

    def days_overdue(self, today=None) -> int | None:
        if self.due_date is None or not self.is_pending:
            return None
        return ((today or timezone.localdate()) - self.due_date).days


class WorkOrderPart(models.Model):
    work_order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="parts")
    part_number = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=9, decimal_places=2, default=1, validators=[MinValueValidator(0)])

    class Meta:
        ordering = ["work_order", "pk"]

    def __str__(self):
        return f"{self.quantity:g} × {self.description}"


class ImmutableQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ValidationError("Work-order events are an audit log: they cannot be changed.")

    def delete(self):
        raise ValidationError("Work-order events are an audit log: they cannot be deleted.")


class WorkOrderEvent(models.Model):
    """Append-only audit log of a work order: every status change, with who and when."""

    work_order = models.ForeignKey(WorkOrder, on_delete=models.PROTECT, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    by_name = models.CharField(max_length=150, blank=True, help_text="Username at the time (kept if the user goes).")
    from_status = models.CharField(max_length=20, choices=WorkOrderStatus.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=WorkOrderStatus.choices)
    note = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True, help_text="Details: due-date changes, the last-seen location…")

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["to_status", "at"])]

    def __str__(self):
        return f"{self.work_order_id} {self.from_status or '—'} → {self.to_status} by {self.by_name or '—'}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError("Work-order events are an audit log: they cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Work-order events are an audit log: they cannot be deleted.")


class UsageRule(models.Model):
    """How time spent in a type of room counts as use (see docs/maintenance.md, "Usage from the locator").

    A rule for a room type and an asset category beats the rule for the room type alone; room types
    without a rule count as not in use.
    """

    room_type = models.CharField(max_length=32, choices=RoomType.choices)
    asset_category = models.CharField(
        max_length=32, choices=AssetCategory.choices, blank=True, help_text="Empty: every category."
    )
    mode = models.CharField(max_length=12, choices=UsageMode.choices)
    min_dwell_minutes = models.PositiveIntegerField(
        default=10, help_text="Presence: a stay shorter than this does not count (passing through)."
    )
    note = models.TextField(blank=True, help_text="Why this rule (shown to engineers).")
    updated_at = models.DateTimeField(auto_now=True, editable=False)
    updated_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True, editable=False,
                                   related_name="+")

    class Meta:
        ordering = ["room_type", "asset_category"]
        constraints = [
            models.UniqueConstraint(fields=["room_type", "asset_category"], name="one_usage_rule_per_room_type")
        ]

    def __str__(self):
        scope = self.get_asset_category_display() if self.asset_category else "any equipment"
        return f"{self.get_room_type_display()} ({scope}): {self.get_mode_display()}"


class DailyUsage(models.Model):
    """Hours of use of one asset on one calendar day (local time), and where the figure came from."""

    # Indexed by the unique (asset, date) constraint; no separate index (it would slow bulk loads).
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="daily_usage", db_index=False)
    date = models.DateField()
    hours = models.FloatField(validators=[MinValueValidator(0), MaxValueValidator(24)])
    source = models.CharField(max_length=12, choices=UsageSource.choices)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["asset", "date"]
        verbose_name_plural = "daily usage"
        constraints = [
            models.UniqueConstraint(fields=["asset", "date"], name="one_usage_row_per_asset_and_day"),
            models.CheckConstraint(condition=Q(hours__gte=0) & Q(hours__lte=24), name="usage_hours_in_a_day"),
        ]

    def __str__(self):
        return f"{self.asset_id} {self.date} {self.hours:.2f} h ({self.source})"


class UsagePeriod(models.Model):
    """A continuous period of use (from the locator, or generated for the demo): the basis of
    "how many were in use at the same time"."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="usage_periods", db_index=False)
    start = models.DateTimeField()
    end = models.DateTimeField()
    source = models.CharField(max_length=12, choices=UsageSource.choices)
    mode = models.CharField(max_length=12, choices=UsageMode.choices, default=UsageMode.PRESENCE)
    room = models.ForeignKey(Room, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["asset", "start"]
        indexes = [models.Index(fields=["asset", "start"]), models.Index(fields=["start"])]
        constraints = [models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="usage_period_ends_after_start")]

    def __str__(self):
        return f"{self.asset_id} {self.start:%Y-%m-%d %H:%M}–{self.end:%H:%M}"

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0


class ForecastRun(models.Model):
    """One run of the forecast job: when, how long, what it did."""

    as_of = models.DateField(help_text="Forecast day 0; usage up to the day before counts.")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.RUNNING)
    triggered_by = models.CharField(max_length=64, blank=True)
    n_assets = models.PositiveIntegerField(default=0)
    n_plans = models.PositiveIntegerField(default=0)
    n_usage_rows = models.PositiveIntegerField(default=0)
    orders_created = models.PositiveIntegerField(default=0)
    orders_updated = models.PositiveIntegerField(default=0)
    lookahead_days = models.PositiveIntegerField(default=14)
    seconds = models.FloatField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True, help_text="Seconds per step.")
    parameters = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"

    def __str__(self):
        return f"Forecast {self.as_of} ({self.get_status_display()})"


class Forecast(models.Model):
    """The latest forecast of one asset and one of its plans (plan empty: an asset without a plan)."""

    run = models.ForeignKey(ForecastRun, on_delete=models.CASCADE, related_name="forecasts")
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="forecasts")
    plan = models.ForeignKey(MaintenancePlan, on_delete=models.CASCADE, null=True, blank=True, related_name="forecasts")
    as_of = models.DateField()
    method = models.CharField(max_length=12, help_text="trend, level or no_data (see docs/maintenance.md).")
    mean_daily_hours = models.FloatField(null=True, blank=True, help_text="Expected use per day over the horizon.")
    expected_hours = models.FloatField(null=True, blank=True)
    expected_hours_sd = models.FloatField(null=True, blank=True)
    horizon_days = models.PositiveIntegerField(default=60)
    trend_hours_per_week = models.FloatField(null=True, blank=True, help_text="Change of daily use per week.")
    params = models.JSONField(default=dict, blank=True, help_text="The daily-use model (forecast_usage columns).")
    calendar_due = models.DateField(null=True, blank=True)
    usage_due = models.DateField(null=True, blank=True)
    due = models.DateField(null=True, blank=True, help_text="Whichever comes first.")
    due_p10 = models.DateField(null=True, blank=True)
    due_p90 = models.DateField(null=True, blank=True)
    driver = models.CharField(max_length=12, choices=DueDriver.choices, default=DueDriver.NONE)
    days_to_due = models.IntegerField(null=True, blank=True)
    overdue = models.BooleanField(default=False)
    hours_since_service = models.FloatField(null=True, blank=True)
    remaining_hours = models.FloatField(null=True, blank=True)
    failure_risk = models.FloatField(null=True, blank=True, help_text="Probability of a failure before the due date.")
    risk_method = models.CharField(max_length=16, blank=True)
    heavy_use = models.BooleanField(default=False)
    long_idle = models.BooleanField(default=False)
    repeated_repairs = models.BooleanField(default=False)
    flags = models.CharField(max_length=100, blank=True)
    idle_days = models.IntegerField(null=True, blank=True)
    recent_mean_hours = models.FloatField(null=True, blank=True)
    baseline_mean_hours = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["due", "asset"]
        constraints = [
            models.UniqueConstraint(fields=["asset", "plan"], name="one_forecast_per_asset_and_plan"),
            models.UniqueConstraint(fields=["asset"], condition=Q(plan__isnull=True),
                                    name="one_planless_forecast_per_asset"),
        ]
        indexes = [models.Index(fields=["due"])]

    def __str__(self):
        return f"{self.asset_id} due {self.due or '—'} ({self.driver})"

    @property
    def flag_list(self) -> list[str]:
        return [f for f in self.flags.split(",") if f]


class FailureModel(models.Model):
    """The Weibull time-between-failures fit of an asset type (latest run), from repair work orders."""

    run = models.ForeignKey(ForecastRun, on_delete=models.CASCADE, related_name="failure_models")
    asset_type = models.OneToOneField(AssetType, on_delete=models.CASCADE, related_name="failure_model")
    as_of = models.DateField()
    shape = models.FloatField(null=True, blank=True)
    scale_days = models.FloatField(null=True, blank=True)
    mtbf_days = models.FloatField(null=True, blank=True)
    n_failures = models.PositiveIntegerField(default=0)
    n_censored = models.PositiveIntegerField(default=0)
    method = models.CharField(max_length=16)
    flagged = models.BooleanField(default=False, help_text="Not a full two-parameter fit: read the method.")

    class Meta:
        ordering = ["asset_type__name"]

    def __str__(self):
        return f"{self.asset_type} Weibull k={self.shape or 0:.2f}"
