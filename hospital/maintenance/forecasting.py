"""The forecast job: read the fleet into frames, run the pure forecaster on all of it at once, store one
forecast per asset and plan and one failure model per asset type, move the due dates of pending work
orders to the new prediction, and create the work orders that fall due within the look-ahead.

``run_forecast()`` is what ``manage.py maintenance_forecast`` and the demo call. The database is read with
a handful of queries into pandas frames; the forecaster (``forecast.py``, ``weibull.py``) works on arrays
of the whole fleet; only the final writes build model instances (bulk inserts/updates in one transaction).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hospital.assets.models import Asset

from . import forecast as fc_mod
from . import weibull
from .choices import PENDING_STATUSES, PLANNED_KINDS, DueDriver, RunStatus, WorkOrderKind, WorkOrderStatus
from .db import hours_between, read_frame, read_usage
from .db import local_dates as _local_dates
from .db import to_dates as _dates
from .models import (
    FailureModel,
    Forecast,
    ForecastRun,
    MaintenancePlan,
    WorkOrder,
    WorkOrderEvent,
)
from .services import FORECAST_JOB, sync_type_plans

log = logging.getLogger(__name__)

# The days of usage the job reads: the forecaster's 26-week trend window and the flags' 26-week baseline
# plus the last week, and a week of margin. Long idle is counted up to that far back.
HISTORY_WINDOW_DAYS = 7 * 26 + 14

REFRESHABLE = (WorkOrderStatus.OPEN, WorkOrderStatus.SCHEDULED, WorkOrderStatus.COULD_NOT_LOCATE)


def lookahead_days() -> int:
    """Work orders are created this many days before they fall due (setting MAINTENANCE_LOOKAHEAD_DAYS)."""
    return int(getattr(settings, "MAINTENANCE_LOOKAHEAD_DAYS", 14))


def horizon_days() -> int:
    return int(getattr(settings, "MAINTENANCE_FORECAST_HORIZON_DAYS", 60))


# ----------------------------------------------------------------------------------------------------
# Frames from the database
# ----------------------------------------------------------------------------------------------------


def assets_frame() -> pd.DataFrame:
    a = read_frame(Asset.objects.all(), ["id", "asset_type_id", "asset_type__code", "asset_type__category",
                                         "asset_type__risk_class", "commissioned_on", "created_at",
                                         "home_department_id"])
    a = a.rename(columns={"id": "asset_id", "asset_type_code": "type_code", "asset_type_category": "category",
                          "asset_type_risk_class": "type_risk", "home_department_id": "department_id"})
    created = _local_dates(a["created_at"]) if len(a) else pd.Series(dtype="datetime64[ns]")
    commissioned = _dates(a["commissioned_on"]) if len(a) else pd.Series(dtype="datetime64[ns]")
    a["commissioned"] = commissioned.fillna(created).to_numpy()
    return a.drop(columns=["created_at", "commissioned_on"])


PLAN_COLUMNS = ["id", "asset_type_id", "asset_id", "kind", "name", "interval_days", "interval_hours", "count_from",
                "risk_class", "tasks"]


def effective_plans(assets: pd.DataFrame) -> pd.DataFrame:
    """One row per asset and kind: the asset's active override, else its type's active plan."""
    p = read_frame(MaintenancePlan.objects.filter(active=True), PLAN_COLUMNS).rename(columns={"id": "plan_id"})
    if not len(p) or not len(assets):
        return pd.DataFrame(columns=["asset_id", "plan_id", "kind", "interval_days", "interval_hours", "count_from",
                                     "risk_class", "name", "tasks", "override"])
    typed = p[p["asset_id"].isna()].drop(columns="asset_id")
    by_type = assets[["asset_id", "asset_type_id"]].merge(typed, on="asset_type_id").drop(columns="asset_type_id")
    by_type["override"] = False
    own = p[p["asset_id"].notna()].drop(columns="asset_type_id").copy()
    own["asset_id"] = own["asset_id"].astype(np.int64)
    own = own[own["asset_id"].isin(assets["asset_id"])]
    own["override"] = True
    both = pd.concat([own, by_type], ignore_index=True)
    both = both.drop_duplicates(["asset_id", "kind"], keep="first")  # overrides come first
    for c in ("interval_days", "interval_hours"):
        both[c] = pd.to_numeric(both[c], errors="coerce").astype(float)
    return both.sort_values(["asset_id", "kind"], ignore_index=True)


def last_services() -> pd.DataFrame:
    """The latest completed planned work per asset and kind: completion day and planned day."""
    done = read_frame(
        WorkOrder.objects.filter(kind__in=PLANNED_KINDS, status=WorkOrderStatus.DONE),
        ["asset_id", "kind", "completed_at", "planned_date"],
    )
    if not len(done):
        return pd.DataFrame(columns=["asset_id", "kind", "last_service_date", "last_planned_date"])
    done["last_service_date"] = _local_dates(done["completed_at"]).to_numpy()
    done["last_planned_date"] = _dates(done["planned_date"]).to_numpy()
    done = done.sort_values("completed_at").drop_duplicates(["asset_id", "kind"], keep="last")
    return done[["asset_id", "kind", "last_service_date", "last_planned_date"]]


def repairs_frame() -> pd.DataFrame:
    r = read_frame(WorkOrder.objects.filter(kind=WorkOrderKind.REPAIR).exclude(status=WorkOrderStatus.CANCELLED),
                   ["asset_id", "reported_at", "created_at"])
    if not len(r):
        return pd.DataFrame({"asset_id": pd.Series(dtype=np.int64), "date": pd.Series(dtype="datetime64[ns]")})
    when = pd.Series(r["reported_at"]).where(r["reported_at"].notna(), r["created_at"])
    return pd.DataFrame({"asset_id": r["asset_id"].astype(np.int64), "date": _local_dates(when).to_numpy()})


def usage_frame(since: dt.date, today: dt.date) -> pd.DataFrame:
    return read_usage(since, today)


# ----------------------------------------------------------------------------------------------------
# The job
# ----------------------------------------------------------------------------------------------------


@dataclass
class Timer:
    timings: dict = field(default_factory=dict)
    _t: float = field(default_factory=time.perf_counter)

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self._t, 4)
        self._t = now


def _none(v):
    if v is None:
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is pd.NaT or (isinstance(v, pd.Timestamp | np.datetime64) and pd.isna(v)):
        return None
    return v


def _day(v) -> dt.date | None:
    return None if v is None or pd.isna(v) else pd.Timestamp(v).date()


def hours_since_service(plans: pd.DataFrame, um, window_start: pd.Timestamp, today: dt.date) -> np.ndarray:
    """Usage hours since each usage-interval plan's last service; NaN for calendar-only plans and where the
    usage records of the asset start after its last service (the hours before them are unknown, as in the
    forecaster: a lower bound would put the usage due date too late). A week of slack allows for a first
    record that is missing because the asset was not used on the first days."""
    out = np.full(len(plans), np.nan)
    hp = np.flatnonzero(plans["interval_hours"].notna().to_numpy())
    if not hp.size:
        return out
    ids = plans["asset_id"].to_numpy()[hp]
    since = pd.to_datetime(plans["last_service_date"]).to_numpy().astype("datetime64[D]")
    since = since[hp]
    before, first = hours_between(ids, since, window_start.date())
    inside = np.zeros(hp.size)
    if um is not None:
        start = np.datetime64(um.start.date(), "D")
        got = fc_mod.hours_since(um, ids, np.maximum(since, start), today)
        inside = np.nan_to_num(got)
    total = np.where(since < np.datetime64(window_start.date(), "D"), before, 0.0) + inside
    covered = np.isfinite(first) & (first <= since.astype(np.int64) + 7)
    out[hp] = np.where(covered, total, np.nan)
    return out


def compute(today: dt.date, *, horizon: int | None = None, timer: Timer | None = None) -> dict:
    """Read the fleet and run the forecaster. Returns the frames (nothing is written)."""
    timer = timer or Timer()
    horizon = horizon or horizon_days()
    assets = assets_frame()
    plans = effective_plans(assets)
    last = last_services()
    plans = plans.merge(last, on=["asset_id", "kind"], how="left")
    commissioned = assets.set_index("asset_id")["commissioned"]
    plans["last_service_date"] = pd.to_datetime(plans["last_service_date"]).fillna(
        pd.Series(commissioned.reindex(plans["asset_id"]).to_numpy(), index=plans.index))
    plans["last_planned_date"] = pd.to_datetime(plans["last_planned_date"])
    timer.lap("read_plans")

    # Only the window the forecaster reads (half a year: the trend window and the flags' baseline) comes into
    # memory. Hours since a last service before the window are summed by the database for the part before
    # it; the part inside comes from the usage matrix.
    t = pd.Timestamp(today)
    window_start = t - pd.Timedelta(days=HISTORY_WINDOW_DAYS)
    usage = usage_frame(window_start.date(), today)
    repairs = repairs_frame()
    um = fc_mod.usage_matrix(usage, today) if len(usage) else None
    plans["hours_since_service"] = hours_since_service(plans, um, window_start, today)
    timer.lap("read_usage")

    if um is not None:
        forecast = fc_mod.forecast_usage(um, today, horizon)
        flags = fc_mod.usage_flags(um, today, repairs=repairs, lookback_days=HISTORY_WINDOW_DAYS)
    else:
        forecast = pd.DataFrame(columns=fc_mod.FORECAST_COLUMNS)
        flags = fc_mod.usage_flags(pd.DataFrame(columns=["asset_id", "date", "hours"]), today, repairs=repairs) \
            if len(repairs) else pd.DataFrame(columns=fc_mod.FLAG_COLUMNS)
    timer.lap("forecast_usage")
    due = fc_mod.predict_due(plans, forecast, today) if len(plans) else pd.DataFrame(
        columns=fc_mod.DUE_COLUMNS)
    timer.lap("predict_due")

    failures_assets = assets.rename(columns={"asset_type_id": "asset_type"})[["asset_id", "asset_type", "commissioned"]]
    intervals = weibull.failure_intervals(repairs, failures_assets, today)
    fits = weibull.fit_weibull_by_type(intervals) if len(intervals) else pd.DataFrame(columns=weibull.FIT_COLUMNS)
    ages = intervals[~intervals["failed"]].rename(columns={"duration": "age_now"})
    # Risk before the due date; for work already overdue, over the look-ahead (the time it may still take),
    # not zero.
    horizon_due = due.assign(days_to_due=np.where(due["days_to_due"] < 0, float(lookahead_days()), due["days_to_due"]))
    risk = fc_mod.risk_before_due(horizon_due, ages, fits) if len(ages) and len(fits) else pd.DataFrame(
        columns=["asset_id", "risk", "method"])
    timer.lap("weibull")
    return {"assets": assets, "plans": plans, "usage_rows": len(usage), "forecast": forecast, "due": due,
            "flags": flags, "fits": fits, "risk": risk, "intervals": intervals}


def forecast_rows(frames: dict, run: ForecastRun, today: dt.date) -> list[Forecast]:
    """Join the per-plan due dates with the per-asset forecast, flags and risk into model instances."""
    plans, due, fc = frames["plans"], frames["due"], frames["forecast"]
    assets = frames["assets"][["asset_id"]]
    per_plan = plans[["asset_id", "plan_id", "kind"]].reset_index(drop=True).join(
        due.drop(columns=["asset_id", "plan_id"]).reset_index(drop=True))
    planless = assets[~assets["asset_id"].isin(plans["asset_id"])]
    rows = pd.concat([per_plan, planless.assign(plan_id=np.nan)], ignore_index=True)
    fcs = fc.set_index("asset_id") if len(fc) else pd.DataFrame(columns=fc_mod.FORECAST_COLUMNS).set_index("asset_id")
    flags = frames["flags"].set_index("asset_id") if len(frames["flags"]) else None
    risk = frames["risk"].drop_duplicates("asset_id").set_index("asset_id") if len(frames["risk"]) else None

    params = {}
    if len(fc):
        clean = fc.astype(object).where(fc.notna(), None)
        clean["origin"] = fc["origin"].dt.strftime("%Y-%m-%d")
        params = dict(zip(fc["asset_id"].to_numpy(), clean.to_dict("records"), strict=True))

    def col(frame, name, ids):
        if frame is None or name not in frame.columns:
            return np.full(len(ids), None, dtype=object)
        return frame[name].reindex(ids).to_numpy(object)

    ids = rows["asset_id"].to_numpy()
    method = col(fcs, "method", ids)
    mean_daily = col(fcs, "mean_daily", ids)
    exp_h, exp_sd, slope = col(fcs, "expected_hours", ids), col(fcs, "expected_hours_sd", ids), col(fcs, "slope", ids)
    f_heavy, f_idle, f_rep = col(flags, "heavy_use", ids), col(flags, "long_idle", ids), col(flags, "repeated_repairs", ids)
    f_reasons, f_idle_days = col(flags, "reasons", ids), col(flags, "idle_days", ids)
    f_recent, f_base = col(flags, "recent_mean", ids), col(flags, "baseline_mean", ids)
    r_risk, r_method = col(risk, "risk", ids), col(risk, "method", ids)

    def g(arr, i):
        return _none(arr[i]) if arr is not None else None

    def num(arr, i, scale=1.0):
        v = g(arr, i)
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) * scale

    out = []
    for i, r in enumerate(rows.itertuples(index=False)):
        has_plan = not pd.isna(r.plan_id)
        out.append(Forecast(
            run=run, asset_id=int(r.asset_id), plan_id=int(r.plan_id) if has_plan else None, as_of=today,
            method=g(method, i) or "no_data", mean_daily_hours=num(mean_daily, i), expected_hours=num(exp_h, i),
            expected_hours_sd=num(exp_sd, i), horizon_days=run.parameters.get("horizon_days", 60),
            trend_hours_per_week=num(slope, i, 7.0), params=params.get(r.asset_id, {}),
            calendar_due=_day(r.calendar_due) if has_plan else None,
            usage_due=_day(r.usage_due) if has_plan else None, due=_day(r.due) if has_plan else None,
            due_p10=_day(r.due_p10) if has_plan else None, due_p90=_day(r.due_p90) if has_plan else None,
            driver=(r.driver if has_plan and isinstance(r.driver, str) else DueDriver.NONE),
            days_to_due=int(r.days_to_due) if has_plan and not pd.isna(r.days_to_due) else None,
            overdue=bool(r.overdue) if has_plan and not pd.isna(r.overdue) else False,
            hours_since_service=num([r.hours_since_service], 0) if has_plan else None,
            remaining_hours=num([r.remaining_hours], 0) if has_plan else None,
            failure_risk=num(r_risk, i), risk_method=g(r_method, i) or "",
            heavy_use=bool(g(f_heavy, i) or False), long_idle=bool(g(f_idle, i) or False),
            repeated_repairs=bool(g(f_rep, i) or False), flags=g(f_reasons, i) or "",
            idle_days=int(g(f_idle_days, i)) if g(f_idle_days, i) is not None else None,
            recent_mean_hours=num(f_recent, i), baseline_mean_hours=num(f_base, i),
        ))
    return out


def failure_model_rows(frames: dict, run: ForecastRun, today: dt.date) -> list[FailureModel]:
    fits = frames["fits"]
    out = []
    for type_id, f in fits.iterrows():  # one row per asset type (tens)
        shape, scale = _none(f["shape"]), _none(f["scale"])
        mtbf = None
        if shape and scale:
            mtbf = weibull.WeibullFit(float(shape), float(scale), 0, 0, "").mean()
        out.append(FailureModel(run=run, asset_type_id=int(type_id), as_of=today, shape=shape, scale_days=scale,
                                mtbf_days=mtbf, n_failures=int(f["n_failures"]), n_censored=int(f["n_censored"]),
                                method=str(f["method"]), flagged=bool(f["flagged"])))
    return out


def order_changes(frames: dict, today: dt.date, lookahead: int):
    """(orders to create as rows of the plan frame, pending orders whose due date moves)."""
    plans, due = frames["plans"].reset_index(drop=True), frames["due"].reset_index(drop=True)
    p = plans.join(due[["due", "driver", "calendar_due"]])
    pending = read_frame(WorkOrder.objects.filter(kind__in=PLANNED_KINDS, status__in=PENDING_STATUSES),
                         ["id", "asset_id", "kind", "status", "due_date", "due_driver"])
    key = pending[["asset_id", "kind"]].assign(has=True) if len(pending) else pd.DataFrame(
        columns=["asset_id", "kind", "has"])
    p = p.merge(key, on=["asset_id", "kind"], how="left")
    limit = pd.Timestamp(today) + pd.Timedelta(days=lookahead)
    create = p[p["has"].isna() & p["due"].notna() & (p["due"] <= limit)]

    moves = pd.DataFrame(columns=["id", "due", "driver"])
    if len(pending):
        pending["due_date"] = _dates(pending["due_date"])
        m = pending.merge(p[["asset_id", "kind", "due", "driver"]], on=["asset_id", "kind"], how="inner")
        m = m[m["status"].isin(REFRESHABLE) & (m["due_driver"] != DueDriver.MANUAL) & m["due"].notna()]
        m = m[(m["due_date"] != m["due"]) | (m["due_driver"] != m["driver"])]
        moves = m[["id", "due", "driver"]]
    return create, moves


def run_forecast(today: dt.date | None = None, *, lookahead: int | None = None, create_orders: bool = True,
                 triggered_by: str = "", horizon: int | None = None) -> ForecastRun:
    """Forecast the whole fleet, store it, and keep the pending work orders in step (see module doc)."""
    today = today or timezone.localdate()
    lookahead = lookahead_days() if lookahead is None else int(lookahead)
    horizon = horizon or horizon_days()
    started = time.perf_counter()
    timer = Timer()
    sync_type_plans()
    run = ForecastRun.objects.create(as_of=today, triggered_by=triggered_by, lookahead_days=lookahead,
                                     parameters={"horizon_days": horizon, "lookahead_days": lookahead,
                                                 "create_orders": create_orders})
    try:
        frames = compute(today, horizon=horizon, timer=timer)
        forecasts = forecast_rows(frames, run, today)
        models = failure_model_rows(frames, run, today)
        create, moves = order_changes(frames, today, lookahead) if create_orders else (None, None)
        timer.lap("prepare_rows")
        with transaction.atomic():
            Forecast.objects.all().delete()
            Forecast.objects.bulk_create(forecasts, batch_size=2000)
            FailureModel.objects.all().delete()
            FailureModel.objects.bulk_create(models)
            created = updated = 0
            if create_orders:
                updated = _move_due_dates(moves)
                created = _create_orders(create, today)
            timer.lap("store")
        run.status = RunStatus.DONE
        run.n_assets = len(frames["assets"])
        run.n_plans = len(frames["plans"])
        run.n_usage_rows = int(frames["usage_rows"])
        run.orders_created, run.orders_updated = created, updated
    except Exception as exc:
        run.status, run.error = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"
        log.exception("maintenance forecast failed")
        raise
    finally:
        run.finished_at = timezone.now()
        run.seconds = round(time.perf_counter() - started, 3)
        run.timings = timer.timings
        ForecastRun.objects.filter(pk=run.pk).update(
            status=run.status, error=run.error, finished_at=run.finished_at, seconds=run.seconds, timings=run.timings,
            n_assets=run.n_assets, n_plans=run.n_plans, n_usage_rows=run.n_usage_rows,
            orders_created=run.orders_created, orders_updated=run.orders_updated)
    return run


def _move_due_dates(moves: pd.DataFrame) -> int:
    if moves is None or not len(moves):
        return 0
    orders = []
    for pk, due, driver in zip(moves["id"].to_numpy(), moves["due"].to_numpy(), moves["driver"].to_numpy(),
                               strict=True):
        orders.append(WorkOrder(pk=int(pk), due_date=pd.Timestamp(due).date(), due_driver=str(driver)))
    WorkOrder.objects.bulk_update(orders, ["due_date", "due_driver"], batch_size=1000)
    return len(orders)


def _create_orders(create: pd.DataFrame, today: dt.date) -> int:
    if create is None or not len(create):
        return 0
    risk_of = dict(Asset.objects.filter(pk__in=create["asset_id"].tolist()).values_list("pk", "asset_type__risk_class"))
    now = timezone.now()
    orders = []
    for r in create.itertuples(index=False):
        due = pd.Timestamp(r.due).date()
        planned = pd.Timestamp(r.calendar_due).date() if not pd.isna(r.calendar_due) else due
        orders.append(WorkOrder(
            asset_id=int(r.asset_id), kind=r.kind, plan_id=int(r.plan_id), title=r.name, tasks=r.tasks or "",
            status=WorkOrderStatus.OPEN, risk_class=(r.risk_class or risk_of.get(int(r.asset_id)) or "medium"),
            planned_date=planned, due_date=due, due_driver=str(r.driver), created_at=now,
        ))
    orders = WorkOrder.objects.bulk_create(orders, batch_size=1000)
    def note(o):
        days = (o.due_date - today).days
        when = (f"{days} days before it is due" if days > 0 else "on the day it is due" if days == 0
                else f"for work overdue since {o.due_date:%d %b %Y}")
        return f"Created by the forecast {when} ({o.get_due_driver_display().lower()})."

    WorkOrderEvent.objects.bulk_create([
        WorkOrderEvent(work_order=o, at=now, by_name=FORECAST_JOB, to_status=o.status, note=note(o),
                       data={"due_date": o.due_date.isoformat(), "due_driver": o.due_driver})
        for o in orders
    ], batch_size=1000)
    return len(orders)
