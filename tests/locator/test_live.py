"""Live positions: sightings become a current location in the right room, history only on change."""

import math

import pytest
from shapely.geometry import Point, Polygon

from locator.engine import distance_to_rssi
from locator.live import LiveLocator
from locator.models import CurrentLocation, LocationHistory, Tag
from sensors.ingest.pipeline import Sighting

pytestmark = pytest.mark.django_db

GATEWAYS = {"gw-1": (1.0, 1.0), "gw-2": (9.0, 1.0), "gw-3": (1.0, 3.5), "gw-4": (9.0, 3.5), "gw-5": (5.0, 2.0)}


def sightings_for(tag_pk, x, y, t0, seconds=4):
    out = []
    for k in range(seconds * 2):
        for gw, (gx, gy) in GATEWAYS.items():
            d = math.sqrt((gx - x) ** 2 + (gy - y) ** 2 + (2.7 - 1.2) ** 2)
            out.append(Sighting(t0 + k * 0.5, gw, tag_pk, round(float(distance_to_rssi(d, -59.0, 2.5)))))
    return out


@pytest.fixture
def live(gateway_factory):
    for gw, (x, y) in GATEWAYS.items():
        gateway_factory(gw, x=x, y=y)
    tag = Tag.objects.create(tag_id="mac:AA:00:00:00:00:01", kind="mac")
    return LiveLocator(), tag


def test_tag_gets_position_room_and_one_history_row(live):
    locator, tag = live
    t0 = 1_800_000_000.0
    locator.add(sightings_for(tag.pk, 2.0, 2.0, t0))
    assert locator.tick(t0 + 4) == 1
    location = CurrentLocation.objects.get(tag=tag)
    assert location.room.number == "1-01"
    assert math.hypot(location.x - 2.0, location.y - 2.0) < 1.5
    assert location.accuracy_m > 0 and 0 <= location.confidence <= 1
    assert LocationHistory.objects.filter(tag=tag).count() == 1

    # Standing still: no rewrite, no new history.
    locator.add(sightings_for(tag.pk, 2.0, 2.0, t0 + 4))
    assert locator.tick(t0 + 8) == 0
    assert LocationHistory.objects.filter(tag=tag).count() == 1


def test_moving_to_the_next_room_is_recorded(live):
    locator, tag = live
    t0 = 1_800_000_000.0
    locator.add(sightings_for(tag.pk, 2.0, 2.0, t0))
    locator.tick(t0 + 4)
    t = t0 + 4
    for _ in range(12):  # walk to the other room and stay (tracking limits the speed)
        locator.add(sightings_for(tag.pk, 8.0, 2.0, t, seconds=1))
        t += 1
        locator.tick(t)
    location = CurrentLocation.objects.get(tag=tag)
    assert location.room.number == "1-02"
    reasons = list(LocationHistory.objects.filter(tag=tag).order_by("t").values_list("reason", flat=True))
    assert reasons[0] == "floor" and "room" in reasons


def test_unheard_asset_becomes_missing_then_found(live, settings):
    from hospital.assets.models import Asset, AssetType
    from locator.models import AssetEvent

    locator, tag = live
    kind = AssetType.objects.create(code="bed", name="Bed", category="mobility", risk_class="low")
    tag.asset = Asset.objects.create(asset_number="B-1", asset_type=kind, manufacturer="Stryker", model="S3",
                                     serial_number="X1")
    tag.save()
    locator.asset_of[tag.pk] = tag.asset_id
    t0 = 1_800_000_000.0
    locator.add(sightings_for(tag.pk, 2.0, 2.0, t0))
    locator.tick(t0 + 4)
    settings.LOCATOR_MISSING_AFTER_S = 600
    assert locator.check_missing(t0 + 300) == 0  # not yet
    assert locator.check_missing(t0 + 700) == 1
    tag.asset.refresh_from_db()
    assert tag.asset.status == "missing"
    event = AssetEvent.objects.get(kind="missing")
    assert event.room.number == "1-01"  # last known place
    assert locator.check_missing(t0 + 800) == 0  # reported once

    locator.add(sightings_for(tag.pk, 8.0, 2.0, t0 + 900))
    locator.tick(t0 + 904)
    tag.asset.refresh_from_db()
    assert tag.asset.status == "available"
    assert AssetEvent.objects.filter(kind="found").count() == 1


def test_entering_an_exit_zone_raises_an_event(gateway_factory, floor):
    from hospital.assets.models import Asset, AssetType
    from hospital.facility.models import Zone
    from locator.models import AssetEvent

    for gw, (x, y) in GATEWAYS.items():
        gateway_factory(gw, x=x, y=y)
    Zone.objects.create(floor=floor, code="exit-east", name="East exit", kind="exit",
                        polygon=[[7, 0], [10, 0], [10, 4], [7, 4]])
    kind = AssetType.objects.create(code="pump", name="Pump", category="infusion", risk_class="high")
    asset = Asset.objects.create(asset_number="P-1", asset_type=kind, manufacturer="BD", model="8100", serial_number="S")
    tag = Tag.objects.create(tag_id="mac:AA:00:00:00:00:02", kind="mac", asset=asset)
    locator = LiveLocator()
    t = 1_800_000_000.0
    locator.add(sightings_for(tag.pk, 2.0, 2.0, t))
    locator.tick(t + 4)
    t += 4
    for _ in range(12):
        locator.add(sightings_for(tag.pk, 9.0, 2.0, t, seconds=1))
        t += 1
        locator.tick(t)
    assert AssetEvent.objects.filter(asset=asset, kind="exit", zone__code="exit-east").count() == 1


def test_reference_tag_refines_gateways_within_bounds(gateway_factory):
    from locator.models import CalibrationChange
    from sensors.models import Gateway

    for gw, (x, y) in GATEWAYS.items():
        gateway_factory(gw, x=x, y=y)
    ref = Tag.objects.create(tag_id="mac:AA:00:00:00:00:09", kind="mac", is_reference=True,
                             ref_floor=Gateway.objects.first().floor, ref_x=3.0, ref_y=2.0, ref_z=1.2)
    locator = LiveLocator()
    t0 = 1_800_000_000.0
    for k in range(60):  # this site's radio is 6 dB weaker than the default model
        batch = sightings_for(ref.pk, 3.0, 2.0, t0 + 4 * k)
        for s in batch:
            s.rssi -= 6
        locator.add(batch)
    assert locator.recalibrate() > 0
    change = CalibrationChange.objects.filter(source="online").first()
    assert change.new_ref_power_dbm < change.old_ref_power_dbm  # moved towards the weaker radio...
    assert change.old_ref_power_dbm - change.new_ref_power_dbm <= 1.0 + 1e-9  # ...by at most one bounded step
    assert Gateway.objects.get(pk=change.gateway_id).ref_power_dbm == change.new_ref_power_dbm


def test_rooms_come_from_the_floor_plan_radio_map_and_markers_sit_in_their_room(live):
    locator, tag = live
    assert len(locator.engine.radio_maps) == 1  # predicted from the drawn rooms: nobody surveyed
    t = 1_800_000_000.0
    for _ in range(12):  # standing 0.3 m inside 1-02, by the wall to 1-01
        locator.add(sightings_for(tag.pk, 5.3, 2.0, t, seconds=1))
        t += 1
        locator.tick(t)
    location = CurrentLocation.objects.get(tag=tag)
    assert location.room.number == "1-02"
    assert Polygon(location.room.shape).buffer(1e-6).contains(Point(location.x, location.y))
