"""Sensor batches (``.../env``, protocol §2a) are never behind tag batches: ingest takes them on a
subscription of their own, and numbers them apart from the tag batches."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from sensors.ingest.consumer import Message
from sensors.ingest.pipeline import IngestPipeline
from sensors.models import BatchReceipt, Gateway, IngestCounter, Reading
from sensors.protocol import Advertisement, encode_batch, topic_for
from tests.conftest import RUUVI_MAC, RUUVI_V5_VALID, TEST_UUID, ibeacon_payload


def tag_batch(seq: int, boot: str = "tags-1") -> bytes:
    now = time.time()
    return encode_batch("gw-a", boot, seq, [Advertisement(now, f"C0:00:00:00:00:{i:02X}", -65,
                                                          {0x004C: ibeacon_payload(1, 7, TEST_UUID)}, {})
                                            for i in range(50)], sent=now)


def fridge_batch(seq: int, boot: str = "env-1") -> bytes:
    now = time.time()
    return encode_batch("gw-a", boot, seq, [Advertisement(now, RUUVI_MAC, -70, {0x0499: RUUVI_V5_VALID}, {})], sent=now)


@pytest.mark.django_db
def test_sensor_batches_are_numbered_apart_from_tag_batches(tracked_world):
    site = tracked_world["site"]
    gaps = []
    pipeline = IngestPipeline(on_gap=lambda *gap: gaps.append(gap))
    messages = []
    for seq in range(5):  # interleaved, each stream gap-free on its own
        messages.append(Message(topic_for(site, "gw-a", "adv"), tag_batch(seq), seq, 1, time.time()))
        messages.append(Message(topic_for(site, "gw-a", "env"), fridge_batch(seq), seq, 1, time.time()))
    pipeline.handle(messages[:6])
    pipeline.handle_priority(messages[6:])
    assert gaps == []
    gateway = Gateway.objects.get(gateway_id="gw-a")
    assert (gateway.batches_received, gateway.batches_lost) == (10, 0)
    # Where a restarted ingest resumes the loss accounting: the tag stream.
    assert (gateway.boot_id, gateway.last_seq) == ("tags-1", 4)
    assert Reading.objects.filter(quantity="temperature_c").count() == 1  # one packet (same token) heard 5 times
    assert BatchReceipt.objects.filter(boot="env-1").count() == 5
    # A gap in the sensor stream is its own, reported with the sensor stream's boot.
    pipeline.handle_priority([Message(topic_for(site, "gw-a", "env"), fridge_batch(8), 9, 1, time.time())])
    pipeline.handle([Message(topic_for(site, "gw-a", "adv"), tag_batch(5), 10, 1, time.time())])
    assert gaps == [("gw-a", site, "env-1", 5, 7)]


class SlowTagPipeline(IngestPipeline):
    """Each chunk of tag batches holds the pipeline for a second (an overloaded ingest)."""

    def handle(self, messages):
        with self.lock:
            time.sleep(1.0)
            super().handle(messages)


@pytest.mark.mosquitto
@pytest.mark.django_db(transaction=True)
def test_a_reading_is_stored_ahead_of_a_backlog_of_tag_batches(tracked_world, tmp_path, settings):
    from sensors.ingest.service import run_ingest
    from tests.support.mosquitto import PrivateMosquitto

    settings.MQTT_EMBEDDED = False
    site = tracked_world["site"]
    broker = PrivateMosquitto(tmp_path, "allow_anonymous true").start()
    stop = threading.Event()
    try:
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-gw", protocol=mqtt.MQTTv5)
        pub.max_inflight_messages_set(1000)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        url = f"mqtt://ingest@127.0.0.1:{broker.port}"
        ingest = threading.Thread(target=run_ingest, args=(stop,),
                                  kwargs={"mqtt_url": url, "site": site, "client_id": "ingest-prio",
                                          "pipeline": SlowTagPipeline()}, daemon=True)
        ingest.start()
        time.sleep(2.0)  # both consumers connected and subscribed
        deadline = time.monotonic()
        batches = 3000  # 6 chunks of 500: at least 6 s of tag work queued
        for seq in range(batches):
            last = pub.publish(topic_for(site, "gw-a", "adv"), tag_batch(seq), qos=1)
        last.wait_for_publish(30)
        published = time.monotonic()
        pub.publish(topic_for(site, "gw-a", "env"), fridge_batch(0), qos=1).wait_for_publish(10)
        while not Reading.objects.filter(quantity="temperature_c").exists():
            assert time.monotonic() < deadline + 30, "the reading was never stored"
            time.sleep(0.05)
        waited = time.monotonic() - published
        behind = batches - BatchReceipt.objects.filter(boot="tags-1").count()
        assert waited < 5.0 and behind >= 1000, (waited, behind)  # ahead of the backlog, not after it
        while BatchReceipt.objects.filter(boot="tags-1").count() < batches:
            assert time.monotonic() < deadline + 60, "the tag backlog did not drain"
            time.sleep(0.2)
        assert dict(IngestCounter.objects.values_list("name", "value")).get("batches.lost", 0) == 0
    finally:
        stop.set()
        pub.loop_stop()
        pub.disconnect()
        ingest.join(30)
        broker.stop()
