"""The one place that changes maintenance state: plans from asset types, work-order creation, the
lifecycle (start, schedule, could not locate, defer, cancel, complete), the next order scheduled by a
completion, safety notices applied to every unit of a model, and fault reports.

Every write is transactional and locks the work order it changes; every status change appends an
immutable :class:`~hospital.maintenance.models.WorkOrderEvent` (who, when, from, to, why). Views, the
API and the commands call these functions and stay thin.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from hospital.assets.choices import AssetStatus
from hospital.assets.models import Asset, AssetType

from . import forecast as fc_mod
from .choices import (
    NEEDS_REASON,
    PENDING_STATUSES,
    PLANNED_KINDS,
    TRANSITIONS,
    DueDriver,
    Outcome,
    PlanKind,
    WorkOrderKind,
    WorkOrderStatus,
)
from .models import (
    DailyUsage,
    Forecast,
    MaintenancePlan,
    SafetyNotice,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderPart,
)

# Default checklists by asset category, used when plans are created from asset types. Engineers edit
# them per plan in the admin.
DEFAULT_TASKS = {
    "infusion": ["Visual inspection: housing, door, clamp, mains cable", "Electrical safety test (IEC 62353)",
                 "Flow-rate accuracy test", "Occlusion pressure alarm test", "Air-in-line detector test",
                 "Battery capacity check", "Update the drug library if a new one is released"],
    "monitoring": ["Visual inspection: cables, leads, connectors", "Electrical safety test (IEC 62353)",
                   "NIBP accuracy and leak test", "SpO2 and ECG simulator check", "Alarm audio and visual test",
                   "Battery check"],
    "respiratory": ["Visual inspection, circuits and filters", "Electrical safety test (IEC 62353)",
                    "Replace the PM kit (filters, O-rings)", "Flow, pressure and FiO2 calibration check",
                    "Alarm tests (disconnect, high pressure, power fail)", "Battery check"],
    "resuscitation": ["Visual inspection: paddles, cables, pads date", "Energy delivery test into analyser",
                      "Charge time test", "ECG and pacing check", "Battery capacity check", "Self-test log review"],
    "imaging": ["Visual inspection: probes and cables", "Electrical safety test (IEC 62353)",
                "Image quality check on phantom", "Probe leakage test", "Software and battery check"],
    "mobility": ["Visual inspection: frame, wheels, brakes", "Brake and castor test",
                 "Electrical safety test (powered beds)", "Side rails and actuators", "Clean and lubricate"],
    "therapy": ["Visual inspection", "Electrical safety test (IEC 62353)", "Performance check to specification",
                "Alarm test"],
    "diagnostic": ["Visual inspection", "Electrical safety test (IEC 62353)", "Accuracy check with simulator",
                   "Printer and battery check"],
    "cold_storage": ["Clean the condenser and door seals", "Check the set point and controller",
                     "Compare the display with a calibrated reference probe", "Alarm (high/low, door, power) test",
                     "Check the data logger and its battery"],
    "surgical": ["Visual inspection", "Electrical safety test (IEC 62353)", "Output test with analyser"],
}
CALIBRATION_TASKS = ["Compare with a calibrated reference at the working points",
                     "Adjust if outside tolerance; record as-found and as-left values",
                     "Attach the calibration label"]
FORECAST_JOB = "maintenance_forecast"


class WorkOrderError(ValidationError):
    """A lifecycle rule refused the change (the message says which)."""


# ----------------------------------------------------------------------------------------------------
# Plans
# ----------------------------------------------------------------------------------------------------


def sync_type_plans() -> list[MaintenancePlan]:
    """Create the plans asset types call for (preventive from the PM intervals, calibration from the
    calibration interval) where the type has no plan of that kind yet, active or not. Never changes an
    existing plan: engineers own them once created."""
    have = set(MaintenancePlan.objects.filter(asset__isnull=True).values_list("asset_type_id", "kind"))
    new = []
    for t in AssetType.objects.all():
        if (t.pm_interval_days or t.pm_interval_hours) and (t.pk, PlanKind.PREVENTIVE) not in have:
            new.append(MaintenancePlan(
                name=f"Preventive maintenance: {t.name}", kind=PlanKind.PREVENTIVE, asset_type=t,
                interval_days=t.pm_interval_days, interval_hours=t.pm_interval_hours,
                tasks="\n".join(DEFAULT_TASKS.get(t.category, DEFAULT_TASKS["therapy"])),
            ))
        if t.calibration_interval_days and (t.pk, PlanKind.CALIBRATION) not in have:
            new.append(MaintenancePlan(
                name=f"Calibration: {t.name}", kind=PlanKind.CALIBRATION, asset_type=t,
                interval_days=t.calibration_interval_days, tasks="\n".join(CALIBRATION_TASKS),
            ))
    return MaintenancePlan.objects.bulk_create(new)


def plan_for(asset: Asset, kind: str) -> MaintenancePlan | None:
    """The plan an asset follows for a kind: its own active override, else its type's active plan."""
    plans = {
        (p.asset_id is not None): p
        for p in MaintenancePlan.objects.filter(kind=kind, active=True).filter(
            Q(asset=asset) | Q(asset__isnull=True, asset_type_id=asset.asset_type_id)
        )
    }
    return plans.get(True) or plans.get(False)


