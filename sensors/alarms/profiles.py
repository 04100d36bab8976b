"""Monitoring profiles: which quantities a room or a piece of equipment is watched for, and the limit
rules that turn readings into alarms.

Profiles are data (``fixtures/monitoring_profiles.json``), not code, so a hospital can review them
against the standards they cite and change them without a release. This module parses and validates
that data into frozen objects; :func:`load_profiles` is the entry point. Validation collects every
problem and raises one :class:`ProfileError` whose lines name the profile and rule concerned.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .events import Priority

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "fixtures" / "monitoring_profiles.json"
DEFAULT_DH_R_K = 10_000.0

# Canonical measurement names shared with the BLE decoders (sensors.choices.Quantity).
QUANTITIES = frozenset(
    {
        "temperature_c", "humidity_pct", "differential_pressure_pa", "pressure_pa", "co2_ppm",
        "pm25_ugm3", "voc_index", "noise_dba", "illuminance_lx", "door_open", "battery_pct", "battery_v",
    }
)
# Quantities the evaluator derives itself (they never come from a sensor).
MISSED_INTERVALS = "missed_intervals"  # silence / expected report interval (the watchdog)
CALIBRATION_OVERDUE_DAYS = "calibration_overdue_days"  # days past the calibration due date
SYNTHETIC_QUANTITIES = frozenset({MISSED_INTERVALS, CALIBRATION_OVERDUE_DAYS})

KINDS = ("high", "low")
_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ProfileError(ValueError):
    """Invalid monitoring-profile data. ``errors`` lists every problem found, one line each."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("invalid monitoring profiles:\n  - " + "\n  - ".join(self.errors))


@dataclass(frozen=True, slots=True)
class LimitRule:
    """One limit on one quantity.

    A ``high`` rule's condition is ``value > threshold``; once active it clears only when
    ``value <= threshold - deadband``. A ``low`` rule mirrors this. The condition must hold for
    ``on_delay_s`` before the alarm activates and be clear for ``off_delay_s`` before it returns.
    An acknowledged alarm still active ``realarm_s`` after the acknowledgement is annunciated again
    (0 disables). With ``average_s`` > 0 the rule compares the mean of the readings of the last
    ``average_s`` seconds instead of each reading (for limits defined on averages, e.g. WHO 24-h PM2.5).
    """

    id: str
    quantity: str
    kind: str
    threshold: float
    priority: Priority
    deadband: float = 0.0
    on_delay_s: float = 0.0
    off_delay_s: float = 0.0
    realarm_s: float = 0.0
    source: str = ""
    message: str = ""
    average_s: float = 0.0

    @property
    def clear_threshold(self) -> float:
        return self.threshold - self.deadband if self.kind == "high" else self.threshold + self.deadband

    def to_dict(self) -> dict:
        return {
            "id": self.id, "quantity": self.quantity, "kind": self.kind, "threshold": self.threshold,
            "priority": str(self.priority), "deadband": self.deadband, "on_delay_s": self.on_delay_s,
            "off_delay_s": self.off_delay_s, "realarm_s": self.realarm_s, "source": self.source,
            "message": self.message, "average_s": self.average_s,
        }


@dataclass(frozen=True, slots=True)
class DefrostWindow:
    start_minute: int  # minutes after local midnight
    duration_s: float

    @property
    def start(self) -> str:
        return f"{self.start_minute // 60:02d}:{self.start_minute % 60:02d}"


@dataclass(frozen=True, slots=True)
class Profile:
    slug: str
    name: str
    description: str
    quantities: tuple[str, ...]
    rules: tuple[LimitRule, ...]
    mkt_window_s: float | None = None
    mkt_dh_r_k: float = DEFAULT_DH_R_K
    door_grace_s: float = 0.0  # suppress door_grace_rules for this long after the door opens
    door_grace_rules: frozenset[str] = frozenset()
    defrost: tuple[DefrostWindow, ...] = ()  # daily windows, local time of the site
    defrost_rules: frozenset[str] = frozenset()
    sources: tuple[str, ...] = ()
    _by_id: dict = field(default=None, compare=False, repr=False)  # type: ignore[assignment]

    def __post_init__(self):
        object.__setattr__(self, "_by_id", {r.id: r for r in self.rules})

    def rule(self, rule_id: str) -> LimitRule:
        try:
            return self._by_id[rule_id]
        except KeyError:
            raise KeyError(f"profile {self.slug!r} has no rule {rule_id!r}") from None

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules)

    def to_dict(self) -> dict:
        return {
            "slug": self.slug, "name": self.name, "description": self.description,
            "quantities": list(self.quantities), "rules": [r.to_dict() for r in self.rules],
            "mkt": {"window_s": self.mkt_window_s, "dh_r_k": self.mkt_dh_r_k},
            "door_grace": (
                {"seconds": self.door_grace_s, "rules": sorted(self.door_grace_rules)} if self.door_grace_s else None
            ),
            "defrost": (
                {"windows": [{"start": w.start, "duration_s": w.duration_s} for w in self.defrost],
                 "rules": sorted(self.defrost_rules)} if self.defrost else None
            ),
            "sources": list(self.sources),
        }


