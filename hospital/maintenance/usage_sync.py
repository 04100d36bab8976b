"""Usage into the database: periods and hours per day derived from the locator's history (the rules in
:mod:`hospital.maintenance.usage`, configured by :class:`~hospital.maintenance.models.UsageRule`), and
the all-or-nothing import of device usage logs from CSV.

A day has one usage figure per asset. When several sources know it, the stronger one is kept: an imported
device log beats the locator, the locator beats generated demo data (``SOURCE_PRIORITY``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hospital.assets.models import Asset
from locator.models import CurrentLocation, LocationHistory

from .choices import SOURCE_PRIORITY, UsageSource
from .db import date_strings, fast_insert, read_frame, utc_strings
from .models import DailyUsage, UsagePeriod, UsageRule
from .usage import derive_usage as derive_pure


def max_gap_minutes() -> float:
    return float(getattr(settings, "MAINTENANCE_USAGE_MAX_GAP_MINUTES", 15))


def motion_credit_minutes() -> float:
    return float(getattr(settings, "MAINTENANCE_USAGE_MOTION_CREDIT_MINUTES", 5))


def rules_frame() -> pd.DataFrame:
    return pd.DataFrame(list(UsageRule.objects.values("room_type", "asset_category", "mode", "min_dwell_minutes")),
                        columns=["room_type", "asset_category", "mode", "min_dwell_minutes"])


def _midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time()), timezone.get_current_timezone())


@dataclass
class DeriveReport:
    start: dt.date
    end: dt.date  # exclusive
    history_rows: int = 0
    assets: int = 0
    periods: int = 0
    days_written: int = 0
    days_kept: int = 0  # days an imported log already covers
    hours: float = 0.0


def _motion_events(asset_ids, since, until) -> pd.DataFrame:
    """Movement-counter increments of accelerometer tags/sensors bound to the assets, when ingest stores
    a ``movement_counter`` quantity (RuuviTag); empty otherwise."""
    try:
        from sensors.models import Reading
    except ImportError:  # pragma: no cover - sensors is always installed with the project
        return pd.DataFrame(columns=["asset_id", "t"])
    r = read_frame(Reading.objects.filter(quantity="movement_counter", sensor__asset_id__in=list(asset_ids),
                                          t__gte=since, t__lt=until).order_by("sensor_id", "t"),
                   ["sensor__asset_id", "sensor_id", "t", "value"])
    if not len(r):
        return pd.DataFrame(columns=["asset_id", "t"])
    changed = r["value"].diff().fillna(0).ne(0) & r["sensor_id"].eq(r["sensor_id"].shift())
    return pd.DataFrame({"asset_id": r.loc[changed, "sensor_asset_id"].to_numpy(), "t": r.loc[changed, "t"].to_numpy()})


def derive_from_locator(start: dt.date, end: dt.date | None = None) -> DeriveReport:
    """Derive periods of use and hours per day for the local days [start, end) from the location history,
    and store them (replacing earlier derivations of those days; imported days are kept)."""
    end = end or start + dt.timedelta(days=1)
    lo, hi = _midnight(start), _midnight(end)
    lookback = lo - dt.timedelta(hours=12)  # so stays running into the window are measured whole
    report = DeriveReport(start, end)
    hist = read_frame(
        LocationHistory.objects.filter(t__gte=lookback, t__lt=hi, tag__asset__isnull=False).order_by("tag_id", "t"),
        ["tag__asset_id", "t", "room_id", "room__room_type", "reason"],
    ).rename(columns={"tag_asset_id": "asset_id", "room_room_type": "room_type"})
    report.history_rows = len(hist)
    if not len(hist):
        return report
    ids = sorted(set(hist["asset_id"].astype(int)))
    assets = read_frame(Asset.objects.filter(pk__in=ids), ["id", "asset_type__category"]).rename(
        columns={"id": "asset_id", "asset_type_category": "category"})
    seen = read_frame(CurrentLocation.objects.filter(tag__asset_id__in=ids), ["tag__asset_id", "last_seen_at"]).rename(
        columns={"tag_asset_id": "asset_id", "last_seen_at": "last_seen"})
    motion = _motion_events(ids, lookback, hi)
    result = derive_pure(hist, rules_frame(), lo, hi, assets=assets,
                         last_seen=seen, motion=motion, tz=str(timezone.get_current_timezone()),
                         max_gap_minutes=max_gap_minutes(), motion_credit_minutes=motion_credit_minutes())
    report.assets = len(ids)
    with transaction.atomic():
        UsagePeriod.objects.filter(source=UsageSource.LOCATOR, asset_id__in=ids, start__gte=lo, start__lt=hi).delete()
        p = result.periods
        room = p["room_id"].to_numpy(float) if len(p) else np.array([])
        report.periods = fast_insert(UsagePeriod, ["asset", "start", "end", "source", "mode", "room"], {
            "asset": p["asset_id"].astype(int).to_numpy(), "start": utc_strings(p["start"]),
            "end": utc_strings(p["end"]), "source": np.full(len(p), UsageSource.LOCATOR.value, dtype=object),
            "mode": p["mode"].to_numpy(object),
            "room": np.array([None if math.isnan(r) else int(r) for r in room], dtype=object),
        }) if len(p) else 0
        written, kept, _ = store_daily(result.daily, UsageSource.LOCATOR)
    report.days_written, report.days_kept = written, kept
    report.hours = float(result.daily["hours"].sum()) if len(result.daily) else 0.0
    return report


def store_daily(daily: pd.DataFrame, source: str) -> tuple[int, int, int]:
    """Write ``asset_id, date, hours`` rows as ``source``, replacing weaker or equal sources and keeping
    stronger ones. Returns (rows written, days kept because a stronger source has them, rows replaced)."""
    if not len(daily):
        return 0, 0, 0
    d = daily.copy()
    d["asset_id"] = d["asset_id"].astype(np.int64)
    d["date"] = pd.to_datetime(d["date"]).dt.normalize()
    lo, hi = d["date"].min().date(), d["date"].max().date()
    existing = read_frame(DailyUsage.objects.filter(asset_id__in=d["asset_id"].unique().tolist(), date__gte=lo,
                                                    date__lte=hi), ["id", "asset_id", "date", "source"])
    keep_mask = np.zeros(len(d), dtype=bool)
    replace = []
    if len(existing):
        existing["date"] = pd.to_datetime(existing["date"]).dt.normalize()
        stronger = existing["source"].map(SOURCE_PRIORITY).fillna(0) > SOURCE_PRIORITY[source]
        m = d.merge(existing.assign(stronger=stronger.to_numpy()), on=["asset_id", "date"], how="left")
        keep_mask = m["stronger"].fillna(False).astype(bool).to_numpy()
        replace = m.loc[~keep_mask & m["id"].notna(), "id"].astype(np.int64).tolist()
        for lo_i in range(0, len(replace), 5000):
            DailyUsage.objects.filter(pk__in=replace[lo_i : lo_i + 5000]).delete()
    w = d[~keep_mask]
    now = utc_strings([timezone.now()])[0]
    n = fast_insert(DailyUsage, ["asset", "date", "hours", "source", "updated_at"], {
        "asset": w["asset_id"].to_numpy(), "date": date_strings(w["date"]), "hours": w["hours"].astype(float).round(4),
        "source": np.full(len(w), source, dtype=object), "updated_at": np.full(len(w), now, dtype=object),
    })
    return n, int(keep_mask.sum()), len(replace)


# ----------------------------------------------------------------------------------------------------
# CSV import
# ----------------------------------------------------------------------------------------------------

HEADER = ("asset_number", "date", "hours")


@dataclass
class ImportReport:
    rows: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, message)
    written: int = 0
    replaced: int = 0
    assets: int = 0
    first: dt.date | None = None
    last: dt.date | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


class UsageImportError(Exception):
    def __init__(self, report: ImportReport):
        self.report = report
        super().__init__(f"{len(report.errors)} errors; nothing was imported")


def validate_usage_csv(lines: Iterable[str], *, today: dt.date | None = None, progress: Callable | None = None,
                       max_errors: int = 1000) -> tuple[pd.DataFrame, ImportReport]:
    """Parse and check a usage log. Header ``asset_number,date,hours`` (any order, case-insensitive,
    extra columns ignored); ``date`` is YYYY-MM-DD, not after today; ``hours`` is a number in [0, 24];
    the asset number exists; an asset and day appear once. Line numbers count the header as line 1."""
    today = today or timezone.localdate()
    report = ImportReport()
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        report.errors.append((1, "the file is empty; expected the header asset_number,date,hours"))
        return pd.DataFrame(columns=["asset_id", "date", "hours"]), report
    names = [h.strip().lstrip("\ufeff").lower() for h in header]
    missing = [h for h in HEADER if h not in names]
    if missing:
        report.errors.append((1, f"the header lacks {', '.join(missing)} (expected asset_number,date,hours; "
                                 f"found {','.join(names) or 'nothing'})"))
        return pd.DataFrame(columns=["asset_id", "date", "hours"]), report
    col = {h: names.index(h) for h in HEADER}
    known = dict(Asset.objects.values_list("asset_number", "pk"))
    ids, days, hours, lines_of = [], [], [], []
    seen: dict[tuple[int, dt.date], int] = {}
    for line_no, row in enumerate(reader, start=2):
        if progress:
            progress(1)
        if not row or all(not c.strip() for c in row):
            continue
        report.rows += 1
        if len(row) < len(names):
            row = row + [""] * (len(names) - len(row))
        number, day_s, hours_s = (row[col[h]].strip() for h in HEADER)
        problems = []
        asset_id = known.get(number)
        if not number:
            problems.append("asset_number is empty")
        elif asset_id is None:
            problems.append(f"unknown asset number {number!r}")
        try:
            day = dt.date.fromisoformat(day_s)
            if day > today:
                problems.append(f"date {day_s} is in the future")
        except ValueError:
            day = None
            problems.append(f"date {day_s!r} is not YYYY-MM-DD")
        try:
            h = float(hours_s)
            if not math.isfinite(h) or h < 0 or h > 24:
                problems.append(f"hours {hours_s} is not between 0 and 24")
        except ValueError:
            h = None
            problems.append(f"hours {hours_s!r} is not a number")
        if asset_id is not None and day is not None:
            first = seen.setdefault((asset_id, day), line_no)
            if first != line_no:
                problems.append(f"{number} {day_s} is already on line {first}")
        if problems:
            if len(report.errors) < max_errors:
                report.errors.append((line_no, "; ".join(problems)))
            else:
                report.errors.append((line_no, "…"))
                break
            continue
        ids.append(asset_id)
        days.append(day)
        hours.append(h)
        lines_of.append(line_no)
    if report.rows == 0 and not report.errors:
        report.errors.append((2, "no data rows after the header"))
    frame = pd.DataFrame({"asset_id": np.array(ids, dtype=np.int64), "date": pd.to_datetime(pd.Series(days)),
                          "hours": np.array(hours, dtype=float)})
    if len(frame):
        report.first, report.last = min(days), max(days)
        report.assets = int(frame["asset_id"].nunique())
    return frame, report


def import_usage_csv(path_or_text, *, today: dt.date | None = None, progress: Callable | None = None,
                     dry_run: bool = False) -> ImportReport:
    """Validate the whole file, then store every row as source "import" in one transaction, replacing what
    the locator or the demo had for those days. Any error: nothing is stored, :class:`UsageImportError`."""
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        fh = io.StringIO(path_or_text)
    else:
        fh = open(path_or_text, newline="", encoding="utf-8-sig")  # noqa: SIM115 - closed below
    try:
        frame, report = validate_usage_csv(fh, today=today, progress=progress)
    finally:
        fh.close()
    if report.errors:
        raise UsageImportError(report)
    if dry_run:
        return report
    with transaction.atomic():
        report.written, _, report.replaced = store_daily(frame, UsageSource.IMPORT)
    return report
