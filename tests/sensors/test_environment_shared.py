"""Several ingest processes share one site's sensors (a shared MQTT subscription hands any batch to any
process): the alarms must be those of one process, whichever process evaluates which reading."""

from __future__ import annotations

import random

import pytest
from django.db import transaction

from sensors.environment.alarm_service import AlarmService
from sensors.environment.models import Alarm, AlarmAction, AlarmEvent
from sensors.ingest.pipeline import ReadingIn
from sensors.models import Reading, Sensor
from tests.sensors.test_environment_alarms import scenario, wipe
from tests.sensors.test_environment_support import T0, Clock, dt, make_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db, floor):
    return make_world(floor)


def store_and_evaluate(svc, sensor, quantity, t, value):
    """What ingest does with a reading: store it, advance the sensor's last-seen time, evaluate; one transaction."""
    with transaction.atomic():
        Reading.objects.get_or_create(sensor=sensor, quantity=quantity, t=dt(t), defaults={"value": value})
        Sensor.objects.filter(pk=sensor.pk).update(last_seen_at=dt(t))
        svc.on_readings([ReadingIn(sensor.pk, quantity, t, float(value), None)])


def run(world, processes: int, seed: int = 1, late_every: int = 0):
    """Feed the two-hour scenario; each reading goes to a process picked at random; every process ticks.
    ``late_every``: every n-th reading is held back and delivered after the next one (out of order)."""
    sensors = {"fridge": world["fridge"], "iso": world["iso"]}
    Sensor.objects.update(last_seen_at=None)
    services = [AlarmService(clock=Clock(T0)) for _ in range(processes)]
    pick = random.Random(seed)
    readings = scenario()
    if late_every:
        for i in range(late_every, len(readings) - 1, late_every):
            readings[i], readings[i + 1] = readings[i + 1], readings[i]
    for t, key, quantity, value in readings:
        for svc in services:
            svc.clock.t = t
            svc.tick(t)
        if t == T0 + 3000 and key == "fridge":  # an operator acknowledges whatever is active
            for alarm in Alarm.objects.filter(state="active_unacknowledged"):
                AlarmAction.objects.create(alarm=alarm, kind="acknowledge", username="fm", created_at=dt(t))
        store_and_evaluate(pick.choice(services), sensors[key], quantity, t, value)
    for svc in services:
        svc.tick(T0 + 7300)
    return [(e.alarm.key, e.alarm.rule, e.from_state, e.to_state, e.t, e.reason, e.actor, e.value)
            for e in AlarmEvent.objects.select_related("alarm").order_by("alarm__key", "alarm__rule", "t", "id")]


def test_two_processes_sharing_the_sensors_raise_the_alarms_of_one(world):
    reference = run(world, processes=1)
    rules = {r[1] for r in reference}
    assert rules >= {"temperature_high", "sensor_offline", "pressure_not_negative"}
    assert any(r[3] == "active_acknowledged" for r in reference)
    for seed in (1, 2):
        wipe()
        shared = run(world, processes=2, seed=seed)
        assert shared == reference, f"seed {seed}"
    wipe()
    assert run(world, processes=3, seed=3) == reference
    # Each acknowledgement was applied once, by one of the processes.
    assert AlarmAction.objects.filter(status="applied").count() == AlarmAction.objects.count() > 0


def test_a_late_reading_counts_at_the_sensors_clock_in_one_process_and_in_two(world):
    """A reading older than the last one evaluated is not lost: its value counts at the rule's current
    time. So one process and two processes agree, whatever order the readings come in."""
    one = run(world, processes=1, late_every=7)
    wipe()
    two = run(world, processes=2, late_every=7)
    assert two == one
    assert {r[1] for r in one} >= {"temperature_high", "pressure_not_negative"}


def test_a_process_that_never_saw_a_sensor_report_does_not_call_it_silent(world):
    """Every report of the fridge goes to process A; process B only ticks. B's watchdog must count from
    the reports A stored, or B would raise 'sensor offline' for a sensor that reports every 5 s (A's
    state is written only when it changes, or by the minute's checkpoint)."""
    Sensor.objects.filter(pk=world["fridge"].pk).update(report_interval_s=5)
    a, b = AlarmService(clock=Clock(T0)), AlarmService(clock=Clock(T0))
    for i in range(240):
        t = T0 + 5 * i
        store_and_evaluate(a, world["fridge"], "temperature_c", t, 5.0)
        for svc in (a, b):
            svc.clock.t = t + 2.5
            svc.tick(t + 2.5)
    assert not AlarmEvent.objects.filter(alarm__key="fridge-1", alarm__rule="sensor_offline").exists()
    # It does once the sensor really goes quiet.
    for svc in (a, b):
        svc.tick(T0 + 5 * 240 + 3600)
    assert AlarmEvent.objects.filter(alarm__key="fridge-1", alarm__rule="sensor_offline", is_occurrence=True).count() == 1