@dataclass(frozen=True, slots=True)
class ProfileCatalog:
    profiles: dict[str, Profile]
    room_types: dict[str, str]  # room type -> profile slug
    equipment_types: dict[str, str]  # equipment/asset type -> profile slug
    version: int = 1

    def get(self, slug: str) -> Profile:
        try:
            return self.profiles[slug]
        except KeyError:
            raise KeyError(f"unknown monitoring profile {slug!r}; known: {', '.join(sorted(self.profiles))}") from None

    def __contains__(self, slug: str) -> bool:
        return slug in self.profiles

    def __iter__(self):
        return iter(self.profiles.values())

    def for_room_type(self, room_type: str) -> Profile | None:
        slug = self.room_types.get(str(room_type))
        return self.profiles[slug] if slug else None

    def for_equipment_type(self, equipment_type: str) -> Profile | None:
        slug = self.equipment_types.get(str(equipment_type))
        return self.profiles[slug] if slug else None


def load_profiles(path: str | Path | None = None) -> ProfileCatalog:
    """Read and validate the profiles file (default: ``fixtures/monitoring_profiles.json``)."""
    path = Path(path) if path is not None else DEFAULT_PATH
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ProfileError([f"{path}: not valid JSON: {exc}"]) from exc
    return parse_profiles(data)


_default: ProfileCatalog | None = None


def default_catalog() -> ProfileCatalog:
    """The shipped profiles, loaded once per process."""
    global _default
    if _default is None:
        _default = load_profiles()
    return _default


# --------------------------------------------------------------------------- parsing and validation


class _Errors:
    def __init__(self):
        self.items: list[str] = []

    def add(self, where: str, msg: str):
        self.items.append(f"{where}: {msg}" if where else msg)


def _num(obj: dict, name: str, where: str, errs: _Errors, *, default=None, minimum=None, required=False):
    if name not in obj:
        if required:
            errs.add(where, f"missing {name!r}")
        return default
    v = obj[name]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        errs.add(where, f"{name} must be a finite number (got {v!r})")
        return default
    if minimum is not None and v < minimum:
        errs.add(where, f"{name} must be >= {minimum} (got {v!r})")
        return default
    return float(v)


def _str(obj: dict, name: str, where: str, errs: _Errors, *, required=True, default="") -> str:
    v = obj.get(name, None)
    if v is None:
        if required:
            errs.add(where, f"missing {name!r}")
        return default
    if not isinstance(v, str) or (required and not v.strip()):
        errs.add(where, f"{name} must be a non-empty string (got {v!r})")
        return default
    return v


_RULE_KEYS = {
    "id", "quantity", "kind", "threshold", "priority", "deadband", "on_delay_s", "off_delay_s", "realarm_s",
    "source", "message", "average_s",
}


