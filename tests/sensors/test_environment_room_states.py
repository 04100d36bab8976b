"""The live map tints rooms by their alarms (the environment app's room-state provider)."""

import pytest
from django.utils import timezone

from locator.services import room_states
from sensors.environment.models import Alarm

pytestmark = pytest.mark.django_db


def alarm(sensor, state, priority, rule="temperature_high"):
    return Alarm.objects.create(key=sensor.sensor_id, rule=rule, sensor=sensor, title=sensor.name, state=state,
                                priority=priority, since=timezone.now())


def test_active_alarms_tint_the_room_and_cleared_ones_do_not(tracked_world, floor):
    sensor = tracked_world["sensor"]
    room = sensor.room
    assert room_states(floor)[room.pk] == "no_data"  # monitored, nothing heard yet
    low = alarm(sensor, "active_unacknowledged", "medium")
    assert room_states(floor)[room.pk] == "warning"
    alarm(sensor, "active_acknowledged", "high", rule="temperature_high_critical")
    assert room_states(floor)[room.pk] == "alarm"
    Alarm.objects.update(state="normal")
    low.refresh_from_db()
    assert room_states(floor)[room.pk] == "no_data"
