"""The ISA-18.2 alarm state machine: delays, deadband, re-alarm, shelving, suppression, out of service,
the offline watchdog and persistence across a restart."""

import dataclasses
import json
import random
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.alarms import AlarmState, Evaluator, Event, Watchdog
from sensors.alarms.events import ACTIVE_STATES

from .test_alarm_support import T0, catalog, feed_series, rule, transitions

UNACK, ACKED, RTNUN = "active_unacknowledged", "active_acknowledged", "returned_unacknowledged"


def occurrences(events):
    return [e for e in events if e.is_occurrence]


# ---------------------------------------------------------------------------- delays and deadband


def test_door_opening_shorter_than_on_delay_raises_nothing():
    ev = Evaluator()
    ev.bind("fridge-1", "vaccine_fridge")
    events = feed_series(ev, "fridge-1", "temperature_c", 0, [5.0] * 30)
    # Door open: the air probe reads 11 C for 20 min (warning on-delay is 30 min), then recovers.
    events += feed_series(ev, "fridge-1", "temperature_c", 1800, [11.0] * 20 + [5.0] * 60)
    events += ev.tick(T0 + 1800 + 80 * 60 + 3600)
    assert events == []
    assert ev.state("fridge-1", "temperature_high") == AlarmState.NORMAL


def test_value_oscillating_within_the_deadband_raises_one_alarm():
    cat = catalog(rule(on_delay_s=0, off_delay_s=0, deadband=0.5))
    ev = Evaluator(cat)
    ev.bind("s", "p")
    wobble = [8.2, 7.8] * 60  # crosses 8.0 every minute but never drops to 7.5
    events = feed_series(ev, "s", "temperature_c", 0, wobble)
    assert len(occurrences(events)) == 1
    assert transitions(events) == [(0.0, "temperature_high", "normal", UNACK)]
    events = ev.feed("s", "temperature_c", T0 + 7200, 7.4)
    assert transitions(events) == [(7200.0, "temperature_high", UNACK, RTNUN)]

    # Without a deadband the same signal chatters: that is what the deadband is for.
    ev2 = Evaluator(catalog(rule(on_delay_s=0, off_delay_s=0, deadband=0.0)))
    ev2.bind("s", "p")
    assert len(occurrences(feed_series(ev2, "s", "temperature_c", 0, wobble))) == 60


def test_fridge_out_of_range_longer_than_on_delay_raises_one_alarm_that_returns_after_off_delay():
    ev = Evaluator()
    ev.bind("fridge-1", "vaccine_fridge")
    events = feed_series(ev, "fridge-1", "temperature_c", 0, [5.0] * 10)
    events += feed_series(ev, "fridge-1", "temperature_c", 600, [9.0] * 45)  # 45 min at 9 C from +600 s
    events += feed_series(ev, "fridge-1", "temperature_c", 600 + 45 * 60, [5.0] * 30)
    assert transitions(events) == [
        (600 + 1800.0, "temperature_high", "normal", UNACK),  # exactly the 30 min on-delay
        (600 + 2700 + 600.0, "temperature_high", UNACK, RTNUN),  # back in range at +3300, off-delay 600 s
    ]
    assert len(occurrences(events)) == 1
    ack = ev.acknowledge("fridge-1", "temperature_high", T0 + 6000, "nurse.jones")
    assert transitions(ack) == [(6000.0, "temperature_high", RTNUN, "normal")]
    assert ack[0].actor == "nurse.jones" and ack[0].reason == "acknowledged"


def test_off_delay_restarts_if_the_value_comes_back():
    ev = Evaluator(catalog(rule(on_delay_s=0, off_delay_s=600, deadband=0.5)))
    ev.bind("s", "p")
    ev.feed("s", "temperature_c", T0, 9.0)
    assert ev.feed("s", "temperature_c", T0 + 60, 7.0) == []  # clear, off-delay starts
    assert ev.feed("s", "temperature_c", T0 + 300, 7.8) == []  # inside the deadband: not clear any more
    assert ev.feed("s", "temperature_c", T0 + 400, 7.0) == []  # clear again, off-delay restarts
    assert ev.tick(T0 + 999) == []
    assert transitions(ev.tick(T0 + 1000)) == [(1000.0, "temperature_high", UNACK, RTNUN)]