def _parse_rule(raw: Any, where: str, errs: _Errors, quantities: frozenset[str] | None) -> LimitRule | None:
    if not isinstance(raw, dict):
        errs.add(where, f"a rule must be an object (got {type(raw).__name__})")
        return None
    rid = raw.get("id")
    if not isinstance(rid, str) or not _SLUG.match(rid):
        errs.add(where, f"rule id must be a lower-case slug (got {rid!r})")
        return None
    where = f"{where}, rule {rid!r}"
    n_before = len(errs.items)
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        errs.add(where, f"unknown field(s) {', '.join(sorted(unknown))}")
    quantity = _str(raw, "quantity", where, errs)
    if quantity and quantity not in QUANTITIES | SYNTHETIC_QUANTITIES:
        errs.add(where, f"unknown quantity {quantity!r} (canonical: {', '.join(sorted(QUANTITIES))})")
    elif quantity and quantities is not None and quantity in QUANTITIES and quantity not in quantities:
        errs.add(where, f"quantity {quantity!r} is not among the profile's quantities")
    kind = raw.get("kind")
    if kind not in KINDS:
        errs.add(where, f"kind must be 'high' or 'low' (got {kind!r})")
    threshold = _num(raw, "threshold", where, errs, required=True)
    priority = raw.get("priority")
    if priority not in {p.value for p in Priority}:
        errs.add(where, f"priority must be one of high, medium, low (got {priority!r})")
    deadband = _num(raw, "deadband", where, errs, default=0.0, minimum=0)
    on_delay = _num(raw, "on_delay_s", where, errs, default=0.0, minimum=0)
    off_delay = _num(raw, "off_delay_s", where, errs, default=0.0, minimum=0)
    realarm = _num(raw, "realarm_s", where, errs, default=0.0, minimum=0)
    average = _num(raw, "average_s", where, errs, default=0.0, minimum=0)
    source = _str(raw, "source", where, errs)
    message = _str(raw, "message", where, errs, required=False)
    if len(errs.items) != n_before:
        return None
    return LimitRule(
        id=rid, quantity=quantity, kind=kind, threshold=threshold, priority=Priority(priority),
        deadband=deadband, on_delay_s=on_delay, off_delay_s=off_delay, realarm_s=realarm, source=source,
        message=message, average_s=average,
    )


def _rule_refs(obj: dict, where: str, what: str, rule_ids: set[str], errs: _Errors) -> frozenset[str]:
    refs = obj.get("rules")
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
        errs.add(where, f"{what}.rules must be a non-empty list of rule ids")
        return frozenset()
    for r in refs:
        if r not in rule_ids:
            errs.add(f"{where}, rule {r!r}", f"named in {what}.rules but not defined in the profile")
    return frozenset(refs)


def _parse_profile(slug: str, raw: Any, system_rules: list[LimitRule], defaults: dict, errs: _Errors):
    where = f"profile {slug!r}"
    if not _SLUG.match(slug):
        errs.add(where, "profile slug must be lower-case letters, digits and underscores")
    if not isinstance(raw, dict):
        errs.add(where, "must be an object")
        return None
    n_before = len(errs.items)
    known = {"name", "description", "quantities", "rules", "mkt", "door_grace", "defrost", "sources"}
    unknown = set(raw) - known
    if unknown:
        errs.add(where, f"unknown field(s) {', '.join(sorted(unknown))}")
    name = _str(raw, "name", where, errs)
    description = _str(raw, "description", where, errs)
    quantities = raw.get("quantities")
    if not isinstance(quantities, list) or not quantities:
        errs.add(where, "quantities must be a non-empty list")
        quantities = []
    for q in quantities:
        if q not in QUANTITIES:
            errs.add(where, f"unknown quantity {q!r} (canonical: {', '.join(sorted(QUANTITIES))})")
    qset = frozenset(q for q in quantities if isinstance(q, str))
    raw_rules = raw.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        errs.add(where, "rules must be a non-empty list")
        raw_rules = []
    own: list[LimitRule] = []
    seen: set[str] = set()
    for i, rr in enumerate(raw_rules):
        rule = _parse_rule(rr, where if isinstance(rr, dict) and "id" in rr else f"{where}, rules[{i}]", errs, qset)
        if rule is None:
            continue
        if rule.id in seen:
            errs.add(f"{where}, rule {rule.id!r}", "duplicate rule id")
            continue
        seen.add(rule.id)
        own.append(rule)
    # A low limit above a high limit on the same quantity leaves no acceptable band: always a typo.
    for hi in own:
        for lo in own:
            if (hi.quantity == lo.quantity and hi.kind == "high" and lo.kind == "low"
                    and hi.quantity in QUANTITIES and hi.threshold < lo.threshold):
                errs.add(f"{where}, rule {hi.id!r}",
                         f"high threshold {hi.threshold} is below low rule {lo.id!r} threshold {lo.threshold}")
    # System rules (offline, battery, calibration) apply unless the profile overrides the same id.
    rules = own + [r for r in system_rules if r.id not in seen]
    rule_ids = {r.id for r in rules}

    mkt = raw.get("mkt")
    mkt_window = None
    dh_r = float(defaults.get("mkt_dh_r_k", DEFAULT_DH_R_K))
    if mkt is not None:
        if not isinstance(mkt, dict):
            errs.add(where, "mkt must be an object or null")
        else:
            mkt_window = _num(mkt, "window_s", f"{where}, mkt", errs, required=True, minimum=1)
            dh_r = _num(mkt, "dh_r_k", f"{where}, mkt", errs, default=dh_r, minimum=1)
        if mkt_window is not None and "temperature_c" not in qset:
            errs.add(where, "mkt is set but temperature_c is not among the quantities")

    grace_s, grace_rules = 0.0, frozenset()
    dg = raw.get("door_grace")
    if dg is not None:
        if not isinstance(dg, dict):
            errs.add(where, "door_grace must be an object or null")
        else:
            grace_s = _num(dg, "seconds", f"{where}, door_grace", errs, required=True, minimum=1) or 0.0
            grace_rules = _rule_refs(dg, where, "door_grace", rule_ids, errs)
            if "door_open" not in qset:
                errs.add(where, "door_grace is set but door_open is not among the quantities")

    defrost: list[DefrostWindow] = []
    defrost_rules = frozenset()
    df = raw.get("defrost")
    if df is not None:
        if not isinstance(df, dict):
            errs.add(where, "defrost must be an object or null")
        else:
            wins = df.get("windows")
            if not isinstance(wins, list) or not wins:
                errs.add(where, "defrost.windows must be a non-empty list")
                wins = []
            for j, w in enumerate(wins):
                ww = f"{where}, defrost.windows[{j}]"
                if not isinstance(w, dict):
                    errs.add(ww, "must be an object")
                    continue
                m = _HHMM.match(str(w.get("start", "")))
                if not m:
                    errs.add(ww, f"start must be local time HH:MM (got {w.get('start')!r})")
                dur = _num(w, "duration_s", ww, errs, required=True, minimum=60)
                if dur is not None and dur > 6 * 3600:
                    errs.add(ww, f"duration_s {dur:g} is longer than 6 h; use a maintenance suppression instead")
                if m and dur is not None:
                    defrost.append(DefrostWindow(int(m.group(1)) * 60 + int(m.group(2)), dur))
            defrost_rules = _rule_refs(df, where, "defrost", rule_ids, errs)
            defrost.sort(key=lambda w: w.start_minute)
            for a, b in zip(defrost, defrost[1:], strict=False):
                if a.start_minute * 60 + a.duration_s > b.start_minute * 60:
                    errs.add(where, f"defrost windows {a.start} and {b.start} overlap")

    sources = raw.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        errs.add(where, "sources must be a list of strings")
        sources = []
    if len(errs.items) != n_before:
        return None
    return Profile(
        slug=slug, name=name, description=description, quantities=tuple(quantities), rules=tuple(rules),
        mkt_window_s=mkt_window, mkt_dh_r_k=dh_r, door_grace_s=grace_s, door_grace_rules=grace_rules,
        defrost=tuple(defrost), defrost_rules=defrost_rules, sources=tuple(sources),
    )


