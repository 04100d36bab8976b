"""The alarm state machine: readings in, ISA-18.2 / IEC 62682 transitions out.

One :class:`Evaluator` holds the state of every (sensor, rule) pair in plain dicts and slotted
objects. It is pure Python with no I/O: ingest calls :meth:`Evaluator.feed` for each decoded reading
and a worker calls :meth:`Evaluator.tick` every second or so for transitions that are due by time
alone (on-/off-delays completing without a new reading, re-alarms, shelve expiry, suppression windows,
the watchdog, calibration due dates). Every transition is returned as an immutable
:class:`~sensors.alarms.events.Event`; persisting and notifying them is the caller's business.

Model of one alarm (rule on sensor):

* the *process* side: ``active`` becomes true once the limit has been exceeded for ``on_delay_s`` and
  false once the value has been back past ``threshold -/+ deadband`` for ``off_delay_s``;
* the *operator* side: acknowledged or not, returned-unacknowledged;
* *overlays* that stop annunciation whatever the process does: out of service (readings ignored),
  shelved (operator, time-limited), suppressed by design (maintenance, defrost, door-open grace).
  While shelved or suppressed the process side is still tracked, so an alarm whose condition is still
  there when the overlay ends is annunciated at once (as active-unacknowledged).

The visible state is derived from those flags; an event is emitted whenever it changes, with the exact
time of the cause (the moment an on-delay completed, not the moment a later reading noticed it).

Speed: a rule that is normal with nothing pending is "quick": for it, :meth:`feed` does one
comparison against the threshold and one against the next time-driven deadline. Only readings that
exceed a limit, or rules that are not normal, take the slow path.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .events import (
    ACTIVE_STATES,
    OVERLAY_STATES,
    REASON_ACK,
    REASON_ALARM,
    REASON_IN_SERVICE,
    REASON_OUT_OF_SERVICE,
    REASON_REALARM,
    REASON_RETURN,
    REASON_SHELVE_EXPIRED,
    REASON_SHELVED,
    REASON_SUPPRESSED,
    REASON_UNSHELVED,
    REASON_UNSUPPRESSED,
    AlarmState,
    Event,
    Priority,
)
from .profiles import (
    DefrostWindow,
    LimitRule,
    Profile,
    ProfileCatalog,
    default_catalog,
)
from .watchdog import missed_intervals

INF = math.inf
NORMAL = AlarmState.NORMAL
UNACK = AlarmState.UNACK
ACKED = AlarmState.ACKED
RTNUN = AlarmState.RTNUN
SHELVED = AlarmState.SHELVED
SUPPRESSED = AlarmState.SUPPRESSED
OOS = AlarmState.OUT_OF_SERVICE

DOOR_OPEN = "door_open"
OFFLINE_RULE = "sensor_offline"
CALIBRATION_RULE = "calibration_overdue"
STATE_VERSION = 1

# What a time-driven step did (see Evaluator._advance).
_DELAY, _SHELVE, _REALARM, _WINDOW = 1, 2, 3, 4


def _enc(x: float | None):
    """JSON has no infinity: encode +-inf as None (the fields that use it say which one)."""
    return None if x is None or math.isinf(x) else x


def _dec(x, inf: float) -> float:
    return inf if x is None else float(x)


class _Rule:
    """Runtime state of one rule on one sensor."""

    __slots__ = (
        "rule", "rid", "q", "b", "high", "thr", "clr", "on", "off", "realarm", "prio", "avg_s",
        "state", "since", "active", "mark", "acked", "ack_t", "rtn",
        "shelved_until", "shelve_reason", "shelved_by", "oos", "oos_reason", "manual",
        "t", "value", "quick", "due", "hdue", "avg", "avg_sum", "avg_n", "dead",
    )

    def __init__(self, rule: LimitRule, binding: _Binding):
        self.rule = rule
        self.rid = rule.id
        self.q = rule.quantity
        self.b = binding
        self.high = rule.kind == "high"
        self.thr = rule.threshold
        self.clr = rule.clear_threshold
        self.on = rule.on_delay_s
        self.off = rule.off_delay_s
        self.realarm = rule.realarm_s
        self.prio = rule.priority
        self.avg_s = rule.average_s
        self.state = NORMAL
        self.since: float | None = None  # time of the last visible transition
        self.active = False
        self.mark: float | None = None  # pending-since (not active) or clearing-since (active)
        self.acked = False
        self.ack_t: float | None = None
        self.rtn = False
        self.shelved_until: float | None = None
        self.shelve_reason = ""
        self.shelved_by: str | None = None
        self.oos = False
        self.oos_reason = ""
        self.manual: list[list] = []  # [start, end, reason, actor]: suppressions by an operator/system
        self.t = -INF  # the rule's clock: time up to which it has been evaluated
        self.value: float | None = None
        self.quick = True
        self.due = INF
        self.hdue: float | None = None  # due time of the live heap entry, if any
        self.avg: deque | None = deque() if self.avg_s else None
        self.avg_sum = 0.0
        self.avg_n = 0
        self.dead = False

    def to_dict(self) -> dict:
        return {
            "state": str(self.state), "since": self.since, "active": self.active, "mark": self.mark,
            "acked": self.acked, "ack_t": self.ack_t, "rtn": self.rtn, "shelved_until": self.shelved_until,
            "shelve_reason": self.shelve_reason, "shelved_by": self.shelved_by, "oos": self.oos,
            "oos_reason": self.oos_reason, "manual": [[s, _enc(e), why, who] for s, e, why, who in self.manual],
            "t": _enc(self.t), "value": self.value,
            "avg": [list(x) for x in self.avg] if self.avg is not None else None,
        }

    def load(self, d: dict):
        self.state = AlarmState(d["state"])
        self.since = d.get("since")
        self.active = bool(d["active"])
        self.mark = d.get("mark")
        self.acked = bool(d.get("acked"))
        self.ack_t = d.get("ack_t")
        self.rtn = bool(d.get("rtn"))
        self.shelved_until = d.get("shelved_until")
        self.shelve_reason = d.get("shelve_reason", "")
        self.shelved_by = d.get("shelved_by")
        self.oos = bool(d.get("oos"))
        self.oos_reason = d.get("oos_reason", "")
        self.manual = [[s, _dec(e, INF), why, who] for s, e, why, who in d.get("manual", [])]
        self.t = _dec(d.get("t"), -INF)
        self.value = d.get("value")
        if self.avg is not None and d.get("avg"):
            self.avg = deque((float(a), float(b)) for a, b in d["avg"])
            self.avg_sum = math.fsum(v for _, v in self.avg)


class _Binding:
    """A sensor bound to a profile: its rules, design windows and watchdog bookkeeping."""

    __slots__ = (
        "key", "profile", "rules", "by_id", "by_q", "interval", "cal_due", "seen", "last", "windows",
        "door_is_open", "grace_s", "grace_rules", "defrost", "defrost_rules", "gen_until", "gen_check",
        "offline", "calib", "static_hooks", "hooks", "custom_defrost",
    )

    def __init__(self, key: str, profile: Profile, interval_s: float | None, cal_due: float | None,
                 defrost: tuple[DefrostWindow, ...] | None):
        self.key = key
        self.profile = profile
        self.rules = [_Rule(r, self) for r in profile.rules]
        self.by_id = {rs.rid: rs for rs in self.rules}
        by_q: dict[str, list[_Rule]] = {}
        for rs in self.rules:
            by_q.setdefault(rs.rule.quantity, []).append(rs)
        self.by_q = {q: tuple(v) for q, v in by_q.items()}
        self.interval = interval_s if interval_s and interval_s > 0 else None
        self.cal_due = cal_due
        self.seen = -INF
        self.last: dict[str, float] = {}
        self.windows: list[tuple] = []  # design windows: (start, end, reason, frozenset(rule ids))
        self.door_is_open = False
        self.grace_s = profile.door_grace_s
        self.grace_rules = profile.door_grace_rules
        self.custom_defrost = defrost is not None
        self.defrost = tuple(defrost) if defrost is not None else profile.defrost
        self.defrost_rules = profile.defrost_rules
        self.gen_until = -INF  # defrost windows exist up to here
        self.gen_check = -INF if self.defrost else INF  # generate more when a reading reaches this
        self.offline = self.by_id.get(OFFLINE_RULE)
        self.calib = self.by_id.get(CALIBRATION_RULE)
        self.static_hooks = bool(self.grace_s or self.defrost)
        self.hooks = self.static_hooks


def _as_window(w) -> DefrostWindow:
    if isinstance(w, DefrostWindow):
        return w
    hh, mm = str(w["start"]).split(":")
    return DefrostWindow(int(hh) * 60 + int(mm), float(w["duration_s"]))


class Evaluator:
    """Evaluates readings against the limit rules of each sensor's profile.

    ``t`` everywhere is Unix time in seconds (float). Events for one alarm come out in time order;
    events of different alarms may interleave slightly out of order when a slow sensor's rule is
    advanced later than a fast one's.
    """

    def __init__(self, catalog: ProfileCatalog | None = None, *, tz: str = "UTC",
                 max_shelve_s: float = 24 * 3600.0, watchdog_period_s: float = 1.0):
        self._catalog = catalog
        self.tz_name = tz
        self.tz = ZoneInfo(tz)
        self.max_shelve_s = max_shelve_s
        self.watchdog_period_s = watchdog_period_s
        self._b: dict[str, _Binding] = {}
        self._heap: list[tuple[float, int, _Rule]] = []
        self._seq = 0
        self._wd_next = -INF
        self._n_rules = 0

    # ------------------------------------------------------------------ configuration

    @property
    def catalog(self) -> ProfileCatalog:
        if self._catalog is None:
            self._catalog = default_catalog()
        return self._catalog

    def bind(self, key: str, profile: str | Profile, *, interval_s: float | None = None,
             calibration_due: float | date | datetime | None = None,
             defrost: Iterable[DefrostWindow | dict] | None = None, t: float | None = None) -> None:
        """Watch sensor ``key`` with ``profile`` (a slug or a Profile).

        ``interval_s`` is the sensor's report interval (enables the ``sensor_offline`` watchdog);
        ``calibration_due`` a Unix time, a datetime, or a date (overdue after the end of that day, in
        the evaluator's time zone); ``defrost`` overrides the profile's daily defrost windows for this
        unit (e.g. when several freezers are staggered); ``t`` starts the watchdog and the rules' clocks
        now instead of at the first reading. Binding an already bound sensor again keeps the state of
        every rule id the new profile still has.
        """
        if isinstance(profile, str):
            profile = self.catalog.get(profile)
        old = self._b.get(key)
        b = _Binding(key, profile, interval_s, self._cal_ts(calibration_due),
                     tuple(_as_window(w) for w in defrost) if defrost is not None else None)
        if old is not None:
            for rs in old.rules:
                rs.dead = True
                new = b.by_id.get(rs.rid)
                if new is not None and new.rule.quantity == rs.rule.quantity:
                    new.load(rs.to_dict())
            b.seen, b.last, b.door_is_open = old.seen, old.last, old.door_is_open
            b.windows = [w for w in old.windows if w[2] != "defrost"]
            self._n_rules -= len(old.rules)
        if t is not None:
            b.seen = max(b.seen, t)
            for rs in b.rules:
                rs.t = max(rs.t, t)
        self._b[key] = b
        self._n_rules += len(b.rules)
        for rs in b.rules:
            self._finish(rs)

    def unbind(self, key: str) -> None:
        b = self._b.pop(key, None)
        if b is not None:
            for rs in b.rules:
                rs.dead = True
            self._n_rules -= len(b.rules)

    def set_calibration_due(self, key: str, due: float | date | datetime | None) -> None:
        self._binding(key).cal_due = self._cal_ts(due)

    def set_report_interval(self, key: str, interval_s: float | None) -> None:
        self._binding(key).interval = interval_s if interval_s and interval_s > 0 else None

    def _cal_ts(self, due) -> float | None:
        if due is None:
            return None
        if isinstance(due, datetime):
            return (due if due.tzinfo else due.replace(tzinfo=self.tz)).timestamp()
        if isinstance(due, date):
            return datetime.combine(due + timedelta(days=1), time(0), tzinfo=self.tz).timestamp()
        return float(due)

    @property
    def keys(self) -> list[str]:
        return list(self._b)

    def profile_of(self, key: str) -> Profile:
        return self._binding(key).profile

    # ------------------------------------------------------------------ the hot path

    def feed(self, key: str, quantity: str, t: float, value: float) -> list[Event]:
        """Evaluate one reading; returns the transitions it caused (usually none)."""
        b = self._b.get(key)
        if b is None or value is None or value != value:  # unbound sensor, or no number (NaN)
            return []
        if t > b.seen:
            b.seen = t
        out = self._hooks(b, quantity, t, value) if b.hooks else None
        rules = b.by_q.get(quantity)
        if rules is not None:
            for rs in rules:
                if rs.quick and t < rs.due:
                    if rs.high:
                        if value <= rs.thr:
                            continue
                    elif value >= rs.thr:
                        continue
                if out is None:
                    out = []
                self._slow(rs, t, value, out)
        b.last[quantity] = value  # after the rules: time-driven steps above saw the previous reading
        return out if out is not None else []

    def saw(self, key: str, t: float) -> None:
        """The sensor reported at ``t`` through a path this evaluator did not see (another ingest
        process stored the reading): the watchdog counts silence from the latest report."""
        b = self._b.get(key)
        if b is not None and t > b.seen:
            b.seen = t

    def feed_many(self, readings: Iterable[tuple[str, str, float, float]]) -> list[Event]:
        """Feed (key, quantity, t, value) tuples; returns all transitions."""
        out: list[Event] = []
        feed = self.feed
        for key, quantity, t, value in readings:
            ev = feed(key, quantity, t, value)
            if ev:
                out.extend(ev)
        return out

    def _hooks(self, b: _Binding, quantity: str, t: float, value: float) -> list[Event]:
        """Per-reading work for sensors with an offline alarm up, defrost windows or a door grace."""
        out: list[Event] = []
        off = b.offline
        if off is not None and not off.quick:
            self._slow(off, t, 0.0, out)  # it just reported: silence is over
        if t >= b.gen_check:
            self._gen_defrost(b, t, out)
        if quantity == DOOR_OPEN and b.grace_s:
            if value >= 0.5:
                if not b.door_is_open:
                    b.door_is_open = True
                    affected = [b.by_id[rid] for rid in b.grace_rules]
                    for rs in affected:  # first everything due up to now, then the new window
                        self._at(rs, t, out)
                    b.windows = [w for w in b.windows if w[1] > t - 86400.0]
                    b.windows.append((t, t + b.grace_s, "door open grace", b.grace_rules))
                    for rs in affected:
                        self._sync(rs, rs.t, None, None, out)
                        self._finish(rs)
            else:
                b.door_is_open = False
        return out

    # ------------------------------------------------------------------ the slow path

    def _slow(self, rs: _Rule, t: float, value: float, out: list[Event]) -> None:
        t = self._at(rs, t, out)
        rs.value = value
        if not rs.oos:
            v = self._average(rs, t, value) if rs.avg is not None else value
            if rs.active:
                hit = v <= rs.clr if rs.high else v >= rs.clr
            else:
                hit = v > rs.thr if rs.high else v < rs.thr
            if hit:
                if rs.mark is None:
                    rs.mark = t
                    self._advance(rs, t, out)  # a zero delay completes at once
            else:
                rs.mark = None
        self._finish(rs)

    def _at(self, rs: _Rule, t: float, out: list[Event]) -> float:
        """Bring the rule's clock to ``t`` (never backwards) and return the effective time."""
        b = rs.b
        if t >= b.gen_check:
            self._gen_defrost(b, t, out)
        v = b.last.get(rs.q)
        if v is not None:  # a quick rule skips storing values: take the latest reading before now
            rs.value = v
        if rs.t == -INF:
            rs.t = t
            self._sync(rs, t, None, None, out)  # e.g. first reading inside a defrost window
        elif t < rs.t:
            return rs.t  # a late reading is evaluated at the rule's current time
        self._advance(rs, t, out)
        return t

    def _average(self, rs: _Rule, t: float, value: float) -> float:
        dq = rs.avg
        dq.append((t, value))
        rs.avg_sum += value
        rs.avg_n += 1
        lo = t - rs.avg_s
        while dq[0][0] <= lo:
            rs.avg_sum -= dq.popleft()[1]
        if rs.avg_n >= 4096:  # re-sum now and then so rounding errors cannot accumulate
            rs.avg_sum = math.fsum(v for _, v in dq)
            rs.avg_n = 0
        return rs.avg_sum / len(dq)

    def _advance(self, rs: _Rule, t: float, out: list[Event]) -> None:
        """Apply every time-driven transition of ``rs`` due up to ``t``, in time order."""
        while True:
            cur = rs.t
            when, what = INF, 0
            if rs.mark is not None and not rs.oos:
                when, what = self._delay_due(rs), _DELAY
            if rs.shelved_until is not None and rs.shelved_until < when:
                when, what = rs.shelved_until, _SHELVE
            if rs.acked and rs.realarm and rs.state is ACKED:
                w = rs.ack_t + rs.realarm
                if w < when:
                    when, what = w, _REALARM
            if rs.b.windows or rs.manual:
                w = self._next_boundary(rs, cur)
                if w < when:
                    when, what = w, _WINDOW
            if when > t:
                break
            if when < cur:
                when = cur
            rs.t = when
            actor = None
            if what == _DELAY:
                if rs.active:
                    rs.rtn = rs.state is UNACK
                    rs.active = rs.acked = False
                    reason = REASON_RETURN
                else:
                    rs.active = True
                    rs.acked = rs.rtn = False
                    reason = REASON_ALARM
                rs.mark = None
            elif what == _SHELVE:
                actor = rs.shelved_by
                rs.shelved_until, rs.shelve_reason, rs.shelved_by = None, "", None
                reason = REASON_SHELVE_EXPIRED
            elif what == _REALARM:
                rs.acked = False
                reason = REASON_REALARM
            else:
                reason = None
            self._sync(rs, when, reason, actor, out)
        if t > rs.t:
            rs.t = t

    @staticmethod
    def _delay_due(rs: _Rule) -> float:
        """When the running on- or off-delay completes. The off-delay exists to keep an annunciated
        alarm from chattering; while shelved or suppressed nothing is annunciated, so an alarm whose value
        is back in range returns at once and does not sound when the window ends."""
        if not rs.active:
            return rs.mark + rs.on
        return rs.mark if rs.state in OVERLAY_STATES else rs.mark + rs.off

    def _next_boundary(self, rs: _Rule, cur: float) -> float:
        best = INF
        rid = rs.rid
        for s, e, _why, rules in rs.b.windows:
            if rid in rules:
                if cur < s < best:
                    best = s
                elif cur < e < best:
                    best = e
        for s, e, _why, _who in rs.manual:
            if cur < s < best:
                best = s
            elif cur < e < best:
                best = e
        return best

    def _suppression(self, rs: _Rule, x: float) -> str | None:
        rid = rs.rid
        for s, e, why, rules in rs.b.windows:
            if s <= x < e and rid in rules:
                return why
        for s, e, why, _who in rs.manual:
            if s <= x < e:
                return why
        return None

    def _visible(self, rs: _Rule, x: float) -> tuple[AlarmState, str | None]:
        if rs.oos:
            return OOS, None
        if rs.shelved_until is not None:
            return SHELVED, None
        if rs.b.windows or rs.manual:
            why = self._suppression(rs, x)
            if why is not None:
                return SUPPRESSED, why
        if rs.active:
            return (ACKED if rs.acked else UNACK), None
        return (RTNUN if rs.rtn else NORMAL), None

    def _sync(self, rs: _Rule, x: float, reason: str | None, actor: str | None, out: list[Event]) -> None:
        """Emit an event if the visible state of ``rs`` at time ``x`` differs from the last one."""
        st, why = self._visible(rs, x)
        if st is rs.state:
            return
        if st in OVERLAY_STATES:
            rs.acked = rs.rtn = False
        if reason is None:
            if st is SUPPRESSED:
                reason = f"{REASON_SUPPRESSED}: {why}"
            elif rs.state is SUPPRESSED:
                reason = REASON_UNSUPPRESSED
            else:
                reason = "update"
        out.append(Event(x, rs.rid, rs.b.key, rs.state, st, rs.prio, rs.value, reason, actor))
        rs.state = st
        rs.since = x

    def _finish(self, rs: _Rule) -> None:
        """Recompute the fast-path flag and the next deadline after any slow-path work."""
        if rs.manual:
            rs.manual = [w for w in rs.manual if w[1] > rs.t]
        rs.quick = rs.state is NORMAL and not rs.active and rs.mark is None and rs.avg is None and not rs.oos
        due = INF
        if rs.mark is not None and not rs.oos:
            due = self._delay_due(rs)
        if rs.shelved_until is not None and rs.shelved_until < due:
            due = rs.shelved_until
        if rs.acked and rs.realarm and rs.state is ACKED and rs.ack_t + rs.realarm < due:
            due = rs.ack_t + rs.realarm
        if rs.b.windows or rs.manual:
            w = self._next_boundary(rs, rs.t)
            if w < due:
                due = w
        rs.due = due
        if due < INF and due != rs.hdue:
            self._push(rs, due)
        if rs is rs.b.offline:
            rs.b.hooks = rs.b.static_hooks or not rs.quick

    def _push(self, rs: _Rule, due: float) -> None:
        rs.hdue = due
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, rs))
        if len(self._heap) > 4 * self._n_rules + 4096:  # drop stale entries now and then
            live = [(d, s, r) for d, s, r in self._heap if not r.dead and d == r.hdue]
            heapq.heapify(live)
            self._heap = live

    # ------------------------------------------------------------------ design windows

    def _gen_defrost(self, b: _Binding, t: float, out: list[Event]) -> None:
        """Materialise the daily defrost windows from yesterday (first time) to two days ahead.

        Runs before any rule of the sensor is advanced to ``t``; later generations only add windows
        after every rule's clock, so no boundary is ever skipped."""
        tz = self.tz
        first = b.gen_until == -INF
        start = t - 86400.0 if first else b.gen_until
        day = datetime.fromtimestamp(start, tz).date()
        horizon = t + 2 * 86400.0
        new: list[tuple] = []
        while True:
            midnight = datetime.combine(day, time(0), tzinfo=tz)
            ts = midnight.timestamp()
            if ts > horizon:
                break
            for w in b.defrost:
                s = (midnight + timedelta(minutes=w.start_minute)).timestamp()
                if first or s >= b.gen_until:
                    new.append((s, s + w.duration_s, "defrost", b.defrost_rules))
            day += timedelta(days=1)
        b.gen_until = ts
        b.gen_check = ts - 86400.0
        b.windows = [w for w in b.windows if w[1] > t - 2 * 86400.0] + new
        if new:
            first_start = min(w[0] for w in new)
            for rid in b.defrost_rules:
                rs = b.by_id[rid]
                if first:
                    if rs.t != -INF:  # clock started by bind(t=...) or an operator action
                        self._sync(rs, rs.t, None, None, out)
                    self._finish(rs)
                elif first_start < rs.due:
                    rs.due = first_start
                    self._push(rs, first_start)

    # ------------------------------------------------------------------ time

    def tick(self, t: float) -> list[Event]:
        """Apply transitions due by time alone, and run the watchdog and calibration checks."""
        out: list[Event] = []
        heap = self._heap
        while heap and heap[0][0] <= t:
            due, _, rs = heapq.heappop(heap)
            if rs.dead or rs.hdue != due:
                continue
            rs.hdue = None
            if rs.t == -INF:
                continue  # never evaluated: its clock starts with its first reading
            b = rs.b
            if t >= b.gen_check:
                self._gen_defrost(b, t, out)
            v = b.last.get(rs.q)
            if v is not None:
                rs.value = v
            self._advance(rs, t, out)
            self._finish(rs)
            heap = self._heap
        if t >= self._wd_next:
            self._wd_next = t + self.watchdog_period_s
            self._watch(t, out)
        return out

    def _watch(self, t: float, out: list[Event]) -> None:
        for b in self._b.values():
            rs = b.offline
            if rs is not None and b.interval and b.seen != -INF:
                missed = missed_intervals(b.seen, b.interval, t)
                if not (rs.quick and t < rs.due and missed <= rs.thr):
                    self._slow(rs, t, missed, out)
            rs = b.calib
            if rs is not None and b.cal_due is not None:
                days = (t - b.cal_due) / 86400.0
                if not (rs.quick and t < rs.due and days <= rs.thr):
                    self._slow(rs, t, days, out)

    # ------------------------------------------------------------------ operator and system actions

    def _binding(self, key: str) -> _Binding:
        try:
            return self._b[key]
        except KeyError:
            raise KeyError(f"sensor {key!r} is not bound to a monitoring profile") from None

    def _targets(self, key: str, rule: str | None) -> list[_Rule]:
        b = self._binding(key)
        if rule is None:
            return list(b.rules)
        try:
            return [b.by_id[rule]]
        except KeyError:
            raise KeyError(f"sensor {key!r} (profile {b.profile.slug!r}) has no rule {rule!r}") from None

    def acknowledge(self, key: str, rule: str | None, t: float, who: str) -> list[Event]:
        """Acknowledge: active-unacknowledged -> acknowledged, returned-unacknowledged -> normal.
        ``rule=None`` acknowledges every alarm of the sensor."""
        out: list[Event] = []
        for rs in self._targets(key, rule):
            x = self._at(rs, t, out)
            if rs.state is UNACK:
                rs.acked, rs.ack_t = True, x
            elif rs.state is RTNUN:
                rs.rtn = False
            else:
                self._finish(rs)  # its clock moved: recompute its deadline
                continue
            self._sync(rs, x, REASON_ACK, who, out)
            self._finish(rs)
        return out

    def shelve(self, key: str, rule: str | None, t: float, until: float, reason: str, who: str) -> list[Event]:
        """Shelve (operator, time-limited, with a reason); it unshelves itself at ``until``."""
        if not reason or not reason.strip():
            raise ValueError("shelving needs a reason")
        if not who:
            raise ValueError("shelving needs the operator's name")
        if not until > t:
            raise ValueError(f"shelve until ({until}) must be after now ({t})")
        if until - t > self.max_shelve_s:
            raise ValueError(f"shelving is limited to {self.max_shelve_s:g} s (asked {until - t:g} s)")
        out: list[Event] = []
        for rs in self._targets(key, rule):
            x = self._at(rs, t, out)
            rs.shelved_until, rs.shelve_reason, rs.shelved_by = float(until), reason, who
            self._sync(rs, x, f"{REASON_SHELVED}: {reason}", who, out)
            self._finish(rs)
        return out

    def unshelve(self, key: str, rule: str | None, t: float, who: str | None = None) -> list[Event]:
        out: list[Event] = []
        for rs in self._targets(key, rule):
            if rs.shelved_until is None:
                continue
            x = self._at(rs, t, out)
            if rs.shelved_until is None:  # expired on the way
                self._finish(rs)
                continue
            rs.shelved_until, rs.shelve_reason, rs.shelved_by = None, "", None
            self._sync(rs, x, REASON_UNSHELVED, who, out)
            self._finish(rs)
        return out

    def suppress(self, key: str, rule: str | None, t: float, until: float | None = None,
                 reason: str = "maintenance", who: str | None = None, start: float | None = None) -> list[Event]:
        """Suppress by design from ``start`` (default now) until ``until`` (default: until unsuppressed),
        e.g. a planned maintenance window. The condition is still tracked meanwhile."""
        begin = t if start is None else float(start)
        end = INF if until is None else float(until)
        if not end > begin:
            raise ValueError(f"suppression must end ({until}) after it starts ({begin})")
        out: list[Event] = []
        for rs in self._targets(key, rule):
            x = self._at(rs, t, out)
            rs.manual.append([begin, end, reason, who])
            self._sync(rs, x, None if begin > x else f"{REASON_SUPPRESSED}: {reason}", who, out)
            self._finish(rs)
        return out

    def unsuppress(self, key: str, rule: str | None, t: float, who: str | None = None) -> list[Event]:
        """End (or cancel, if still in the future) the suppressions set with :meth:`suppress`.
        Design windows from the profile (defrost, door grace) are not affected."""
        out: list[Event] = []
        for rs in self._targets(key, rule):
            if not rs.manual:
                continue
            x = self._at(rs, t, out)
            rs.manual = []
            self._sync(rs, x, REASON_UNSUPPRESSED, who, out)
            self._finish(rs)
        return out

    def set_out_of_service(self, key: str, rule: str | None, t: float, who: str | None = None,
                           reason: str = "", out_of_service: bool = True) -> list[Event]:
        """Take alarms out of service (readings are ignored and the condition forgotten), or put them
        back with ``out_of_service=False`` (same as :meth:`return_to_service`)."""
        if not out_of_service:
            return self.return_to_service(key, rule, t, who)
        out: list[Event] = []
        for rs in self._targets(key, rule):
            if rs.oos:
                continue
            x = self._at(rs, t, out)
            rs.oos, rs.oos_reason = True, reason
            rs.active = rs.acked = rs.rtn = False
            rs.mark = None
            if rs.avg is not None:
                rs.avg.clear()
                rs.avg_sum = 0.0
            self._sync(rs, x, f"{REASON_OUT_OF_SERVICE}: {reason}" if reason else REASON_OUT_OF_SERVICE, who, out)
            self._finish(rs)
        return out

    def return_to_service(self, key: str, rule: str | None, t: float, who: str | None = None) -> list[Event]:
        out: list[Event] = []
        for rs in self._targets(key, rule):
            if not rs.oos:
                continue
            x = self._at(rs, t, out)
            rs.oos, rs.oos_reason = False, ""
            self._sync(rs, x, REASON_IN_SERVICE, who, out)
            self._finish(rs)
        return out

    # ------------------------------------------------------------------ inspection

    def state(self, key: str, rule: str) -> AlarmState:
        return self._targets(key, rule)[0].state

    def alarm(self, key: str, rule: str) -> dict:
        """Everything known about one alarm, JSON-able."""
        rs = self._targets(key, rule)[0]
        r = rs.rule
        return {
            "key": key, "rule": rs.rid, "state": str(rs.state), "since": rs.since, "priority": str(rs.prio),
            "quantity": r.quantity, "kind": r.kind, "threshold": r.threshold, "value": rs.value,
            "active": rs.active, "message": r.message, "source": r.source,
            "shelved_until": rs.shelved_until, "shelve_reason": rs.shelve_reason or None,
            "shelved_by": rs.shelved_by, "out_of_service_reason": rs.oos_reason or None,
        }

    def alarms(self, *, include_normal: bool = False) -> list[dict]:
        """All alarms not in the normal state (or all, with ``include_normal``)."""
        return [
            self.alarm(b.key, rs.rid)
            for b in self._b.values() for rs in b.rules
            if include_normal or rs.state is not NORMAL
        ]

    def active_count(self) -> int:
        return sum(1 for b in self._b.values() for rs in b.rules if rs.state in ACTIVE_STATES)

    def last_values(self, key: str) -> dict[str, float]:
        return dict(self._binding(key).last)

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict:
        """Everything needed to continue after a restart, JSON-able (profiles are referenced by slug)."""
        return {
            "version": STATE_VERSION,
            "tz": self.tz_name,
            "max_shelve_s": self.max_shelve_s,
            "watchdog_period_s": self.watchdog_period_s,
            "wd_next": _enc(self._wd_next),
            "bindings": {
                b.key: {
                    "profile": b.profile.slug,
                    "interval_s": b.interval,
                    "calibration_due": b.cal_due,
                    "defrost": (
                        [{"start": w.start, "duration_s": w.duration_s} for w in b.defrost]
                        if b.custom_defrost else None
                    ),
                    "seen": _enc(b.seen),
                    "last": dict(b.last),
                    "door_is_open": b.door_is_open,
                    "windows": [[s, _enc(e), why, sorted(rules)] for s, e, why, rules in b.windows],
                    "gen_until": _enc(b.gen_until),
                    "rules": {rs.rid: rs.to_dict() for rs in b.rules},
                }
                for b in self._b.values()
            },
        }

    @classmethod
    def from_dict(cls, d: dict, catalog: ProfileCatalog | None = None) -> Evaluator:
        if d.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported evaluator state version {d.get('version')!r}")
        ev = cls(catalog, tz=d.get("tz", "UTC"), max_shelve_s=d.get("max_shelve_s", 24 * 3600.0),
                 watchdog_period_s=d.get("watchdog_period_s", 1.0))
        ev._wd_next = _dec(d.get("wd_next"), -INF)
        for key, bd in d["bindings"].items():
            ev.bind(key, bd["profile"], interval_s=bd.get("interval_s"), calibration_due=bd.get("calibration_due"),
                    defrost=bd.get("defrost"))
            b = ev._b[key]
            b.seen = _dec(bd.get("seen"), -INF)
            b.last = dict(bd.get("last", {}))
            b.door_is_open = bool(bd.get("door_is_open"))
            b.windows = [(s, _dec(e, INF), why, frozenset(rules)) for s, e, why, rules in bd.get("windows", [])]
            b.gen_until = _dec(bd.get("gen_until"), -INF)
            if b.defrost:
                b.gen_check = b.gen_until - 86400.0 if b.gen_until != -INF else -INF
            for rid, rd in bd.get("rules", {}).items():
                rs = b.by_id.get(rid)
                if rs is not None:
                    rs.load(rd)
            for rs in b.rules:
                rs.hdue = None
                ev._finish(rs)
        return ev


__all__ = ["Evaluator", "Event", "AlarmState", "Priority", "ACTIVE_STATES"]
