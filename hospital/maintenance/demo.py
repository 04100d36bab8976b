"""GENERATED DEMO maintenance history for the demo hospital: two years of daily use, periods of use for
the last 60 days, past preventive maintenance and calibration, repairs drawn from a Weibull renewal
process, pending work (some overdue, some not found, some deferred), one field safety notice, and a
first forecast run. Everything is fake and labelled so: usage rows have source "demo", work orders
``demo=True``, the notice's reference starts with "DEMO-".

Deterministic for a given ``today`` and seed; vectorised with numpy where the volume is (usage and
periods: hundreds of thousands of rows, written without model instances); the few thousand work orders
are bulk-created. ``load_demo`` calls :func:`generate_history` after the assets and users are loaded.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from scipy.signal import lfilter

from hospital.assets.models import Asset

from . import services
from .choices import (
    DueDriver,
    Outcome,
    PlanKind,
    UsageMode,
    UsageSource,
    WorkOrderKind,
    WorkOrderStatus,
)
from .db import date_strings, fast_insert, utc_strings
from .fleet_sim import WEEKDAY_PATTERNS
from .models import (
    DailyUsage,
    MaintenancePlan,
    SafetyNotice,
    UsagePeriod,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderPart,
)

SEED = 20250611
HISTORY_DAYS = 730
PERIOD_DAYS = 60

# (median hours of use per day, weekday pattern) per asset type code; unknown mobile types use "other".
USE = {
    "infusion-pump": (10.0, "continuous"), "syringe-pump": (8.0, "continuous"),
    "patient-monitor": (15.0, "continuous"), "vital-signs-monitor": (5.0, "weekday"),
    "ventilator": (11.0, "continuous"), "defibrillator": (0.3, "weekday"), "hospital-bed": (16.0, "continuous"),
    "wheelchair": (2.5, "weekday"), "ultrasound": (2.5, "clinic"), "ecg-cart": (1.5, "weekday"),
    "pulse-oximeter": (4.0, "continuous"), "high-flow-therapy": (9.0, "continuous"),
    "compression-system": (8.0, "continuous"), "breast-pump": (3.0, "continuous"), "stretcher": (2.0, "weekday"),
    "bladder-scanner": (0.8, "weekday"), "other": (3.0, "weekday"),
}
# Weibull time between failures (shape, scale in days) per asset category.
FAILURES = {
    "infusion": (1.4, 1100.0), "monitoring": (0.9, 1800.0), "respiratory": (2.0, 1300.0),
    "resuscitation": (2.5, 1500.0), "imaging": (1.1, 1600.0), "mobility": (1.2, 1400.0), "therapy": (1.0, 1500.0),
    "diagnostic": (1.1, 1700.0), "cold_storage": (1.8, 2200.0), "surgical": (1.2, 1500.0),
}
FAULTS = [
    ("Occlusion alarm without occlusion", "Pressure sensor out of tolerance; replaced and calibrated."),
    ("Does not power on", "Mains inlet fuse blown; replaced, electrical safety test passed."),
    ("Battery lasts under 30 minutes", "Battery pack replaced; capacity test passed."),
    ("Cracked housing after a fall", "Front housing replaced; function and leakage tests passed."),
    ("Display flickers", "Display cable reseated and secured; soak-tested 24 h."),
    ("Keypad button unresponsive", "Keypad membrane replaced."),
    ("Alarm speaker silent", "Speaker replaced; alarm volume verified."),
    ("Wheel castor broken", "Castor replaced; brakes checked."),
    ("Error code on self-test", "Main board firmware reloaded; self-test passed."),
    ("Temperature reads 2 °C high", "Probe replaced; compared with the reference thermometer."),
]
PARTS = [("BAT-001", "Battery pack"), ("FUS-T2A", "Fuse T2A"), ("CAS-100", "Castor 100 mm"),
         ("SPK-01", "Alarm speaker"), ("KPD-01", "Keypad membrane"), ("PRB-NTC", "Temperature probe")]
DEMO_NOTICE = "DEMO-FSN-2025-014"


def _rng(name: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _aware(day: dt.date, hour: float) -> dt.datetime:
    tz = timezone.get_current_timezone()
    naive = dt.datetime.combine(day, dt.time()) + dt.timedelta(hours=float(hour))
    return timezone.make_aware(naive, tz)


@dataclass
class Fleet:
    ids: np.ndarray
    numbers: np.ndarray
    type_code: np.ndarray
    category: np.ndarray
    mobile: np.ndarray
    risk: np.ndarray
    status: np.ndarray
    commissioned: np.ndarray  # datetime64[D]
    last_pm_days: np.ndarray  # from the fixture
    hours_since_pm: np.ndarray  # NaN where the fixture has none

    def __len__(self):
        return len(self.ids)


def _fleet(fixture: Path | None, today: dt.date, seed: int) -> Fleet:
    rows = list(Asset.objects.values_list("pk", "asset_number", "asset_type__code", "asset_type__category",
                                          "asset_type__is_mobile", "asset_type__risk_class", "status",
                                          "commissioned_on", "created_at").order_by("pk"))
    extra = {}
    if fixture is not None and Path(fixture).is_file():
        extra = {i["asset_number"]: i for i in json.loads(Path(fixture).read_text(encoding="utf-8"))["items"]}
    rng = _rng("fleet", seed)
    n = len(rows)
    last = rng.integers(30, 330, n)
    hours = np.full(n, np.nan)
    for i, r in enumerate(rows):
        item = extra.get(r[1])
        if item:
            last[i] = item.get("last_pm_days_ago", last[i])
            if item.get("hours_since_pm") is not None:
                hours[i] = float(item["hours_since_pm"])
    commissioned = np.array([(r[7] or timezone.localtime(r[8]).date()) for r in rows], dtype="datetime64[D]")
    return Fleet(
        ids=np.array([r[0] for r in rows], dtype=np.int64), numbers=np.array([r[1] for r in rows], dtype=object),
        type_code=np.array([r[2] for r in rows], dtype=object), category=np.array([r[3] for r in rows], dtype=object),
        mobile=np.array([r[4] for r in rows], dtype=bool), risk=np.array([r[5] for r in rows], dtype=object),
        status=np.array([r[6] for r in rows], dtype=object), commissioned=commissioned, last_pm_days=last,
        hours_since_pm=hours,
    )


def already_generated() -> bool:
    return WorkOrder.objects.filter(demo=True).exists() or DailyUsage.objects.filter(source=UsageSource.DEMO).exists()


def generate_history(fixture: Path | None = None, *, today: dt.date | None = None, seed: int = SEED,
                     forecast: bool = True) -> dict:
    """Generate the demo's maintenance history (see the module doc). Skipped (returns {}) when demo history
    is already there, so ``load_demo --force`` leaves it alone."""
    today = today or timezone.localdate()
    if already_generated():
        return {}
    with transaction.atomic():
        services.sync_type_plans()
        fleet = _fleet(fixture, today, seed)
        usage = _usage(fleet, today, seed)
        counts = {"usage days": _store_usage(fleet, usage, today)}
        counts["usage periods"] = _store_periods(fleet, usage, today, seed)
        counts.update(_work_orders(fleet, today, seed))
    if forecast:
        from .forecasting import run_forecast

        before = WorkOrder.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        run = run_forecast(today, triggered_by="load_demo")
        WorkOrder.objects.filter(pk__gt=before).update(demo=True)  # made from demo data: demo too
        counts["work orders created by the forecast"] = run.orders_created
    return counts


# ----------------------------------------------------------------------------------------------------
# Usage
# ----------------------------------------------------------------------------------------------------


def _usage(fleet: Fleet, today: dt.date, seed: int) -> np.ndarray:
    """(assets, HISTORY_DAYS) hours per day; NaN before commissioning and for fixed equipment."""
    rng = _rng("usage", seed)
    n, d = len(fleet), HISTORY_DAYS
    codes = np.where(np.isin(fleet.type_code, list(USE)), fleet.type_code, "other")
    median = np.array([USE[c][0] for c in codes])
    pattern = np.array([USE[c][1] for c in codes], dtype=object)
    base = np.clip(median * np.exp(rng.normal(0.0, 0.35, n)), 0.05, 21.0)
    growth = rng.normal(0.0, 0.2, n)
    t = np.arange(-d, 0)
    start = np.datetime64(today, "D") - d
    weekday = ((start + np.arange(d)).astype("datetime64[D]").view("int64") - 4) % 7  # 1970-01-01 was a Thursday
    profile = np.ones((n, 7))
    for name, values in WEEKDAY_PATTERNS.items():
        profile[pattern == name] = np.array(values) / np.mean(values)
    noise = lfilter([np.sqrt(1 - 0.3**2)], [1.0, -0.3], rng.standard_normal((n, d + 60)), axis=1)[:, 60:]
    y = base[:, None] * np.maximum(0.05, 1 + growth[:, None] * t[None, :] / 365.0) * profile[:, weekday]
    y *= 1.0 + 0.25 * noise
    y[rng.random((n, d)) < 0.03] = 0.0
    np.clip(y, 0.0, 24.0, out=y)

    # Usage-interval types: the fixture says how many hours since the last PM; scale each asset's use to
    # match that rate (within what a day holds), so the usage side of "whichever first" is believable.
    hours = fleet.hours_since_pm
    last = np.clip(fleet.last_pm_days, 1, d)
    has = np.isfinite(hours)
    cols = np.arange(d)[None, :] >= (d - last)[:, None]
    window_mean = np.where(cols, y, 0.0).sum(axis=1) / last
    target = np.clip(np.nan_to_num(hours / last), 0.5, 21.0)
    scale = np.where(has & (window_mean > 0), target / np.maximum(window_mean, 1e-6), 1.0)
    y = np.clip(y * scale[:, None], 0.0, 24.0)

    # Something for the flags: a surge of heavy use, long idle for missing or out-of-service units.
    surge = rng.random(n) < 0.02
    y[surge, -7:] = np.clip(y[surge, -7:] * 2.5 + 4.0, 0.0, 24.0)
    idle = np.isin(fleet.status, ["missing", "out_of_service"]) | (rng.random(n) < 0.02)
    idle_days = rng.integers(16, 60, n)
    y[idle[:, None] & (np.arange(d)[None, :] >= (d - idle_days)[:, None])] = 0.0

    y[~fleet.mobile] = np.nan  # fridges and freezers run all the time: use is not what wears them
    y[(start + np.arange(d))[None, :] < fleet.commissioned[:, None]] = np.nan
    return np.round(y, 3)


def _store_usage(fleet: Fleet, y: np.ndarray, today: dt.date) -> int:
    # Days without use get no row: after an asset's first row the forecaster reads a missing day as 0 h.
    rows, cols = np.nonzero(np.nan_to_num(y) > 0)
    days = np.datetime64(today, "D") - HISTORY_DAYS + cols
    now = utc_strings([timezone.now()])[0]
    return fast_insert(DailyUsage, ["asset", "date", "hours", "source", "updated_at"], {
        "asset": fleet.ids[rows], "date": date_strings(days), "hours": y[rows, cols],
        "source": np.full(rows.size, UsageSource.DEMO.value, dtype=object),
        "updated_at": np.full(rows.size, now, dtype=object),
    })


def _store_periods(fleet: Fleet, y: np.ndarray, today: dt.date, seed: int) -> int:
    """Periods of use for the last PERIOD_DAYS days, cut from each day's hours: 1-3 sessions a day at times
    that follow the weekday pattern (day shift for weekday and clinic use, any time for continuous use)."""
    rng = _rng("periods", seed)
    h = y[:, -PERIOD_DAYS:]
    rows, cols = np.nonzero(np.nan_to_num(h) > 0.05)
    hours = h[rows, cols]
    k = np.clip(np.ceil(hours / 8.0), 1, 3).astype(np.int64)
    r = np.repeat(rows, k)
    c = np.repeat(cols, k)
    j = np.arange(r.size) - np.repeat(np.cumsum(k) - k, k)
    kk = np.repeat(k, k)
    length = np.repeat(hours / k, k)
    slot = 24.0 / kk
    slack = np.maximum(slot - length, 0.0)
    daytime = np.isin(fleet.type_code[r], [c_ for c_, (_, p) in USE.items() if p != "continuous"])
    begin = np.where(daytime & (length < 10), 7.5 + rng.random(r.size) * np.maximum(10.0 - length, 0.0),
                     j * slot + rng.random(r.size) * slack)
    day0 = np.datetime64(today, "D") - PERIOD_DAYS
    tz = str(timezone.get_current_timezone())
    local = pd.DatetimeIndex((day0 + c).astype("datetime64[ns]")) + pd.to_timedelta(begin, unit="h")
    start = local.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward").tz_convert("UTC")
    end = start + pd.to_timedelta(length, unit="h")
    ok = ~start.isna() & (length > 0.01)
    return fast_insert(UsagePeriod, ["asset", "start", "end", "source", "mode"], {
        "asset": fleet.ids[r][ok], "start": utc_strings(start[ok]), "end": utc_strings(end[ok]),
        "source": np.full(int(ok.sum()), UsageSource.DEMO.value, dtype=object),
        "mode": np.full(int(ok.sum()), UsageMode.PRESENCE.value, dtype=object),
    })


# ----------------------------------------------------------------------------------------------------
# Work orders
# ----------------------------------------------------------------------------------------------------


def _work_orders(fleet: Fleet, today: dt.date, seed: int) -> dict:
    rng = _rng("orders", seed)
    User = get_user_model()
    engineer = User.objects.filter(groups__name="biomedical engineer").order_by("pk").first()
    eng_name = engineer.get_username() if engineer else "engineer"
    plans = {(p.asset_type_id, p.kind): p for p in MaintenancePlan.objects.filter(asset__isnull=True, active=True)}
    type_of = dict(Asset.objects.values_list("pk", "asset_type_id"))
    horizon_start = today - dt.timedelta(days=HISTORY_DAYS)

    # (order, [(at, by_name, from, to, note, data)], ...): events are made once bulk_create gives pks.
    done, pending, events, parts = [], [], [], []

    def add_event(bucket, at, by, frm, to, note="", data=None):
        bucket.append((at, by, frm, to, note, data or {}))

    # --- preventive maintenance and calibration: past services and the pending next one --------------
    for i in range(len(fleet)):
        asset_id = int(fleet.ids[i])
        commissioned = fleet.commissioned[i].astype(dt.date)
        for kind in (PlanKind.PREVENTIVE, PlanKind.CALIBRATION):
            plan = plans.get((type_of[asset_id], kind))
            if plan is None or not plan.interval_days:
                continue
            interval = plan.interval_days
            last_days = int(fleet.last_pm_days[i]) if kind == PlanKind.PREVENTIVE else int(rng.integers(10, interval))
            done_on = today - dt.timedelta(days=last_days)
            chain = []
            while done_on >= max(horizon_start, commissioned):
                # Mostly done in the fortnight before the due date; some a few days late, a few much later.
                roll = rng.random()
                delay = (int(rng.integers(8, 40)) if roll < 0.06 else int(rng.integers(1, 8)) if roll < 0.15
                         else int(rng.integers(-14, 1)))
                planned = done_on - dt.timedelta(days=delay)
                chain.append((done_on, planned))
                done_on = planned - dt.timedelta(days=interval)
            for done_on, planned in reversed(chain):
                completed_at = _aware(done_on, 9 + rng.random() * 7)
                created_at = _aware(planned - dt.timedelta(days=14), 2.0)
                o = WorkOrder(
                    asset_id=asset_id, kind=kind, plan=plan, title=plan.name, tasks=plan.tasks, status="done",
                    risk_class=plan.risk_class or fleet.risk[i], planned_date=planned, due_date=planned,
                    due_driver=DueDriver.CALENDAR, started_at=completed_at - dt.timedelta(hours=1),
                    completed_at=completed_at, completed_by=engineer, demo=True, created_at=created_at,
                    downtime_hours=round(float(rng.uniform(0.5, 2.5)), 1),
                )
                minor = rng.random() < 0.07
                o.outcome = Outcome.PASS_WITH_REPAIRS if minor else Outcome.PASS
                o.findings = ("Minor defect corrected during the service (see parts)." if minor else
                              "All checks passed; no defects found.")
                ev = []
                add_event(ev, created_at, services.FORECAST_JOB, "", "open", "Created before it fell due.")
                frm = "open"
                if rng.random() < 0.12:
                    cnl_at = completed_at - dt.timedelta(days=int(rng.integers(2, 9)))
                    add_event(ev, cnl_at, eng_name, "open", "could_not_locate",
                              "Not where the map showed it; asked the ward to look out for it.")
                    frm = "could_not_locate"
                add_event(ev, completed_at, eng_name, frm, "done", o.findings)
                done.append((o, ev, minor))
            # The next one: scheduled from the last service (most), or left for the forecast job to create.
            if rng.random() < 0.08 and chain:
                continue
            last_done = chain[0][0] if chain else max(commissioned, horizon_start)
            base = chain[0][1] if (chain and plan.count_from == "planned") else last_done
            due = base + dt.timedelta(days=interval)
            o = WorkOrder(asset_id=asset_id, kind=kind, plan=plan, title=plan.name, tasks=plan.tasks,
                          status=WorkOrderStatus.SCHEDULED, risk_class=plan.risk_class or fleet.risk[i],
                          planned_date=due, due_date=due, due_driver=DueDriver.CALENDAR, demo=True,
                          created_at=_aware(last_done, 17.0))
            ev = []
            add_event(ev, o.created_at, eng_name, "", "scheduled", "Scheduled by the completion of the last service.")
            soon = (due - today).days <= 21
            roll = rng.random()
            if soon and roll < 0.10:
                o.status = WorkOrderStatus.COULD_NOT_LOCATE
                o.status_reason = "Not in the room the map showed; ward staff have not seen it today."
                add_event(ev, timezone.now() - dt.timedelta(hours=int(rng.integers(3, 60))), eng_name, "scheduled",
                          "could_not_locate", o.status_reason)
            elif soon and roll < 0.15:
                o.status = WorkOrderStatus.DEFERRED
                o.status_reason = "In continuous use on a patient; the ward asked to do it after discharge."
                o.deferred_until = today + dt.timedelta(days=int(rng.integers(2, 8)))
                add_event(ev, timezone.now() - dt.timedelta(hours=int(rng.integers(3, 60))), eng_name, "scheduled",
                          "deferred", o.status_reason, {"deferred_until": o.deferred_until.isoformat()})
            pending.append((o, ev))

    # --- repairs: a Weibull renewal process per category since commissioning -------------------------
    repairs = _repairs(fleet, today, rng)
    for asset_i, fail_day in repairs:
        desc, fix = FAULTS[int(rng.integers(len(FAULTS)))]
        reported = _aware(fail_day, 8 + rng.random() * 9)
        days_to_fix = float(rng.gamma(1.5, 1.6)) + 0.1
        completed = reported + dt.timedelta(days=days_to_fix)
        o = WorkOrder(asset_id=int(fleet.ids[asset_i]), kind=WorkOrderKind.REPAIR, title=f"Repair: {desc}",
                      description=desc, status="done", risk_class=fleet.risk[asset_i], reported_at=reported,
                      planned_date=fail_day, due_date=fail_day, due_driver=DueDriver.MANUAL,
                      started_at=reported + dt.timedelta(hours=2), completed_at=completed, completed_by=engineer,
                      outcome=Outcome.PASS, findings=fix, downtime_hours=round(days_to_fix * 24.0, 1), demo=True,
                      created_at=reported)
        ev = []
        add_event(ev, reported, "nurse", "", "open", desc)
        add_event(ev, reported + dt.timedelta(hours=2), eng_name, "open", "in_progress")
        add_event(ev, completed, eng_name, "in_progress", "done", fix)
        done.append((o, ev, rng.random() < 0.6))

    # Units in maintenance or out of service now have a repair under way.
    for i in np.flatnonzero(np.isin(fleet.status, ["in_maintenance", "out_of_service"])):
        desc, _ = FAULTS[int(rng.integers(len(FAULTS)))]
        reported = timezone.now() - dt.timedelta(hours=float(rng.uniform(3, 120)))
        o = WorkOrder(asset_id=int(fleet.ids[i]), kind=WorkOrderKind.REPAIR, title=f"Repair: {desc}",
                      description=desc, risk_class=fleet.risk[i], reported_at=reported,
                      planned_date=timezone.localtime(reported).date(), due_date=timezone.localtime(reported).date(),
                      due_driver=DueDriver.MANUAL, demo=True, created_at=reported)
        ev = []
        add_event(ev, reported, "nurse", "", "open", desc)
        if fleet.status[i] == "in_maintenance":
            o.status, o.started_at = WorkOrderStatus.IN_PROGRESS, reported + dt.timedelta(hours=1)
            add_event(ev, o.started_at, eng_name, "open", "in_progress")
        else:
            o.status = WorkOrderStatus.DEFERRED
            o.status_reason = "Awaiting a spare part from the manufacturer."
            add_event(ev, reported + dt.timedelta(hours=4), eng_name, "open", "deferred", o.status_reason)
        pending.append((o, ev))

    # --- store ---------------------------------------------------------------------------------------
    done_orders = WorkOrder.objects.bulk_create([o for o, _, _ in done], batch_size=1000)
    last_done = {}  # the pending PM follows the last completed one of its asset and kind
    for o in done_orders:
        if o.kind in (WorkOrderKind.PREVENTIVE, WorkOrderKind.CALIBRATION):
            key = (o.asset_id, o.kind)
            if key not in last_done or o.completed_at > last_done[key].completed_at:
                last_done[key] = o
    for o, _ in pending:
        o.previous = last_done.get((o.asset_id, o.kind))
    pending_orders = WorkOrder.objects.bulk_create([o for o, _ in pending], batch_size=1000)
    for order, (_, ev, *_rest) in zip(done_orders + pending_orders, done + pending, strict=True):
        for at, by, frm, to, note, data in ev:
            events.append(WorkOrderEvent(work_order=order, at=at, by=engineer if by == eng_name else None,
                                         by_name=by, from_status=frm, to_status=to, note=note, data=data))
    for order, (_, _, with_parts) in zip(done_orders, done, strict=True):
        if with_parts and (order.outcome != Outcome.PASS or order.kind == WorkOrderKind.REPAIR):
            pn, desc = PARTS[int(rng.integers(len(PARTS)))]
            parts.append(WorkOrderPart(work_order=order, part_number=pn, description=desc, quantity=1))
    fast_insert(WorkOrderEvent, ["work_order", "at", "by", "by_name", "from_status", "to_status", "note", "data"], {
        "work_order": [e.work_order_id for e in events], "at": utc_strings([e.at for e in events]),
        "by": [e.by_id for e in events], "by_name": [e.by_name for e in events],
        "from_status": [e.from_status for e in events], "to_status": [e.to_status for e in events],
        "note": [e.note for e in events], "data": [json.dumps(e.data) for e in events],
    })
    WorkOrderPart.objects.bulk_create(parts, batch_size=2000)
    notice_orders = _safety_notice(today, engineer, rng)
    return {"work orders": len(done_orders) + len(pending_orders) + notice_orders, "repairs": len(repairs)}


def _repairs(fleet: Fleet, today: dt.date, rng) -> list[tuple[int, dt.date]]:
    """Failure days per asset: Weibull renewal draws from commissioning to today, vectorised in blocks."""
    n = len(fleet)
    shape = np.array([FAILURES.get(c, (1.2, 1500.0))[0] for c in fleet.category])
    scale = np.array([FAILURES.get(c, (1.2, 1500.0))[1] for c in fleet.category])
    age = (np.datetime64(today, "D") - fleet.commissioned).astype(np.int64).astype(float)
    times = np.zeros((n, 0))
    total = np.zeros(n)
    while (total < age).any():
        block = scale[:, None] * (-np.log(rng.random((n, 6)))) ** (1.0 / shape[:, None])
        block = total[:, None] + np.cumsum(block, axis=1)
        times = np.concatenate([times, block], axis=1)
        total = times[:, -1]
    # Three units of the busiest type break down repeatedly in the last quarter (the "repeated repairs" flag).
    extra_rows = rng.choice(np.flatnonzero(fleet.mobile), size=min(3, int(fleet.mobile.sum())), replace=False)
    fail = times < (age - 1)[:, None]
    rows, cols = np.nonzero(fail)
    day = fleet.commissioned[rows] + np.floor(times[rows, cols]).astype(np.int64)
    out = [(int(r), d.astype(dt.date)) for r, d in zip(rows, day, strict=True)]
    for r in extra_rows:
        for back in (75, 41, 12):
            out.append((int(r), today - dt.timedelta(days=back)))
    return out


def _safety_notice(today: dt.date, engineer, rng) -> int:
    """A field safety notice for the most common model, applied 20 days ago, 45 % of units done."""
    top = (Asset.objects.values("manufacturer", "model", "asset_type_id").annotate(n=Count("pk"))
           .order_by("-n", "model").first())
    if top is None:
        return 0
    notice, _created = SafetyNotice.objects.get_or_create(reference=DEMO_NOTICE, defaults={
        "kind": "field_safety_notice", "title": "Software update: free-flow alarm may be delayed (demo notice)",
        "manufacturer": top["manufacturer"], "model": top["model"], "asset_type_id": top["asset_type_id"],
        "issued_on": today - dt.timedelta(days=24),
        "action_required": "Install the corrected software release\nVerify the free-flow alarm with the test set\n"
                           "Attach the 'FSN done' label",
        "due_within_days": 30, "risk_class": "high", "created_by": engineer,
    })
    orders = services.apply_safety_notice(notice, user=engineer, today=today - dt.timedelta(days=20))
    WorkOrder.objects.filter(pk__in=[o.pk for o in orders]).update(demo=True)
    for o in orders[: int(len(orders) * 0.45)]:
        services.complete(o, user=engineer, findings="Software updated to the corrected release; alarm verified.",
                          outcome=Outcome.PASS, completed_at=timezone.now() - dt.timedelta(
                              days=int(rng.integers(1, 18)), hours=int(rng.integers(0, 8))))
    return len(orders)