def test_on_delay_completes_on_tick_without_a_new_reading():
    ev = Evaluator(catalog(rule()))
    ev.bind("s", "p")
    assert ev.feed("s", "temperature_c", T0, 9.0) == []
    assert ev.tick(T0 + 1799) == []
    assert transitions(ev.tick(T0 + 5000)) == [(1800.0, "temperature_high", "normal", UNACK)]


def test_graded_limits_escalate():
    ev = Evaluator()
    ev.bind("fridge-1", "vaccine_fridge")
    events = feed_series(ev, "fridge-1", "temperature_c", 0, [9.0] * 150)  # 2.5 h at 9 C
    assert [(t, r) for t, r, _f, to in transitions(events) if to == UNACK] == [
        (1800.0, "temperature_high"), (7200.0, "temperature_high_prolonged"),
    ]
    assert {e.priority for e in events} == {"medium", "high"}


def test_low_limit_with_deadband():
    ev = Evaluator(catalog(rule(id="temperature_low", kind="low", threshold=2.0, deadband=0.5, on_delay_s=0,
                                off_delay_s=0)))
    ev.bind("s", "p")
    events = feed_series(ev, "s", "temperature_c", 0, [1.9, 2.3, 1.9, 2.4, 2.6])
    assert transitions(events) == [(0.0, "temperature_low", "normal", UNACK), (240.0, "temperature_low", UNACK, RTNUN)]


# ---------------------------------------------------------------------------- operator actions


def test_acknowledged_alarm_that_stays_active_realarms():
    ev = Evaluator(catalog(rule(on_delay_s=0, realarm_s=3600)))
    ev.bind("s", "p")
    events = ev.feed("s", "temperature_c", T0, 9.0)
    events += ev.acknowledge("s", "temperature_high", T0 + 60, "op")
    events += feed_series(ev, "s", "temperature_c", 120, [9.0] * 70)  # still above the limit
    assert transitions(events) == [
        (0.0, "temperature_high", "normal", UNACK),
        (60.0, "temperature_high", UNACK, ACKED),
        (3660.0, "temperature_high", ACKED, UNACK),
    ]
    realarm = events[-1]
    assert realarm.is_realarm and not realarm.is_occurrence and realarm.is_annunciation
    assert len(occurrences(events)) == 1
    # Acknowledged again, the next re-alarm comes realarm_s later, even with no readings (tick).
    ev.acknowledge("s", "temperature_high", T0 + 4300, "op")
    assert transitions(ev.tick(T0 + 7899)) == []
    assert transitions(ev.tick(T0 + 7900)) == [(7900.0, "temperature_high", ACKED, UNACK)]


def test_acknowledged_alarm_returns_straight_to_normal():
    ev = Evaluator(catalog(rule(on_delay_s=0, off_delay_s=0)))
    ev.bind("s", "p")
    ev.feed("s", "temperature_c", T0, 9.0)
    ev.acknowledge("s", None, T0 + 10, "op")
    assert transitions(ev.feed("s", "temperature_c", T0 + 20, 5.0)) == [(20.0, "temperature_high", ACKED, "normal")]
    assert ev.acknowledge("s", "temperature_high", T0 + 30, "op") == []  # nothing to acknowledge


def test_return_then_reoccurrence_is_a_new_alarm():
    ev = Evaluator(catalog(rule(on_delay_s=0, off_delay_s=0)))
    ev.bind("s", "p")
    events = feed_series(ev, "s", "temperature_c", 0, [9.0, 5.0, 9.0])
    assert [to for *_x, to in transitions(events)] == [UNACK, RTNUN, UNACK]
    assert len(occurrences(events)) == 2


