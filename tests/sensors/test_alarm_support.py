"""Shared helpers for the alarm-core tests (no Django needed; this module holds no tests)."""

from sensors.alarms.profiles import parse_profiles

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def rule(id="temperature_high", quantity="temperature_c", kind="high", threshold=8.0, priority="medium",
         deadband=0.5, on_delay_s=1800, off_delay_s=600, realarm_s=3600, **extra):
    return dict(id=id, quantity=quantity, kind=kind, threshold=threshold, priority=priority, deadband=deadband,
                on_delay_s=on_delay_s, off_delay_s=off_delay_s, realarm_s=realarm_s, source="test", **extra)


def catalog(*rules, quantities=("temperature_c", "door_open", "battery_pct"), system_rules=None, **fields):
    """A catalog with one profile ``p`` holding ``rules`` (default: one fridge high-temperature rule)."""
    profile = {
        "name": "Test profile", "description": "for tests", "quantities": list(quantities),
        "rules": list(rules) or [rule()],
    }
    profile.update(fields)
    doc = {"version": 1, "profiles": {"p": profile}}
    if system_rules is not None:
        doc["system_rules"] = system_rules
    return parse_profiles(doc)


def transitions(events):
    """(seconds after T0, rule, from, to) tuples: compact to assert on."""
    return [(e.t - T0, e.rule, str(e.from_state), str(e.to_state)) for e in events]


def feed_series(ev, key, quantity, start_s, values, step_s=60.0):
    """Feed ``values`` every ``step_s`` from T0 + start_s; returns all events."""
    out = []
    for i, v in enumerate(values):
        out += ev.feed(key, quantity, T0 + start_s + i * step_s, v)
    return out
