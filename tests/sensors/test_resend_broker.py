"""Resends end to end against a real Mosquitto that is stopped and restarted: gateway agents, the broker
and the real ``manage.py ingest`` process on the default MQTT 5 shared subscription.

Mosquitto 2.0 does not restore a persistent session's shared subscription when it restarts, so batches a
gateway publishes after the restart and before ingest has resubscribed are accepted and dropped. Here
ingest is held (SIGSTOP) across the restart so that this happens every time, not only when the race
goes that way."""

import asyncio
import contextlib
import signal
import threading
import time
import uuid

import orjson
import paho.mqtt.client as mqtt
import pytest
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from paho.mqtt.enums import CallbackAPIVersion

from sensors.gateway.agent import Agent
from sensors.gateway.config import Settings
from sensors.models import BatchReceipt, Gateway, IngestCounter
from sensors.protocol import (
    Advertisement,
    GatewayConfig,
    decode_batch,
    encode_batch,
    encode_resend,
    topic_for,
)
from tests.conftest import RUUVI_MAC, RUUVI_V5_VALID
from tests.support.mosquitto import PrivateMosquitto
from tests.support.processes import manage

pytestmark = [pytest.mark.mosquitto]


def ruuvi():
    path = f"/org/bluez/hci0/dev_{RUUVI_MAC.replace(':', '_')}"
    return (BLEDevice(RUUVI_MAC, None, {"path": path, "props": {}}),
            AdvertisementData(local_name=None, manufacturer_data={0x0499: RUUVI_V5_VALID}, service_data={},
                              service_uuids=[], tx_power=None, rssi=-70, platform_data=(path, {})))


def make_agent(tmp_path, url, site, gateway_id, **kw) -> Agent:
    return Agent(Settings(gateway_id=gateway_id, site=site, mqtt_url=url, state_dir=tmp_path / gateway_id,
                          scan_mode="off", reconnect_min_s=0.2, reconnect_max_s=1.0, shutdown_grace_s=1.0,
                          initial=GatewayConfig(batch_interval_ms=40), **kw))


@contextlib.contextmanager
def running(*agents: Agent):
    threads = [threading.Thread(target=asyncio.run, args=(a.run(),), daemon=True) for a in agents]
    for t in threads:
        t.start()
    try:
        yield
    finally:
        for a in agents:
            a.request_stop()
        for t in threads:
            t.join(15)


class Feeder:
    """Advertisements into every agent every 20 ms (about 25 batches/s each at batch_interval_ms 40)."""

    def __init__(self, *agents: Agent):
        self.agents, self.stop = agents, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            for agent in self.agents:
                agent.detection_callback(*ruuvi())
            time.sleep(0.02)

    def finish(self):
        self.stop.set()
        self.thread.join(5)
        for agent in self.agents:
            agent.flush()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stored(agent: Agent) -> set[int]:
    return set(BatchReceipt.objects.filter(gateway_id=agent.settings.gateway_id, boot=agent.boot, lost=False)
               .values_list("seq", flat=True))