def test_shelving_expires():
    ev = Evaluator(catalog(rule(on_delay_s=0)))
    ev.bind("s", "p")
    ev.feed("s", "temperature_c", T0, 9.0)
    shelved = ev.shelve("s", "temperature_high", T0 + 60, T0 + 3660, "compressor being replaced", "tech.lee")
    assert transitions(shelved) == [(60.0, "temperature_high", UNACK, "shelved")]
    assert shelved[0].actor == "tech.lee" and "compressor" in shelved[0].reason
    assert ev.alarm("s", "temperature_high")["shelved_by"] == "tech.lee"
    assert feed_series(ev, "s", "temperature_c", 120, [10.0] * 58) == []  # not annunciated while shelved
    expired = ev.tick(T0 + 3700)
    assert transitions(expired) == [(3660.0, "temperature_high", "shelved", UNACK)]  # still active: sounds again
    assert expired[0].reason == "shelve_expired"


def test_shelved_alarm_that_cleared_meanwhile_unshelves_to_normal():
    ev = Evaluator(catalog(rule(on_delay_s=0, off_delay_s=0)))
    ev.bind("s", "p")
    ev.feed("s", "temperature_c", T0, 9.0)
    ev.shelve("s", "temperature_high", T0, T0 + 600, "known issue", "op")
    ev.feed("s", "temperature_c", T0 + 100, 5.0)
    assert transitions(ev.feed("s", "temperature_c", T0 + 700, 5.0)) == [(600.0, "temperature_high", "shelved", "normal")]


def test_unshelve_and_shelving_limits():
    ev = Evaluator(catalog(rule(on_delay_s=0)), max_shelve_s=3600)
    ev.bind("s", "p")
    ev.feed("s", "temperature_c", T0, 9.0)
    with pytest.raises(ValueError, match="limited"):
        ev.shelve("s", "temperature_high", T0, T0 + 7200, "too long", "op")
    with pytest.raises(ValueError, match="reason"):
        ev.shelve("s", "temperature_high", T0, T0 + 600, " ", "op")
    with pytest.raises(ValueError, match="after"):
        ev.shelve("s", "temperature_high", T0, T0, "r", "op")
    ev.shelve("s", "temperature_high", T0, T0 + 600, "r", "op")
    assert transitions(ev.unshelve("s", "temperature_high", T0 + 10, "op")) == [
        (10.0, "temperature_high", "shelved", UNACK)
    ]


def test_unknown_sensor_or_rule_is_a_clear_error():
    ev = Evaluator(catalog(rule()))
    ev.bind("s", "p")
    with pytest.raises(KeyError, match="not bound"):
        ev.acknowledge("nope", None, T0, "op")
    with pytest.raises(KeyError, match="no rule 'humidity_high'"):
        ev.acknowledge("s", "humidity_high", T0, "op")
    assert ev.feed("nope", "temperature_c", T0, 99.0) == []  # readings of unbound sensors are ignored


# ---------------------------------------------------------------------------- suppression and out of service


def _freezer_day(values_by_minute):
    """Feed a vaccine freezer one reading a minute from 03:00 UTC; returns (evaluator, events, day0)."""
    day0 = datetime(2024, 1, 10, tzinfo=UTC).timestamp()
    ev = Evaluator(tz="UTC")
    ev.bind("frz", "vaccine_freezer")
    events = []
    for i, v in enumerate(values_by_minute):
        events += ev.feed("frz", "temperature_c", day0 + 3 * 3600 + i * 60, v)
    return ev, events, day0


def test_defrost_window_suppresses_by_design():
    # 04:00-04:45 is a defrost window of the shipped vaccine_freezer profile; the probe warms to -12 C
    # (above the -15 C warning, below the -10 C critical limit) for 40 min, longer than the 30 min on-delay.
    values = [-20.0] * 60 + [-12.0] * 40 + [-20.0] * 80
    ev, events, day0 = _freezer_day(values)
    assert not [e for e in events if e.to_state in ACTIVE_STATES]
    assert [(e.t - day0, e.rule, str(e.to_state)) for e in events] == [
        (4 * 3600.0, "temperature_high", "suppressed"),
        (4 * 3600 + 2700.0, "temperature_high", "normal"),
    ]
    assert events[0].reason == "suppressed: defrost"

    # The same temperatures outside a defrost window do alarm.
    ev2 = Evaluator(tz="UTC")
    ev2.bind("frz", "vaccine_freezer", defrost=[])
    ev2_events = []
    for i, v in enumerate(values):
        ev2_events += ev2.feed("frz", "temperature_c", day0 + 3 * 3600 + i * 60, v)
    assert [e.rule for e in occurrences(ev2_events)] == ["temperature_high"]


