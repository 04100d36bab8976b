"""Silence is an alarm: detect sensors that stopped reporting.

A sensor is offline when it has not reported for ``factor`` times its expected report interval
(default 3x). The :class:`Watchdog` is pure bookkeeping over last-seen times; it does not decide on
alarms by itself. :meth:`Watchdog.feed` turns its measurement (missed intervals) into readings of the
synthetic quantity ``missed_intervals`` so that ``sensor_offline`` is an ordinary limit rule going
through the same state machine as every other alarm (acknowledge, shelve, re-alarm, history).
:class:`~sensors.alarms.statemachine.Evaluator` runs the same computation itself in ``tick`` for the
sensors bound with an ``interval_s``; use this class when the last-seen times live elsewhere (the
database, a gateway's status).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .profiles import MISSED_INTERVALS

if TYPE_CHECKING:
    from .events import Event
    from .statemachine import Evaluator

DEFAULT_FACTOR = 3.0


def missed_intervals(last_seen: float, interval_s: float, t: float) -> float:
    """How many report intervals have passed since the sensor was last heard (0 if just now)."""
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    return max(0.0, (t - last_seen) / interval_s)


class Watchdog:
    def __init__(self, factor: float = DEFAULT_FACTOR, default_interval_s: float | None = None):
        if factor <= 0:
            raise ValueError("factor must be positive")
        self.factor = factor
        self.default_interval_s = default_interval_s
        self.last_seen: dict[str, float] = {}
        self.intervals: dict[str, float] = {}

    def expect(self, key: str, interval_s: float, since: float | None = None) -> None:
        """Watch ``key``; with ``since``, a sensor that never reports is offline 3 intervals after it."""
        if interval_s <= 0:
            raise ValueError(f"{key}: interval_s must be positive")
        self.intervals[key] = float(interval_s)
        if since is not None and key not in self.last_seen:
            self.last_seen[key] = float(since)

    def forget(self, key: str) -> None:
        self.intervals.pop(key, None)
        self.last_seen.pop(key, None)

    def seen(self, key: str, t: float) -> None:
        if t > self.last_seen.get(key, -math.inf):
            self.last_seen[key] = t

    def _interval(self, key: str) -> float | None:
        return self.intervals.get(key, self.default_interval_s)

    def missed(self, key: str, t: float) -> float | None:
        """Missed intervals for ``key`` at ``t``; None if it was never seen or has no interval."""
        last, iv = self.last_seen.get(key), self._interval(key)
        if last is None or not iv:
            return None
        return missed_intervals(last, iv, t)

    def check(self, t: float, last_seen: Mapping[str, float] | None = None,
              intervals: Mapping[str, float] | float | None = None) -> dict[str, float]:
        """The sensors offline at ``t`` -> missed intervals. Uses the given last-seen times and intervals
        (a mapping or one interval for all) or, by default, the watchdog's own bookkeeping."""
        last_seen = self.last_seen if last_seen is None else last_seen
        offline: dict[str, float] = {}
        for key, last in last_seen.items():
            if intervals is None:
                iv = self._interval(key)
            elif isinstance(intervals, Mapping):
                iv = intervals.get(key, self.default_interval_s)
            else:
                iv = float(intervals)
            if not iv:
                continue
            m = missed_intervals(last, iv, t)
            if m > self.factor:
                offline[key] = m
        return offline

    def feed(self, evaluator: Evaluator, t: float) -> list[Event]:
        """Push every watched sensor's missed-interval count into ``evaluator`` (its ``sensor_offline``
        rule decides, with its own threshold). Sensors not bound in the evaluator are skipped."""
        out: list[Event] = []
        for key in self.last_seen:
            m = self.missed(key, t)
            if m is not None:
                out.extend(evaluator.feed(key, MISSED_INTERVALS, t, m))
        return out

    def to_dict(self) -> dict:
        return {"factor": self.factor, "default_interval_s": self.default_interval_s,
                "last_seen": dict(self.last_seen), "intervals": dict(self.intervals)}

    @classmethod
    def from_dict(cls, d: dict) -> Watchdog:
        w = cls(d.get("factor", DEFAULT_FACTOR), d.get("default_interval_s"))
        w.last_seen = {k: float(v) for k, v in d.get("last_seen", {}).items()}
        w.intervals = {k: float(v) for k, v in d.get("intervals", {}).items()}
        return w
