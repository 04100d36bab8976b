"""Storage that scales: per-minute and daily aggregates of readings, and retention of raw readings.

* ``rollup_minutes`` aggregates raw readings into ``MinuteAggregate`` (min, max, mean, count, sum) with
  one GROUP BY per slice in the database (``TruncMinute``; the same on SQLite and PostgreSQL) and
  upserts the result, so running it twice changes nothing (idempotent). It is incremental: it goes
  on from ``RollupState('minute').upto`` and recomputes a trailing margin
  (``READINGS_ROLLUP_MARGIN_S``, default 15 min) for readings that arrive a little late. Readings
  that arrive later than that (a gateway that was cut off and sends its buffer) are put in
  ``RollupBacklog`` by the alarm service as they are stored, and their minutes are recomputed.
* ``rollup_days`` recomputes ``DailyAggregate`` from the minute aggregates for the days touched, in
  each site's time zone (a compliance day is the local day).
* ``apply_retention`` deletes raw readings older than ``READINGS_RAW_RETENTION_DAYS`` (default 90) but
  never a reading not yet rolled up; minute aggregates are kept ``AGGREGATES_MINUTE_RETENTION_DAYS``
  (default 1100, i.e. more than 3 years) and daily aggregates ``AGGREGATES_DAILY_RETENTION_DAYS``
  (default: for ever).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import TruncDate, TruncMinute
from django.utils import timezone

from sensors.models import Reading, Sensor

from .models import DailyAggregate, MinuteAggregate, RollupBacklog, RollupState

log = logging.getLogger(__name__)

SLICE = timedelta(hours=6)  # one GROUP BY covers at most this much time (bounded memory and locks)


def raw_retention_days() -> int:
    return int(getattr(settings, "READINGS_RAW_RETENTION_DAYS", 90))


def rollup_margin_s() -> float:
    return float(getattr(settings, "READINGS_ROLLUP_MARGIN_S", 900))


def rollup_lag_s() -> float:
    """Minutes younger than this are left for the next run (readings of the current minute still arrive)."""
    return float(getattr(settings, "READINGS_ROLLUP_LAG_S", 120))


def floor_minute(dt: datetime) -> datetime:
    return dt.replace(second=0, microsecond=0)


def _state(name: str) -> RollupState:
    state, _ = RollupState.objects.get_or_create(name=name)
    return state


def _aggregate_readings(q: Q) -> list[MinuteAggregate]:
    rows = (
        Reading.objects.filter(q)
        .annotate(m=TruncMinute("t", tzinfo=UTC))
        .order_by()
        .values("sensor_id", "quantity", "m")
        .annotate(n=Count("id"), lo=Min("value"), hi=Max("value"), s=Sum("value"))
    )
    return [
        MinuteAggregate(sensor_id=r["sensor_id"], quantity=r["quantity"], minute=r["m"], count=r["n"], min=r["lo"],
                        max=r["hi"], sum=r["s"], mean=r["s"] / r["n"])
        for r in rows
    ]


def _upsert_minutes(rows: list[MinuteAggregate]) -> None:
    if rows:
        MinuteAggregate.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["sensor", "quantity", "minute"],
            update_fields=["count", "min", "max", "mean", "sum"], batch_size=1000,
        )


def rollup_minutes(now: datetime | None = None, *, max_slices: int = 40) -> dict:
    """Aggregate readings into minutes up to ``now - lag``. Returns what it did (for logs and tests)."""
    now = now or timezone.now()
    target = floor_minute(now - timedelta(seconds=rollup_lag_s()))
    margin = timedelta(seconds=rollup_margin_s())
    touched: set[tuple[int, datetime]] = set()  # (sensor, minute) whose day must be recomputed
    rows_total = 0
    with transaction.atomic():
        state = RollupState.objects.select_for_update().filter(name="minute").first() or _state("minute")
        start = state.upto - margin if state.upto else None
        if start is None:
            first = Reading.objects.order_by("t").values_list("t", flat=True).first()
            if first is None:
                state.last_run_at = now
                state.save()
                return {"rows": 0, "upto": None, "backlog": 0}
            start = floor_minute(first)
        start = floor_minute(start)
        slices = 0
        while start < target and slices < max_slices:
            end = min(start + SLICE, target)
            rows = _aggregate_readings(Q(t__gte=start, t__lt=end))
            _upsert_minutes(rows)
            rows_total += len(rows)
            touched |= {(r.sensor_id, r.minute) for r in rows}
            start = end
            slices += 1
        state.upto = max(state.upto or start, start)
        state.last_run_at = now
        state.rows_last_run = rows_total
        state.save()
    backlog = rollup_backlog()
    touched |= backlog
    rollup_days({(s, m) for s, m in touched})
    return {"rows": rows_total, "upto": state.upto, "backlog": len(backlog)}


def rollup_backlog(limit: int = 5000) -> set[tuple[int, datetime]]:
    """Recompute minutes that got readings after they were rolled up."""
    with transaction.atomic():
        items = list(RollupBacklog.objects.select_for_update(skip_locked=True).order_by("minute")[:limit])
        if not items:
            return set()
        keys = {(b.sensor_id, b.quantity, b.minute) for b in items}
        by_minute: dict[datetime, set[tuple[int, str]]] = defaultdict(set)
        for s, q, m in keys:
            by_minute[m].add((s, q))
        cond = Q()
        for m, pairs in by_minute.items():
            for s, q in pairs:
                cond |= Q(sensor_id=s, quantity=q, t__gte=m, t__lt=m + timedelta(minutes=1))
        _upsert_minutes(_aggregate_readings(cond))
        RollupBacklog.objects.filter(pk__in=[b.pk for b in items]).delete()
    return {(s, m) for s, _q, m in keys}


def _site_zones() -> dict[int, str]:
    """sensor pk -> time zone of its site (UTC when unknown)."""
    from .profiles import sensor_site

    zones = {}
    for sensor in Sensor.objects.select_related(
        "room__floor__building__site", "asset__installed_room__floor__building__site"
    ):
        site = sensor_site(sensor)
        zones[sensor.pk] = site.timezone if site is not None and site.timezone else "UTC"
    return zones


def rollup_days(touched: set[tuple[int, datetime]]) -> int:
    """Recompute the daily aggregates of the (sensor, minute) pairs given (their local days)."""
    if not touched:
        return 0
    zones = _site_zones()
    days_by_tz: dict[str, dict[date, set[int]]] = defaultdict(lambda: defaultdict(set))
    for sensor_pk, minute in touched:
        tz = zones.get(sensor_pk, "UTC")
        days_by_tz[tz][minute.astimezone(ZoneInfo(tz)).date()].add(sensor_pk)
    n = 0
    for tz_name, days in days_by_tz.items():
        tz = ZoneInfo(tz_name)
        for day, sensors in days.items():
            lo = datetime.combine(day, datetime.min.time(), tzinfo=tz)
            hi = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
            rows = (
                MinuteAggregate.objects.filter(sensor_id__in=sensors, minute__gte=lo, minute__lt=hi)
                .annotate(d=TruncDate("minute", tzinfo=tz))
                .order_by()
                .values("sensor_id", "quantity", "d")
                .annotate(n=Sum("count"), lo=Min("min"), hi=Max("max"), s=Sum("sum"))
            )
            objs = [
                DailyAggregate(sensor_id=r["sensor_id"], quantity=r["quantity"], day=r["d"], count=r["n"],
                               min=r["lo"], max=r["hi"], sum=r["s"], mean=r["s"] / r["n"])
                for r in rows if r["n"]
            ]
            if objs:
                DailyAggregate.objects.bulk_create(
                    objs, update_conflicts=True, unique_fields=["sensor", "quantity", "day"],
                    update_fields=["count", "min", "max", "mean", "sum"], batch_size=1000,
                )
            n += len(objs)
    return n


def apply_retention(now: datetime | None = None, *, batch_days: int = 1, max_batches: int = 60) -> dict:
    """Delete raw readings past their retention (only those already rolled up), and old aggregates."""
    now = now or timezone.now()
    state = RollupState.objects.filter(name="minute").first()
    rolled_upto = state.upto - timedelta(seconds=rollup_margin_s()) if state and state.upto else None
    cutoff = now - timedelta(days=raw_retention_days())
    if rolled_upto is None:
        cutoff = None  # nothing rolled up yet: keep everything
    elif rolled_upto < cutoff:
        cutoff = rolled_upto
    deleted = 0
    if cutoff is not None:
        oldest = Reading.objects.filter(t__lt=cutoff).order_by("t").values_list("t", flat=True).first()
        batches = 0
        while oldest is not None and oldest < cutoff and batches < max_batches:
            upper = min(oldest + timedelta(days=batch_days), cutoff)
            with transaction.atomic():
                n, _ = Reading.objects.filter(t__lt=upper).delete()
            deleted += n
            batches += 1
            oldest = upper if upper < cutoff else None
    minute_days = getattr(settings, "AGGREGATES_MINUTE_RETENTION_DAYS", 1100)
    daily_days = getattr(settings, "AGGREGATES_DAILY_RETENTION_DAYS", None)
    minutes_deleted = days_deleted = 0
    if minute_days:
        minutes_deleted, _ = MinuteAggregate.objects.filter(minute__lt=now - timedelta(days=int(minute_days))).delete()
    if daily_days:
        days_deleted, _ = DailyAggregate.objects.filter(day__lt=(now - timedelta(days=int(daily_days))).date()).delete()
    if deleted or minutes_deleted or days_deleted:
        log.info("retention: deleted %d raw readings before %s, %d minute and %d daily aggregates", deleted, cutoff,
                 minutes_deleted, days_deleted)
    return {"readings": deleted, "cutoff": cutoff, "minute_aggregates": minutes_deleted,
            "daily_aggregates": days_deleted}