def test_freezer_that_has_not_recovered_when_defrost_ends_alarms_at_once():
    values = [-20.0] * 60 + [-12.0] * 120
    ev, events, day0 = _freezer_day(values)
    occ = occurrences(events)
    assert [(e.t - day0, e.rule, str(e.from_state)) for e in occ] == [(4 * 3600 + 2700.0, "temperature_high", "suppressed")]


def test_defrost_windows_follow_the_site_time_zone():
    ev = Evaluator(tz="Europe/Berlin")
    ev.bind("frz", "vaccine_freezer")
    day0 = datetime(2024, 1, 10, tzinfo=UTC).timestamp()  # Berlin is UTC+1 in January
    events = []
    for i in range(4 * 60):
        events += ev.feed("frz", "temperature_c", day0 + i * 60, -20.0)  # 00:00-04:00 UTC
    assert [(e.t - day0) / 3600 for e in events] == [3.0, 3.75]  # 04:00-04:45 Berlin


def test_door_open_grace_for_pressure_rooms():
    ev = Evaluator()
    ev.bind("aiir", "isolation_room_negative")
    ev.feed("aiir", "differential_pressure_pa", T0, -5.0)
    # Door opens: pressure collapses for 90 s, inside the 120 s grace; no alarm although > on-delay 30 s.
    events = ev.feed("aiir", "door_open", T0 + 10, 1)
    events += feed_series(ev, "aiir", "differential_pressure_pa", 15, [0.0] * 10, step_s=10)
    events += ev.feed("aiir", "door_open", T0 + 100, 0)
    events += feed_series(ev, "aiir", "differential_pressure_pa", 105, [-5.0] * 30, step_s=10)
    assert not occurrences(events)
    assert [str(e.to_state) for e in events if e.rule == "pressure_not_negative"] == ["suppressed", "normal"]

    # Door held open for 5 min: alarm when the grace ends (pressure lost since the door opened).
    events = ev.feed("aiir", "door_open", T0 + 1000, 1)
    events += feed_series(ev, "aiir", "differential_pressure_pa", 1005, [0.0] * 30, step_s=10)
    occ = occurrences(events)
    assert [(e.t - T0, e.rule) for e in occ] == [(1120.0, "pressure_not_negative")]
    assert occ[0].priority == "high"

    # Pressure lost with the door shut: the plain 30 s on-delay applies.
    ev2 = Evaluator()
    ev2.bind("aiir", "isolation_room_negative")
    occ = occurrences(feed_series(ev2, "aiir", "differential_pressure_pa", 0, [-5.0] + [0.0] * 10, step_s=10))
    assert [(e.t - T0, e.rule) for e in occ] == [(40.0, "pressure_not_negative")]


def test_maintenance_suppression_scheduled_ahead():
    ev = Evaluator(catalog(rule(on_delay_s=0, off_delay_s=0)))
    ev.bind("s", "p")
    assert ev.suppress("s", None, T0, start=T0 + 600, until=T0 + 1230, reason="door seal service", who="tech") == []
    events = feed_series(ev, "s", "temperature_c", 0, [5.0] * 10 + [9.0] * 10 + [5.0] * 5)
    assert transitions(events) == [
        (600.0, "temperature_high", "normal", "suppressed"),
        (1230.0, "temperature_high", "suppressed", "normal"),  # back in range before the window ended
    ]
    assert events[0].reason == "suppressed: door seal service"
    # Open-ended suppression until unsuppressed; the condition is tracked meanwhile.
    ev.suppress("s", "temperature_high", T0 + 2000, reason="maintenance", who="tech")
    ev.feed("s", "temperature_c", T0 + 2100, 9.0)
    assert transitions(ev.unsuppress("s", None, T0 + 2200, "tech")) == [(2200.0, "temperature_high", "suppressed", UNACK)]


