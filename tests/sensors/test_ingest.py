"""Ingest: decode, de-duplicate, count loss, route, reject bad input without losing good data."""

import time

import pytest

from sensors.ingest.consumer import Message
from sensors.ingest.pipeline import IngestPipeline
from sensors.ingest.resend import ResendPlanner
from sensors.models import BatchReceipt, DeadLetter, DiscoveredDevice, Gateway, IngestCounter, Reading
from sensors.protocol import Advertisement, encode_batch
from tests.conftest import RUUVI_MAC, RUUVI_V5_VALID, ibeacon_payload

pytestmark = pytest.mark.django_db


def adv_batch(gateway_id, seq, advs, boot="boot-1"):
    return encode_batch(gateway_id, boot, seq, advs)


def message(site, gateway_id, payload, kind="adv", mid=1):
    return Message(f"hospital/{site}/gw/{gateway_id}/{kind}", payload, mid, 1, time.time())


def counters():
    return dict(IngestCounter.objects.values_list("name", "value"))


@pytest.fixture
def pipeline_and_sightings(tracked_world):
    sightings = []
    pipeline = IngestPipeline(on_sightings=sightings.extend)
    return pipeline, sightings, tracked_world


def test_batch_routes_tag_sightings_and_sensor_readings(pipeline_and_sightings):
    pipeline, sightings, world = pipeline_and_sightings
    now = time.time()
    payload = adv_batch("gw-a", 0, [
        Advertisement(now, "11:22:33:44:55:66", -61, {0x004C: ibeacon_payload(1, 7)}, {}),
        Advertisement(now + 0.1, RUUVI_MAC, -70, {0x0499: RUUVI_V5_VALID}, {}),
    ])
    pipeline.handle([message(world["site"], "gw-a", payload)])
    assert [(s.tag_pk, s.rssi, s.gateway_id) for s in sightings] == [(world["tag"].pk, -61, "gw-a")]
    readings = dict(Reading.objects.values_list("quantity", "value"))
    assert readings["temperature_c"] == pytest.approx(24.3)
    assert readings["humidity_pct"] == pytest.approx(53.49)
    assert readings["pressure_pa"] == pytest.approx(100044)
    world["sensor"].refresh_from_db()
    assert world["sensor"].last_seen_at is not None and world["sensor"].battery_pct is not None
    gateway = Gateway.objects.get(gateway_id="gw-a")
    assert (gateway.batches_received, gateway.advertisements_received, gateway.status) == (1, 2, "online")


def test_redelivered_batch_is_processed_once(pipeline_and_sightings):
    pipeline, sightings, world = pipeline_and_sightings
    payload = adv_batch("gw-a", 5, [Advertisement(time.time(), RUUVI_MAC, -70, {0x0499: RUUVI_V5_VALID}, {})])
    pipeline.handle([message(world["site"], "gw-a", payload)])
    stored = Reading.objects.count()
    pipeline.handle([message(world["site"], "gw-a", payload), message(world["site"], "gw-a", payload)])
    # A fresh process (after a crash) must also recognise it.
    IngestPipeline().handle([message(world["site"], "gw-a", payload)])
    assert Reading.objects.count() == stored
    assert BatchReceipt.objects.count() == 1
    assert Gateway.objects.get(gateway_id="gw-a").batches_duplicated == 3
    assert counters()["batches.duplicate"] == 3


