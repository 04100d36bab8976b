"""Alarm-flood detection (ISA-18.2): more than 10 alarms in 10 minutes for one operator or group.

An operator cannot handle a flood alarm by alarm, so the console switches to a grouped view: the
summary says which rules and which sensors are producing the flood and which alarm came first (often
the root cause: a power cut in one room raises every fridge in it). The flood ends when the rate has
calmed down: fewer than ``clear_below`` alarms in the window.

Counted are annunciations: transitions into active-unacknowledged, i.e. new occurrences and, unless
``count_realarms=False``, re-alarms (they sound again and load the operator just the same).
Pure: the caller decides which group an event belongs to (operator, ward, console).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from .events import AlarmState, Event


@dataclass(frozen=True, slots=True)
class FloodChange:
    """The flood state of a group changed (``flood`` true: started; false: ended)."""

    t: float
    group: str
    flood: bool
    count: int  # annunciations in the window at that moment
    summary: dict = field(default_factory=dict)


class _Group:
    __slots__ = ("window", "flood", "since", "total", "by_rule", "by_sensor", "by_priority", "first", "now")

    def __init__(self):
        self.window: deque[tuple[float, str, str, str]] = deque()
        self.flood = False
        self.since: float | None = None
        self.total = 0
        self.by_rule: Counter = Counter()
        self.by_sensor: Counter = Counter()
        self.by_priority: Counter = Counter()
        self.first: tuple | None = None
        self.now = float("-inf")

    def add_counts(self, item):
        _t, key, rule, prio = item
        self.total += 1
        self.by_rule[rule] += 1
        self.by_sensor[key] += 1
        self.by_priority[prio] += 1


class FloodDetector:
    def __init__(self, threshold: int = 10, window_s: float = 600.0, clear_below: int = 5,
                 count_realarms: bool = True):
        if clear_below > threshold:
            raise ValueError("clear_below must not exceed threshold")
        self.threshold = threshold
        self.window_s = window_s
        self.clear_below = clear_below
        self.count_realarms = count_realarms
        self._groups: dict[str, _Group] = {}

    def counts(self, event: Event) -> bool:
        if event.to_state != AlarmState.UNACK:
            return False
        return self.count_realarms or event.is_occurrence

    def observe(self, event: Event, group: str = "default") -> FloodChange | None:
        """Account one transition for ``group``; returns a change when a flood starts or ends."""
        g = self._groups.get(group)
        if g is None:
            g = self._groups[group] = _Group()
        change = self._expire(group, g, event.t)
        if not self.counts(event):
            return change
        item = (event.t, event.key, event.rule, str(event.priority))
        g.window.append(item)
        if g.flood:
            g.add_counts(item)
        elif len(g.window) > self.threshold:
            g.flood, g.since = True, event.t
            g.total = 0
            g.by_rule, g.by_sensor, g.by_priority = Counter(), Counter(), Counter()
            for it in g.window:
                g.add_counts(it)
            g.first = g.window[0]
            return FloodChange(event.t, group, True, len(g.window), self._summary(group, g))
        return change

    def observe_many(self, events, group_of=None) -> list[FloodChange]:
        """Observe events; ``group_of(event)`` picks the group (default: one group)."""
        out = []
        for e in events:
            c = self.observe(e, group_of(e) if group_of else "default")
            if c is not None:
                out.append(c)
        return out

    def tick(self, t: float) -> list[FloodChange]:
        """Let time pass: floods whose rate has calmed down end here."""
        out = []
        for name, g in self._groups.items():
            c = self._expire(name, g, t)
            if c is not None:
                out.append(c)
        return out

    def _expire(self, name: str, g: _Group, t: float) -> FloodChange | None:
        if t > g.now:
            g.now = t
        lo = g.now - self.window_s
        w = g.window
        while w and w[0][0] <= lo:
            w.popleft()
        if g.flood and len(w) < self.clear_below:
            summary = self._summary(name, g)
            summary["ended"] = t
            g.flood, g.since, g.first = False, None, None
            return FloodChange(t, name, False, len(w), summary)
        return None

    def in_flood(self, group: str = "default") -> bool:
        g = self._groups.get(group)
        return bool(g and g.flood)

    def summary(self, group: str = "default") -> dict:
        g = self._groups.get(group)
        return self._summary(group, g) if g else {"group": group, "flood": False, "in_window": 0}

    def _summary(self, name: str, g: _Group) -> dict:
        top_rules = g.by_rule.most_common(5)
        headline = f"{g.total} alarms" + (
            ": " + ", ".join(f"{n} x {r}" for r, n in top_rules) if top_rules else ""
        )
        return {
            "group": name,
            "flood": g.flood,
            "since": g.since,
            "in_window": len(g.window),
            "count": g.total,
            "by_rule": dict(g.by_rule.most_common()),
            "by_sensor": dict(g.by_sensor.most_common(20)),
            "sensors": len(g.by_sensor),
            "by_priority": dict(g.by_priority),
            "first": ({"t": g.first[0], "key": g.first[1], "rule": g.first[2], "priority": g.first[3]}
                      if g.first else None),
            "headline": headline,
        }

    def to_dict(self) -> dict:
        return {
            "threshold": self.threshold, "window_s": self.window_s, "clear_below": self.clear_below,
            "count_realarms": self.count_realarms,
            "groups": {
                name: {
                    "window": [list(x) for x in g.window], "flood": g.flood, "since": g.since,
                    "total": g.total, "by_rule": dict(g.by_rule), "by_sensor": dict(g.by_sensor),
                    "by_priority": dict(g.by_priority), "first": list(g.first) if g.first else None,
                    "now": g.now if g.now != float("-inf") else None,
                }
                for name, g in self._groups.items()
            },
        }

    @classmethod
    def from_dict(cls, d: dict) -> FloodDetector:
        fd = cls(d["threshold"], d["window_s"], d["clear_below"], d.get("count_realarms", True))
        for name, gd in d.get("groups", {}).items():
            g = _Group()
            g.window = deque(tuple(x) for x in gd["window"])
            g.flood, g.since, g.total = gd["flood"], gd["since"], gd["total"]
            g.by_rule, g.by_sensor = Counter(gd["by_rule"]), Counter(gd["by_sensor"])
            g.by_priority = Counter(gd["by_priority"])
            g.first = tuple(gd["first"]) if gd.get("first") else None
            g.now = gd["now"] if gd.get("now") is not None else float("-inf")
            fd._groups[name] = g
        return fd
