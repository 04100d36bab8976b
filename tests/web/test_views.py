"""Web pages: login everywhere, role-shaped navigation and landing page, map data, asset page and the
audited status change."""

import json

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from hospital import roles
from hospital.assets.models import Asset
from locator import services
from locator.models import CurrentLocation


@pytest.fixture
def asset(world):
    return world["assets"]["P-NORTH"]


def page_urls(world, asset):
    floor = world["floors"][1]
    return [
        "/", reverse("locator:map"), reverse("locator:floor", args=[floor.pk]),
        reverse("locator:floor-data", args=[floor.pk]), reverse("locator:find") + "?q=pump&from=1S-01",
        reverse("locator:find-json") + "?q=pump&from=1S-01", reverse("assets:detail", args=[asset.pk]),
        reverse("floor-plan-svg", args=[floor.pk]),
    ]


def test_every_page_requires_login(client, world, asset):
    for url in page_urls(world, asset):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url
    response = client.post(reverse("assets:change-status", args=[asset.pk]), {"status": "in_use"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    asset.refresh_from_db()
    assert asset.status == "available"


def test_pages_render_for_a_nurse(client, world, asset, user_in_role):
    client.force_login(user_in_role(roles.NURSE))
    for url in page_urls(world, asset):
        if url.endswith("plan.svg"):
            continue  # the constructed floors have no drawing
        response = client.get(url, follow=True)
        assert response.status_code == 200, url


def test_a_user_without_a_role_is_told_what_to_do(client, db, user_in_role):
    client.force_login(user_in_role("", username="norole"))
    response = client.get("/")
    assert response.status_code == 200
    assert "Ask an administrator" in response.content.decode()
    assert client.get(reverse("locator:map")).status_code == 403
    forbidden = client.get(reverse("locator:find"))
    assert forbidden.status_code == 403 and "may not open this page" in forbidden.content.decode()


def nav(html: str) -> str:
    return html.split('<nav class="mainnav"', 1)[1].split("</nav>", 1)[0]


def tiles(html: str) -> str:
    return html.split('class="tiles"', 1)[1].split("</nav>", 1)[0] if 'class="tiles"' in html else ""


def test_navigation_and_landing_page_follow_the_role(client, world, user_in_role):
    seen = {}
    for role in roles.ROLES:
        client.force_login(user_in_role(role))
        html = client.get("/").content.decode()
        seen[role] = html
        assert "Live map" in nav(html) and "Find equipment" in nav(html)
        assert "Live map" in tiles(html) and "Find equipment" in tiles(html)
        client.logout()

    # Nurses: map and search only. No admin, no alarm console on their landing page.
    assert "Admin" not in seen[roles.NURSE].split("</header>")[0]
    assert "Alarm console" not in tiles(seen[roles.NURSE])
    assert "Administration" not in tiles(seen[roles.NURSE])
    # Facility managers: alarms, environment and reports.
    for title in ("Alarm console", "Environment", "Reports"):
        assert title in tiles(seen[roles.FACILITY_MANAGER]), title
    assert "Alarm console" not in tiles(seen[roles.ENGINEER])
    # Administrators: everything plus the Django admin.
    assert 'href="/admin/"' in seen[roles.ADMINISTRATOR].split("</header>")[0]
    for title in ("Alarm console", "Administration"):
        assert title in tiles(seen[roles.ADMINISTRATOR]), title
    # The maintenance board appears for engineers (and admins) as soon as its URL exists.
    from django.urls import Resolver404, resolve

    try:
        resolve("/maintenance/")
        maintenance = True
    except Resolver404:
        maintenance = False
    assert ("Maintenance board" in tiles(seen[roles.ENGINEER])) == maintenance
    assert "Maintenance board" not in tiles(seen[roles.NURSE])


def test_landing_page_counts_equipment_per_floor(client, world, user_in_role):
    client.force_login(user_in_role(roles.NURSE))
    html = client.get("/").content.decode()
    assert "Level 1 - Test" in html and "Level 2 - Test" in html
    assert "5 on the map" in html  # floor 1: five tracked units
    assert "4 available" in html  # floor 1: P-NORTH, P-BEHIND-WALL, P-STALE and the wheelchair W-1


def test_map_page_embeds_rooms_names_and_plan_placement(client, world, user_in_role):
    client.force_login(user_in_role(roles.NURSE))
    floor = world["floors"][1]
    response = client.get(reverse("locator:floor", args=[floor.pk]) + f"?asset={world['assets']['P-NORTH'].pk}")
    assert response.status_code == 200
    config = response.context["config"]
    numbers = {r["number"] for r in config["rooms"]}
    assert {"1S-01", "1N-01", "1-COR-02"} <= numbers
    assert config["floor"]["extent"] == [[0.0, 0.0], [14.0, 30.0]]
    assert config["focus"] == [world["assets"]["P-NORTH"].pk]
    assert config["ws_url"] == f"/ws/floors/{floor.pk}/"
    assert [s["code"] for s in config["statuses"]][:3] == ["available", "in_use", "needs_cleaning"]
    html = response.content.decode()
    assert 'id="map-config"' in html and "leaflet.js" in html and "Level 2" in html


def test_map_redirects_to_the_floor_of_the_asset(client, world, user_in_role):
    client.force_login(user_in_role(roles.NURSE))
    upstairs = world["assets"]["P-UPSTAIRS"]
    response = client.get(reverse("locator:map") + f"?asset={upstairs.pk}")
    assert response.status_code == 302
    assert response["Location"] == reverse("locator:floor", args=[world["floors"][2].pk]) + f"?asset={upstairs.pk}"
    # Asked on the wrong floor: the page says where it is.
    html = client.get(reverse("locator:floor", args=[world["floors"][1].pk]) + f"?asset={upstairs.pk}").content.decode()
    assert "is on" in html and "Level 2 - Test" in html


def test_plan_bounds_follow_origin_and_scale(tmp_path, settings, world):
    from locator.views import plan_bounds

    (tmp_path / "f.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 200"></svg>')
    settings.FLOORPLAN_DIR = tmp_path
    floor = world["floors"][1]
    floor.plan_svg, floor.origin_x, floor.origin_y, floor.metres_per_unit = "f.svg", 40.0, 180.0, 0.1
    # Drawing (0, 0) is 4 m west of and 18 m north of the origin; (400, 200) is 36 m east, 2 m south.
    (south, west), (north, east) = plan_bounds(floor)
    assert (south, west, north, east) == pytest.approx((-2.0, -4.0, 18.0, 36.0))
    floor.plan_svg = "../../etc/passwd"
    assert plan_bounds(floor) is None


def test_floor_data_is_the_snapshot(client, world, user_in_role):
    client.force_login(user_in_role(roles.NURSE))
    floor = world["floors"][1]
    data = client.get(reverse("locator:floor-data", args=[floor.pk])).json()
    assert data["type"] == "floor.snapshot" and data["floor"] == floor.pk
    numbers = {m["number"] for m in data["markers"]}
    assert numbers == {"P-ORIGIN-INUSE", "P-NORTH", "P-BEHIND-WALL", "P-STALE", "W-1"}
    marker = next(m for m in data["markers"] if m["number"] == "P-NORTH")
    assert marker["room"] == world["rooms"]["1N-01"].pk and marker["status"] == "available"
    assert not marker["fixed"] and marker["seen"] > 0


def test_asset_page_shows_location_status_and_trail(client, world, asset, user_in_role):
    from locator.models import LocationHistory

    tag = asset.tag
    LocationHistory.objects.create(tag=tag, t=tag.location.fixed_at, floor=world["floors"][1],
                                   room=world["rooms"]["1N-01"], x=5, y=12, accuracy_m=1.5, reason="room")
    client.force_login(user_in_role(roles.NURSE))
    response = client.get(reverse("assets:detail", args=[asset.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "P-NORTH" in html and "1N-01" in html and "Level 1 - Test" in html
    assert "Needs cleaning" in html and 'name="status"' in html  # nurses may flag it
    assert "Out of service" not in html.split('id="status-title"')[1].split("</form>")[0]  # ...but not this
    config = response.context["config"]
    assert config["mode"] == "asset" and config["focus"] == [asset.pk] and len(config["trail"]) == 1
    assert "?asset=" in config["ws_url"]


def test_status_change_is_audited_and_published(client, world, asset, user_in_role, django_capture_on_commit_callbacks,
                                                monkeypatch):
    nurse = user_in_role(roles.NURSE)
    client.force_login(nurse)
    sent = []
    monkeypatch.setattr(services, "_send", lambda group, event: sent.append((group, json.loads(event["text"]))))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("assets:change-status", args=[asset.pk]),
                               {"status": "needs_cleaning", "note": "after discharge"}, follow=True)
    assert response.status_code == 200
    assert "is now marked needs cleaning" in response.content.decode()
    asset.refresh_from_db()
    assert asset.status == "needs_cleaning" and asset.updated_by == nurse
    entry = LogEntry.objects.get(object_id=str(asset.pk))
    assert entry.user == nurse and "Available → Needs cleaning" in entry.get_change_message()
    assert "after discharge" in entry.get_change_message()
    group, message = sent[-1]
    assert group == f"floor.{world['floors'][1].pk}" and message["type"] == "floor.assets"
    assert message["markers"][0]["status"] == "needs_cleaning"
    assert "Available → Needs cleaning" in client.get(reverse("assets:detail", args=[asset.pk])).content.decode()


def test_status_change_permissions(client, world, asset, user_in_role):
    # A nurse may not take equipment out of service (engineers may).
    client.force_login(user_in_role(roles.NURSE))
    response = client.post(reverse("assets:change-status", args=[asset.pk]), {"status": "out_of_service"})
    assert response.status_code == 403
    asset.refresh_from_db()
    assert asset.status == "available"
    client.logout()

    # Someone who may only look (no change_asset_status) cannot change anything.
    from django.contrib.auth.models import Permission

    viewer = user_in_role("", username="viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_asset"))
    client.force_login(viewer)
    assert client.post(reverse("assets:change-status", args=[asset.pk]), {"status": "in_use"}).status_code == 403
    assert "cannot change it" in client.get(reverse("assets:detail", args=[asset.pk])).content.decode()
    client.logout()

    client.force_login(user_in_role(roles.ENGINEER))
    assert client.post(reverse("assets:change-status", args=[asset.pk]), {"status": "out_of_service"}).status_code == 302
    asset.refresh_from_db()
    assert asset.status == "out_of_service"
    # GET does nothing.
    assert client.get(reverse("assets:change-status", args=[asset.pk])).status_code == 405


def test_room_states_hook(world, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from sensors.models import Reading, Sensor

    floor = world["floors"][1]
    room, quiet = world["rooms"]["1N-01"], world["rooms"]["1N-02"]
    s1 = Sensor.objects.create(sensor_id="t-1", name="Room 1N-01", mac_address="AA:00:00:00:00:01",
                               ble_format="ruuvi_v5", room=room)
    Sensor.objects.create(sensor_id="t-2", name="Room 1N-02", mac_address="AA:00:00:00:00:02", ble_format="ruuvi_v5",
                          room=quiet)
    Reading.objects.create(sensor=s1, quantity="temperature_c", t=timezone.now() - timedelta(minutes=2), value=21.0)
    assert services.room_states(floor) == {room.pk: "normal", quiet.pk: "no_data"}

    # The environment app registers its own provider; a broken one falls back to readings.
    try:
        services.register_room_state_provider(lambda f: {room.pk: "alarm", quiet.pk: "bogus"})
        assert services.room_states(floor) == {room.pk: "alarm"}
        services.register_room_state_provider(lambda f: 1 / 0)
        assert services.room_states(floor) == {room.pk: "normal", quiet.pk: "no_data"}
    finally:
        services.register_room_state_provider(None)


def test_publish_floor_updates_coalesces_per_floor_and_reports_floor_changes(world, monkeypatch):
    sent = []
    monkeypatch.setattr(services, "_send", lambda group, event: sent.append((group, json.loads(event["text"]))))
    services.floor_memory.clear()
    f1, f2 = world["floors"][1], world["floors"][2]
    locations = list(CurrentLocation.objects.all())
    services.publish_floor_updates(locations)
    assert sorted(g for g, _ in sent) == [f"floor.{f1.pk}", f"floor.{f2.pk}"]  # one message per floor
    first = dict(sent)
    assert len(first[f"floor.{f1.pk}"]["markers"]) == 5 and first[f"floor.{f1.pk}"]["type"] == "floor.markers"

    # A tag taken upstairs: floor 2 gets its marker, floor 1 hears it is gone.
    sent.clear()
    moving = next(loc for loc in locations if loc.tag.asset.asset_number == "P-NORTH")
    moving.floor, moving.room, moving.x, moving.y = f2, world["rooms"]["2N-01"], 6.0, 11.0
    services.publish_floor_updates([moving])
    messages = dict(sent)
    assert messages[f"floor.{f1.pk}"]["gone"] == [moving.tag_id] and messages[f"floor.{f1.pk}"]["markers"] == []
    assert messages[f"floor.{f2.pk}"]["markers"][0]["tag"] == moving.tag_id
    services.floor_memory.clear()


def test_fixed_equipment_sits_in_its_room(world):
    from hospital.assets.models import AssetType

    fridge_type = AssetType.objects.create(code="fridge", name="Vaccine refrigerator", category="cold_storage",
                                           risk_class="medium", is_mobile=False)
    store = world["rooms"]["1S-02"]
    fridge = Asset.objects.create(asset_number="F-1", asset_type=fridge_type, manufacturer="Cool", model="V1",
                                  serial_number="F1", installed_room=store)
    markers = {m["number"]: m for m in services.floor_markers(world["floors"][1].pk)}
    assert markers["F-1"]["fixed"] and markers["F-1"]["room"] == store.pk
    assert (markers["F-1"]["x"], markers["F-1"]["y"]) == (15.0, 2.5)
    assert fridge.pk == markers["F-1"]["asset"]


def test_utilisation_from_location_history(world, asset):
    from datetime import timedelta

    from django.utils import timezone

    from hospital.assets.views import utilisation
    from locator.models import LocationHistory

    now = timezone.now()
    rooms, floor = world["rooms"], world["floors"][1]
    for hours_ago, room in ((3, "1N-01"), (1, "1S-02")):  # 2 h in a patient room, then 1 h in the store
        LocationHistory.objects.create(tag=asset.tag, t=now - timedelta(hours=hours_ago), floor=floor,
                                       room=rooms[room], x=1, y=1, accuracy_m=1, reason="room")
    parts = {p["key"]: p["pct"] for p in utilisation(asset, None)["parts"]}
    assert parts == {"care": 67, "store": 33, "cleaning": 0, "other": 0}
    LocationHistory.objects.all().delete()
    LocationHistory.objects.create(tag=asset.tag, t=now - timedelta(minutes=20), floor=floor, room=rooms["1N-01"],
                                   x=1, y=1, accuracy_m=1, reason="room")
    assert utilisation(asset, None) == {"too_short": True, "minutes": 20}
