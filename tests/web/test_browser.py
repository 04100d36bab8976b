"""End to end in headless Chromium against a live server (daphne in this process): the demo hospital,
every page, every role.

* each role logs in through the form and gets its own landing page;
* a move published through ``locator.services.publish_floor_updates`` (what ingest calls) moves the
  marker on an open map within 2 seconds;
* filters, the keyboard-usable equipment list, hover and click on the canvas markers, the popup and the
  accuracy circle;
* the search finds the nearest available infusion pump from 3W-12 and shows it on the map;
* a status change on the asset page reaches an open map; a dropped connection reconnects and resyncs;
* tablet layout; 2,000 markers on one floor stay smooth (timings printed).

Screenshots of every page go to tests/artifacts/ (git-ignored); the map and the landing page are also
copied to docs/img/ for the README.
"""

from __future__ import annotations

import shutil
import threading
import time

import pytest
from django.core.management import call_command

from tests.web.conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS_IMG = ROOT / "docs" / "img"
ROLES = {"nurse": "nurse", "engineer": "biomedical engineer", "facility": "facility manager", "admin": "administrator"}


def off_thread(fn, *args, **kwargs):
    """Run ORM work in a fresh thread: while Playwright's sync API is active, this thread counts as
    running an event loop and Django refuses synchronous database access in it."""
    box = {}

    def run():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            box["error"] = exc
        finally:
            from django.db import connection

            connection.close()

    t = threading.Thread(target=run)
    t.start()
    t.join(120)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def place_demo_equipment():
    """The demo hospital without the simulator: every tagged unit at its fixture room, spread on a grid."""
    import json

    from django.conf import settings
    from django.utils import timezone
    from shapely.geometry import Point, Polygon

    from hospital.assets.models import Asset
    from hospital.facility.models import Room
    from locator.models import CurrentLocation, Tag

    items = json.loads((settings.FIXTURE_DIR / "demo" / "assets.json").read_text(encoding="utf-8"))["items"]
    initial = {i["asset_number"]: i.get("initial_room") for i in items}
    rooms = {r.number: r for r in Room.objects.select_related("floor")}
    used: dict[str, int] = {}
    now = timezone.now()
    rows = []
    for tag in Tag.objects.filter(asset__isnull=False).select_related("asset"):
        room = rooms.get(initial.get(tag.asset.asset_number) or "")
        if room is None:
            continue
        k = used[room.number] = used.get(room.number, -1) + 1
        shape = Polygon(room.polygon)
        minx, miny, maxx, maxy = shape.bounds
        cols = max(1, int((maxx - minx - 1) // 1.2))
        x, y = minx + 0.8 + (k % cols) * 1.2, maxy - 0.8 - (k // cols) * 1.2
        if not shape.contains(Point(x, y)):
            x, y = room.centroid_x, room.centroid_y
        rows.append(CurrentLocation(tag=tag, floor=room.floor, room=room, x=round(x, 2), y=round(y, 2), accuracy_m=2.0,
                                    method="multilateration", fixed_at=now, last_seen_at=now, room_since=now))
    CurrentLocation.objects.bulk_create(rows)
    return Asset.objects.count()


@pytest.fixture(scope="module")
def demo(test_database, django_db_blocker, live_server_url):
    """The demo hospital in the test database, committed (the server threads read it), flushed after."""
    with django_db_blocker.unblock():
        off_thread(call_command, "load_demo", verbosity=0)
        off_thread(place_demo_equipment)
        yield live_server_url
        off_thread(call_command, "flush", interactive=False, verbosity=0)


@pytest.fixture(scope="module")
def sessions(demo, browser):
    """One logged-in browser context per demo role (logged in through the real form)."""
    contexts = {}
    for user in ROLES:
        context = browser.new_context(viewport={"width": 1366, "height": 860}, base_url=demo)
        context.set_default_timeout(10000)
        page = context.new_page()
        page.goto("/")
        assert "/accounts/login/" in page.url
        page.fill("#id_username", user)
        page.fill("#id_password", f"demo-{user}")
        page.click("form button[type=submit]")
        page.wait_for_url(f"{demo}/")
        page.close()
        contexts[user] = context
    yield contexts
    for context in contexts.values():
        context.close()


@pytest.fixture
def nurse(sessions):
    page = sessions["nurse"].new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    page.close()
    assert not errors, errors


def shot(page, artifacts, name, full_page=True, docs=None):
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    if docs:
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMG / docs)
    return path


def wait_map(page):
    try:
        page.wait_for_function("window.hospitalMap && window.hospitalMap.state.ready", timeout=20000)
    except Exception:
        status = page.evaluate("(() => { const s = document.getElementById('live-status'); return [s && s.innerText, "
                               "window.hospitalMap && JSON.stringify(window.hospitalMap.state)]; })()")
        raise AssertionError(f"the map did not get its snapshot: live status {status[0]!r}, state {status[1]}") from None


def floor_of(level: int) -> int:
    from hospital.facility.models import Floor

    return off_thread(lambda: Floor.objects.get(level=level, building__code="main").pk)


# --------------------------------------------------------------------------- tests


def test_each_role_logs_in_to_its_own_landing_page(sessions, artifacts):
    from django.urls import Resolver404, resolve

    try:
        resolve("/maintenance/")
        has_maintenance = True
    except Resolver404:
        has_maintenance = False
    for user, context in sessions.items():
        page = context.new_page()
        page.goto("/")
        tiles = page.locator("nav.tiles").inner_text()
        assert "Live map" in tiles and "Find equipment" in tiles
        assert ("Alarm console" in tiles) == (user in ("facility", "admin")), user
        assert ("Administration" in tiles) == (user == "admin"), user
        assert ("Maintenance board" in tiles) == (has_maintenance and user in ("engineer", "admin")), user
        assert page.locator(".floorcard").count() == 3
        shot(page, artifacts, f"home-{user}", docs="home.png" if user == "facility" else None)
        page.close()


def test_login_page_and_logout(browser, demo, artifacts):
    context = browser.new_context(base_url=demo)
    context.set_default_timeout(10000)
    page = context.new_page()
    page.goto("/map/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", "nurse")
    page.fill("#id_password", "wrong password")
    page.click("form button[type=submit]")
    assert "did not match" in page.locator("[role=alert]").inner_text()
    shot(page, artifacts, "login")
    page.fill("#id_username", "nurse")
    page.fill("#id_password", "demo-nurse")
    page.keyboard.press("Enter")
    page.wait_for_url("**/map/*/")  # back to where they were going
    page.click("text=Log out")
    page.wait_for_url("**/accounts/login/")
    context.close()


def test_a_simulated_move_appears_on_the_map_within_two_seconds(nurse, artifacts):
    from locator import services
    from locator.models import CurrentLocation

    level3 = floor_of(3)
    nurse.goto(f"/map/{level3}/")
    wait_map(nurse)
    assert nurse.locator("#live-status").inner_text().strip() == "Live"
    loc = off_thread(lambda: CurrentLocation.objects.select_related("tag__asset").filter(
        floor_id=level3, tag__asset__asset_number__startswith="SEH-INF").first())
    asset_id = loc.tag.asset_id
    before = nurse.evaluate(f"window.hospitalMap.position({asset_id})")
    assert before["x"] == pytest.approx(loc.x)

    def move():
        from django.utils import timezone

        loc.x, loc.y = round(loc.x + 4.0, 2), round(loc.y - 1.0, 2)
        loc.fixed_at = loc.last_seen_at = timezone.now()
        loc.save()
        services.publish_floor_updates([loc])

    started = time.monotonic()
    off_thread(move)
    nurse.wait_for_function(f"Math.abs(window.hospitalMap.position({asset_id}).x - {loc.x}) < 0.01", timeout=2000)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0
    print(f"\nmove visible on the map after {elapsed * 1000:.0f} ms")
    shot(nurse, artifacts, "map-level3", full_page=False, docs="map.png")


def test_filters_list_keyboard_hover_click_and_popup(nurse, artifacts):
    level3 = floor_of(3)
    nurse.goto(f"/map/{level3}/")
    wait_map(nurse)
    total = nurse.evaluate("window.hospitalMap.markers.size")
    assert total > 100

    # Status filter: hide units in use.
    nurse.uncheck("input[data-status-filter][value=in_use]")
    nurse.wait_for_function("[...window.hospitalMap.markers.values()].filter(r => r.status === 'in_use')"
                            ".every(r => r.hidden)")
    assert "In use" not in nurse.locator("#equipment-list").inner_text()
    # Type filter.
    nurse.select_option("#f-type", label="Wheelchair")
    nurse.wait_for_function("[...window.hospitalMap.markers.values()].filter(r => !r.hidden).length > 0 && "
                            "[...window.hospitalMap.markers.values()].filter(r => !r.hidden)"
                            ".every(r => r.number.startsWith('SEH-WCH'))")
    shot(nurse, artifacts, "map-filtered", full_page=False)
    nurse.click("#f-reset")
    nurse.wait_for_function(f"[...window.hospitalMap.markers.values()].filter(r => !r.hidden).length === {total}")

    # Keyboard: the list is a list of buttons; Enter selects, opens the popup and the accuracy circle.
    first = nurse.locator("#equipment-list button").first
    number = first.locator(".eq-num").inner_text()
    first.focus()
    nurse.keyboard.press("Enter")
    popup = nurse.locator(".mappopup")
    popup.wait_for()
    assert number in popup.inner_text() and "Open asset page" in popup.inner_text()
    assert nurse.locator(".leaflet-selection-pane path").count() >= 1  # the accuracy circle
    nurse.keyboard.press("Escape")
    popup.wait_for(state="detached")

    # Mouse: hover a marker drawn on the canvas for its tooltip, click it for the popup.
    asset_id = nurse.evaluate("[...window.hospitalMap.markers.values()].find(r => !r.fixed && r.status === "
                              "'available').asset")
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    tip = nurse.locator(".maptip")
    # Centre the marker and point at it, again if no tooltip comes: the pan of the keyboard selection
    # above may still be animating, and the canvas hit-tests positions from its last redraw.
    for attempt in range(5):
        point = nurse.evaluate(f"""(async () => {{ const m = window.hospitalMap.map;
            const r = window.hospitalMap.markers.get({asset_id}); m.stop(); m.setView([r.y, r.x], 5, {{animate: false}});
            await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
            const p = m.latLngToContainerPoint([r.y, r.x]);
            const box = document.getElementById('map').getBoundingClientRect();
            return {{x: box.left + p.x, y: box.top + p.y, number: r.number}}; }})()""")
        nurse.mouse.move(point["x"] + attempt % 2, point["y"])  # a move the canvas sees as new
        try:
            tip.wait_for(timeout=2000)
            break
        except PlaywrightTimeoutError:
            continue
    tip.wait_for()
    assert point["number"] in tip.inner_text()
    nurse.mouse.click(point["x"], point["y"])
    popup.wait_for()
    assert point["number"] in popup.inner_text() and "Last seen" in popup.inner_text()
    shot(nurse, artifacts, "map-popup", full_page=False)


def test_search_finds_the_nearest_available_pump_and_shows_it(nurse, artifacts):
    from locator import search

    nurse.goto("/find/")
    nurse.fill("#q", "infusion pump")
    nurse.fill("#from", "3W-12")
    nurse.keyboard.press("Enter")
    nurse.wait_for_selector(".resultlist")
    expected = off_thread(lambda: [h.asset.asset_number for h in search.search("infusion pump",
                                                                               search.find_room("3W-12")).hits])
    first = nurse.locator(".result").first
    assert first.locator(".what a").inner_text() == expected[0]
    assert "Available" in first.inner_text() and "walk" in first.inner_text()
    shown = [t for t in nurse.locator(".result .what a").all_inner_texts()]
    assert shown == expected
    assert "Sorted by walking distance" in nurse.content()
    shot(nurse, artifacts, "find-infusion-pump")
    first.locator("text=Show on map").click()
    wait_map(nurse)
    popup = nurse.locator(".mappopup")
    popup.wait_for()
    assert expected[0] in popup.inner_text()
    shot(nurse, artifacts, "map-search-result", full_page=False)


def test_status_change_on_the_asset_page_reaches_an_open_map(sessions, nurse, artifacts):
    from locator.models import CurrentLocation

    level3 = floor_of(3)
    loc = off_thread(lambda: CurrentLocation.objects.select_related("tag__asset").filter(
        floor_id=level3, tag__asset__status="available").first())
    asset_id = loc.tag.asset_id
    nurse.goto(f"/map/{level3}/")
    wait_map(nurse)
    assert nurse.evaluate(f"window.hospitalMap.position({asset_id}).status") == "available"

    page = sessions["nurse"].new_page()
    page.goto(f"/assets/{asset_id}/")
    page.wait_for_function("window.hospitalMap && window.hospitalMap.state.ready")
    shot(page, artifacts, "asset-page")
    page.fill("#status-note", "after discharge")
    page.click("button[name=status][value=needs_cleaning]")
    page.wait_for_selector(".message.success")
    assert "now marked needs cleaning" in page.locator(".message.success").inner_text()
    assert "Needs cleaning" in page.locator("#current-status").inner_text()
    assert "Available → Needs cleaning (after discharge)" in page.locator(".history").inner_text()
    nurse.wait_for_function(f"window.hospitalMap.position({asset_id}).status === 'needs_cleaning'", timeout=2000)
    shot(page, artifacts, "asset-page-after-status-change")
    page.close()


def test_the_map_reconnects_and_resynchronises_by_itself(nurse):
    from locator.models import CurrentLocation

    level2 = floor_of(2)
    nurse.goto(f"/map/{level2}/")
    wait_map(nurse)
    loc = off_thread(lambda: CurrentLocation.objects.filter(floor_id=level2, tag__asset__isnull=False)
                     .select_related("tag").first())
    nurse.evaluate("window.hospitalMap.drop()")
    nurse.wait_for_function("!window.hospitalMap.state.connected")
    assert "reconnecting" in nurse.locator("#live-status").inner_text()

    def move_while_away():  # written to the database but never published: only a resync can show it
        CurrentLocation.objects.filter(pk=loc.pk).update(x=loc.x + 2.5)

    off_thread(move_while_away)
    nurse.wait_for_function("window.hospitalMap.state.snapshots >= 2 && window.hospitalMap.state.connected",
                            timeout=6000)
    assert nurse.evaluate(f"window.hospitalMap.position({loc.tag.asset_id}).x") == pytest.approx(loc.x + 2.5)
    assert nurse.locator("#live-status").inner_text().strip() == "Live"


def test_tablet_layout(sessions, artifacts):
    context = sessions["facility"]
    page = context.new_page()
    page.set_viewport_size({"width": 820, "height": 1180})
    level1 = floor_of(1)
    page.goto(f"/map/{level1}/")
    wait_map(page)
    assert not page.locator("#mappanel").is_visible()  # the map gets the screen; the list is one tap away
    shot(page, artifacts, "tablet-map", full_page=False)
    page.click("#panel-toggle")
    assert page.locator("#mappanel").is_visible()
    shot(page, artifacts, "tablet-map-panel", full_page=False)
    page.goto("/find/?q=wheelchair&from=1C-01&available=1")
    shot(page, artifacts, "tablet-find")
    page.goto("/")
    shot(page, artifacts, "tablet-home")
    page.close()


def test_two_thousand_markers_on_one_floor_stay_smooth(nurse, artifacts):
    """A copy of level 1 with 2,000 tracked units: snapshot, a delta moving every unit, a full redraw."""
    from locator import services

    def build():
        from django.utils import timezone

        from hospital.assets.models import Asset, AssetType
        from hospital.facility.models import Floor, Room
        from locator.models import CurrentLocation, Tag

        level1 = Floor.objects.get(level=1, building__code="main")
        stress = Floor.objects.create(building=level1.building, level=9, name="Level 9 - Load test",
                                      elevation_m=40, plan_svg=level1.plan_svg, metres_per_unit=level1.metres_per_unit,
                                      origin_x=level1.origin_x, origin_y=level1.origin_y, width_m=level1.width_m,
                                      depth_m=level1.depth_m)
        rooms = [Room(floor=stress, number=r.number, name=r.name, room_type=r.room_type, polygon=r.polygon)
                 for r in Room.objects.filter(floor=level1)]
        for r in rooms:
            r.compute_geometry()
        rooms = Room.objects.bulk_create(rooms)
        types = list(AssetType.objects.filter(is_mobile=True))
        statuses = ["available", "in_use", "needs_cleaning", "in_maintenance", "out_of_service", "missing"]
        assets = Asset.objects.bulk_create([
            Asset(asset_number=f"LOAD-{i:04d}", asset_type=types[i % len(types)], manufacturer="Load",
                  model="Test", serial_number=f"L{i}", status=statuses[i % 6]) for i in range(2000)])
        tags = Tag.objects.bulk_create([Tag(tag_id=f"mac:LOAD{i:06d}", kind="mac", asset=a)
                                        for i, a in enumerate(assets)])
        now = timezone.now()
        locs = []
        for i, tag in enumerate(tags):
            room = rooms[i % len(rooms)]
            locs.append(CurrentLocation(tag=tag, floor=stress, room=room, x=room.centroid_x + (i % 5 - 2) * 0.6,
                                        y=room.centroid_y + (i // 5 % 5 - 2) * 0.5, accuracy_m=2.0,
                                        method="multilateration", fixed_at=now, last_seen_at=now))
        CurrentLocation.objects.bulk_create(locs)
        return stress.pk

    stress = off_thread(build)
    started = time.monotonic()
    nurse.goto(f"/map/{stress}/")
    wait_map(nurse)
    loaded = time.monotonic() - started
    assert nurse.evaluate("window.hospitalMap.markers.size") == 2000
    snapshot_ms = nurse.evaluate("window.hospitalMap.state.lastSnapshotMs")

    def move_all():
        from django.utils import timezone

        from locator.models import CurrentLocation

        now = timezone.now()
        locs = list(CurrentLocation.objects.filter(floor_id=stress))
        for loc in locs:
            loc.x += 0.7
            loc.fixed_at = now
        services.publish_floor_updates(locs)  # one coalesced message with 2,000 markers

    off_thread(move_all)
    nurse.wait_for_function("window.hospitalMap.state.lastFlushCount === 2000", timeout=5000)
    flush_ms = nurse.evaluate("window.hospitalMap.state.lastFlushMs")
    redraws = [nurse.evaluate("window.hospitalMap.redrawMs()") for _ in range(5)]
    shot(nurse, artifacts, "map-2000-markers", full_page=False)
    print(f"\n2,000 markers: page ready in {loaded * 1000:.0f} ms, snapshot applied in {snapshot_ms:.0f} ms, "
          f"a delta moving all 2,000 applied and drawn in {flush_ms:.0f} ms, full redraw "
          f"{sorted(redraws)[2]:.1f} ms (median of 5)")
    # A frame budget is 16 ms on a 60 Hz screen; software rendering in CI is slower than a ward PC's GPU.
    assert flush_ms < 250 and sorted(redraws)[2] < 100


def test_an_alarm_appears_on_the_console_and_can_be_acknowledged(sessions, artifacts):
    """A fridge too warm for longer than its on-delay shows on the facility manager's console, live;
    acknowledging it there is applied by the alarm service and comes back to the page."""
    from tests.sensors.test_environment_support import Clock, every, feed_series

    def warm_fridge():
        from sensors.environment.alarm_service import AlarmService
        from sensors.models import Sensor

        sensor = Sensor.objects.get(sensor_id="env-seh-vrf-0002")
        now = time.time()
        service = AlarmService(clock=Clock(now - 2800))
        feed_series(service, sensor, "temperature_c", [(t, 13.5) for t in every(now - 2700, now, 60)])
        return service, sensor.name

    page = sessions["facility"].new_page()
    page.goto("/environment/alarms/")
    service, name = off_thread(warm_fridge)
    row = page.locator("table.alarms tr", has_text="SEH-VRF-0002").first
    row.wait_for(timeout=15000)  # pushed over the websocket (or found by the periodic refresh)
    assert "NOT ACKNOWLEDGED" in row.inner_text()
    shot(page, artifacts, "alarm-console")
    row.get_by_role("button", name="Acknowledge").click()

    def apply_actions():
        service.clock.t = time.time()
        service.tick(service.clock.t)

    page.wait_for_timeout(500)
    off_thread(apply_actions)
    page.wait_for_function(
        "[...document.querySelectorAll('table.alarms tr')].some(r => r.innerText.includes('SEH-VRF-0002')"
        " && r.innerText.includes('acknowledged') && !r.innerText.includes('NOT ACKNOWLEDGED'))", timeout=15000)
    shot(page, artifacts, "alarm-console-acknowledged")
    page.close()


def test_the_engineer_plans_a_round_on_the_maintenance_board(sessions, artifacts):
    """The board lists due work with each device's place and a link to it on the live map."""
    page = sessions["engineer"].new_page()
    page.goto("/maintenance/")
    page.get_by_role("heading").first.wait_for()
    map_links = page.locator("a[href*='/map/']")
    assert map_links.count() > 0, "no device on the board links to the map"
    shot(page, artifacts, "maintenance-board")
    href = map_links.first.get_attribute("href")
    page.goto(href)
    wait_map(page)
    for path, name in (("/maintenance/calendar/", "maintenance-calendar"), ("/maintenance/reports/", "maintenance-reports")):
        response = page.goto(path)
        assert response.status == 200
        shot(page, artifacts, name)
    page.close()