def test_out_of_service_ignores_readings():
    ev = Evaluator(catalog(rule()))
    ev.bind("s", "p")
    oos = ev.set_out_of_service("s", None, T0, "tech", "probe being recalibrated")
    assert transitions(oos) == [(0.0, "temperature_high", "normal", "out_of_service")]
    assert feed_series(ev, "s", "temperature_c", 60, [30.0] * 180) == []  # 3 h of garbage, no alarm
    assert ev.tick(T0 + 5 * 3600) == []
    back = ev.return_to_service("s", None, T0 + 5 * 3600, "tech")
    assert transitions(back) == [(5 * 3600.0, "temperature_high", "out_of_service", "normal")]
    # Tracking starts afresh: the on-delay counts from the first bad reading after service resumed.
    events = feed_series(ev, "s", "temperature_c", 5 * 3600 + 60, [9.0] * 40)
    assert transitions(events) == [(5 * 3600 + 60 + 1800.0, "temperature_high", "normal", UNACK)]


def test_out_of_service_clears_an_active_alarm():
    ev = Evaluator(catalog(rule(on_delay_s=0)))
    ev.bind("s", "p")
    ev.feed("s", "temperature_c", T0, 9.0)
    assert transitions(ev.set_out_of_service("s", "temperature_high", T0 + 5)) == [
        (5.0, "temperature_high", UNACK, "out_of_service")
    ]


# ---------------------------------------------------------------------------- silence, battery, calibration


def test_dead_sensor_raises_an_offline_alarm():
    ev = Evaluator(watchdog_period_s=0)
    ev.bind("fridge-1", "vaccine_fridge", interval_s=60)
    feed_series(ev, "fridge-1", "temperature_c", 0, [5.0] * 10)  # last reading at +540 s
    assert ev.tick(T0 + 540 + 180) == []  # exactly 3 intervals: not yet
    offline = ev.tick(T0 + 540 + 181)
    assert transitions(offline) == [(721.0, "sensor_offline", "normal", UNACK)]
    assert offline[0].priority == "medium" and offline[0].value == pytest.approx(181 / 60)
    assert ev.tick(T0 + 2000) == []  # one occurrence, not one per tick
    back = ev.feed("fridge-1", "temperature_c", T0 + 2100, 5.0)
    assert transitions(back) == [(2100.0, "sensor_offline", UNACK, RTNUN)]
    assert transitions(ev.acknowledge("fridge-1", "sensor_offline", T0 + 2200, "op")) == [
        (2200.0, "sensor_offline", RTNUN, "normal")
    ]


def test_sensor_that_never_reports_is_offline_when_bound_with_a_start_time():
    ev = Evaluator(watchdog_period_s=0)
    ev.bind("s", "patient_room", interval_s=300, t=T0)
    assert ev.tick(T0 + 900) == []
    assert [e.rule for e in ev.tick(T0 + 901)] == ["sensor_offline"]


def test_watchdog_helper():
    wd = Watchdog()
    wd.expect("a", 60)
    wd.expect("b", 600)
    wd.seen("a", T0)
    wd.seen("b", T0)
    assert wd.check(T0 + 200) == {"a": pytest.approx(200 / 60)}
    assert wd.check(T0 + 2000) == {"a": pytest.approx(2000 / 60), "b": pytest.approx(2000 / 600)}
    assert Watchdog(factor=5).check(T0 + 200, {"a": T0}, 60) == {}
    assert Watchdog.from_dict(json.loads(json.dumps(wd.to_dict()))).check(T0 + 200) == wd.check(T0 + 200)
    # Through an evaluator, the sensor_offline rule (same state machine) decides.
    ev = Evaluator()
    ev.bind("a", "vaccine_fridge")
    assert [e.rule for e in wd.feed(ev, T0 + 200)] == ["sensor_offline"]