@dataclass(frozen=True)
class Due:
    due_date: dt.date | None
    planned_date: dt.date | None
    driver: str
    calendar_due: dt.date | None = None
    usage_due: dt.date | None = None
    band: tuple[dt.date | None, dt.date | None] = (None, None)


def _date(value) -> dt.date | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).date()


def forecast_frame(forecast: Forecast | None) -> pd.DataFrame:
    """The stored daily-use model of an asset as the one-row frame the forecaster takes."""
    if forecast is None or not forecast.params:
        return pd.DataFrame(columns=fc_mod.FORECAST_COLUMNS)
    row = {c: forecast.params.get(c) for c in fc_mod.FORECAST_COLUMNS}
    row["asset_id"] = forecast.asset_id
    frame = pd.DataFrame([row])
    frame["origin"] = pd.to_datetime(frame["origin"])
    for c in fc_mod.FORECAST_COLUMNS:
        if c not in ("asset_id", "origin", "method"):
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    return frame


def next_due(plan: MaintenancePlan, asset: Asset, *, done_on: dt.date, planned_on: dt.date | None,
             today: dt.date | None = None) -> Due:
    """When the plan falls due again after a service done on ``done_on`` (planned for ``planned_on``):
    the calendar interval from completion or from the planned date, the usage interval from the asset's
    latest stored daily-use model, whichever comes first (the pure forecaster decides)."""
    today = today or timezone.localdate()
    latest = Forecast.objects.filter(asset=asset).exclude(params={}).order_by("-as_of").first()
    fc = forecast_frame(latest)
    origin = _date(fc["origin"].iloc[0]) if len(fc) else today
    as_of = max(today, origin, done_on) if len(fc) else max(today, done_on)
    hours_since = 0.0
    if done_on < as_of:
        hours_since = DailyUsage.objects.filter(asset=asset, date__gte=done_on, date__lt=as_of).aggregate(
            h=Sum("hours"))["h"] or 0.0
    plans = pd.DataFrame([{
        "plan_id": plan.pk, "asset_id": asset.pk,
        "interval_days": float(plan.interval_days) if plan.interval_days else np.nan,
        "interval_hours": float(plan.interval_hours) if plan.interval_hours else np.nan,
        "last_service_date": pd.Timestamp(done_on), "last_planned_date": pd.Timestamp(planned_on) if planned_on
        else pd.NaT, "count_from": plan.count_from, "hours_since_service": float(hours_since),
    }])
    d = fc_mod.predict_due(plans, fc, as_of).iloc[0]
    calendar = _date(d["calendar_due"])
    due = _date(d["due"])
    driver = str(d["driver"]) if due else DueDriver.NONE
    return Due(due, calendar or due, driver, calendar, _date(d["usage_due"]), (_date(d["due_p10"]),
                                                                                 _date(d["due_p90"])))


# ----------------------------------------------------------------------------------------------------
# Work orders
# ----------------------------------------------------------------------------------------------------


def _who(user) -> str:
    return user.get_username() if user is not None and getattr(user, "is_authenticated", False) else ""


def record(order: WorkOrder, user, from_status: str, to_status: str, note: str = "", data: dict | None = None,
           at=None, by_name: str | None = None) -> WorkOrderEvent:
    return WorkOrderEvent.objects.create(
        work_order=order, at=at or timezone.now(), by=user if _who(user) else None,
        by_name=_who(user) if by_name is None else by_name, from_status=from_status, to_status=to_status,
        note=note, data=data or {},
    )


