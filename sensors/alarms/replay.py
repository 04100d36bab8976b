"""Replay recorded readings through the live alarm state machine.

The core of ``manage.py alarm_replay`` and of ``python -m sensors.alarms.replay`` (same arguments)::

    python -m sensors.alarms.replay --profile vaccine_fridge --readings R.csv [--ack-after 120]
    python -m sensors.alarms.replay --list-profiles

The CSV has the header ``t,sensor,quantity,value`` (``t`` in Unix seconds or ISO 8601; a time without
an offset is UTC; ``quantity`` canonical, e.g. ``temperature_c``). Every sensor in the file is watched
with the one profile. Output: one JSON object per transition, then one summary object::

    {"t": ..., "sensor": ..., "rule": ..., "from": ..., "to": ..., "priority": ..., "value": ..., "reason": ...}
    {"alarms": n, "time_in_alarm_s": s, "mkt_c": {sensor: mkt}, ...}

``alarms`` counts occurrences (a non-active state into an active one; a re-alarm is not one),
``time_in_alarm_s`` is the time during which at least one alarm was active, ``mkt_c`` the mean kinetic
temperature over the whole file per sensor (temperature_c readings). With ``ack_after`` an operator
acknowledges each annunciation (a new alarm or a re-alarm) that many seconds after it sounded.
"""

from __future__ import annotations

import argparse
import csv
import heapq
import io
import json
import math
import statistics
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from .events import ACTIVE_STATES, AlarmState, Event
from .mkt import mean_kinetic_temperature
from .profiles import QUANTITIES, Profile, ProfileCatalog, default_catalog, load_profiles
from .statemachine import Evaluator

HEADER = ("t", "sensor", "quantity", "value")
_BOOLS = {"true": 1.0, "false": 0.0, "open": 1.0, "closed": 0.0, "yes": 1.0, "no": 0.0, "on": 1.0, "off": 0.0}


class ReplayError(ValueError):
    """A problem with the replay input; the message names the line."""


@dataclass(frozen=True, slots=True)
class Reading:
    t: float
    sensor: str
    quantity: str
    value: float
    line: int = 0


def parse_time(text: str) -> float:
    """Unix seconds or ISO 8601 (``Z`` or an offset; none means UTC) -> Unix seconds."""
    s = text.strip()
    try:
        v = float(s)
    except ValueError:
        pass
    else:
        if not math.isfinite(v):
            raise ValueError(f"time {text!r} is not finite")
        return v
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(f"time {text!r} is neither Unix seconds nor ISO 8601") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _parse_value(text: str, quantity: str) -> float:
    s = text.strip()
    if s.lower() in _BOOLS:
        return _BOOLS[s.lower()]
    try:
        v = float(s)
    except ValueError:
        raise ValueError(f"value {text!r} is not a number") from None
    if not math.isfinite(v):
        raise ValueError(f"value {text!r} is not a finite number")
    return v


def read_readings(source: str | Path | TextIO | Iterable[str]) -> list[Reading]:
    """Parse and validate a readings CSV (a path, an open file or lines). Raises :class:`ReplayError`
    naming the first bad line."""
    if isinstance(source, str | Path):
        try:
            with open(source, encoding="utf-8", newline="") as fh:
                return read_readings(fh)
        except OSError as exc:
            raise ReplayError(f"cannot read {source}: {exc.strerror or exc}") from exc
    reader = csv.reader(source)
    cols: dict[str, int] | None = None
    out: list[Reading] = []
    for row in reader:
        line = reader.line_num
        if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        if cols is None:
            names = [c.strip().lower() for c in row]
            missing = [h for h in HEADER if h not in names]
            if missing:
                raise ReplayError(
                    f"line {line}: header must be {','.join(HEADER)} (missing {', '.join(missing)}; got {','.join(row)})"
                )
            cols = {h: names.index(h) for h in HEADER}
            width = len(names)
            continue
        if len(row) != width:
            raise ReplayError(f"line {line}: expected {width} fields, got {len(row)}")
        try:
            t = parse_time(row[cols["t"]])
        except ValueError as exc:
            raise ReplayError(f"line {line}: {exc}") from None
        sensor = row[cols["sensor"]].strip()
        if not sensor:
            raise ReplayError(f"line {line}: empty sensor")
        quantity = row[cols["quantity"]].strip()
        if quantity not in QUANTITIES:
            raise ReplayError(
                f"line {line}: unknown quantity {quantity!r} (canonical: {', '.join(sorted(QUANTITIES))})"
            )
        try:
            value = _parse_value(row[cols["value"]], quantity)
        except ValueError as exc:
            raise ReplayError(f"line {line}: {exc}") from None
        out.append(Reading(t, sensor, quantity, value, line))
    if cols is None:
        raise ReplayError(f"line 1: empty input; expected the header {','.join(HEADER)}")
    return out


