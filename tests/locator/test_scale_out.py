"""Scale-out: two `manage.py ingest` processes on one shared subscription give the positions and alarms
of one process, on the same recorded input (real Mosquitto, PostgreSQL and Redis).

The recording: 4 rooms in a row with 2 gateways each, 6 tags (3 stay, 3 walk into the next room and stop),
and an isolation-room pressure sensor whose pressure goes bad for 5 s (its rule's delays shortened to
2 s), replayed in real time as 8 gateways × 4 batches a second for 18 s (576 numbered batches).
Compared: each tag's final floor, room and position (within ``POSITION_TOLERANCE_M``), and the alarm
transitions (sensor, rule, states, priority; times within ``ALARM_TIME_TOLERANCE_S``).
"""

from __future__ import annotations

import math
import os
import signal
import time
import uuid

import numpy as np
import pytest
from django.conf import settings

from tests.support.mosquitto import PrivateMosquitto, mosquitto_binary
from tests.support.processes import manage


def missing_services() -> list[str]:
    import shutil

    problems = []
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        problems.append("DATABASE_URL is not PostgreSQL")
    if not settings.REDIS_URL:
        problems.append("REDIS_URL is not set")
    if not (shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto")):
        problems.append("mosquitto is not installed")
    return problems


MISSING = missing_services()
pytestmark = [pytest.mark.django_db(transaction=True)]
if MISSING and os.environ.get("REQUIRE_SERVICES") != "1":  # skip before creating a test database
    pytestmark.append(pytest.mark.skip(reason="needs PostgreSQL, Redis and Mosquitto: " + "; ".join(MISSING)))

SITE = "so"
ROOMS = [(f"R{i + 1}", 6.0 * i) for i in range(4)]  # 6 m x 5 m each, in a row
GATEWAYS = {f"so-gw-{i}": (3.0 + 6.0 * (i // 2), 1.0 if i % 2 == 0 else 4.0) for i in range(8)}
# tag -> (start xy, end xy, walk from, walk until) in seconds of the recording
TAGS = {  # walking at 1.2-1.5 m/s into the next room, then standing (the room decision needs a dwell)
    1: ((2.0, 2.5), (2.0, 2.5), 0, 0),
    2: ((15.0, 2.0), (15.0, 2.0), 0, 0),
    3: ((3.0, 2.5), (9.0, 2.5), 0.5, 4.5),
    4: ((21.0, 3.0), (15.0, 3.0), 0.5, 4.5),
    5: ((9.0, 2.0), (9.0, 2.0), 0, 0),
    6: ((10.0, 2.5), (15.0, 2.5), 0.5, 4.5),
}
SECONDS, BATCHES_PER_S = 18.0, 4  # tags stand >= 13 s after walking: room lead + dwell fit
SENSOR_MAC = "A4:C1:38:00:50:01"
BAD_FROM, BAD_UNTIL = 4.0, 9.0  # pressure not negative enough (-1 Pa instead of -8 Pa)
POSITION_TOLERANCE_M = 1.5
ALARM_TIME_TOLERANCE_S = 1.5
IBEACON_UUID = "8f0c2a3e-5b7d-4c1e-9a6f-3d2b1c0e4f5a"


def require_services():
    if MISSING:  # only reached with REQUIRE_SERVICES=1
        pytest.fail("REQUIRE_SERVICES=1 but " + "; ".join(MISSING))
    mosquitto_binary()


def ibeacon(tag: int) -> dict[int, bytes]:
    return {0x004C: bytes.fromhex("0215" + uuid.UUID(IBEACON_UUID).hex + f"{0:04x}{tag:04x}c5")}


def position(tag: int, t: float) -> tuple[float, float]:
    (x0, y0), (x1, y1), t0, t1 = TAGS[tag]
    if t1 <= t0 or t <= t0:
        return (x0, y0) if t <= t0 or t1 <= t0 else (x1, y1)
    f = min(1.0, (t - t0) / (t1 - t0))
    return x0 + f * (x1 - x0), y0 + f * (y1 - y0)


def room_of(x: float) -> str:
    return next(name for name, x0 in ROOMS if x0 <= x < x0 + 6.0)


def record(seed: int = 5):
    """The input: (offset s, gateway, seq, [(dt, address, rssi, manufacturer data, service data)])."""
    from locator.engine import distance_to_rssi
    from sensors.simulator.encoders import bthome_v2

    rng = np.random.default_rng(seed)
    batches, seqs, packet = [], dict.fromkeys(GATEWAYS, 0), 0
    for k in range(int(SECONDS * BATCHES_PER_S)):
        offset = k / BATCHES_PER_S
        for gw, (gx, gy) in GATEWAYS.items():
            advs = []
            for tag in TAGS:
                x, y = position(tag, offset)
                d = math.sqrt((gx - x) ** 2 + (gy - y) ** 2 + (2.7 - 1.2) ** 2)
                rssi = round(float(distance_to_rssi(d, -59.0, 2.5)) + rng.normal(0, 2.0))
                if rssi >= -95:
                    advs.append((rng.uniform(0, 0.2), f"C0:00:00:00:00:{tag:02X}", rssi, ibeacon(tag), {}))
            if gw == "so-gw-7" and k % 2 == 0:  # the sensor reports every 0.5 s, heard by this gateway
                packet += 1
                pressure = -1.0 if BAD_FROM <= offset < BAD_UNTIL else -8.0
                advs.append((0.1, SENSOR_MAC, -60, {}, bthome_v2(SENSOR_MAC, {"packet_id": packet % 256,
                                                                              "differential_pressure_pa": pressure})))
            batches.append((offset, gw, seqs[gw], advs))
            seqs[gw] += 1
    return batches


def make_world():
    from hospital.facility.models import Building, Floor, Room, Site
    from locator.models import Tag
    from sensors.environment.models import SensorProfileOverride
    from sensors.models import Gateway, Sensor

    site = Site.objects.create(code=SITE, name="Scale-out test site")
    building = Building.objects.create(site=site, code="b", name="B")
    floor = Floor.objects.create(building=building, level=1, name="Level 1", elevation_m=0, metres_per_unit=0.1)
    rooms = {name: Room.objects.create(floor=floor, number=name,
                                       room_type="isolation_room" if name == "R4" else "patient_room",
                                       polygon=[[x0, 0], [x0 + 6, 0], [x0 + 6, 5], [x0, 5]])
             for name, x0 in ROOMS}
    for gw, (x, y) in GATEWAYS.items():
        Gateway.objects.create(gateway_id=gw, site=site, floor=floor, room=rooms[room_of(x)], x=x, y=y, z=2.7)
    for tag in TAGS:
        Tag.objects.create(tag_id=f"ibeacon:{IBEACON_UUID}:0:{tag}", kind="ibeacon")
    sensor = Sensor.objects.create(
        sensor_id="iso-so", name="Isolation room R4", mac_address=SENSOR_MAC, ble_format="bthome_v2",
        room=rooms["R4"], measurement_map={"count": {"quantity": "differential_pressure_pa", "scale": 0.01}},
    )
    SensorProfileOverride.objects.create(sensor=sensor, rules={"pressure_not_negative": {"on_delay_s": 2,
                                                                                          "off_delay_s": 2}})


def reset():
    """Forget everything a run produced; keep the world."""
    from locator.models import AssetEvent, CurrentLocation, LocationHistory, ZoneEvent
    from sensors.environment import models as env
    from sensors.models import BatchReceipt, DeadLetter, IngestCounter, Reading, Sensor

    for model in (env.Notification, env.AlarmAction, env.AlarmEvent, env.Excursion, env.AlarmFlood, env.Alarm,
                  env.EvaluatorState, env.AlarmPartition, env.RollupBacklog, Reading, BatchReceipt, DeadLetter,
                  CurrentLocation, LocationHistory, ZoneEvent, AssetEvent):
        model.objects.all().delete()
    IngestCounter.objects.update(value=0)
    Sensor.objects.update(last_seen_at=None)


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def replay(batches, processes: int, broker: PrivateMosquitto, logs, run: str):
    """Start ``processes`` ingest processes on one shared subscription, publish the recording in real
    time, wait until every batch is stored and the locator has solved the end, stop them."""
    from locator.models import CurrentLocation
    from sensors.environment.models import AlarmEvent
    from sensors.models import BatchReceipt
    from sensors.mqtt.client import make_client, parse_mqtt_url
    from sensors.protocol import encode_batch, topic_for

    url = f"mqtt://127.0.0.1:{broker.port}"
    paths = [logs / f"{run}-{i}.log" for i in range(processes)]
    procs = [manage("ingest", "--site", SITE, "--client-id", f"so-{run}-{i}", log_path=path, MQTT_URL=url,
                    MQTT_SHARE_GROUP=f"so-{run}", LOG_LEVEL="INFO") for i, path in enumerate(paths)]
    try:
        wait_until(lambda: all(p.exists() and b"connected to" in p.read_bytes() for p in paths), 60, "ingest to connect")
        time.sleep(1.0)  # subscriptions settle
        client = make_client(parse_mqtt_url(url), f"so-pub-{run}")
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        start = time.time() + 0.5
        for offset, gw, seq, advs in batches:
            delay = start + offset + 0.25 - time.time()  # a batch goes out when its quarter second is over
            if delay > 0:
                time.sleep(delay)
            payload = encode_batch(gw, run, seq, [(start + offset + dt, *rest) for dt, *rest in advs],
                                   sent=start + offset + 0.25)
            client.publish(topic_for(SITE, gw, "adv"), payload, qos=1)
        client.loop_stop()
        client.disconnect()
        wait_until(lambda: BatchReceipt.objects.filter(boot=run, lost=False).count() == len(batches), 30, "every batch stored")
        time.sleep(2.5)  # the locator's last ticks and the alarm service's last tick
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)
    places = {loc.tag.tag_id: (loc.floor_id, loc.room.number if loc.room else None, loc.x, loc.y)
              for loc in CurrentLocation.objects.select_related("tag", "room")}
    alarms = [(e.alarm.key, e.alarm.rule, e.from_state, e.to_state, e.priority, e.t.timestamp() - start)
              for e in AlarmEvent.objects.select_related("alarm").order_by("t", "id")]
    return places, alarms, [p.read_text(errors="replace") for p in paths]


def counters():
    from sensors.models import IngestCounter

    return dict(IngestCounter.objects.values_list("name", "value"))


def test_two_ingest_processes_on_a_shared_subscription_give_the_positions_and_alarms_of_one(tmp_path):
    require_services()
    make_world()
    batches = record()
    assert len(batches) == int(SECONDS * BATCHES_PER_S) * len(GATEWAYS)
    broker = PrivateMosquitto(tmp_path, extra_config="allow_anonymous true").start()
    try:
        one_places, one_alarms, one_logs = replay(batches, 1, broker, tmp_path, "one")
        one_counters = counters()
        reset()
        two_places, two_alarms, two_logs = replay(batches, 2, broker, tmp_path, "two")
        two_counters = counters()
    finally:
        broker.stop()

    # Both processes took batches, one of them computed the positions with the other's sightings.
    assert two_counters.get("batches.accepted") == one_counters.get("batches.accepted") == len(batches)
    assert sum("computing positions of site so" in log for log in two_logs) == 1, two_logs
    assert two_counters.get("locator.relay.sent", 0) > 0, two_counters
    assert two_counters.get("locator.relay.received") == two_counters["locator.relay.sent"]

    # Positions: every tag where it ended, in one process and in two.
    truth = {f"ibeacon:{IBEACON_UUID}:0:{tag}": position(tag, SECONDS) for tag in TAGS}
    assert set(one_places) == set(two_places) == set(truth)
    for tag, (x, y) in truth.items():
        floor1, room1, x1, y1 = one_places[tag]
        floor2, room2, x2, y2 = two_places[tag]
        assert room1 == room_of(x), (tag, one_places[tag], (x, y))
        assert (floor2, room2) == (floor1, room1), (tag, one_places[tag], two_places[tag])
        assert math.hypot(x2 - x1, y2 - y1) <= POSITION_TOLERANCE_M, (tag, one_places[tag], two_places[tag])

    # Alarms: the pressure alarm raised and returned, the same in two processes, at the same times.
    assert [a[:5] for a in one_alarms] == [
        ("iso-so", "pressure_not_negative", "normal", "active_unacknowledged", "high"),
        ("iso-so", "pressure_not_negative", "active_unacknowledged", "returned_unacknowledged", "high"),
    ], one_alarms
    assert [a[:5] for a in two_alarms] == [a[:5] for a in one_alarms], (one_alarms, two_alarms)
    for a, b in zip(one_alarms, two_alarms, strict=True):
        assert abs(a[5] - b[5]) <= ALARM_TIME_TOLERANCE_S, (one_alarms, two_alarms)
    assert abs(one_alarms[0][5] - (BAD_FROM + 2)) <= ALARM_TIME_TOLERANCE_S
