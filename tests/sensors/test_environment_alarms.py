"""The alarm service inside ingest: the standard's behaviours through the service and the database,
silence as an alarm, and nothing lost or duplicated across a restart or a rolled-back chunk."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from sensors.alarms import default_catalog
from sensors.environment.alarm_service import AlarmService
from sensors.environment.models import Alarm, AlarmAction, AlarmEvent, EvaluatorState, Excursion
from tests.sensors.test_environment_support import (
    T0,
    Clock,
    dt,
    events_of,
    every,
    feed,
    feed_series,
    make_world,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db, floor):
    return make_world(floor)

FRIDGE = default_catalog().get("vaccine_fridge")
ISO = default_catalog().get("isolation_room_negative")


def service(start: float = T0) -> AlarmService:
    return AlarmService(clock=Clock(start))


def occurrences(sensor_id: str, rule: str) -> int:
    return AlarmEvent.objects.filter(alarm__key=sensor_id, alarm__rule=rule, is_occurrence=True).count()


def test_every_sensor_is_bound_to_its_effective_profile(world):
    svc = service()
    assert svc.units["fridge-1"].profile.slug == "vaccine_fridge"  # equipment type vaccine_refrigerator
    assert svc.units["iso-1"].profile.slug == "isolation_room_negative"  # room type isolation_room
    assert "gateway:gw-1" in svc.units


def test_door_opened_for_less_than_the_on_delay_raises_nothing(world):
    svc = service()
    door = FRIDGE.rule("door_open_long")
    fridge = world["fridge"]
    temps = [(t, "temperature_c", 5.0) for t in every(T0, T0 + 1500, 60)]
    doors = [(T0 + 130, "door_open", 1), (T0 + 130 + door.on_delay_s - 10, "door_open", 0)]
    for t, q, v in sorted(temps + doors):
        svc.tick(t)
        feed(svc, fridge, q, t, v)
    assert events_of("fridge-1") == []
    assert not Alarm.objects.filter(key="fridge-1").exclude(state="normal").exists()
    # A door left open longer than the on-delay does alarm.
    feed(svc, fridge, "door_open", T0 + 1510, 1)
    feed_series(svc, fridge, "temperature_c", [(t, 5.0) for t in every(T0 + 1560, T0 + 1510 + door.on_delay_s + 60, 60)])
    assert occurrences("fridge-1", "door_open_long") == 1


def test_value_oscillating_around_the_limit_within_the_deadband_raises_one_alarm(world):
    svc = service()
    rule = ISO.rule("pressure_not_negative")  # > -2.5 Pa for 30 s; clears at <= -3.0 Pa
    iso = world["iso"]
    feed_series(svc, iso, "differential_pressure_pa", [(t, -8.0) for t in every(T0, T0 + 60, 10)])
    feed_series(svc, iso, "differential_pressure_pa", [(t, -2.0) for t in every(T0 + 70, T0 + 70 + rule.on_delay_s + 10, 10)])
    wobble = [(t, -2.4 if i % 2 else -2.7) for i, t in enumerate(every(T0 + 120, T0 + 1200, 10))]
    feed_series(svc, iso, "differential_pressure_pa", wobble)
    assert occurrences("iso-1", "pressure_not_negative") == 1
    assert Alarm.objects.get(key="iso-1", rule="pressure_not_negative").state == "active_unacknowledged"
    assert [e[2] for e in events_of("iso-1", "pressure_not_negative")] == ["active_unacknowledged"]


def test_fridge_out_of_range_longer_than_the_on_delay_raises_exactly_one_alarm_that_returns_after_the_off_delay(world,
                                                                                                                make_user):
    svc = service()
    rule = FRIDGE.rule("temperature_high")
    fridge = world["fridge"]
    warm_from = T0 + 600
    back_at = warm_from + rule.on_delay_s + 1200  # 50 min above 8 C: past the on-delay, short of "prolonged"
    feed_series(svc, fridge, "temperature_c", [(t, 5.0) for t in every(T0, warm_from - 60, 60)])
    feed_series(svc, fridge, "temperature_c", [(t, 9.5) for t in every(warm_from, back_at - 60, 60)])
    feed_series(svc, fridge, "temperature_c", [(t, 5.0) for t in every(back_at, back_at + 1800, 60)])
    history = events_of("fridge-1")
    assert history == [
        ("temperature_high", "normal", "active_unacknowledged", warm_from + rule.on_delay_s, "alarm"),
        ("temperature_high", "active_unacknowledged", "returned_unacknowledged", back_at + rule.off_delay_s, "return"),
    ]
    alarm = Alarm.objects.get(key="fridge-1", rule="temperature_high")
    assert (alarm.state, alarm.occurrences, alarm.priority) == ("returned_unacknowledged", 1, "medium")
    # The excursion: from the crossing to the moment it was back within the limit.
    ex = Excursion.objects.get(alarm=alarm)
    assert (ex.started_at, ex.ended_at, ex.returned_at) == (dt(warm_from), dt(back_at), dt(back_at + rule.off_delay_s))
    assert ex.extreme == 9.5 and 9.0 < ex.mkt_c <= 9.5
    # A facility manager acknowledges; the service applies it and the alarm is normal.
    AlarmAction.objects.create(alarm=alarm, kind="acknowledge", user=make_user("facility manager"), username="facility_manager")
    svc.clock.t = back_at + 2000
    svc.tick(back_at + 2000)
    alarm.refresh_from_db()
    assert alarm.state == "normal" and AlarmAction.objects.get().status == "applied"
    assert AlarmEvent.objects.filter(alarm=alarm).last().actor == "facility_manager"
    # The evaluator state is in the database, per sensor.
    assert EvaluatorState.objects.filter(key=f"sensor:{fridge.pk}").exists()


def test_a_dead_sensor_raises_an_offline_alarm(world):
    svc = service()
    fridge = world["fridge"]
    feed_series(svc, fridge, "temperature_c", [(t, 5.0) for t in every(T0, T0 + 300, 60)])
    for t in every(T0 + 310, T0 + 600, 10):  # silence: only the clock goes on
        svc.tick(t)
    history = events_of("fridge-1", "sensor_offline")
    assert history and history[0][2] == "active_unacknowledged"
    assert T0 + 300 + 3 * 60 <= history[0][3] <= T0 + 300 + 3 * 60 + 10
    # It speaks again: the alarm returns.
    feed_series(svc, fridge, "temperature_c", [(T0 + 700, 5.0)])
    assert Alarm.objects.get(key="fridge-1", rule="sensor_offline").state == "returned_unacknowledged"


def test_a_sensor_that_never_reports_is_offline_too(world):
    svc = service()
    for t in every(T0, T0 + 400, 10):
        svc.tick(t)
    assert occurrences("iso-1", "sensor_offline") == 1


def test_low_battery_and_overdue_calibration_are_their_own_alarms(world):
    from datetime import date

    fridge = world["fridge"]
    fridge.calibration_due_on = date(2025, 6, 1)  # before T0
    fridge.save()
    svc = service()
    battery = FRIDGE.rule("battery_low")
    feed_series(svc, fridge, "battery_pct", [(t, 12.0) for t in every(T0, T0 + battery.on_delay_s + 120, 60)])
    assert occurrences("fridge-1", "calibration_overdue") == 1
    assert occurrences("fridge-1", "battery_low") == 1
    assert Alarm.objects.get(key="fridge-1", rule="battery_low").priority == "low"


def test_a_gateway_last_will_raises_gateway_offline(world):
    from sensors.ingest.consumer import Message
    from sensors.ingest.pipeline import IngestPipeline
    from sensors.protocol import encode_status

    svc = service(time.time())
    now = time.time()
    pipeline = IngestPipeline()
    # What the broker delivers when the gateway's connection dies: its last will, status "offline".
    pipeline.handle([Message("hospital/tst/gw/gw-1/status", encode_status("gw-1", "offline", "boot-1"), 1, 1, now)])
    svc.check_gateways(now)
    svc.check_gateways(now + 90)  # past the on-delay that rides out a quick reconnect
    alarm = Alarm.objects.get(key="gateway:gw-1", rule="gateway_offline")
    assert alarm.state == "active_unacknowledged" and alarm.gateway_id == world["gateway"].pk
    pipeline.handle([Message("hospital/tst/gw/gw-1/status", encode_status("gw-1", "online", "boot-2"), 2, 1, now + 100)])
    svc.check_gateways(now + 100)
    alarm.refresh_from_db()
    assert alarm.state == "returned_unacknowledged"


def test_a_gateway_that_went_quiet_is_offline(world, settings):
    settings.ALARM_GATEWAY_OFFLINE_AFTER_S = 300
    svc = service()
    svc.check_gateways(T0 + 100)
    svc.check_gateways(T0 + 400)  # last seen at T0: silent for more than 300 s
    svc.check_gateways(T0 + 500)
    assert occurrences("gateway:gw-1", "gateway_offline") == 1


# --------------------------------------------------------------------------- restart and rollback


def scenario():
    """(t, sensor, quantity, value) readings of a busy two hours: an excursion, doors, a silence, a pressure loss."""
    out = []
    for t in every(T0, T0 + 7200, 60):
        if not (T0 + 4000 <= t <= T0 + 4500):  # the fridge sensor goes quiet for a while
            out.append((t, "fridge", "temperature_c", 9.4 if T0 + 900 <= t <= T0 + 3600 else 5.1))
        out.append((t, "iso", "differential_pressure_pa", -1.0 if T0 + 5000 <= t <= T0 + 6000 else -8.0))
    out += [(T0 + 300, "fridge", "door_open", 1), (T0 + 700, "fridge", "door_open", 0),
            (T0 + 5100, "iso", "door_open", 1), (T0 + 5150, "iso", "door_open", 0)]
    return sorted(out, key=lambda r: (r[0], r[1], r[2]))


def run(world, restarts=(), rollbacks=()):
    """Feed the scenario tick by tick; 'crash' at the given reading indexes (a new service from the
    database); at ``rollbacks`` the chunk's transaction fails after the service ran and is redelivered."""
    sensors = {"fridge": world["fridge"], "iso": world["iso"]}
    svc = service()
    for i, (t, key, quantity, value) in enumerate(scenario()):
        if i in restarts:
            svc = AlarmService(clock=Clock(t))  # the old one is simply dropped, as by kill -9
        svc.clock.t = t
        svc.tick(t)
        if t == T0 + 3000 and key == "fridge":  # an operator acknowledges whatever is active
            for alarm in Alarm.objects.filter(state="active_unacknowledged"):
                AlarmAction.objects.create(alarm=alarm, kind="acknowledge", username="fm", created_at=dt(t))
        if i in rollbacks:
            with pytest.raises(RuntimeError), transaction.atomic():
                feed(svc, sensors[key], quantity, t, value)
                raise RuntimeError("database went away before the commit")
        feed(svc, sensors[key], quantity, t, value)
    svc.tick(T0 + 7300)
    return [(e.alarm.key, e.alarm.rule, e.from_state, e.to_state, e.t, e.reason, e.actor, e.value)
            for e in AlarmEvent.objects.select_related("alarm").order_by("alarm__key", "alarm__rule", "t", "id")]