def test_battery_low_is_its_own_alarm():
    ev = Evaluator(watchdog_period_s=0)
    ev.bind("s", "patient_room")
    events = feed_series(ev, "s", "battery_pct", 0, [25.0, 19.0, 18.0] + [18.0] * 40)
    assert [(e.t - T0, e.rule, str(e.to_state)) for e in events] == [(60 + 1800.0, "battery_low", UNACK)]
    assert events[0].priority == "low"
    # 22 % is inside the 5 % deadband: still low.
    assert ev.feed("s", "battery_pct", T0 + 3000, 22.0) == []
    assert [str(e.to_state) for e in ev.feed("s", "battery_pct", T0 + 3100, 90.0)] == [RTNUN]


def test_calibration_overdue_is_its_own_alarm():
    ev = Evaluator(watchdog_period_s=0, tz="UTC")
    ev.bind("s", "vaccine_fridge", calibration_due=date(2024, 3, 1))
    end_of_due_day = datetime(2024, 3, 2, tzinfo=UTC).timestamp()
    assert ev.tick(end_of_due_day - 1) == []
    assert ev.tick(end_of_due_day) == []  # the due day itself is not overdue
    events = ev.tick(end_of_due_day + 60)
    assert [(e.rule, str(e.to_state), str(e.priority)) for e in events] == [("calibration_overdue", UNACK, "low")]
    ev.set_calibration_due("s", date(2026, 3, 1))
    assert [str(e.to_state) for e in ev.tick(end_of_due_day + 120)] == [RTNUN]


# ---------------------------------------------------------------------------- averages, events, rebinding


def test_rule_on_a_24h_mean():
    ev = Evaluator()
    ev.bind("wait", "waiting_area")
    events = feed_series(ev, "wait", "pm25_ugm3", 0, [10.0] * (23 * 60), step_s=60)
    events += feed_series(ev, "wait", "pm25_ugm3", 23 * 3600, [30.0] * 60, step_s=60)  # a 1 h spike
    assert events == []  # 24 h mean (10*23 + 30)/24 = 10.8 < 15
    events = feed_series(ev, "wait", "pm25_ugm3", 24 * 3600, [30.0] * (10 * 60), step_s=60)
    occ = occurrences(events)
    assert [e.rule for e in occ] == ["pm25_24h_high"]
    assert occ[0].value == 30.0


