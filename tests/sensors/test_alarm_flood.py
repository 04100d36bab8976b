"""Alarm floods: more than 10 alarms in 10 minutes per operator/group."""

import json

from sensors.alarms import Evaluator, FloodDetector

from .test_alarm_support import T0, catalog, rule


def _alarms(n, start=T0, step=50.0, rule_id="temperature_high"):
    """n fridges each going into alarm ``step`` seconds apart; returns the events."""
    ev = Evaluator(catalog(rule(id=rule_id, on_delay_s=0)))
    out = []
    for i in range(n):
        ev.bind(f"fridge-{i:02d}", "p")
        out += ev.feed(f"fridge-{i:02d}", "temperature_c", start + i * step, 9.0)
    return out


def test_flood_after_11_alarms_in_10_minutes_and_off_after_it_calms():
    fd = FloodDetector()
    events = _alarms(11)  # 11 alarms in 500 s
    changes = [fd.observe(e, "blood-bank-desk") for e in events]
    assert changes[:10] == [None] * 10  # 10 alarms in 10 min is not a flood yet
    start = changes[10]
    assert start is not None and start.flood and start.group == "blood-bank-desk" and start.count == 11
    assert fd.in_flood("blood-bank-desk")
    s = start.summary
    assert s["count"] == 11 and s["sensors"] == 11 and s["by_rule"] == {"temperature_high": 11}
    assert s["first"]["key"] == "fridge-00" and s["first"]["t"] == T0
    assert s["headline"] == "11 alarms: 11 x temperature_high"
    assert not fd.in_flood("icu-desk")  # per operator/group

    # Still flooding while alarms keep arriving within the window...
    assert fd.tick(T0 + 600) == []
    # ...and off once fewer than 5 remain in the last 10 minutes (alarms at 0..500 s; the 7th at 300 s).
    assert fd.tick(T0 + 899) == []
    (end,) = fd.tick(T0 + 900)
    assert not end.flood and end.count == 4 and end.summary["ended"] == T0 + 900
    assert not fd.in_flood("blood-bank-desk")


def test_alarms_spread_out_do_not_flood():
    fd = FloodDetector()
    assert [c for e in _alarms(30, step=61.0) for c in [fd.observe(e)] if c] == []


def test_only_annunciations_count_and_state_round_trips():
    ev = Evaluator(catalog(rule(on_delay_s=0, off_delay_s=0)))
    ev.bind("s", "p")
    fd = FloodDetector(threshold=3, window_s=600, clear_below=1)
    changes = []
    for i in range(10):  # alarm, return, ack...: only the 5 transitions into active_unacknowledged count
        for e in ev.feed("s", "temperature_c", T0 + i * 10, 9.0 if i % 2 == 0 else 5.0):
            changes.append(fd.observe(e))
        for e in ev.acknowledge("s", None, T0 + i * 10 + 1, "op"):
            changes.append(fd.observe(e))
    flood = [c for c in changes if c]
    assert len(flood) == 1 and flood[0].count == 4
    restored = FloodDetector.from_dict(json.loads(json.dumps(fd.to_dict())))
    assert restored.in_flood() and restored.summary() == fd.summary()
    (end,) = restored.tick(T0 + 2000)
    assert not end.flood


def test_group_of_callable():
    fd = FloodDetector()
    events = _alarms(12) + _alarms(3, rule_id="door_open_long", start=T0 + 5)
    changes = fd.observe_many(events, group_of=lambda e: "cold-chain" if e.rule == "temperature_high" else "doors")
    assert [(c.group, c.flood) for c in changes] == [("cold-chain", True)]
    assert fd.summary("cold-chain")["count"] == 12
    assert fd.summary("doors")["in_window"] == 3