def wipe():
    from sensors.environment import models as m
    from sensors.models import Reading

    for model in (m.Notification, m.AlarmAction, m.AlarmEvent, m.Excursion, m.AlarmFlood, m.Alarm, m.EvaluatorState,
                  m.AlarmPartition):
        model.objects.all().delete()
    Reading.objects.all().delete()


def test_nothing_is_lost_or_duplicated_across_restarts_and_rolled_back_chunks(world):
    reference = run(world)
    assert len(reference) >= 8
    assert {r[1] for r in reference} >= {"temperature_high", "sensor_offline", "pressure_not_negative"}
    assert any(r[3] == "active_acknowledged" for r in reference)
    wipe()
    assert run(world, restarts={1, 17, 40, 41, 120, 201, 260, 333}) == reference
    wipe()
    assert run(world, rollbacks={5, 30, 31, 150, 199, 270}) == reference
    wipe()
    assert run(world, restarts={60, 240}, rollbacks={61, 239, 300}) == reference


def test_ingest_pipeline_evaluates_alarms_in_its_own_transaction(world):
    """The real path: MQTT batch -> IngestPipeline -> readings and alarms committed together."""
    from sensors.environment.worker import attach
    from sensors.ingest.consumer import Message
    from sensors.ingest.pipeline import IngestPipeline
    from sensors.models import Reading
    from sensors.protocol import Advertisement, encode_batch

    def ruuvi(temp_c: float, seq: int) -> bytes:
        p = bytearray.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F")
        p[1:3] = int(round(temp_c / 0.005)).to_bytes(2, "big", signed=True)
        p[16:18] = seq.to_bytes(2, "big")
        p[18:24] = bytes.fromhex("AA0000000001")
        return bytes(p)

    start = time.time() - 3 * 3600
    pipeline = IngestPipeline()
    tasks = attach(pipeline, service=AlarmService(clock=Clock(start)))
    svc = pipeline.alarm_service
    seq = 0
    for t in every(start, start + 7200, 60):
        seq += 1
        temp = 9.5 if start + 600 <= t < start + 3600 else 5.0
        adv = Advertisement(t, "AA:00:00:00:00:01", -60, {0x0499: ruuvi(temp, seq)}, {})
        svc.clock.t = t
        svc.tick(t)
        pipeline.handle([Message("hospital/tst/gw/gw-1/adv", encode_batch("gw-1", "b1", seq, [adv]), seq, 1, t)])
    assert Reading.objects.filter(sensor=world["fridge"], quantity="temperature_c").count() == seq
    alarm = Alarm.objects.get(key="fridge-1", rule="temperature_high")
    assert alarm.occurrences == 1 and alarm.state == "returned_unacknowledged"
    assert callable(tasks[0])