def broker_ingest_and_two_gateways(tmp_path, floor, gateway_factory):
    """A private persistent Mosquitto, ``manage.py ingest`` on the default shared subscription (resends:
    2 attempts), and two agents: gw-keeps keeps delivered batches 15 minutes (the default), gw-forgets
    half a second (gone before anyone can ask)."""
    site = floor.building.site.code
    gateway_factory("gw-keeps")
    gateway_factory("gw-forgets", x=6.0)
    broker = PrivateMosquitto(tmp_path, f"allow_anonymous true\npersistence true\npersistence_location {tmp_path}/\n")
    broker.start()
    url = f"mqtt://127.0.0.1:{broker.port}"
    log = tmp_path / "ingest.log"
    ingest = manage("ingest", "--mqtt-url", url, "--site", site, "--client-id", f"ingest-{uuid.uuid4().hex[:6]}",
                    log_path=log, MQTT_SHARE_GROUP="ingest", INGEST_RESEND_ATTEMPTS="2")
    wait_for(lambda: "connected to" in log.read_text(errors="replace"), 60, "ingest subscribed")
    time.sleep(0.5)  # subscribed: from the first batch on, every one counts
    return broker, log, ingest, make_agent(tmp_path, url, site, "gw-keeps"), \
        make_agent(tmp_path, url, site, "gw-forgets", retain_s=0.5)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_broker_restart_with_a_shared_subscription_loses_nothing_once_resends_complete(
    tmp_path, gateway_factory, floor
):
    broker, log, ingest, keeps, forgets = broker_ingest_and_two_gateways(tmp_path, floor, gateway_factory)
    try:
        with running(keeps, forgets):
            feeder = Feeder(keeps, forgets)
            wait_for(lambda: stored(keeps) and stored(forgets), 30, "ingest receiving")
            broker.stop()
            time.sleep(1.0)  # the agents queue on disk
            ingest.send_signal(signal.SIGSTOP)  # ingest cannot come back before the gateways do
            broker = PrivateMosquitto(tmp_path, broker.extra_config, port=broker.port).start()
            wait_for(lambda: keeps.publisher.connected and forgets.publisher.connected, 10, "gateways back")
            time.sleep(1.5)  # they drain and publish; the broker accepts and drops (no shared subscriber yet)
            ingest.send_signal(signal.SIGCONT)
            time.sleep(2.0)
            feeder.finish()
            total_keeps, total_forgets = keeps.seq, forgets.seq
            wait_for(lambda: stored(keeps) == set(range(total_keeps)), 40, "every batch of gw-keeps, resent")

            def forgets_settled():
                counters = dict(IngestCounter.objects.values_list("name", "value"))
                lost = total_forgets - len(stored(forgets))
                return lost and counters.get("resend.unrecovered", 0) >= lost

            wait_for(forgets_settled, 40, "gw-forgets' loss given up on")
            time.sleep(0.5)
            forgets_status = forgets.status_info()  # what its status message says
    finally:
        if ingest.poll() is None:
            ingest.send_signal(signal.SIGCONT)
            ingest.send_signal(signal.SIGTERM)
            ingest.wait(30)
        broker.stop()
    counters = dict(IngestCounter.objects.filter(name__startswith="resend.").values_list("name", "value"))
    g_keeps, g_forgets = Gateway.objects.get(gateway_id="gw-keeps"), Gateway.objects.get(gateway_id="gw-forgets")
    # gw-keeps: the broker dropped batches, the gateway resent them, nothing is lost, nothing twice
    assert g_keeps.batches_recovered > 0, (counters, log.read_text()[-3000:])
    assert (g_keeps.batches_lost, g_keeps.batches_received) == (0, total_keeps)
    assert BatchReceipt.objects.filter(gateway_id="gw-keeps", lost=False).count() == total_keeps
    assert keeps.resends.resent >= g_keeps.batches_recovered and keeps.resends.not_held == 0
    # gw-forgets: what it no longer held stays counted as lost, exactly, and both sides report it
    missing = set(range(total_forgets)) - stored(forgets)
    assert missing and g_forgets.batches_lost == len(missing) and g_forgets.batches_recovered == 0
    assert counters["resend.unrecovered"] == len(missing)
    assert counters["resend.recovered"] == g_keeps.batches_recovered
    assert forgets.resends.requests >= 1 and forgets_status["resend_not_held"] >= len(missing)
    print(f"\nbroker restart: gw-keeps {g_keeps.batches_recovered} batches dropped by the broker and resent; "
          f"gw-forgets {len(missing)} lost beyond its retention; counters {counters}")