def test_sequence_gaps_are_counted_as_lost(pipeline_and_sightings):
    pipeline, _, world = pipeline_and_sightings
    clock = [1000.0]
    planner = ResendPlanner(None, delay_s=1.0, clock=lambda: clock[0])  # counting only, no resend requests
    pipeline.on_gap = planner.gap

    def lost():
        return Gateway.objects.get(gateway_id="gw-a").batches_lost

    for seq in (0, 1, 6, 7):
        pipeline.handle([message(world["site"], "gw-a", adv_batch("gw-a", seq, []))])
    pipeline.handle([message(world["site"], "gw-a", adv_batch("gw-a", 4, []))])  # reordered, within the delay
    planner.tick()
    assert lost() == 0  # a gap is counted a second after it is seen: a delayed batch may still turn up
    clock[0] += 1.0
    planner.tick()
    assert lost() == 3 and counters()["batches.lost"] == 3  # 2, 3 and 5
    assert set(BatchReceipt.objects.filter(lost=True).values_list("seq", flat=True)) == {2, 3, 5}
    pipeline.handle([message(world["site"], "gw-a", adv_batch("gw-a", 3, []))])  # a late one turns up
    assert lost() == 2 and counters()["batches.lost"] == 2
    assert counters()["batches.accepted"] == 6 and not planner.gaps
    pipeline.handle([message(world["site"], "gw-a", adv_batch("gw-a", 3, []))])  # and again: a duplicate
    assert lost() == 2 and counters()["batches.duplicate"] == 1


def test_same_packet_heard_by_two_gateways_is_one_reading(pipeline_and_sightings, gateway_factory):
    pipeline, _, world = pipeline_and_sightings
    gateway_factory("gw-b", x=7.5)
    now = time.time()
    adv = {0x0499: RUUVI_V5_VALID}
    pipeline.handle([
        message(world["site"], "gw-a", adv_batch("gw-a", 0, [Advertisement(now, RUUVI_MAC, -70, adv, {})])),
        message(world["site"], "gw-b", adv_batch("gw-b", 0, [Advertisement(now + 0.02, RUUVI_MAC, -80, adv, {})])),
    ])
    assert Reading.objects.filter(quantity="temperature_c").count() == 1


def test_unknown_gateway_malformed_and_spoofed_batches_are_dead_letters_next_to_good_data(pipeline_and_sightings):
    pipeline, sightings, world = pipeline_and_sightings
    site = world["site"]
    good = adv_batch("gw-a", 0, [Advertisement(time.time(), "11:22:33:44:55:66", -61, {0x004C: ibeacon_payload(1, 7)}, {})])
    pipeline.handle([
        message(site, "gw-zz", adv_batch("gw-zz", 0, [])),  # not registered
        message(site, "gw-a", b"{not json"),  # malformed
        message(site, "gw-a", adv_batch("gw-b", 9, [])),  # payload claims to be another gateway
        message("othersite", "gw-a", adv_batch("gw-a", 1, [])),  # wrong site in topic
        message(site, "gw-a", good),
    ])
    assert len(sightings) == 1  # the good batch got through
    reasons = list(DeadLetter.objects.values_list("reason", flat=True))
    assert len(reasons) == 4
    assert any("unknown gateway 'gw-zz'" in r for r in reasons)
    assert any("othersite" in r for r in reasons)
    c = counters()
    assert c["rejected.unknown_gateway"] == 1 and c["rejected.malformed_adv"] == 2 and c["rejected.wrong_site"] == 1


def test_unknown_beacon_is_listed_as_discovered(pipeline_and_sightings):
    pipeline, sightings, world = pipeline_and_sightings
    payload = adv_batch("gw-a", 0, [Advertisement(time.time(), "AA:BB:CC:00:00:01", -75, {0x004C: ibeacon_payload(9, 99)}, {})])
    pipeline.handle([message(world["site"], "gw-a", payload)])
    assert pipeline.flush_discovered() == 1
    device = DiscoveredDevice.objects.get()
    assert device.tag_id.endswith(":9:99") and device.last_gateway == "gw-a" and device.times_heard == 1
    assert sightings == []


def test_gateway_status_and_last_will(pipeline_and_sightings):
    from sensors.protocol import encode_status

    pipeline, _, world = pipeline_and_sightings
    pipeline.handle([message(world["site"], "gw-a", encode_status("gw-a", "online", "boot-1"), kind="status")])
    assert Gateway.objects.get(gateway_id="gw-a").status == "online"
    pipeline.handle([message(world["site"], "gw-a", encode_status("gw-a", "offline", "boot-1"), kind="status")])
    assert Gateway.objects.get(gateway_id="gw-a").status == "offline"
