"""Find equipment: matching, walking distance through doors, corridors and lifts, and the fallbacks."""

import math

import pytest
from django.urls import reverse

from hospital import roles
from hospital.facility.models import Building, Floor, Room
from locator import search
from tests.web.conftest import rect


def numbers(result):
    return [h.asset.asset_number for h in result.hits]


def test_nearest_available_by_walking_distance(world):
    origin = search.find_room("1s-01")  # any case
    assert origin.pk == world["rooms"]["1S-01"].pk and origin.floor.name == "Level 1 - Test"
    result = search.search("infusion pumps", origin)
    assert result.method == "walking"
    # Through the corridor P-NORTH (9.5 m) beats P-BEHIND-WALL (6 m as the crow flies, but no door in
    # the shared wall: ~17.7 m); upstairs comes by the lift; a unit not heard for 2 h comes last; the
    # pump in the origin room is in use and is not offered.
    assert numbers(result) == ["P-NORTH", "P-BEHIND-WALL", "P-UPSTAIRS", "P-STALE"]
    north, behind, upstairs, _ = result.hits
    assert north.distance_m == pytest.approx(9.5, abs=0.2) and north.walked
    door_route = 2.5 + 2 * math.hypot(5, 1.5) + math.hypot(4, 2.5)
    assert behind.distance_m == pytest.approx(door_route, abs=0.2)
    assert upstairs.floors_away == 1 and upstairs.distance_m > search.FLOOR_CHANGE_M + 20
    assert result.hits[-1].stale


def test_status_filters(world):
    origin = world["rooms"]["1S-01"]
    every = search.search("pump", origin, statuses=None)
    assert numbers(every)[0] == "P-ORIGIN-INUSE"  # any status: the one in the room itself is nearest
    assert numbers(search.search("", origin, statuses=["in_use"])) == ["P-ORIGIN-INUSE"]
    assert numbers(search.search("wheelchair", origin)) == ["W-1"]
    assert numbers(search.search("acme flow", origin))[:1] == ["P-NORTH"]  # make and model
    assert search.search("ventilator", origin).hits == []


def test_an_asset_number_finds_that_unit_whatever_its_status(world):
    result = search.search("p-origin-inuse", None)
    assert result.exact and numbers(result) == ["P-ORIGIN-INUSE"]


def test_without_an_origin_results_are_by_number(world):
    assert numbers(search.search("pump", None)) == ["P-BEHIND-WALL", "P-NORTH", "P-UPSTAIRS", "P-STALE"]


def test_floor_then_distance_when_no_corridors_are_drawn(world):
    """A building without corridor rooms: nearest floor first, then straight-line distance."""
    from hospital.assets.models import Asset
    from locator.models import CurrentLocation, Tag

    site = world["site"]
    annex = Building.objects.create(site=site, code="annex", name="Annex")
    f1 = Floor.objects.create(building=annex, level=1, name="Annex 1", elevation_m=0, metres_per_unit=0.1)
    f2 = Floor.objects.create(building=annex, level=2, name="Annex 2", elevation_m=4, metres_per_unit=0.1)
    rooms = {
        "A1": Room.objects.create(floor=f1, number="A1", room_type="office", polygon=rect(0, 0, 10, 10)),
        "A2": Room.objects.create(floor=f1, number="A2", room_type="office", polygon=rect(40, 0, 50, 10)),
        "B1": Room.objects.create(floor=f2, number="B1", room_type="office", polygon=rect(0, 0, 10, 10)),
    }
    from django.utils import timezone

    now = timezone.now()
    for n, (room, x) in enumerate((("A2", 45.0), ("B1", 5.0)), start=1):
        asset = Asset.objects.create(asset_number=f"ANX-{n}", asset_type=world["pump_type"], manufacturer="Acme",
                                     model="Flow 1", serial_number=f"anx{n}")
        tag = Tag.objects.create(tag_id=f"mac:ANX{n}", kind="mac", asset=asset)
        CurrentLocation.objects.create(tag=tag, floor=rooms[room].floor, room=rooms[room], x=x, y=5, accuracy_m=2,
                                       method="multilateration", fixed_at=now, last_seen_at=now)
    result = search.search("ANX", rooms["A1"])
    assert result.method == "floor"
    assert numbers(result) == ["ANX-1", "ANX-2"]  # same floor first, even though B1 is right above
    assert result.hits[0].distance_m == pytest.approx(40.0) and not result.hits[0].walked


