"""Room tints for the live map, from alarms: a room with an active high-priority alarm is "alarm", with
any other active alarm "warning"; otherwise "normal" or "no_data" from its sensors' readings."""

from __future__ import annotations

from django.db.models import Q

from .choices import AlarmState

ACTIVE = (AlarmState.UNACK, AlarmState.ACKED)


def room_states(floor) -> dict[int, str]:
    from locator.services import reading_room_states

    from .models import Alarm

    states = reading_room_states(floor)
    active = (
        Alarm.objects.filter(state__in=ACTIVE, sensor__isnull=False)
        .filter(Q(sensor__room__floor=floor) | Q(sensor__room__isnull=True, sensor__asset__installed_room__floor=floor))
        .values_list("sensor__room_id", "sensor__asset__installed_room_id", "priority")
    )
    for room, installed, priority in active:
        room = room or installed
        if priority == "high":
            states[room] = "alarm"
        elif states.get(room) != "alarm":
            states[room] = "warning"
    return states