def test_events_are_immutable_and_serialisable():
    ev = Evaluator(catalog(rule(on_delay_s=0)))
    ev.bind("s", "p")
    (e,) = ev.feed("s", "temperature_c", T0, 9.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.to_state = AlarmState.NORMAL
    d = json.loads(json.dumps(e.to_dict()))
    assert d["to_state"] == UNACK and d["value"] == 9.5 and d["key"] == "s"
    assert Event.from_dict(d) == e


def test_rebinding_keeps_state_of_rules_that_still_exist():
    ev = Evaluator(catalog(rule(on_delay_s=0)))
    ev.bind("s", "p")
    ev.feed("s", "temperature_c", T0, 9.5)
    ev.bind("s", "p", interval_s=60)
    assert ev.state("s", "temperature_high") == AlarmState.UNACK
    assert transitions(ev.feed("s", "temperature_c", T0 + 60, 5.0)) == []  # off-delay 600 s still applies
    assert ev.alarms()[0]["rule"] == "temperature_high"


def test_late_reading_is_evaluated_at_the_rules_current_time():
    ev = Evaluator(catalog(rule(on_delay_s=0, off_delay_s=0)))
    ev.bind("s", "p")
    ev.feed("s", "temperature_c", T0 + 100, 9.0)
    events = ev.feed("s", "temperature_c", T0 + 50, 5.0)  # arrives late: the clock does not go back
    assert transitions(events) == [(100.0, "temperature_high", UNACK, RTNUN)]


def test_nan_and_none_readings_are_ignored():
    ev = Evaluator(catalog(rule(on_delay_s=0)))
    ev.bind("s", "p")
    assert ev.feed("s", "temperature_c", T0, float("nan")) == []
    assert ev.feed("s", "temperature_c", T0, None) == []


# ---------------------------------------------------------------------------- persistence


def _scenario(seed=7):
    """A busy half day for four sensors: excursions, door openings, defrost, silence, operator actions."""
    rnd = random.Random(seed)
    day0 = datetime(2024, 1, 10, 2, tzinfo=UTC).timestamp()
    ops = []
    fridge_hot = False
    for i in range(12 * 60):
        t = day0 + i * 60
        if i % 97 == 0:
            fridge_hot = not fridge_hot if rnd.random() < 0.7 else fridge_hot
        ops.append(("feed", "fridge", "temperature_c", t, (9.0 if fridge_hot else 5.0) + rnd.uniform(-0.4, 0.4)))
        ops.append(("feed", "freezer", "temperature_c", t, -12.0 if 110 <= i % 240 <= 170 else -20.0))
        door = 1 if (i % 45) < 3 else 0
        ops.append(("feed", "aiir", "door_open", t + 1, door))
        ops.append(("feed", "aiir", "differential_pressure_pa", t + 2, 0.0 if door or i % 130 < 4 else -5.0))
        if not 300 <= i < 330:  # the ward sensor goes silent for half an hour
            ops.append(("feed", "ward", "temperature_c", t + 3, 26.0 if i % 200 > 120 else 22.0))
        ops.append(("tick", t + 30))
        if i % 50 == 25:
            ops.append(("ack", "fridge", None, t + 31, "op"))
        if i % 170 == 60:
            ops.append(("shelve", "aiir", "pressure_not_negative", t + 32, t + 1800, "balancing", "facilities"))
        if i == 500:
            ops.append(("oos", "ward", None, t + 33, "tech", "moved"))
        if i == 560:
            ops.append(("ris", "ward", None, t + 33, "tech"))
    return ops


def _new_evaluator():
    ev = Evaluator(tz="UTC", watchdog_period_s=0)
    ev.bind("fridge", "vaccine_fridge", interval_s=60)
    ev.bind("freezer", "vaccine_freezer", interval_s=60)
    ev.bind("aiir", "isolation_room_negative", interval_s=60)
    ev.bind("ward", "patient_room", interval_s=60)
    return ev


def _run(ev, ops):
    out = []
    for op in ops:
        kind, args = op[0], op[1:]
        if kind == "feed":
            out += ev.feed(*args)
        elif kind == "tick":
            out += ev.tick(*args)
        elif kind == "ack":
            out += ev.acknowledge(*args)
        elif kind == "shelve":
            out += ev.shelve(*args)
        elif kind == "oos":
            out += ev.set_out_of_service(*args)
        elif kind == "ris":
            out += ev.return_to_service(*args)
    return out


def test_state_round_trips_mid_alarm_with_no_lost_or_duplicate_events():
    ops = _scenario()
    reference = _run(_new_evaluator(), ops)
    kinds = {(e.rule, str(e.to_state)) for e in reference}
    # The scenario exercises what matters across a restart.
    for needed in [("temperature_high", UNACK), ("temperature_high", "suppressed"), ("sensor_offline", UNACK),
                   ("pressure_not_negative", "shelved"), ("temperature_high", ACKED)]:
        assert needed in kinds
    mid_alarm_splits = 0
    for split in range(0, len(ops), 173):
        ev = _new_evaluator()
        first = _run(ev, ops[:split])
        mid_alarm_splits += ev.active_count() > 0
        state = json.loads(json.dumps(ev.to_dict()))  # JSON: what a worker would store
        restored = Evaluator.from_dict(state)
        assert restored.to_dict() == state
        second = _run(restored, ops[split:])
        assert first + second == reference, f"split at op {split}"
    assert mid_alarm_splits >= 5


# ---------------------------------------------------------------------------- property: consistent histories

MIDNIGHT = datetime(2024, 1, 10, tzinfo=UTC).timestamp()
_PROP_CATALOG = catalog(
    rule(on_delay_s=120, off_delay_s=60, realarm_s=300, deadband=0.5),
    rule(id="temperature_low", kind="low", threshold=2.0, priority="high", on_delay_s=0, off_delay_s=0,
         realarm_s=0, deadband=0.2),
    rule(id="door_open_long", quantity="door_open", threshold=0.5, on_delay_s=100, off_delay_s=0, deadband=0),
    door_grace={"seconds": 90, "rules": ["temperature_high"]},
    defrost={"windows": [{"start": "00:10", "duration_s": 300}], "rules": ["temperature_high"]},
)

_op = st.one_of(
    st.tuples(st.just("temp"), st.sampled_from([1.5, 2.1, 5.0, 7.6, 8.2, 9.0, 13.0])),
    st.tuples(st.just("door"), st.sampled_from([0, 1])),
    st.tuples(st.just("tick"), st.just(None)),
    st.tuples(st.just("ack"), st.sampled_from([None, "temperature_high"])),
    st.tuples(st.just("shelve"), st.integers(10, 600)),
    st.tuples(st.just("unshelve"), st.just(None)),
    st.tuples(st.just("suppress"), st.integers(10, 600)),
    st.tuples(st.just("unsuppress"), st.just(None)),
    st.tuples(st.just("oos"), st.booleans()),
)


def _apply(ev, t, op, arg):
    if op == "temp":
        return ev.feed("s", "temperature_c", t, arg)
    if op == "door":
        return ev.feed("s", "door_open", t, arg)
    if op == "tick":
        return ev.tick(t)
    if op == "ack":
        return ev.acknowledge("s", arg, t, "op")
    if op == "shelve":
        return ev.shelve("s", "temperature_high", t, t + arg, "prop", "op")
    if op == "unshelve":
        return ev.unshelve("s", None, t, "op")
    if op == "suppress":
        return ev.suppress("s", "temperature_high", t, until=t + arg, reason="prop", who="op")
    if op == "unsuppress":
        return ev.unsuppress("s", None, t, "op")
    return ev.set_out_of_service("s", "temperature_low", t, "op", "prop", out_of_service=arg)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), _op), min_size=1, max_size=80), st.integers(0, 80))