def transition_dict(e: Event) -> dict:
    return {
        "t": e.t, "sensor": e.key, "rule": e.rule, "from": str(e.from_state), "to": str(e.to_state),
        "priority": str(e.priority), "value": e.value, "reason": e.reason,
    }


def _infer_interval(times: list[float]) -> float | None:
    uniq = sorted(set(times))
    if len(uniq) < 3:
        return None
    gaps = [b - a for a, b in zip(uniq, uniq[1:], strict=False)]
    return statistics.median(gaps) or None


def replay(readings: str | Path | TextIO | Iterable[str] | list[Reading], profile: str | Profile, *,
           ack_after: float | None = None, catalog: ProfileCatalog | None = None,
           interval_s: float | None = None, tick_s: float = 60.0, tz: str = "UTC",
           actor: str = "replay") -> Iterator[dict]:
    """Run ``readings`` through a fresh :class:`Evaluator` with ``profile`` for every sensor; yield one
    dict per transition, then the summary dict.

    ``interval_s`` is the sensors' report interval for the offline watchdog: None infers each sensor's
    from the median gap between its readings, 0 disables the watchdog. ``tick_s`` is how often the
    replay clock runs the time-driven checks between readings (delays and re-alarms are exact anyway;
    the watchdog's timing is within ``tick_s``).
    """
    catalog = catalog or default_catalog()
    if isinstance(profile, str):
        if profile not in catalog:
            raise ReplayError(f"unknown profile {profile!r}; known: {', '.join(sorted(catalog.profiles))}")
        profile = catalog.get(profile)
    if ack_after is not None and ack_after < 0:
        raise ReplayError("ack_after must be >= 0 seconds")
    if not tick_s > 0:
        raise ReplayError("tick_s must be positive")
    rows = readings if isinstance(readings, list) and all(isinstance(r, Reading) for r in readings) \
        else read_readings(readings)
    rows = sorted(rows, key=lambda r: (r.t, r.line))

    ev = Evaluator(catalog, tz=tz, watchdog_period_s=0.0)
    by_sensor: dict[str, list[float]] = {}
    for r in rows:
        by_sensor.setdefault(r.sensor, []).append(r.t)
    for sensor, times in by_sensor.items():
        iv = interval_s if interval_s is not None else _infer_interval(times)
        ev.bind(sensor, profile, interval_s=iv or None)

    occurrences = realarms = 0
    by_rule: dict[str, int] = {}
    open_since: dict[tuple[str, str], float] = {}
    intervals: list[tuple[float, float]] = []
    acks: list[tuple[float, int, str, str]] = []
    seq = 0

    def account(events: list[Event]) -> Iterator[dict]:
        nonlocal occurrences, realarms, seq
        for e in events:
            k = (e.key, e.rule)
            was, now = e.from_state in ACTIVE_STATES, e.to_state in ACTIVE_STATES
            if now and not was:
                occurrences += 1
                by_rule[e.rule] = by_rule.get(e.rule, 0) + 1
                open_since[k] = e.t
            elif was and not now:
                intervals.append((open_since.pop(k, e.t), e.t))
            if e.is_realarm:
                realarms += 1
            if ack_after is not None and e.to_state == AlarmState.UNACK:
                seq += 1
                heapq.heappush(acks, (e.t + ack_after, seq, e.key, e.rule))
            yield transition_dict(e)

    start = rows[0].t if rows else 0.0
    next_tick = start + tick_s

    def run_until(limit: float) -> Iterator[dict]:
        nonlocal next_tick
        while True:
            ack_t = acks[0][0] if acks else math.inf
            if ack_t <= limit and ack_t <= next_tick:
                _, _, key, rule = heapq.heappop(acks)
                yield from account(ev.tick(ack_t))
                yield from account(ev.acknowledge(key, rule, ack_t, actor))
            elif next_tick <= limit:
                yield from account(ev.tick(next_tick))
                next_tick += tick_s
            else:
                return

    temps: dict[str, tuple[list[float], list[float]]] = {}
    for r in rows:
        yield from run_until(r.t)
        yield from account(ev.feed(r.sensor, r.quantity, r.t, r.value))
        if r.quantity == "temperature_c":
            ts, vs = temps.setdefault(r.sensor, ([], []))
            ts.append(r.t)
            vs.append(r.value)
    end = rows[-1].t if rows else 0.0
    yield from run_until(end)
    yield from account(ev.tick(end))

    for since in open_since.values():
        intervals.append((since, end))
    union = 0.0
    cur_s = cur_e = None
    for s, e in sorted(intervals):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                union += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        union += cur_e - cur_s
    mkt_c = {
        s: round(mean_kinetic_temperature(vs, ts, dh_r_k=profile.mkt_dh_r_k), 4)
        for s, (ts, vs) in temps.items()
    }
    yield {
        "alarms": occurrences,
        "time_in_alarm_s": union,
        "mkt_c": mkt_c,
        "realarms": realarms,
        "alarm_seconds": float(sum(e - s for s, e in intervals)),
        "by_rule": by_rule,
        "still_active": len(open_since),
        "profile": profile.slug,
        "readings": len(rows),
        "sensors": len(by_sensor),
        "start": start if rows else None,
        "end": end if rows else None,
    }


