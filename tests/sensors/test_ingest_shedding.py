"""Overload: ingest sheds tag sightings (never readings or alarms), with hysteresis, tells operators,
and keeps its in-memory buffers bounded."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from sensors.ingest.consumer import ChunkedConsumer, Message
from sensors.ingest.pipeline import IngestPipeline
from sensors.ingest.shedding import LoadShedder, ShedConfig, chunk_lag, throttled
from sensors.models import IngestCounter, IngestStatus, Reading
from sensors.mqtt.client import parse_mqtt_url
from sensors.protocol import Advertisement, encode_batch
from tests.conftest import RUUVI_MAC, RUUVI_V5_VALID, TEST_UUID, ibeacon_payload


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def hold(shedder: LoadShedder, clock: Clock, lag: float, seconds: float, step: float = 0.5) -> None:
    """Feed ``lag`` every ``step`` seconds for ``seconds`` (as chunks would)."""
    end = clock.t + seconds
    while clock.t < end - 1e-9:
        clock.t += step
        shedder.observe(lag)


def overloaded(level: int, clock: Clock | None = None) -> LoadShedder:
    """A shedder driven to ``level`` through its public signal; its clock then stands still."""
    clock = clock or Clock()
    shedder = LoadShedder(clock=clock)
    lag = 4.0
    while shedder.level < level:
        hold(shedder, clock, lag, 2.0)
        lag += 1.0
    return shedder


# ------------------------------------------------------------------------------------- hysteresis
def test_shedding_starts_after_sustained_lag_deepens_while_lag_grows_and_stops_only_after_calm(caplog):
    clock = Clock()
    shedder = LoadShedder(clock=clock)
    caplog.set_level(logging.INFO, logger="sensors.ingest.shedding")
    hold(shedder, clock, 4.0, 1.5)
    assert not shedder.shedding  # a burst shorter than enter_hold_s is absorbed
    hold(shedder, clock, 4.0, 1.0)
    assert (shedder.shedding, shedder.keep_one_in) == (True, 2)
    assert "shedding load, keeping 1 in 2 tag sightings" in caplog.text
    hold(shedder, clock, 3.5, 3.0)
    assert shedder.level == 1  # still behind but catching up: no deeper shedding
    hold(shedder, clock, 6.0, 2.5)
    assert shedder.level == 2  # lag grew: shed more
    hold(shedder, clock, 2.0, 60.0)
    assert shedder.level == 2  # between the thresholds: hold the level (no flapping)
    hold(shedder, clock, 0.2, 9.5)
    assert shedder.level == 2
    hold(shedder, clock, 0.2, 1.0)
    assert shedder.level == 1  # one level per exit_hold_s of calm
    hold(shedder, clock, 0.2, 10.0)
    assert not shedder.shedding and shedder.keep_one_in == 1
    assert "stopped shedding load" in caplog.text and shedder.episodes == 1 and shedder.version == 4


def test_a_short_calm_spell_does_not_clear_shedding():
    clock = Clock()
    shedder = overloaded(1, clock)
    for _ in range(5):
        hold(shedder, clock, 0.5, 8.0)
        hold(shedder, clock, 2.0, 1.0)  # a slow chunk resets the calm period
    assert shedder.shedding


def test_no_chunks_at_all_counts_as_calm():
    clock = Clock()
    shedder = LoadShedder(clock=clock)
    hold(shedder, clock, 5.0, 2.5)
    assert shedder.shedding
    for _ in range(12):
        clock.t += 1.0
        shedder.observe_idle()
    assert not shedder.shedding


def test_a_chunk_that_takes_long_is_not_idle_time():
    clock = Clock()
    shedder = LoadShedder(clock=clock)
    for _ in range(6):  # chunks of 1.5 s each, all of them late
        shedder.observe(5.0)
        clock.t += 1.5
        shedder.busy_until_now()
        shedder.observe_idle()
    assert shedder.shedding and shedder.lag_s == 5.0


def test_decode_batch_leaves_refused_advertisements_undecoded_but_counted():
    from sensors.protocol import decode_batch

    now = time.time()
    payload = encode_batch("gw-a", "b", 1, [
        Advertisement(now, "AA:00:00:00:00:01", -60, {0x004C: ibeacon_payload(1, 1)}, {}),
        Advertisement(now, "AA:00:00:00:00:02", -60, {0x004C: ibeacon_payload(1, 2)}, {}),
        Advertisement(now, RUUVI_MAC, -70, {0x0499: RUUVI_V5_VALID}, {}),
    ])
    asked = []
    batch = decode_batch(payload, "gw-a", keep=lambda a, t: asked.append((a, t)) or a == RUUVI_MAC)
    assert [a.address for a in batch.advertisements] == [RUUVI_MAC] and batch.skipped == 2
    assert [a for a, _ in asked] == ["AA:00:00:00:00:01", "AA:00:00:00:00:02", RUUVI_MAC]
    assert asked[0][1] == pytest.approx(now, abs=0.002)
    assert decode_batch(payload, "gw-a").skipped == 0


def test_thresholds_that_would_flap_are_refused():
    with pytest.raises(ValueError, match="exit_lag_s"):
        ShedConfig(enter_lag_s=2.0, exit_lag_s=2.0)
    with pytest.raises(ValueError, match="max_level"):
        ShedConfig(max_level=0)


def test_chunk_lag_is_the_median_batch_age_or_the_inbox_wait():
    now = 100.0
    # One gateway with a clock 60 s slow does not make the chunk late.
    assert chunk_lag(now, [99.9], [99.5, 99.6, 40.0]) == pytest.approx(0.5)
    assert chunk_lag(now, [95.0], [99.5]) == pytest.approx(5.0)  # waited in the inbox
    assert chunk_lag(now, [], []) == 0.0
    assert chunk_lag(now, [100.0], [130.0]) == 0.0  # clock ahead: no negative lag


def test_locator_ticks_less_often_while_shedding(monkeypatch):
    calls = []
    shedder = LoadShedder()
    tick = throttled(lambda: calls.append(1), shedder, 2.0)
    now = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    for _ in range(4):
        now[0] += 1.0
        tick()
    assert len(calls) == 4
    shedder.level = 1
    for _ in range(4):
        now[0] += 1.0
        tick()
    assert len(calls) == 6


# ------------------------------------------------------------------------------------- the pipeline
TAGS = 200


@pytest.fixture
def many_tags(tracked_world):
    from locator.models import Tag

    Tag.objects.bulk_create([Tag(tag_id=f"ibeacon:{TEST_UUID}:2:{i}", kind="ibeacon") for i in range(TAGS)])
    return tracked_world


def ruuvi(seq: int, temp_c: float = 24.3) -> bytes:
    p = bytearray(RUUVI_V5_VALID)
    p[1:3] = int(round(temp_c / 0.005)).to_bytes(2, "big", signed=True)
    p[16:18] = seq.to_bytes(2, "big")
    return bytes(p)


def busy_chunk(site: str, t0: float, seconds: int, seq0: int = 0, sent: float | None = None, temp_c: float = 24.3):
    """One batch per second: every tag once, plus one fridge reading (a new measurement sequence)."""
    messages = []
    for s in range(seconds):
        t = t0 + s
        advs = [Advertisement(t, f"C0:00:00:00:{i // 256:02X}:{i % 256:02X}", -65, {0x004C: ibeacon_payload(2, i)}, {})
                for i in range(TAGS)]
        advs.append(Advertisement(t + 0.5, RUUVI_MAC, -70, {0x0499: ruuvi(seq0 + s, temp_c)}, {}))
        payload = encode_batch("gw-a", "boot-1", seq0 + s, advs, sent=sent if sent is not None else time.time())
        messages.append(Message(f"hospital/{site}/gw/gw-a/adv", payload, seq0 + s + 1, 1, time.time()))
    return messages


def counters():
    return dict(IngestCounter.objects.values_list("name", "value"))


@pytest.mark.django_db
def test_an_overloaded_pipeline_sheds_tag_sightings_but_stores_every_reading(many_tags):
    t0 = float(int(time.time()) - 20)
    calm_sightings = []
    IngestPipeline(on_sightings=calm_sightings.extend).handle(busy_chunk(many_tags["site"], t0, 8))
    assert len(calm_sightings) == 8 * TAGS  # control: nothing shed without overload

    Reading.objects.all().delete()
    IngestCounter.objects.all().delete()
    sightings = []
    pipeline = IngestPipeline(on_sightings=sightings.extend, shedder=overloaded(2))
    pipeline.handle(busy_chunk(many_tags["site"], t0, 8, seq0=100))
    # Every tag kept in exactly 2 of the 8 seconds, with all of that second's data (a full fix).
    assert len(sightings) == 8 * TAGS // 4
    per_tag = {}
    for s in sightings:
        per_tag.setdefault(s.tag_pk, set()).add(int(s.t))
    assert len(per_tag) == TAGS and {len(v) for v in per_tag.values()} == {2}
    assert Reading.objects.filter(quantity="temperature_c").count() == 8  # not one reading shed
    c = counters()
    assert c["sightings.shed"] == 8 * TAGS - len(sightings) == pipeline.shedder.shed_episode
    assert c["readings.stored"] == Reading.objects.count()
    from sensors.models import Gateway

    # Shed advertisements were received all the same: the gateway's counters say so.
    assert Gateway.objects.get(gateway_id="gw-a").advertisements_received == 2 * 8 * (TAGS + 1)


@pytest.mark.django_db
def test_batches_too_old_for_the_locator_lose_all_tag_sightings_while_shedding(many_tags):
    sightings = []
    pipeline = IngestPipeline(on_sightings=sightings.extend, shedder=overloaded(1))
    t0 = time.time() - 30
    pipeline.handle(busy_chunk(many_tags["site"], t0, 3, sent=t0 + 3))
    assert sightings == [] and counters()["sightings.shed"] == 3 * TAGS
    assert Reading.objects.filter(quantity="temperature_c").count() == 3
    assert pipeline.shedder.lag_s >= 25  # the chunk itself was seen as late


@pytest.mark.django_db
def test_alarms_are_evaluated_on_every_reading_while_shedding(many_tags):
    from sensors.environment.alarm_service import AlarmService
    from sensors.environment.models import Alarm
    from sensors.environment.worker import attach

    start = time.time() - 3 * 3600
    clock = Clock(start)
    pipeline = IngestPipeline(shedder=overloaded(3))
    attach(pipeline, service=AlarmService(clock=clock))
    svc = pipeline.alarm_service
    minutes = 40
    for m in range(minutes):  # a vaccine fridge at 9.5 C for 40 minutes, heard among 200 tags
        t = start + 60 * m
        clock.t = t
        svc.tick(t)
        pipeline.handle(busy_chunk(many_tags["site"], t, 1, seq0=m, sent=t, temp_c=9.5))
    assert pipeline.shedder.shedding and counters()["sightings.shed"] == minutes * TAGS
    assert Reading.objects.filter(quantity="temperature_c").count() == minutes
    alarm = Alarm.objects.get(key="fridge-1", rule="temperature_high")
    assert alarm.state == "active_unacknowledged"


# ------------------------------------------------------------------------------------- operators
@pytest.mark.django_db
def test_status_row_is_written_on_change_and_as_heartbeat_and_goes_stale():
    from sensors.ingest.status import StatusReporter, ingest_health

    clock = Clock()
    shedder = LoadShedder(clock=clock)
    reporter = StatusReporter(shedder, "ingest-test-1", "tst", backlog=lambda: 4200, clock=clock)
    assert reporter() is True and not IngestStatus.objects.get().shedding
    assert reporter() is False  # nothing changed, no heartbeat due
    hold(shedder, clock, 5.0, 2.5)
    assert reporter() is True
    row = IngestStatus.objects.get()
    assert (row.shedding, row.keep_one_in, row.backlog, row.lag_s) == (True, 2, 4200, 5.0)
    assert row.shedding_since is not None and "keeping 1 in 2" in row.detail
    health = ingest_health()
    assert health["shedding"] and health["keep_one_in"] == 2 and health["processes"][0]["client_id"] == "ingest-test-1"
    clock.t += 11
    assert reporter() is True  # heartbeat
    # A process that stopped (no heartbeat) no longer raises the banner.
    IngestStatus.objects.update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert ingest_health()["shedding"] is False


@pytest.mark.django_db(transaction=True)
def test_the_alarm_console_shows_shedding_live_and_clears_it(floor, make_user):
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator

    from hospital import roles
    from sensors.environment.routing import websocket_urlpatterns
    from sensors.ingest.status import StatusReporter

    clock = Clock()
    shedder = LoadShedder(clock=clock)
    reporter = StatusReporter(shedder, "ingest-test-1", "tst", clock=clock)
    reporter()
    manager = make_user(roles.FACILITY_MANAGER)

    async def receive(c, kind):
        while True:
            msg = await c.receive_json_from(timeout=5)
            if msg["type"] == kind:
                return msg

    async def scenario():
        from asgiref.sync import sync_to_async

        c = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/ws/alarms/")
        c.scope["user"] = manager
        assert (await c.connect())[0]
        snap = await receive(c, "alarms.snapshot")
        assert snap["service"]["ingest"]["shedding"] is False
        hold(shedder, clock, 5.0, 2.5)
        await sync_to_async(reporter)()
        on = await receive(c, "alarms.service")
        assert on["service"]["ingest"]["shedding"] is True and on["service"]["ingest"]["keep_one_in"] == 2
        hold(shedder, clock, 0.1, 10.5)
        await sync_to_async(reporter)()
        off = await receive(c, "alarms.service")
        assert off["service"]["ingest"]["shedding"] is False
        await c.disconnect()

    async_to_sync(scenario)()
    client = manager_client(manager)
    hold(shedder, clock, 5.0, 2.5)
    reporter()
    page = client.get("/environment/alarms/").content.decode()
    assert "Ingest is shedding load" in page and 'id="shedding" class="banner banner-warn" hidden' not in page


def manager_client(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_operators_read_the_status_through_the_api(make_user):
    from rest_framework.test import APIClient

    from hospital import roles

    IngestStatus.objects.create(client_id="ingest-a", site="tst", shedding=True, keep_one_in=4, lag_s=6.5,
                                heartbeat_at=timezone.now())
    IngestStatus.objects.create(client_id="ingest-b", site="tst", heartbeat_at=timezone.now())
    client = APIClient()
    client.force_login(make_user(roles.FACILITY_MANAGER))
    rows = client.get("/api/ingest-status/?shedding=true").json()
    rows = rows.get("results", rows)
    assert [(r["client_id"], r["keep_one_in"]) for r in rows] == [("ingest-a", 4)]
    nurse = APIClient()
    nurse.force_login(make_user(roles.NURSE, "nurse-2"))
    assert nurse.get("/api/ingest-status/").status_code == 403


# ------------------------------------------------------------------------------------- memory bounds
@pytest.mark.django_db
def test_a_flood_of_made_up_gateway_ids_keeps_the_dead_letter_budget_bounded(tracked_world, monkeypatch):
    from sensors.ingest import pipeline as pipeline_mod

    monkeypatch.setattr(pipeline_mod, "DEAD_LETTER_BUDGET_KEYS", 50)
    pipeline = IngestPipeline()
    site = tracked_world["site"]
    messages = [Message(f"hospital/{site}/gw/fake-{i}/adv", b"{}", i, 1, time.time()) for i in range(200)]
    pipeline.handle(messages)
    assert len(pipeline.dead_letter_budget) == 50
    c = counters()
    assert c["rejected.unknown_gateway"] == 200 and c["dead_letters"] == 50 and c["dead_letters.dropped"] == 150


@pytest.mark.django_db
def test_the_decode_cache_is_bounded(many_tags, monkeypatch):
    from sensors.ingest import pipeline as pipeline_mod

    monkeypatch.setattr(pipeline_mod, "DECODE_CACHE_ENTRIES", 64)
    sightings = []
    pipeline = IngestPipeline(on_sightings=sightings.extend)
    pipeline.handle(busy_chunk(many_tags["site"], time.time() - 5, 2))
    assert len(sightings) == 2 * TAGS and 0 < len(pipeline.decode_cache) <= 64


def test_a_full_inbox_blocks_the_network_thread_instead_of_growing():
    consumer = ChunkedConsumer(parse_mqtt_url("mqtt://x@127.0.0.1:1"), "test", [], lambda m: None, queue_size=3)

    class Msg:
        topic, payload, mid, qos = "hospital/s/gw/g/adv", b"{}", 1, 1

    def network_thread():
        for _ in range(5):
            consumer._on_message(None, None, Msg())

    thread = threading.Thread(target=network_thread, daemon=True)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive() and consumer.inbox.qsize() == 3  # backpressure to the broker
    chunk = consumer.next_chunk(timeout=0.1)
    thread.join(2)
    assert not thread.is_alive() and len(chunk) + consumer.inbox.qsize() == 5  # nothing dropped


def test_discovered_devices_are_bounded(monkeypatch):
    from sensors.ble import decode
    from sensors.ingest import discovered

    monkeypatch.setattr(discovered, "MAX_PENDING", 10)
    buffer = discovered.DiscoveredBuffer()
    for i in range(50):
        address = f"D0:00:00:00:00:{i:02X}"
        adv = Advertisement(time.time(), address, -70, {0x004C: ibeacon_payload(3, i)}, {})
        buffer.add(decode(address, adv.manufacturer_data, {}), adv, "gw-a")
    assert len(buffer.pending) == 10


def test_a_stale_tag_only_batch_is_shed_whole_without_validating_its_advertisements():
    from sensors.protocol import decode_batch

    sent = time.time() - 30
    tags = [Advertisement(sent, f"AA:00:00:00:00:{i:02X}", -60, {0x004C: ibeacon_payload(1, i)}, {}) for i in range(3)]
    payload = encode_batch("gw-a", "b", 1, tags, sent=sent).replace(b'"adv":[', b'"adv":[["not", "an", "adv"],')
    asked = []
    batch = decode_batch(payload, "gw-a", keep=lambda a, t: asked.append(a) or True, stale_before=sent + 1,
                         always={RUUVI_MAC})
    # Nothing looked at one by one: not even the malformed advertisement is reported.
    assert (batch.advertisements, batch.rejected, batch.skipped, asked) == ([], [], 4, [])
    assert len(decode_batch(payload, "gw-a", stale_before=sent - 1, always={RUUVI_MAC}).advertisements) == 3
    # A stale batch that holds a registered sensor (any case) keeps that sensor's advertisement only.
    with_sensor = encode_batch("gw-a", "b", 2, [*tags, Advertisement(sent, RUUVI_MAC.lower(), -70,
                                                                     {0x0499: RUUVI_V5_VALID}, {})], sent=sent)
    batch = decode_batch(with_sensor, "gw-a", stale_before=sent + 1, always={RUUVI_MAC})
    assert [a.address for a in batch.advertisements] == [RUUVI_MAC] and batch.skipped == 3