@transaction.atomic
def create_work_order(asset: Asset, kind: str, *, user=None, plan: MaintenancePlan | None = None,
                      notice: SafetyNotice | None = None, title: str = "", tasks: str | None = None,
                      description: str = "", status: str = WorkOrderStatus.OPEN, due_date=None, planned_date=None,
                      due_driver: str = DueDriver.NONE, risk_class: str | None = None, reported_at=None,
                      previous: WorkOrder | None = None, assigned_to=None, note: str = "",
                      by_name: str | None = None) -> WorkOrder:
    if status not in PENDING_STATUSES:
        raise WorkOrderError("A new work order starts open or scheduled.")
    if kind in PLANNED_KINDS and WorkOrder.objects.filter(asset=asset, kind=kind, status__in=PENDING_STATUSES).exists():
        raise WorkOrderError(f"{asset.asset_number} already has a pending {WorkOrderKind(kind).label.lower()} order.")
    order = WorkOrder.objects.create(
        asset=asset, kind=kind, plan=plan, notice=notice,
        title=title or (plan.name if plan else notice.title if notice else WorkOrderKind(kind).label),
        tasks=plan.tasks if tasks is None and plan else (notice.action_required if tasks is None and notice
                                                          else tasks or ""),
        description=description, status=status, due_date=due_date, planned_date=planned_date,
        due_driver=due_driver, risk_class=risk_class or (plan.risk_for(asset) if plan else asset.asset_type.risk_class),
        reported_at=reported_at, previous=previous, assigned_to=assigned_to, created_by=user if _who(user) else None,
    )
    record(order, user, "", status, note=note, by_name=by_name,
           data={"due_date": due_date.isoformat() if due_date else None, "due_driver": due_driver})
    return order


def _locked(order: WorkOrder) -> WorkOrder:
    return WorkOrder.objects.select_for_update(of=("self",)).select_related("asset__asset_type", "plan").get(pk=order.pk)


def _check(order: WorkOrder, to_status: str, reason: str = "") -> None:
    if to_status not in TRANSITIONS[order.status]:
        raise WorkOrderError(
            f"{order.number} is {order.get_status_display().lower()}: it cannot become "
            f"{WorkOrderStatus(to_status).label.lower()}."
        )
    if to_status in NEEDS_REASON and not reason.strip():
        raise WorkOrderError(f"Say why the work order is {WorkOrderStatus(to_status).label.lower()}.")


def _set_asset_status(asset: Asset, status: str, user=None) -> None:
    if asset.status != status:
        Asset.objects.filter(pk=asset.pk).update(status=status, updated_at=timezone.now(),
                                                 updated_by=user if _who(user) else None)
        asset.status = status


@transaction.atomic
def start(order: WorkOrder, *, user, note: str = "") -> WorkOrder:
    order = _locked(order)
    _check(order, WorkOrderStatus.IN_PROGRESS)
    prev = order.status
    order.status = WorkOrderStatus.IN_PROGRESS
    order.started_at = order.started_at or timezone.now()
    if order.assigned_to_id is None and _who(user):
        order.assigned_to = user
    order.save()
    if order.asset.status != AssetStatus.OUT_OF_SERVICE:
        _set_asset_status(order.asset, AssetStatus.IN_MAINTENANCE, user)
    record(order, user, prev, order.status, note)
    return order


@transaction.atomic
def schedule(order: WorkOrder, *, user, due_date: dt.date | None = None, assigned_to=None, note: str = "") -> WorkOrder:
    """Schedule (or reschedule) a work order; a new date is set by hand and the forecast keeps off it."""
    order = _locked(order)
    _check(order, WorkOrderStatus.SCHEDULED)
    prev, old_due = order.status, order.due_date
    order.status = WorkOrderStatus.SCHEDULED
    if due_date is not None and due_date != order.due_date:
        order.due_date, order.due_driver = due_date, DueDriver.MANUAL
    if assigned_to is not None:
        order.assigned_to = assigned_to
    order.save()
    _release_asset(order, user)
    record(order, user, prev, order.status, note, data={
        "due_date": [old_due.isoformat() if old_due else None, order.due_date.isoformat() if order.due_date else None]})
    return order


def _release_asset(order: WorkOrder, user) -> None:
    if order.asset.status == AssetStatus.IN_MAINTENANCE and not WorkOrder.objects.filter(
        asset=order.asset, status=WorkOrderStatus.IN_PROGRESS).exclude(pk=order.pk).exists():
        _set_asset_status(order.asset, AssetStatus.AVAILABLE, user)