def test_graph_doors_and_shaft(world):
    search.invalidate_places()
    graph = search.walking_graph()
    rooms = world["rooms"]
    origin, behind = graph.rooms[rooms["1S-01"].pk], graph.rooms[rooms["1S-02"].pk]
    assert not set(origin.doors) & set(behind.doors)  # no door in the shared wall of two rooms
    corridor = graph.rooms[rooms["1-COR-01"].pk]
    assert len(corridor.doors) == 3  # to 1S-01, 1N-01 and the next corridor segment
    lift1, lift2 = graph.rooms[rooms["1S-03"].pk], graph.rooms[rooms["2S-03"].pk]
    assert (lift2.shaft, search.FLOOR_CHANGE_M) in graph.edges[lift1.shaft]
    assert search.walking_graph() is graph  # cached until rooms change
    Room.objects.filter(pk=rooms["1N-03"].pk).update(name="Renamed")
    room = Room.objects.get(pk=rooms["1N-03"].pk)
    room.save()
    assert search.walking_graph() is not graph


def test_find_page_and_json(client, world, user_in_role):
    client.force_login(user_in_role(roles.NURSE))
    response = client.get(reverse("locator:find"), {"q": "infusion pump", "from": "1S-01", "available": "1"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("P-NORTH") < html.index("P-BEHIND-WALL") < html.index("P-UPSTAIRS")
    assert "Sorted by walking distance" in html and "1 floor up" in html and "same floor" in html
    assert f"/map/{world['floors'][1].pk}/?asset={world['assets']['P-NORTH'].pk}" in html

    data = client.get(reverse("locator:find-json"), {"q": "infusion pump", "from": "1S-01", "available": "1"}).json()
    assert [r["number"] for r in data["results"]] == ["P-NORTH", "P-BEHIND-WALL", "P-UPSTAIRS", "P-STALE"]
    assert data["method"] == "walking" and data["results"][0]["room"] == "1N-01"
    assert data["results"][0]["floor"] == "Level 1 - Test" and data["results"][0]["walking"]

    # A submitted form without the checkbox means any status.
    data = client.get(reverse("locator:find-json"), {"q": "infusion pump", "from": "1S-01"}).json()
    assert data["results"][0]["number"] == "P-ORIGIN-INUSE"
    # An unknown room is said plainly.
    assert client.get(reverse("locator:find-json"), {"q": "pump", "from": "9Z-99"}).status_code == 400
    html = client.get(reverse("locator:find"), {"q": "pump", "from": "9Z-99"}).content.decode()
    assert "There is no room numbered" in html
    # Nothing found: the page says what to try.
    html = client.get(reverse("locator:find"), {"q": "ventilator", "available": "1"}).content.decode()
    assert "Nothing found" in html and "Untick" in html


def test_results_follow_status_and_position_changes_at_once(world, make_user):
    """Nothing about the units is cached: a status change or a move shows in the very next search."""
    from locator.models import CurrentLocation
    from locator.services import change_asset_status

    origin = world["rooms"]["1S-01"]
    assert numbers(search.search("infusion pump", origin))[0] == "P-NORTH"
    change_asset_status(world["assets"]["P-NORTH"], "in_use", make_user(roles.NURSE))
    assert "P-NORTH" not in numbers(search.search("infusion pump", origin))
    CurrentLocation.objects.filter(tag__asset=world["assets"]["P-UPSTAIRS"]).update(
        floor=world["floors"][1], room=world["rooms"]["1N-01"], x=5.0, y=9.0)
    first = search.search("infusion pump", origin).hits[0]
    assert first.asset.asset_number == "P-UPSTAIRS" and first.distance_m == pytest.approx(6.5, abs=0.2)


def test_walking_distances_are_recomputed_when_rooms_change(world):
    """Distances from each origin room are kept with the graph, and go with it when a room changes."""
    origin = world["rooms"]["1S-01"]
    behind = next(h for h in search.search("pump", origin).hits if h.asset.asset_number == "P-BEHIND-WALL")
    assert behind.distance_m > 15  # round through the corridor
    room = Room.objects.get(pk=world["rooms"]["1S-02"].pk)
    room.room_type = "corridor"  # now the shared wall has a door
    room.save()
    behind = next(h for h in search.search("pump", origin).hits if h.asset.asset_number == "P-BEHIND-WALL")
    assert behind.distance_m == pytest.approx(6.0, abs=0.2)