def list_profiles(catalog: ProfileCatalog | None = None) -> list[dict]:
    """One dict per profile: slug, name, quantities, rule summaries, and where each is used."""
    catalog = catalog or default_catalog()
    rooms: dict[str, list[str]] = {}
    for typ, slug in catalog.room_types.items():
        rooms.setdefault(slug, []).append(typ)
    equipment: dict[str, list[str]] = {}
    for typ, slug in catalog.equipment_types.items():
        equipment.setdefault(slug, []).append(typ)
    return [
        {
            "slug": p.slug, "name": p.name, "description": p.description, "quantities": list(p.quantities),
            "rules": [
                {"id": r.id, "quantity": r.quantity, "kind": r.kind, "threshold": r.threshold,
                 "priority": str(r.priority), "on_delay_s": r.on_delay_s, "source": r.source}
                for r in p.rules
            ],
            "mkt_window_s": p.mkt_window_s, "room_types": rooms.get(p.slug, []),
            "equipment_types": equipment.get(p.slug, []),
        }
        for p in catalog
    ]


def build_parser(prog: str = "python -m sensors.alarms.replay") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Replay recorded readings through the alarm state machine.")
    p.add_argument("--profile", help="monitoring profile slug (see --list-profiles)")
    p.add_argument("--readings", help="CSV with header t,sensor,quantity,value ('-' for stdin)")
    p.add_argument("--ack-after", type=float, default=None, metavar="SECONDS",
                   help="acknowledge each alarm this many seconds after it sounds")
    p.add_argument("--list-profiles", action="store_true", help="list the monitoring profiles and exit")
    p.add_argument("--interval", type=float, default=None, metavar="SECONDS",
                   help="report interval for the offline watchdog (default: inferred per sensor; 0: off)")
    p.add_argument("--tick", type=float, default=60.0, metavar="SECONDS", help="replay clock step (default 60)")
    p.add_argument("--tz", default="UTC", help="time zone of the defrost schedules (default UTC)")
    p.add_argument("--profiles-file", default=None, help="profiles JSON (default: the shipped fixture)")
    return p


def main(argv: list[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        catalog = load_profiles(args.profiles_file) if args.profiles_file else default_catalog()
        if args.list_profiles:
            for item in list_profiles(catalog):
                stdout.write(json.dumps(item) + "\n")
            return 0
        if not args.profile or not args.readings:
            parser.print_usage(stderr)
            stderr.write("error: --profile and --readings are required (or --list-profiles)\n")
            return 2
        source = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8") if args.readings == "-" else args.readings
        for item in replay(source, args.profile, ack_after=args.ack_after, catalog=catalog,
                           interval_s=args.interval, tick_s=args.tick, tz=args.tz):
            stdout.write(json.dumps(item) + "\n")
        return 0
    except (ReplayError, ValueError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        stderr.write(f"error: {msg}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
