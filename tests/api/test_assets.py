"""Assets: embedded location, filters, "find equipment" ordering, status changes, history, query counts."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hospital import roles

pytestmark = pytest.mark.django_db


def numbers(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["asset_number"] for row in response.json()["results"]]


def test_asset_carries_its_current_location(world, client_for):
    response = client_for(roles.NURSE).get(f"/api/assets/{world['assets']['P1'].pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["asset_type"] == {"id": world["types"]["pump"].pk, "code": "infusion-pump", "name": "Infusion pump",
                                  "category": "infusion"}
    assert body["home_department"]["name"] == "Intensive care"
    assert body["tag"]["tag_id"] == "ibeacon:p1"
    location = body["location"]
    assert location["source"] == "tag"
    assert location["floor"] == {"id": world["floor"].pk, "level": 1, "name": "Level 1"}
    assert location["room"] == {"id": world["rooms"]["1-01"].pk, "number": "1-01", "name": "ICU bay 1"}
    assert (location["x"], location["y"], location["accuracy_m"]) == (2.0, 2.0, 1.5)
    assert location["last_seen_at"]
    assert body["distance_m"] is None


def test_fixed_equipment_is_where_it_is_installed_and_unlocated_tags_have_no_location(world, client_for):
    client = client_for(roles.NURSE)
    fridge = client.get(f"/api/assets/{world['assets']['F1'].pk}/").json()
    assert fridge["tag"] is None
    assert fridge["location"]["source"] == "installed"
    assert fridge["location"]["room"]["number"] == "1-02"
    assert (fridge["location"]["x"], fridge["location"]["y"]) == (7.5, 2.0)
    assert client.get(f"/api/assets/{world['assets']['P5'].pk}/").json()["location"] is None


@pytest.mark.parametrize(
    "query, expected",
    [
        ("type=infusion-pump", ["P1", "P2", "P3", "P4", "P5", "P6"]),
        ("type=monitor&type=vaccine-fridge", ["F1", "M1"]),
        ("category=cold_storage", ["F1"]),
        ("status=in_use", ["P6"]),
        ("status=available&category=monitoring", ["M1"]),
        ("q=infusion pump", ["P1", "P2", "P3", "P4", "P5", "P6"]),
        ("q=philips", ["M1"]),
        ("q=SN-P3", ["P3"]),
        ("q=00885403000019", ["P1"]),
        ("tagged=false", ["F1"]),
    ],
)
def test_asset_filters(world, client_for, query, expected):
    assert sorted(numbers(client_for(roles.NURSE).get(f"/api/assets/?{query}"))) == expected


def test_filters_by_department_floor_and_room_where_the_asset_is_now(world, client_for):
    client = client_for(roles.NURSE)
    assert numbers(client.get(f"/api/assets/?department={world['icu'].pk}")) == ["P1"]
    assert numbers(client.get(f"/api/assets/?floor={world['level2'].pk}")) == ["P3"]
    assert sorted(numbers(client.get(f"/api/assets/?floor={world['floor'].pk}"))) == ["F1", "M1", "P1", "P2", "P6"]
    assert numbers(client.get(f"/api/assets/?room={world['rooms']['1-02'].pk}")) == ["F1", "M1", "P2"]


def test_near_orders_by_building_floor_then_distance_with_unlocated_last(world, client_for):
    client = client_for(roles.NURSE)
    room = world["rooms"]["1-01"]
    response = client.get(f"/api/assets/?near={room.pk}")
    assert numbers(response) == ["P1", "P6", "M1", "F1", "P2", "P3", "P4", "P5"]
    distances = {row["asset_number"]: row["distance_m"] for row in response.json()["results"]}
    assert distances["P1"] == 0.5
    assert distances["F1"] == 5.0
    assert distances["P5"] is None


def test_find_the_nearest_available_pump(world, client_for):
    room = world["rooms"]["2-02"]  # on level 2: the pump in the level-2 store comes first
    response = client_for(roles.NURSE).get(f"/api/assets/?near={room.pk}&type=infusion-pump&status=available")
    assert numbers(response) == ["P3", "P2", "P1", "P4", "P5"]  # level 1: P2 is 1.5 m away, P1 5.5 m


def test_bad_filter_values_are_400_not_500(world, client_for):
    client = client_for(roles.NURSE)
    for query in ("near=999999", "near=abc", "status=broken", "type=nope", "department=x", "floor=x"):
        assert client.get(f"/api/assets/?{query}").status_code == 400, query


def test_asset_list_query_count_does_not_grow_with_the_number_of_assets(world, client_for):
    from hospital.assets.models import Asset
    from tests.api.conftest import _located

    client = client_for(roles.NURSE)
    url = f"/api/assets/?near={world['rooms']['1-01'].pk}&q=alaris"
    client.get(url)  # the user and their permissions are then kept by the process (hospital/authcache.py)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).json()["count"] == 6
    pump = world["types"]["pump"]
    for i in range(30):
        extra = Asset.objects.create(asset_number=f"X{i:02}", asset_type=pump, manufacturer="BD", model="Alaris",
                                     serial_number=f"X{i}", home_department=world["icu"])
        _located(extra, f"ibeacon:x{i}", world["floor"], world["rooms"]["1-02"], 6.0 + i / 10, 2.0)
    with CaptureQueriesContext(connection) as large:
        assert client.get(url).json()["count"] == 36
    # session, the room of ?near=, count, page
    assert len(large.captured_queries) == len(small.captured_queries) <= 4, large.captured_queries


def test_nurse_changes_status_but_cannot_edit(world, client_for):
    client = client_for(roles.NURSE)
    pump = world["assets"]["P1"]
    response = client.post(f"/api/assets/{pump.pk}/status/", {"status": "needs_cleaning"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "needs_cleaning"
    pump.refresh_from_db()
    assert pump.status == "needs_cleaning"
    assert pump.updated_by.username == "nurse"
    assert client.patch(f"/api/assets/{pump.pk}/", {"notes": "x"}, format="json").status_code == 403
    assert client.delete(f"/api/assets/{pump.pk}/").status_code == 403
    assert client.post(f"/api/assets/{pump.pk}/status/", {"status": "broken"}, format="json").status_code == 400


def test_engineer_edits_and_creates_assets(world, client_for):
    client = client_for(roles.ENGINEER)
    pump = world["assets"]["P2"]
    response = client.patch(f"/api/assets/{pump.pk}/", {"notes": "new battery", "home_department_id": world["icu"].pk},
                            format="json")
    assert response.status_code == 200, response.content
    assert response.json()["home_department"]["code"] == "icu"
    created = client.post("/api/assets/", {
        "asset_number": "P9", "asset_type_id": world["types"]["pump"].pk, "manufacturer": "BD", "model": "Alaris",
        "serial_number": "SN-P9",
    }, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["location"] is None
    duplicate = client.post("/api/assets/", {
        "asset_number": "P9", "asset_type_id": world["types"]["pump"].pk, "manufacturer": "BD", "model": "Alaris",
        "serial_number": "SN-P9b",
    }, format="json")
    assert duplicate.status_code == 400


def test_history_newest_first_with_since_and_cursor_paging(world, history, client_for):
    client = client_for(roles.NURSE)
    pk = world["assets"]["P1"].pk
    response = client.get(f"/api/assets/{pk}/history/")
    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert [row["room"]["number"] for row in rows] == ["1-01", "1-02", "2-01"]
    assert rows[0]["floor"]["level"] == 1 and rows[2]["floor"]["level"] == 2
    since = (history["now"] - timedelta(hours=2, minutes=30)).isoformat()
    recent = client.get(f"/api/assets/{pk}/history/", {"since": since}).json()["results"]
    assert [row["room"]["number"] for row in recent] == ["1-01", "1-02"]
    first = client.get(f"/api/assets/{pk}/history/?page_size=2").json()
    assert len(first["results"]) == 2 and first["next"]
    second = client.get(first["next"]).json()
    assert [row["room"]["number"] for row in second["results"]] == ["2-01"] and second["next"] is None
    assert client.get(f"/api/assets/{pk}/history/?since=yesterday").status_code == 400
    untagged = world["assets"]["F1"].pk
    assert client.get(f"/api/assets/{untagged}/history/").json()["results"] == []
    assert client.get("/api/assets/999999/history/").status_code == 404


def test_asset_types_and_tags(world, client_for):
    client = client_for(roles.NURSE)
    types = client.get("/api/asset-types/?category=infusion").json()["results"]
    assert [t["code"] for t in types] == ["infusion-pump"]
    tags = client.get("/api/tags/?q=p1").json()["results"]
    assert [(t["tag_id"], t["asset_number"]) for t in tags] == [("ibeacon:p1", "P1")]


def test_deleting_an_asset_other_records_protect_is_409(world, client_for, monkeypatch):
    from django.db.models import ProtectedError

    from hospital.assets.api.views import AssetViewSet

    blocker = world["types"]["pump"]  # stands in for a work order that protects the asset

    def protected(self, instance):
        raise ProtectedError("protected", {blocker})

    monkeypatch.setattr(AssetViewSet, "perform_destroy", protected)
    response = client_for(roles.ENGINEER).delete(f"/api/assets/{world['assets']['P1'].pk}/")
    assert response.status_code == 409
    assert "asset types" in response.json()["detail"]


def test_browsable_api_renders(world, client_for):
    for role in (roles.NURSE, roles.ENGINEER):
        client = client_for(role)
        for url in ("/api/", "/api/assets/", f"/api/assets/{world['assets']['P1'].pk}/", "/api/rooms/"):
            response = client.get(url, HTTP_ACCEPT="text/html")
            assert response.status_code == 200, (role, url)
            assert response["Content-Type"].startswith("text/html")
