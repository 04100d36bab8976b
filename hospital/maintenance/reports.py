"""The numbers a clinical-engineering department reports, for a period and optionally one department or
asset type: PM completion (high-risk separately: it must be 100 %), on-time rate, MTBF, MTTR, uptime,
the could-not-locate rate, and utilisation per asset type and department with the peak number of units
in use at the same time. Definitions are in docs/maintenance.md ("Reports") and on the page itself.

Each function reads its rows into a DataFrame with one query and aggregates with pandas.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.conf import settings
from django.db.models import CharField, Sum
from django.db.models.functions import Cast
from django.utils import timezone

from hospital.assets.models import Asset, AssetType
from hospital.facility.models import Department

from .choices import PLANNED_KINDS, WorkOrderKind, WorkOrderStatus
from .db import local_dates as _local_dates
from .db import read_frame
from .db import to_dates as _dates
from .models import DailyUsage, FailureModel, UsagePeriod, WorkOrder, WorkOrderEvent
from .usage import peak_concurrency


def on_time_grace_days() -> int:
    """Work done this many days after its due date still counts as on time (MAINTENANCE_ON_TIME_GRACE_DAYS)."""
    return int(getattr(settings, "MAINTENANCE_ON_TIME_GRACE_DAYS", 0))


@dataclass(frozen=True)
class Filters:
    start: dt.date
    end: dt.date  # inclusive
    department: int | None = None
    asset_type: int | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def hours(self) -> float:
        return self.days * 24.0

    def start_dt(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.start, dt.time()))

    def end_dt(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time()))

    def query(self) -> str:
        parts = [f"start={self.start}", f"end={self.end}"]
        if self.department:
            parts.append(f"department={self.department}")
        if self.asset_type:
            parts.append(f"asset_type={self.asset_type}")
        return "&".join(parts)

    @classmethod
    def from_request(cls, params, today: dt.date | None = None) -> Filters:
        today = today or timezone.localdate()

        def day(name, default):
            try:
                return dt.date.fromisoformat(params.get(name) or "") or default
            except ValueError:
                return default

        def num(name):
            v = params.get(name) or ""
            return int(v) if v.isdigit() else None

        end = min(day("end", today), today)
        start = day("start", end - dt.timedelta(days=364))
        if start > end:
            start, end = end, start
        return cls(start, end, num("department"), num("asset_type"))


def _assets(f: Filters) -> pd.DataFrame:
    qs = Asset.objects.all()
    if f.department:
        qs = qs.filter(home_department_id=f.department)
    if f.asset_type:
        qs = qs.filter(asset_type_id=f.asset_type)
    a = read_frame(qs, ["id", "asset_type_id", "asset_type__name", "asset_type__risk_class", "home_department_id",
                        "home_department__name", "commissioned_on"])
    a = a.rename(columns={"id": "asset_id", "asset_type_name": "type", "asset_type_risk_class": "risk",
                          "home_department_id": "department_id", "home_department_name": "department"})
    a["department"] = a["department"].fillna("No department")
    return a


def _pct(num, den):
    return None if not den else round(100.0 * num / den, 1)


# ----------------------------------------------------------------------------------------------------
# PM completion and on-time rate
# ----------------------------------------------------------------------------------------------------


def pm_frame(f: Filters, today: dt.date | None = None) -> pd.DataFrame:
    """Planned work (PM and calibration) that fell due in the period (up to today), not cancelled."""
    today = today or timezone.localdate()
    qs = WorkOrder.objects.filter(kind__in=PLANNED_KINDS, planned_date__gte=f.start,
                                  planned_date__lte=min(f.end, today)).exclude(status=WorkOrderStatus.CANCELLED)
    if f.department:
        qs = qs.filter(asset__home_department_id=f.department)
    if f.asset_type:
        qs = qs.filter(asset__asset_type_id=f.asset_type)
    d = read_frame(qs, ["id", "asset_id", "kind", "status", "risk_class", "planned_date", "due_date", "completed_at",
                        "asset__asset_type__name"]).rename(columns={"asset_asset_type_name": "type"})
    if len(d):
        d["planned_date"] = _dates(d["planned_date"])
        d["due_date"] = _dates(d["due_date"]).fillna(d["planned_date"])
        d["done"] = d["status"] == WorkOrderStatus.DONE
        d["completed_on"] = _local_dates(d["completed_at"])
        grace = pd.Timedelta(days=on_time_grace_days())
        d["on_time"] = d["done"] & (d["completed_on"] <= d["due_date"] + grace)
    return d


def pm_summary(d: pd.DataFrame) -> dict:
    if not len(d):
        return {"scheduled": 0, "done": 0, "completion": None, "high_scheduled": 0, "high_done": 0,
                "high_completion": None, "on_time": 0, "on_time_rate": None, "overdue_open": 0}
    high = d[d["risk_class"] == "high"]
    return {
        "scheduled": len(d), "done": int(d["done"].sum()), "completion": _pct(d["done"].sum(), len(d)),
        "high_scheduled": len(high), "high_done": int(high["done"].sum()),
        "high_completion": _pct(high["done"].sum(), len(high)),
        "on_time": int(d["on_time"].sum()), "on_time_rate": _pct(d["on_time"].sum(), d["done"].sum()),
        "overdue_open": int((~d["done"]).sum()),
    }


def pm_monthly(d: pd.DataFrame) -> pd.DataFrame:
    cols = ["month", "scheduled", "done", "completion", "high_scheduled", "high_done", "high_completion", "on_time_rate"]
    if not len(d):
        return pd.DataFrame(columns=cols)
    d = d.assign(month=d["planned_date"].dt.strftime("%Y-%m"), high=d["risk_class"] == "high")
    d["high_done"] = d["high"] & d["done"]
    g = d.groupby("month").agg(scheduled=("id", "size"), done=("done", "sum"), high_scheduled=("high", "sum"),
                               high_done=("high_done", "sum"), on_time=("on_time", "sum")).reset_index()
    g["completion"] = (100.0 * g["done"] / g["scheduled"]).round(1)
    g["high_completion"] = (100.0 * g["high_done"] / g["high_scheduled"].replace(0, np.nan)).round(1)
    g["on_time_rate"] = (100.0 * g["on_time"] / g["done"].replace(0, np.nan)).round(1)
    return g[cols]


def pm_by_type(d: pd.DataFrame) -> pd.DataFrame:
    cols = ["type", "scheduled", "done", "completion", "on_time_rate"]
    if not len(d):
        return pd.DataFrame(columns=cols)
    g = d.groupby("type").agg(scheduled=("id", "size"), done=("done", "sum"), on_time=("on_time", "sum")).reset_index()
    g["completion"] = (100.0 * g["done"] / g["scheduled"]).round(1)
    g["on_time_rate"] = (100.0 * g["on_time"] / g["done"].replace(0, np.nan)).round(1)
    return g[cols].sort_values("completion", kind="stable")


# ----------------------------------------------------------------------------------------------------
# Reliability: MTBF, MTTR, uptime
# ----------------------------------------------------------------------------------------------------


def reliability(f: Filters, assets: pd.DataFrame, now: dt.datetime | None = None) -> pd.DataFrame:
    """Per asset type: failures (repairs reported in the period), MTBF (operating hours per failure), MTTR
    (mean hours from report to repair of the repairs finished in the period), uptime (1 - unplanned
    downtime / calendar time, ongoing outages included up to now)."""
    now = now or timezone.now()
    cols = ["type", "assets", "failures", "mtbf_days", "repairs_done", "mttr_hours", "downtime_hours", "uptime_pct",
            "weibull_mtbf_days"]
    if not len(assets):
        return pd.DataFrame(columns=cols)
    r = read_frame(WorkOrder.objects.filter(kind=WorkOrderKind.REPAIR, asset_id__in=assets["asset_id"].tolist())
                   .exclude(status=WorkOrderStatus.CANCELLED),
                   ["asset_id", "status", "reported_at", "created_at", "completed_at", "downtime_hours"])
    lo, hi = pd.Timestamp(f.start_dt()).tz_convert("UTC"), pd.Timestamp(min(f.end_dt(), now)).tz_convert("UTC")
    per_type = assets.groupby("type").agg(assets=("asset_id", "size"), type_id=("asset_type_id", "first"))
    if len(r):
        r = r.merge(assets[["asset_id", "type"]], on="asset_id")
        rep = pd.to_datetime(r["reported_at"].where(r["reported_at"].notna(), r["created_at"]), utc=True,
                             format="ISO8601")
        fin = pd.to_datetime(r["completed_at"], utc=True, format="ISO8601")
        r["failed_in"] = (rep >= lo) & (rep < hi)
        end = fin.fillna(pd.Timestamp(now).tz_convert("UTC"))
        r["out_h"] = ((end.clip(upper=hi) - rep.clip(lower=lo)).dt.total_seconds() / 3600.0).clip(lower=0)
        r["done_in"] = fin.notna() & (fin >= lo) & (fin < hi)
        ttr = pd.to_numeric(r["downtime_hours"], errors="coerce").fillna((fin - rep).dt.total_seconds() / 3600.0)
        r["ttr"] = ttr.where(r["done_in"])
        g = r.groupby("type").agg(failures=("failed_in", "sum"), repairs_done=("done_in", "sum"),
                                  mttr_hours=("ttr", "mean"), downtime_hours=("out_h", "sum"))
        per_type = per_type.join(g, how="left")
    for c in ("failures", "repairs_done", "downtime_hours"):
        per_type[c] = per_type.get(c, pd.Series(0, index=per_type.index)).fillna(0)
    if "mttr_hours" not in per_type:
        per_type["mttr_hours"] = np.nan
    calendar_h = (hi - lo).total_seconds() / 3600.0
    op_hours = per_type["assets"] * calendar_h - per_type["downtime_hours"]
    per_type["mtbf_days"] = (op_hours / per_type["failures"].replace(0, np.nan) / 24.0).round(0)
    per_type["uptime_pct"] = (100.0 * (1 - per_type["downtime_hours"] / (per_type["assets"] * calendar_h))).round(2)
    per_type["mttr_hours"] = per_type["mttr_hours"].round(1)
    per_type["downtime_hours"] = per_type["downtime_hours"].round(1)
    weib = dict(FailureModel.objects.values_list("asset_type_id", "mtbf_days"))
    per_type["weibull_mtbf_days"] = [round(weib[t]) if weib.get(t) else None for t in per_type["type_id"]]
    out = per_type.reset_index()
    out["failures"] = out["failures"].astype(int)
    out["repairs_done"] = out["repairs_done"].astype(int)
    return out[cols]


def reliability_totals(rel: pd.DataFrame, f: Filters) -> dict:
    if not len(rel):
        return {"failures": 0, "mtbf_days": None, "mttr_hours": None, "uptime_pct": None}
    failures = int(rel["failures"].sum())
    calendar_h = f.hours
    down = float(rel["downtime_hours"].sum())
    op = float(rel["assets"].sum()) * calendar_h - down
    done = rel["repairs_done"].sum()
    mttr = float((rel["mttr_hours"].fillna(0) * rel["repairs_done"]).sum() / done) if done else None
    return {"failures": failures, "mtbf_days": round(op / failures / 24.0) if failures else None,
            "mttr_hours": round(mttr, 1) if mttr is not None else None,
            "uptime_pct": round(100.0 * (1 - down / (float(rel["assets"].sum()) * calendar_h)), 2)
            if rel["assets"].sum() else None}


# ----------------------------------------------------------------------------------------------------
# Could not locate
# ----------------------------------------------------------------------------------------------------


def locate_rate(f: Filters, assets: pd.DataFrame) -> dict:
    """Visits where the device could not be found, over all visits (found and done, or not found), for
    planned and recall work in the period."""
    ev = read_frame(WorkOrderEvent.objects.filter(
        at__gte=f.start_dt(), at__lt=f.end_dt(), to_status__in=[WorkOrderStatus.COULD_NOT_LOCATE, WorkOrderStatus.DONE],
        work_order__kind__in=[*PLANNED_KINDS, WorkOrderKind.RECALL],
        work_order__asset_id__in=assets["asset_id"].tolist()), ["to_status", "work_order__asset__asset_type__name"])
    if not len(ev):
        return {"not_found": 0, "visits": 0, "rate": None, "by_type": {}}
    miss = ev["to_status"] == WorkOrderStatus.COULD_NOT_LOCATE
    by = ev.assign(miss=miss).groupby("work_order_asset_asset_type_name")["miss"].agg(["sum", "size"])
    return {"not_found": int(miss.sum()), "visits": len(ev), "rate": _pct(miss.sum(), len(ev)),
            "by_type": {t: _pct(r["sum"], r["size"]) for t, r in by.iterrows()}}


# ----------------------------------------------------------------------------------------------------
# Utilisation
# ----------------------------------------------------------------------------------------------------


def usage_totals(f: Filters, assets: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """Hours of use in the period, summed by the database: per asset (Series), and per day for the fleet
    (``date, hours``)."""
    if not len(assets):
        return pd.Series(dtype=float), pd.DataFrame(columns=["date", "hours"])
    qs = DailyUsage.objects.filter(asset_id__in=assets["asset_id"].tolist(), date__gte=f.start, date__lte=f.end)
    per_asset = dict(qs.order_by().values("asset_id").annotate(h=Sum("hours")).values_list("asset_id", "h"))
    per_day = read_frame(qs.order_by().values("date").annotate(day=Cast("date", CharField()), h=Sum("hours")),
                         ["day", "h"])
    days = pd.DataFrame({"date": pd.to_datetime(per_day["day"].astype(str).str.slice(0, 10), format="%Y-%m-%d"),
                         "hours": per_day["h"].astype(float)}) if len(per_day) else pd.DataFrame(columns=["date", "hours"])
    return pd.Series(per_asset, dtype=float), days


def period_rows(f: Filters, assets: pd.DataFrame) -> pd.DataFrame:
    """Periods of use overlapping the period, clipped to it: ``asset_id, start, end`` (UTC)."""
    if not len(assets):
        return pd.DataFrame(columns=["asset_id", "start", "end"])
    # Read the times as text: both backends give ISO strings, parsed in one vectorised call.
    qs = UsagePeriod.objects.filter(asset_id__in=assets["asset_id"].tolist(), start__lt=f.end_dt(),
                                    end__gt=f.start_dt()).annotate(s=Cast("start", CharField()), e=Cast("end", CharField()))
    p = read_frame(qs, ["asset_id", "s", "e"])
    if not len(p):
        return pd.DataFrame(columns=["asset_id", "start", "end"])
    lo, hi = pd.Timestamp(f.start_dt()).tz_convert("UTC"), pd.Timestamp(f.end_dt()).tz_convert("UTC")
    return pd.DataFrame({"asset_id": p["asset_id"].to_numpy(),
                         "start": pd.to_datetime(p["s"], utc=True, format="ISO8601").clip(lower=lo),
                         "end": pd.to_datetime(p["e"], utc=True, format="ISO8601").clip(upper=hi)})


def utilisation(f: Filters, assets: pd.DataFrame, per_asset: pd.Series, periods: pd.DataFrame, *,
                by_department: bool = True) -> pd.DataFrame:
    """Per asset type (and department): units, hours of use, utilisation (hours / units x calendar hours),
    units ever used, and the peak number in use at the same time (from the periods of use) with when."""
    keys = ["type", "department"] if by_department else ["type"]
    cols = [*keys, "assets", "hours", "utilisation_pct", "used_assets", "peak_in_use", "peak_pct", "peak_at"]
    if not len(assets):
        return pd.DataFrame(columns=cols)
    base = assets.groupby(keys).agg(assets=("asset_id", "size"))
    if len(per_asset):
        a = assets.assign(hours=assets["asset_id"].map(per_asset).fillna(0.0))
        a["used"] = a["hours"] > 0
        base = base.join(a.groupby(keys).agg(hours=("hours", "sum"), used_assets=("used", "sum")))
    else:
        base["hours"], base["used_assets"] = 0.0, 0
    base["hours"] = base["hours"].fillna(0.0).round(1)
    base["used_assets"] = base["used_assets"].fillna(0).astype(int)
    base["utilisation_pct"] = (100.0 * base["hours"] / (base["assets"] * f.hours)).round(1)
    base["peak_in_use"], base["peak_at"] = np.nan, None
    if len(periods):
        p = periods.merge(assets[["asset_id", *keys]], on="asset_id")
        p["group"] = list(zip(*(p[k] for k in keys), strict=True)) if by_department else p["type"]
        peaks = peak_concurrency(p, "group")
        idx = list(base.index)
        base["peak_in_use"] = [peaks["peak"].get(k, np.nan) for k in idx]
        base["peak_at"] = [peaks["peak_at"].get(k) for k in idx]
    base["peak_pct"] = (100.0 * base["peak_in_use"] / base["assets"]).round(0)
    out = base.reset_index()
    tz = timezone.get_current_timezone()
    out["peak_at"] = [pd.Timestamp(t).tz_convert(tz).strftime("%Y-%m-%d %H:%M") if t is not None and not pd.isna(t)
                      else "" for t in out["peak_at"]]
    return out[cols].sort_values(keys, kind="stable")


def weekly_fleet_use(per_day: pd.DataFrame) -> pd.DataFrame:
    """Hours of use per week over the period (the whole filtered fleet), for the trend chart."""
    if not len(per_day):
        return pd.DataFrame(columns=["week", "hours"])
    week = per_day["date"].dt.to_period("W-SUN").dt.start_time
    w = per_day.groupby(week).agg(hours=("hours", "sum"), days=("hours", "size")).reset_index()
    w.columns = ["week", "hours", "days"]
    w = w[w["days"] == 7] if (w["days"] == 7).any() else w  # whole weeks only: a partial week looks like a dip
    return w[["week", "hours"]]


# ----------------------------------------------------------------------------------------------------
# Everything for the page and the CSVs
# ----------------------------------------------------------------------------------------------------


def report(f: Filters, today: dt.date | None = None) -> dict:
    assets = _assets(f)
    pm = pm_frame(f, today)
    rel = reliability(f, assets)
    (per_asset, per_day), periods = usage_totals(f, assets), period_rows(f, assets)
    return {
        "filters": f, "assets": len(assets), "pm": pm_summary(pm), "pm_monthly": pm_monthly(pm), "pm_by_type": pm_by_type(pm),
        "reliability": rel, "reliability_totals": reliability_totals(rel, f), "locate": locate_rate(f, assets),
        "utilisation_by_type": utilisation(f, assets, per_asset, periods, by_department=False),
        "utilisation": utilisation(f, assets, per_asset, periods, by_department=True),
        "weekly_use": weekly_fleet_use(per_day),
        "departments": Department.objects.order_by("name"), "asset_types": AssetType.objects.order_by("name"),
    }


def summary_rows(r: dict) -> list[tuple[str, object, str]]:
    pm, rel, loc = r["pm"], r["reliability_totals"], r["locate"]
    return [
        ("PM completion (%)", pm["completion"], f"{pm['done']} of {pm['scheduled']} planned jobs due in the period done"),
        ("High-risk PM completion (%)", pm["high_completion"],
         f"{pm['high_done']} of {pm['high_scheduled']}; must be 100 % (Joint Commission EC.02.04.01)"),
        ("On-time rate (%)", pm["on_time_rate"], f"{pm['on_time']} of {pm['done']} done by their due date"),
        ("Open planned work past due", pm["overdue_open"], "due in the period and not done"),
        ("MTBF (days)", rel["mtbf_days"], f"operating time per failure; {rel['failures']} failures"),
        ("MTTR (hours)", rel["mttr_hours"], "report to repair, repairs finished in the period"),
        ("Uptime (%)", rel["uptime_pct"], "1 - unplanned downtime / calendar time"),
        ("Could-not-locate rate (%)", loc["rate"], f"{loc['not_found']} of {loc['visits']} visits"),
    ]
