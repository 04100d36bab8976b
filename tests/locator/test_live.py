"""Live positions: sightings become a current location in the right room, history only on change."""

import math

import pytest

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
    for step in range(12):  # walk to the other room and stay (tracking limits the speed)
        locator.add(sightings_for(tag.pk, 8.0, 2.0, t, seconds=1))
        t += 1
        locator.tick(t)
    location = CurrentLocation.objects.get(tag=tag)
    assert location.room.number == "1-02"
    reasons = list(LocationHistory.objects.filter(tag=tag).order_by("t").values_list("reason", flat=True))
    assert reasons[0] == "floor" and "room" in reasons