def test_bad_resend_requests_are_ignored_and_counted_and_good_ones_answered(tmp_path):
    broker = PrivateMosquitto(tmp_path, "allow_anonymous true").start()
    url = f"mqtt://127.0.0.1:{broker.port}"
    site, gw = "test-resend", "gw-r1"
    received: list[bytes] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-sub")
    sub.on_message = lambda c, u, m: received.append(bytes(m.payload))
    sub.connect("127.0.0.1", broker.port)
    sub.subscribe(topic_for(site, gw, "adv"), qos=1)
    sub.loop_start()
    server = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-server")
    server.connect("127.0.0.1", broker.port)
    server.loop_start()
    agent = make_agent(tmp_path, url, site, gw, resend_rate=5.0)
    topic = topic_for(site, gw, "resend")
    try:
        with running(agent):
            wait_for(lambda: agent.publisher.connected, 10, "connect")
            time.sleep(0.3)  # subscribed to .../resend
            for _ in range(3):
                agent.detection_callback(*ruuvi())
                agent.flush()
            wait_for(lambda: len(received) == 3 and agent.queue.kept()[0] == 3, 10, "3 batches delivered and kept")
            bad = [b"\x00garbage", b'{"v": 1}', orjson.dumps({"v": 1, "gw": "gw-other", "boot": agent.boot,
                                                             "ranges": [[0, 1]]}),
                   encode_resend(gw, agent.boot, [(0, 50)]),  # seqs this boot never produced
                   b"[" * 100_000]
            for payload in bad:
                server.publish(topic, payload, qos=1).wait_for_publish(5)
            for _ in range(30):  # a flood of valid requests: 5/s with a burst of 10 are answered
                server.publish(topic, encode_resend(gw, agent.boot, [(1, 1)]), qos=1).wait_for_publish(5)
            wait_for(lambda: sum(agent.resends.ignored.values()) >= 25, 10, "requests handled")
            wait_for(lambda: agent.publisher.resent >= agent.resends.resent, 10, "resends acknowledged")
            time.sleep(0.3)
            agent.detection_callback(*ruuvi())  # still working after all that
            agent.flush()
            wait_for(lambda: any(decode_batch(p, gw).seq == 3 for p in received), 10, "a new batch")
            info = agent.status_info()
    finally:
        for client in (sub, server):
            client.disconnect()
            client.loop_stop()
        broker.stop()
    ignored = dict(agent.resends.ignored)
    assert ignored["malformed"] == 4 and ignored["unknown_range"] == 1 and ignored["rate_limited"] >= 15
    answered = agent.resends.requests
    assert 8 <= answered <= 15 and agent.resends.resent == answered
    again = [p for p in received if decode_batch(p, gw).seq == 1]
    assert len(again) == 1 + answered and len(set(again)) == 1  # byte for byte the original batch
    assert info["resend_ignored"] == sum(ignored.values()) and info["resend_requests"] == answered
    assert info["resend_ignored_by_reason"]["malformed"] == 4 and "resend_error" in info


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_ingest_processes_on_a_shared_subscription_count_each_lost_batch_once(tmp_path, tracked_world,
                                                                                   gateway_factory):
    """Each process's tracker sees about half of a gateway's batches, so its gaps are mostly the other's
    batches: losses are counted from what no process has a receipt for, once, whichever process saw the
    gap. Before, every process counted the other's batches as lost (hundreds here instead of 7)."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql" or not settings.REDIS_URL:
        pytest.skip("needs PostgreSQL and Redis (two ingest processes, the sightings relay)")
    from sensors.mqtt.client import make_client, parse_mqtt_url
    from tests.conftest import TEST_UUID, ibeacon_payload

    site = tracked_world["site"]
    gateway_factory("gw-b", x=7.5)
    dropped = {"gw-a": {10, 11, 12, 57}, "gw-b": {1, 90, 148}}  # never published: really lost
    broker = PrivateMosquitto(tmp_path, "allow_anonymous true").start()
    url = f"mqtt://127.0.0.1:{broker.port}"
    logs = [tmp_path / f"ingest-{i}.log" for i in range(2)]
    procs = [manage("ingest", "--mqtt-url", url, "--site", site, "--client-id", f"ingest-{i}-{uuid.uuid4().hex[:6]}",
                    log_path=path, MQTT_SHARE_GROUP="ingest", INGEST_RESEND_ATTEMPTS="1") for i, path in enumerate(logs)]
    publisher = make_client(parse_mqtt_url(url), "test-gateways")
    try:
        wait_for(lambda: all(p.exists() and "connected to" in p.read_text(errors="replace") for p in logs), 60,
                 "both ingest processes subscribed")
        time.sleep(1.0)
        publisher.connect("127.0.0.1", broker.port)
        publisher.loop_start()
        beacon = {0x004C: ibeacon_payload(1, 7, TEST_UUID)}
        for seq in range(150):  # about 100 batches a second, the two gateways interleaved
            for gw in ("gw-a", "gw-b"):
                if seq not in dropped[gw]:
                    payload = encode_batch(gw, "boot-1", seq, [Advertisement(time.time(), "D0:0D:1E:A5:00:07",
                                                                             -60, beacon, {})])
                    publisher.publish(topic_for(site, gw, "adv"), payload, qos=1)
            time.sleep(0.02)
        expected = 300 - sum(map(len, dropped.values()))

        def settled():
            counters = dict(IngestCounter.objects.values_list("name", "value"))
            return (BatchReceipt.objects.filter(lost=False).count() == expected
                    and counters.get("resend.unrecovered", 0) >= 7)

        wait_for(settled, 60, "every batch stored and the losses given up on")
        time.sleep(2.0)  # anything counted twice would be counted by now
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)
        broker.stop()
    counters = dict(IngestCounter.objects.values_list("name", "value"))
    texts = [p.read_text(errors="replace") for p in logs]
    # both processes took batches: the one that does not lead the locator relayed its sightings
    assert counters.get("locator.relay.sent", 0) > 0, (counters, [t[-2000:] for t in texts])
    for gw, seqs in dropped.items():
        assert Gateway.objects.get(gateway_id=gw).batches_lost == len(seqs), (gw, counters)
        assert set(BatchReceipt.objects.filter(gateway_id=gw, lost=True).values_list("seq", flat=True)) == seqs
    assert counters["batches.lost"] == 7 and counters["resend.unrecovered"] == 7, counters
    assert counters["batches.accepted"] == expected and counters.get("batches.duplicate", 0) == 0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_batches_lost_at_the_end_of_a_stream_are_found_from_the_gateway_status(tmp_path, gateway_factory, floor):
    """The last batches of a stream are dropped by the broker (published after its restart, before ingest
    resubscribed) and nothing comes after them, so no sequence gap can show them. The gateway's status,
    published once its stream went quiet, names its last acknowledged seq: ingest asks for the tail, gets
    back what the gateway keeps, and counts the rest as lost."""
    broker, log, ingest, keeps, forgets = broker_ingest_and_two_gateways(tmp_path, floor, gateway_factory)
    agents = (keeps, forgets)
    try:
        with running(*agents):
            feeder = Feeder(*agents)
            wait_for(lambda: all(len(stored(a)) >= 10 for a in agents), 30, "ingest receiving")
            feeder.finish()
            head = {a: a.seq for a in agents}
            wait_for(lambda: all(stored(a) == set(range(head[a])) for a in agents), 30, "the stream so far stored")
            broker.stop()
            time.sleep(1.0)
            ingest.send_signal(signal.SIGSTOP)  # ingest cannot resubscribe before the tail is published
            broker = PrivateMosquitto(tmp_path, broker.extra_config, port=broker.port).start()
            wait_for(lambda: all(a.publisher.connected for a in agents), 10, "gateways back")
            for _ in range(5):  # the tail: 5 batches each, accepted by the broker and dropped
                for a in agents:
                    a.detection_callback(*ruuvi())
                    a.flush()
                time.sleep(0.05)
            total = {a: a.seq for a in agents}
            wait_for(lambda: all(a.publisher.acked_seq == total[a] - 1 for a in agents), 10, "the tail acknowledged")
            time.sleep(3.0)  # the gateways' statuses name their last seq once the stream is quiet
            ingest.send_signal(signal.SIGCONT)
            wait_for(lambda: stored(keeps) == set(range(total[keeps])), 40, "gw-keeps' tail, resent")

            def forgets_settled():
                counters = dict(IngestCounter.objects.values_list("name", "value"))
                return counters.get("resend.unrecovered", 0) >= 5

            wait_for(forgets_settled, 40, "gw-forgets' tail given up on")
            assert keeps.seq == total[keeps] and forgets.seq == total[forgets]  # no batch came after the tail
    finally:
        if ingest.poll() is None:
            ingest.send_signal(signal.SIGCONT)
            ingest.send_signal(signal.SIGTERM)
            ingest.wait(30)
        broker.stop()
    g_keeps, g_forgets = Gateway.objects.get(gateway_id="gw-keeps"), Gateway.objects.get(gateway_id="gw-forgets")
    assert (g_keeps.batches_lost, g_keeps.batches_recovered) == (0, 5), log.read_text()[-3000:]
    assert stored(forgets) == set(range(head[forgets]))
    assert (g_forgets.batches_lost, g_forgets.batches_recovered) == (5, 0)
    assert set(BatchReceipt.objects.filter(gateway_id="gw-forgets", lost=True).values_list("seq", flat=True)) == set(
        range(head[forgets], total[forgets]))