@transaction.atomic
def could_not_locate(order: WorkOrder, *, user, note: str = "") -> WorkOrder:
    """The engineer went to find the device and it was not there: recorded with where the locator last
    saw it, so the could-not-locate rate and the search can be followed up."""
    from .locations import whereabouts

    order = _locked(order)
    _check(order, WorkOrderStatus.COULD_NOT_LOCATE)
    prev = order.status
    order.status = WorkOrderStatus.COULD_NOT_LOCATE
    order.status_reason = note
    order.save()
    w = whereabouts([order.asset_id]).get(order.asset_id)
    record(order, user, prev, order.status, note, data={"last_seen": w.as_dict() if w else None})
    return order


@transaction.atomic
def defer(order: WorkOrder, *, user, reason: str, until: dt.date | None = None) -> WorkOrder:
    order = _locked(order)
    _check(order, WorkOrderStatus.DEFERRED, reason)
    if until is not None and until < timezone.localdate():
        raise WorkOrderError("Defer to a date in the future.")
    prev = order.status
    order.status, order.status_reason, order.deferred_until = WorkOrderStatus.DEFERRED, reason.strip(), until
    order.save()
    _release_asset(order, user)
    record(order, user, prev, order.status, reason.strip(),
           data={"deferred_until": until.isoformat() if until else None})
    return order


@transaction.atomic
def reopen(order: WorkOrder, *, user, note: str = "") -> WorkOrder:
    order = _locked(order)
    _check(order, WorkOrderStatus.OPEN)
    prev = order.status
    order.status = WorkOrderStatus.OPEN
    order.save()
    record(order, user, prev, order.status, note)
    return order


@transaction.atomic
def cancel(order: WorkOrder, *, user, reason: str) -> WorkOrder:
    order = _locked(order)
    _check(order, WorkOrderStatus.CANCELLED, reason)
    prev = order.status
    order.status, order.status_reason = WorkOrderStatus.CANCELLED, reason.strip()
    order.save()
    _release_asset(order, user)
    record(order, user, prev, order.status, reason.strip())
    return order


@dataclass(frozen=True)
class Completion:
    order: WorkOrder
    next_order: WorkOrder | None
    due: Due | None = None


@transaction.atomic
def complete(order: WorkOrder, *, user, findings: str = "", outcome: str = "", parts=(),
             downtime_hours: float | None = None, completed_at=None, today: dt.date | None = None,
             by_name: str | None = None) -> Completion:
    """Complete a work order and, for planned work, schedule the next one.

    ``parts``: iterable of dicts ``part_number``, ``description``, ``quantity``. Repairs need findings
    (what was wrong). The next order counts from the completion or the planned date, as the plan says,
    and is due at whichever of its intervals comes first. One transaction: the completion, its audit
    event and the next order are stored together or not at all.
    """
    order = _locked(order)
    _check(order, WorkOrderStatus.DONE)
    now = timezone.now()
    completed_at = completed_at or now
    if completed_at > now + dt.timedelta(minutes=5):
        raise WorkOrderError("The completion time cannot be in the future.")
    if order.kind == WorkOrderKind.REPAIR and not findings.strip():
        raise WorkOrderError("Record the findings of a repair (what was wrong, what was done).")
    if outcome and outcome not in Outcome.values:
        raise WorkOrderError(f"Unknown outcome {outcome!r}.")
    if downtime_hours is not None and (not math.isfinite(downtime_hours) or downtime_hours < 0):
        raise WorkOrderError("Downtime is a number of hours, 0 or more.")
    if downtime_hours is None and order.kind == WorkOrderKind.REPAIR:
        since = order.reported_at or order.created_at
        downtime_hours = round(max((completed_at - since).total_seconds(), 0.0) / 3600.0, 2)
    prev = order.status
    order.status = WorkOrderStatus.DONE
    order.completed_at, order.completed_by = completed_at, user if _who(user) else None
    order.findings, order.outcome, order.downtime_hours = findings.strip(), outcome, downtime_hours
    order.started_at = order.started_at or completed_at
    order.save()
    rows = [WorkOrderPart(work_order=order, part_number=str(p.get("part_number", "")).strip(),
                          description=str(p["description"]).strip(), quantity=p.get("quantity") or 1)
            for p in parts if str(p.get("description", "")).strip()]
    WorkOrderPart.objects.bulk_create(rows)
    asset = order.asset
    if outcome == Outcome.FAIL:
        _set_asset_status(asset, AssetStatus.OUT_OF_SERVICE, user)
    elif asset.status in (AssetStatus.IN_MAINTENANCE, AssetStatus.OUT_OF_SERVICE) and not WorkOrder.objects.filter(
            asset=asset, status=WorkOrderStatus.IN_PROGRESS).exclude(pk=order.pk).exists():
        _set_asset_status(asset, AssetStatus.AVAILABLE, user)
    record(order, user, prev, WorkOrderStatus.DONE, findings.strip(), at=completed_at, by_name=by_name,
           data={"outcome": outcome, "downtime_hours": downtime_hours, "parts": len(rows)})

    next_order, due = None, None
    if order.kind in PLANNED_KINDS:
        plan = plan_for(asset, order.kind)
        if plan is not None:
            done_on = timezone.localtime(completed_at).date()
            due = next_due(plan, asset, done_on=done_on, planned_on=order.planned_date, today=today)
            next_order = create_work_order(
                asset, order.kind, user=user, plan=plan, status=WorkOrderStatus.SCHEDULED, due_date=due.due_date,
                planned_date=due.planned_date, due_driver=due.driver, previous=order, by_name=by_name,
                note=f"Scheduled by the completion of {order.number}.",
            )
    return Completion(order, next_order, due)


