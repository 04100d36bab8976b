"""Facility lists and filters; gateways, sensors, readings and ingest's tables."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from hospital import roles

pytestmark = pytest.mark.django_db


def rows(response):
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_rooms_filter_by_floor_type_department_and_search(world, client_for):
    client = client_for(roles.NURSE)
    numbers = lambda query: [r["number"] for r in rows(client.get(f"/api/rooms/?{query}"))]  # noqa: E731
    assert numbers(f"floor={world['level2'].pk}") == ["2-01", "2-02"]
    assert numbers("type=equipment_storage") == ["1-02", "2-01"]
    assert numbers(f"department={world['icu'].pk}") == ["1-01"]
    assert numbers("q=ward") == ["2-01"]
    assert numbers("q=A-0") == ["A-01"]
    assert numbers(f"building={world['annex1'].building_id}") == ["A-01"]
    room = rows(client.get("/api/rooms/?q=1-01"))[0]
    assert room["floor"] == {"id": world["floor"].pk, "level": 1, "name": "Level 1"}
    assert room["department"]["code"] == "icu" and room["room_type_display"] == "Patient room"
    assert room["centroid_x"] == 2.5 and len(room["polygon"]) == 4
    assert client.get("/api/rooms/?type=spaceship").status_code == 400


def test_facility_lists(world, client_for):
    client = client_for(roles.NURSE)
    assert [s["code"] for s in rows(client.get("/api/sites/"))] == ["tst"]
    assert sorted(b["code"] for b in rows(client.get("/api/buildings/"))) == ["annex", "main"]
    floors = rows(client.get(f"/api/floors/?building={world['floor'].building_id}"))
    assert [(f["level"], f["building_code"]) for f in floors] == [(1, "main"), (2, "main")]
    assert [d["code"] for d in rows(client.get("/api/departments/?q=care"))] == ["icu"]
    assert rows(client.get("/api/zones/")) == []


def test_room_list_query_count_is_constant(world, client_for):
    client = client_for(roles.NURSE)
    with CaptureQueriesContext(connection) as queries:
        assert len(rows(client.get("/api/rooms/"))) == 6
    assert len(queries.captured_queries) <= 6, queries.captured_queries


@pytest.fixture
def readings(tracked_world):
    from sensors.models import Reading

    sensor = tracked_world["sensor"]
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=250)
    Reading.objects.bulk_create(
        [Reading(sensor=sensor, quantity="temperature_c", t=start + timedelta(minutes=i), value=4 + i / 100)
         for i in range(250)]
        + [Reading(sensor=sensor, quantity="humidity_pct", t=start + timedelta(minutes=i), value=50) for i in range(10)]
    )
    return {"sensor": sensor, "start": start}


def test_readings_cursor_pages_newest_first_with_filters(readings, client_for):
    client = client_for(roles.ADMINISTRATOR)
    sensor, start = readings["sensor"], readings["start"]
    url = f"/api/readings/?sensor={sensor.pk}&quantity=temperature_c&page_size=100"
    seen, pages = [], 0
    with CaptureQueriesContext(connection) as queries:
        while url:
            body = client.get(url).json()
            seen += body["results"]
            url, pages = body["next"], pages + 1
    assert pages == 3 and len(seen) == 250 and len({r["id"] for r in seen}) == 250
    times = [r["t"] for r in seen]
    assert times == sorted(times, reverse=True)
    assert "count" not in body  # no COUNT(*) over a big table
    assert len(queries.captured_queries) <= 3 * 6
    window = rows(client.get("/api/readings/", {
        "sensor_id": sensor.sensor_id, "quantity": "humidity_pct",
        "since": (start + timedelta(minutes=5)).isoformat(), "until": (start + timedelta(minutes=8)).isoformat(),
    }))
    assert [r["value"] for r in window] == [50, 50, 50]
    assert client.get("/api/readings/?quantity=furlongs").status_code == 400
    assert client.get("/api/readings/?since=tomorrow").status_code == 400
    assert client.get("/api/readings/?cursor=garbage").status_code == 404


@pytest.mark.parametrize("cursor, status", [
    ("p=garbage", 404), ("o=1&p=2026-13-45", 404), ("r=1&p=2026-01-01 00:00:00-23:00", 200), ("o=99999999999", 200),
])
def test_an_edited_cursor_is_rejected_not_a_server_error(readings, client_for, cursor, status):
    import base64

    token = base64.b64encode(cursor.encode()).decode()
    assert client_for(roles.ADMINISTRATOR).get("/api/readings/", {"cursor": token}).status_code == status


@pytest.mark.parametrize("since, status", [
    ("2026-01-01T00:00:00+19:00", 200),  # Python accepts offsets PostgreSQL refuses: converted to UTC first
    ("0001-01-01T00:00:00+05:00", 400),  # before year 1 in UTC
    ("9999-12-31T23:00:00-05:00", 400),  # after year 9999 in UTC
])
def test_time_filters_convert_to_utc_and_reject_what_does_not_fit(readings, client_for, since, status):
    assert client_for(roles.ADMINISTRATOR).get("/api/readings/", {"since": since}).status_code == status


def test_gateways_show_loss_counters_and_no_secrets(tracked_world, client_for):
    from sensors.models import Gateway

    Gateway.objects.filter(pk=tracked_world["gateway"].pk).update(
        batches_received=100, batches_lost=3, batches_duplicated=2, batches_recovered=5,
        mqtt_password_hash="PBKDF2$secret", status="online",
    )
    gateway = rows(client_for(roles.FACILITY_MANAGER).get("/api/gateways/?status=online"))[0]
    assert (gateway["gateway_id"], gateway["batches_received"], gateway["batches_lost"],
            gateway["batches_duplicated"], gateway["batches_recovered"]) == ("gw-a", 100, 3, 2, 5)
    assert "mqtt_password_hash" not in gateway and "secret" not in str(gateway)


def test_sensors_hide_the_bindkey(tracked_world, client_for):
    from sensors.models import Sensor

    Sensor.objects.filter(pk=tracked_world["sensor"].pk).update(bindkey="231d39c1d7cc1ab1aee224cd096db932")
    sensor = rows(client_for(roles.ENGINEER).get("/api/sensors/?q=fridge"))[0]
    assert sensor["encrypted"] is True and sensor["room"]["number"] == "1-01"
    assert "bindkey" not in sensor and "231d39" not in str(sensor)


def test_ingest_tables(db, client_for):
    from sensors.models import DeadLetter, DiscoveredDevice, IngestCounter

    now = timezone.now()
    DeadLetter.objects.create(topic="hospital/tst/gw/x/adv", gateway_id="x", reason="unknown gateway",
                              payload=b'{"v": 1}', payload_size=8)
    DiscoveredDevice.objects.create(tag_id="mac:AA:BB:CC:DD:EE:FF", address="AA:BB:CC:DD:EE:FF", first_seen_at=now,
                                    last_seen_at=now, last_gateway="gw-a", last_rssi=-70, times_heard=5)
    IngestCounter.objects.create(name="adv.rejected.too_short", value=7)
    IngestCounter.objects.create(name="batches.accepted", value=70)
    client = client_for(roles.ADMINISTRATOR)
    letter = rows(client.get("/api/dead-letters/?gateway_id=x"))[0]
    assert letter["reason"] == "unknown gateway" and letter["payload_preview"] == '{"v": 1}'
    assert rows(client.get("/api/discovered-devices/?q=AA:BB"))[0]["times_heard"] == 5
    assert [c["value"] for c in rows(client.get("/api/ingest-counters/?prefix=adv."))] == [7]
