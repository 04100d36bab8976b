"""Storage that scales (per-minute and daily aggregates, retention) and mean kinetic temperature."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from sensors.alarms import default_catalog
from sensors.environment import compliance
from sensors.environment.alarm_service import AlarmService
from sensors.environment.models import DailyAggregate, MinuteAggregate, RollupBacklog, RollupState
from sensors.environment.rollup import apply_retention, rollup_minutes
from sensors.models import Reading
from tests.sensors.test_environment_support import Clock, feed, make_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db, floor):
    return make_world(floor)


def add(sensor, t, value, quantity="temperature_c"):
    Reading.objects.create(sensor=sensor, quantity=quantity, t=t, value=value)


def test_minute_and_daily_aggregates_are_computed_in_the_database_idempotently_and_incrementally(world):
    fridge = world["fridge"]
    now = timezone.now().replace(second=0, microsecond=0)
    m1 = now - timedelta(minutes=30)
    for s, v in ((0, 4.0), (20, 5.0), (40, 9.0)):
        add(fridge, m1 + timedelta(seconds=s), v)
    add(fridge, m1 + timedelta(minutes=1, seconds=5), 6.0)
    add(fridge, m1 + timedelta(minutes=1, seconds=5), 55.0, "humidity_pct")
    result = rollup_minutes(now)
    assert result["rows"] == 3
    agg = MinuteAggregate.objects.get(sensor=fridge, quantity="temperature_c", minute=m1)
    assert (agg.count, agg.min, agg.max, agg.mean) == (3, 4.0, 9.0, 6.0)
    snapshot = sorted(MinuteAggregate.objects.values_list("quantity", "minute", "count", "min", "max", "mean"))
    rollup_minutes(now)  # idempotent: running again changes nothing
    assert sorted(MinuteAggregate.objects.values_list("quantity", "minute", "count", "min", "max", "mean")) == snapshot
    assert RollupState.objects.get(name="minute").upto <= now
    # Incremental: a new minute is added on the next run, the old ones stay.
    add(fridge, now - timedelta(minutes=5), 7.0)
    rollup_minutes(now)
    assert MinuteAggregate.objects.filter(quantity="temperature_c").count() == 3
    day = DailyAggregate.objects.get(sensor=fridge, quantity="temperature_c")
    assert (day.count, day.min, day.max) == (5, 4.0, 9.0) and day.mean == pytest.approx((4 + 5 + 9 + 6 + 7) / 5)


def test_a_reading_that_arrives_long_after_its_minute_was_rolled_up_is_counted(world):
    fridge = world["fridge"]
    now = timezone.now().replace(second=0, microsecond=0)
    old = now - timedelta(hours=3)
    add(fridge, old, 5.0)
    rollup_minutes(now)
    assert MinuteAggregate.objects.get(minute=old).count == 1
    # A gateway that was cut off sends its buffer: the alarm service notes the late minute.
    svc = AlarmService(clock=Clock(now.timestamp()))
    add(fridge, old + timedelta(seconds=30), 7.0)
    feed(svc, fridge, "temperature_c", (old + timedelta(seconds=30)).timestamp(), 7.0, store=False)
    assert RollupBacklog.objects.count() == 1
    rollup_minutes(now)
    agg = MinuteAggregate.objects.get(minute=old)
    assert (agg.count, agg.max, agg.mean) == (2, 7.0, 6.0)
    assert not RollupBacklog.objects.exists()


def test_retention_deletes_old_raw_readings_only_once_rolled_up_and_keeps_the_aggregates(world, settings):
    settings.READINGS_RAW_RETENTION_DAYS = 30
    fridge = world["fridge"]
    now = timezone.now().replace(second=0, microsecond=0)
    old, recent = now - timedelta(days=40), now - timedelta(days=2)
    add(fridge, old, 3.0)
    add(fridge, recent, 4.0)
    assert apply_retention(now)["readings"] == 0  # nothing rolled up yet: nothing deleted
    call_command("environment_rollup", "--until-done", "--no-retention", stdout=open("/dev/null", "w"))
    r = apply_retention(now)
    assert r["readings"] == 1
    assert list(Reading.objects.values_list("value", flat=True)) == [4.0]
    assert MinuteAggregate.objects.filter(minute=old).exists()  # kept for years
    assert DailyAggregate.objects.filter(day=timezone.localdate(old)).exists()
    # The daily log of that old day still has its min/max (from the daily aggregates).
    row = compliance.daily_log_row(fridge, old.date())
    assert (row["min"], row["max"], row["count"]) == (3.0, 3.0, 1)


def test_mean_kinetic_temperature_over_the_profile_window(world):
    fridge = world["fridge"]
    now = timezone.now()
    for i in range(0, 24 * 60, 10):  # constant 5 C for a day
        add(fridge, now - timedelta(minutes=i), 5.0)
    profile = default_catalog().get("vaccine_fridge")
    result = compliance.sensor_mkt(fridge, profile, now)
    assert result["window_s"] == 86400 and result["mkt_c"] == pytest.approx(5.0, abs=1e-6)
    # The USP worked example: 20 C and 30 C for equal times give 26.26 C, above the arithmetic mean of 25 C.
    assert compliance.mkt_c([0, 1], [20.0, 30.0]) == pytest.approx(26.26, abs=0.01)
    crt = default_catalog().get("pharmacy_crt")
    assert crt.mkt_window_s == 30 * 86400  # room temperature: 30 days
    assert compliance.sensor_mkt(fridge, default_catalog().get("operating_room"), now) is not None