# ----------------------------------------------------------------------------------------------------
# Safety notices and faults
# ----------------------------------------------------------------------------------------------------


@transaction.atomic
def apply_safety_notice(notice: SafetyNotice, *, user, today: dt.date | None = None) -> list[WorkOrder]:
    """One work order for every unit of the notice's model that does not have one yet (idempotent:
    applying again only adds units registered since)."""
    notice = SafetyNotice.objects.select_for_update().get(pk=notice.pk)
    today = today or timezone.localdate()
    done = set(notice.work_orders.values_list("asset_id", flat=True))
    due = today + dt.timedelta(days=notice.due_within_days)
    orders = []
    for asset in notice.matching_assets().select_related("asset_type").exclude(pk__in=done):
        orders.append(create_work_order(
            asset, WorkOrderKind.RECALL, user=user, notice=notice, title=f"{notice.reference}: {notice.title}",
            due_date=due, planned_date=due, due_driver=DueDriver.NOTICE, risk_class=notice.risk_class,
            note=f"Created by applying {notice.get_kind_display().lower()} {notice.reference}.",
        ))
    notice.applied_at, notice.applied_by = timezone.now(), user if _who(user) else None
    notice.save(update_fields=["applied_at", "applied_by"])
    return orders


@transaction.atomic
def report_fault(asset: Asset, *, user, description: str, reported_at=None, due_date: dt.date | None = None,
                 out_of_service: bool = False) -> WorkOrder:
    if not description.strip():
        raise WorkOrderError("Describe the fault.")
    reported_at = reported_at or timezone.now()
    order = create_work_order(
        asset, WorkOrderKind.REPAIR, user=user, title=f"Repair: {description.strip().splitlines()[0][:150]}",
        description=description.strip(), reported_at=reported_at,
        due_date=due_date or timezone.localtime(reported_at).date(), due_driver=DueDriver.MANUAL,
    )
    if out_of_service:
        _set_asset_status(asset, AssetStatus.OUT_OF_SERVICE, user)
    return order


def due_summary(asset_ids) -> dict[int, dict]:
    """The next pending work per asset, for other pages (the map's details, the asset page): one query.

    Returns {asset_id: {"work_order": pk, "number", "kind", "due_date", "overdue", "status"}} for assets
    with pending work (the earliest due first; work without a due date last)."""
    today = timezone.localdate()
    out: dict[int, dict] = {}
    rows = (WorkOrder.objects.filter(asset_id__in=list(asset_ids), status__in=PENDING_STATUSES)
            .order_by("asset_id", F("due_date").asc(nulls_last=True), "pk")
            .values_list("asset_id", "pk", "kind", "due_date", "status"))
    for asset_id, pk, kind, due, status in rows:
        if asset_id not in out:
            out[asset_id] = {"work_order": pk, "number": f"WO-{pk:06d}", "kind": kind, "due_date": due,
                             "overdue": bool(due and due < today), "status": status}
    return out