def test_histories_are_consistent_and_survive_a_restart_anywhere(steps, split):
    def fresh():
        e = Evaluator(_PROP_CATALOG, tz="UTC")
        e.bind("s", "p")
        return e

    timeline, t = [], MIDNIGHT
    for dt, (op, arg) in steps:
        t += dt
        timeline.append((t, op, arg))
    ev = fresh()
    reference = [e for step in timeline for e in _apply(ev, *step)]
    last: dict[str, tuple] = {}
    for e in reference:
        prev_state, prev_t = last.get(e.rule, (AlarmState.NORMAL, -1.0))
        assert e.from_state == prev_state, (e, prev_state)
        assert e.from_state != e.to_state
        assert e.t >= prev_t
        last[e.rule] = (e.to_state, e.t)
    for rid, (state, _t) in last.items():
        assert ev.state("s", rid) == state
    # The same run, restarted from serialised state at an arbitrary point, emits exactly the same events.
    split = min(split, len(timeline))
    ev1 = fresh()
    first = [e for step in timeline[:split] for e in _apply(ev1, *step)]
    ev2 = Evaluator.from_dict(json.loads(json.dumps(ev1.to_dict())), _PROP_CATALOG)
    second = [e for step in timeline[split:] for e in _apply(ev2, *step)]
    assert first + second == reference


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), _op), min_size=1, max_size=80))
def test_how_often_tick_runs_does_not_change_the_history(steps):
    """Delays, re-alarms and windows complete at their exact times whether a tick or a reading notices."""

    def run(with_ticks):
        ev = Evaluator(_PROP_CATALOG, tz="UTC")
        ev.bind("s", "p")
        out, t = [], MIDNIGHT
        for dt, (op, arg) in steps:
            if with_ticks:
                for k in range(1, dt // 7 + 1):
                    out += ev.tick(t + 7 * k)
            t += dt
            out += _apply(ev, t, op, arg)
        out += ev.tick(t)  # a history is complete up to the last tick
        return sorted(out, key=lambda e: (e.rule, e.t))

    assert run(True) == run(False)