def parse_profiles(data: Any) -> ProfileCatalog:
    """Validate profile data (the parsed JSON document) and build the catalog."""
    errs = _Errors()
    if not isinstance(data, dict):
        raise ProfileError(["the document must be a JSON object"])
    version = data.get("version", 1)
    if version != 1:
        errs.add("", f"unsupported version {version!r} (this code reads version 1)")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        errs.add("defaults", "must be an object")
        defaults = {}
    system_rules: list[LimitRule] = []
    raw_sys = data.get("system_rules", [])
    if not isinstance(raw_sys, list):
        errs.add("system_rules", "must be a list")
        raw_sys = []
    for i, rr in enumerate(raw_sys):
        rule = _parse_rule(rr, "system_rules" if isinstance(rr, dict) and "id" in rr else f"system_rules[{i}]",
                           errs, None)
        if rule is not None:
            system_rules.append(rule)
    raw_profiles = data.get("profiles")
    if not isinstance(raw_profiles, dict) or not raw_profiles:
        errs.add("profiles", "must be a non-empty object keyed by profile slug")
        raw_profiles = {}
    profiles: dict[str, Profile] = {}
    for slug, raw in raw_profiles.items():
        p = _parse_profile(slug, raw, system_rules, defaults, errs)
        if p is not None:
            profiles[slug] = p
    maps: dict[str, dict[str, str]] = {}
    for section in ("room_types", "equipment_types"):
        m = data.get(section, {})
        if not isinstance(m, dict):
            errs.add(section, "must be an object mapping a type to a profile slug")
            m = {}
        for typ, slug in m.items():
            if slug not in raw_profiles:
                errs.add(f"{section} {typ!r}", f"refers to unknown profile {slug!r}")
        maps[section] = dict(m)
    if errs.items:
        raise ProfileError(errs.items)
    return ProfileCatalog(profiles=profiles, room_types=maps["room_types"],
                          equipment_types=maps["equipment_types"], version=version)
