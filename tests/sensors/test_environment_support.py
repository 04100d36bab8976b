"""Helpers for the environmental-monitoring tests (no tests here): a small hospital with a vaccine
fridge, an isolation room and a gateway, and a way to feed readings the way ingest does."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django.db import transaction

from sensors.ingest.pipeline import ReadingIn

T0 = 1_750_000_000.0  # a fixed start time (2025-06-15 15:06:40 UTC)


def dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


class Clock:
    def __init__(self, t: float = T0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_world(floor):
    """Site 'tst': a vaccine fridge (asset in room 1-01), an isolation room, a gateway. Test modules wrap
    it in their ``world`` fixture."""
    from hospital.assets.models import Asset, AssetType
    from hospital.facility.models import Room
    from sensors.models import Gateway, Sensor

    room = floor.rooms.get(number="1-01")
    iso = Room.objects.create(floor=floor, number="1-03", room_type="isolation_room",
                              polygon=[[10, 0], [15, 0], [15, 4], [10, 4]])
    fridge_type = AssetType.objects.create(code="vaccine_refrigerator", name="Vaccine refrigerator",
                                           category="cold_storage", risk_class="high", is_mobile=False)
    fridge = Asset.objects.create(asset_number="VRF-1", asset_type=fridge_type, manufacturer="Helmer",
                                  model="i.Series", serial_number="F1", installed_room=room)
    fridge_sensor = Sensor.objects.create(
        sensor_id="fridge-1", name="Vaccine refrigerator VRF-1 (1-01)", mac_address="AA:00:00:00:00:01",
        ble_format="ruuvi_v5", asset=fridge, report_interval_s=60, calibration_due_on=date(2030, 1, 1),
    )
    iso_sensor = Sensor.objects.create(
        sensor_id="iso-1", name="Isolation room 1-03", mac_address="AA:00:00:00:00:02", ble_format="bthome_v2",
        room=iso, report_interval_s=60,
    )
    gateway = Gateway.objects.create(gateway_id="gw-1", site=floor.building.site, floor=floor, room=room, x=1, y=1,
                                     status="online", last_seen_at=dt(T0))
    return {"site": floor.building.site, "fridge": fridge_sensor, "iso": iso_sensor, "gateway": gateway,
            "room": room, "floor": floor}


def feed(service, sensor, quantity: str, t: float, value: float, *, store: bool = True) -> None:
    """What ingest does with one reading: store it and call on_readings, in one transaction."""
    from sensors.models import Reading

    with transaction.atomic():
        if store:
            Reading.objects.get_or_create(sensor=sensor, quantity=quantity, t=dt(t), defaults={"value": value})
        service.on_readings([ReadingIn(sensor.pk, quantity, t, float(value), None)])


def feed_series(service, sensor, quantity: str, points, *, tick: bool = True) -> None:
    """``points``: (t, value); ticks the service at every reading's time too (as ingest would)."""
    for t, v in points:
        if tick:
            service.clock.t = t
            service.tick(t)
        feed(service, sensor, quantity, t, v)


def every(start: float, end: float, step: float):
    t = start
    while t <= end:
        yield t
        t += step


def events_of(sensor_id: str, rule: str | None = None):
    from sensors.environment.models import AlarmEvent

    qs = AlarmEvent.objects.filter(alarm__key=sensor_id).order_by("t", "id")
    if rule:
        qs = qs.filter(alarm__rule=rule)
    return [(e.alarm.rule, e.from_state, e.to_state, round(e.t.timestamp(), 3), e.reason) for e in qs]


__all__ = ["T0", "Clock", "dt", "make_world", "feed", "feed_series", "every", "events_of", "timedelta"]
