"""kill -9 of ingest in the middle of a stream: after restart every batch is processed exactly once."""

import signal
import time
import uuid

import paho.mqtt.client as mqtt
import pytest

from sensors.models import BatchReceipt, Gateway, Reading
from sensors.mqtt.client import make_client, parse_mqtt_url
from sensors.protocol import Advertisement, encode_batch
from tests.conftest import RUUVI_MAC, RUUVI_V5_VALID, ibeacon_payload
from tests.support.processes import manage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

N_BATCHES = 240


def ruuvi_with_sequence(seq: int) -> bytes:
    payload = bytearray(RUUVI_V5_VALID)
    payload[16:18] = (seq % 65535).to_bytes(2, "big")
    return bytes(payload)


def publisher(url: str) -> mqtt.Client:
    endpoint = parse_mqtt_url(url)
    client = make_client(endpoint, f"pub-{uuid.uuid4().hex[:8]}")
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    return client


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_kill_dash_nine_loses_and_duplicates_nothing(tracked_world, mqtt_url, tmp_path):
    site = tracked_world["site"]
    client_id = f"ingest-test-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "ingest.log"
    ingest = manage("ingest", "--mqtt-url", mqtt_url, "--client-id", client_id, "--site", site, log_path=log)
    pub = publisher(mqtt_url)
    try:
        # Let the first ingest subscribe (its persistent session then holds what it misses).
        assert wait_for(lambda: "consuming" in log.read_text(errors="replace") or log.stat().st_size > 0, 20)
        time.sleep(1.0)
        t0 = time.time()
        for seq in range(N_BATCHES):
            advs = [
                Advertisement(t0 + seq, RUUVI_MAC, -70, {0x0499: ruuvi_with_sequence(seq)}, {}),
                Advertisement(t0 + seq, "11:22:33:44:55:66", -60, {0x004C: ibeacon_payload(1, 7)}, {}),
            ]
            pub.publish(f"hospital/{site}/gw/gw-a/adv", encode_batch("gw-a", "boot-1", seq, advs), qos=1)
            if seq == N_BATCHES // 3:
                time.sleep(0.5)
                ingest.send_signal(signal.SIGKILL)  # mid-stream, no chance to clean up
                ingest.wait(10)
            time.sleep(0.005)
        time.sleep(0.5)
        ingest = manage("ingest", "--mqtt-url", mqtt_url, "--client-id", client_id, "--site", site, log_path=log)
        assert wait_for(lambda: BatchReceipt.objects.filter(lost=False).count() >= N_BATCHES, 60), log.read_text()[-3000:]
        time.sleep(1.0)  # anything extra would show up now
    finally:
        ingest.send_signal(signal.SIGTERM)
        ingest.wait(20)
        pub.loop_stop()
        pub.disconnect()
    assert BatchReceipt.objects.filter(lost=False).count() == N_BATCHES
    temperatures = Reading.objects.filter(quantity="temperature_c")
    assert temperatures.count() == N_BATCHES
    assert sorted(temperatures.values_list("token", flat=True)) == list(range(N_BATCHES))
    gateway = Gateway.objects.get(gateway_id="gw-a")
    assert gateway.batches_received == N_BATCHES
    assert gateway.batches_lost == 0
    assert ingest.returncode == 0, "ingest did not stop cleanly on SIGTERM"
