"""The simulator end to end: determinism, ground-truth files, the fleet's batches and statuses, MQTT."""

import csv
import os
import secrets
import threading
import time
from pathlib import Path

import pytest

from sensors.protocol import decode_batch, decode_status, parse_topic
from sensors.simulator import MemoryPublisher, SimConfig, Simulator, load_world

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_750_000_000.0


@pytest.fixture(scope="module")
def world():
    return load_world(ROOT / "fixtures", ROOT / "floorplans")


def flat(batches):
    return {
        g: [(a.t, a.address, a.rssi, a.manufacturer_data, a.service_data) for a in advs]
        for g, advs in batches.items()
    }


def test_deterministic_with_a_seed(world):
    def run(seed):
        sim = Simulator(world, SimConfig(seed=seed, start_time=T0, scenarios=["compressor_failure@1"]))
        return [flat(sim.step(T0 + k)) for k in range(1, 4)], sim.tag_positions(), sim.sensor_values()

    a, b, c = run(5), run(5), run(6)
    assert a == b
    assert a[0] != c[0]


def test_batches_follow_the_protocol_and_ground_truth_is_written(world, tmp_path):
    sim = Simulator(
        world, SimConfig(seed=2, start_time=T0, truth_dir=tmp_path, scenarios=["compressor_failure@2"])
    )
    pub = MemoryPublisher(world.site)
    sim.run(threading.Event(), pub, duration=5, speed=0)
    adv = [(parse_topic(t), p) for t, p, r in pub.messages if t.endswith("/adv")]
    status = [(t.split("/")[-2], p, r) for t, p, r in pub.messages if t.endswith("/status")]
    assert len(adv) == 5 * len(world.gateways)  # one batch per gateway per second, empty ones too
    seqs: dict[str, list[int]] = {}
    boots: dict[str, set] = {}
    total = 0
    for topic, payload in adv:
        batch = decode_batch(payload, topic.gateway_id)
        assert batch.rejected == []
        assert topic.site == "seh"
        seqs.setdefault(batch.gateway_id, []).append(batch.seq)
        boots.setdefault(batch.gateway_id, set()).add(batch.boot)
        assert all(T0 <= a.t <= batch.sent + 0.001 <= T0 + 5.001 for a in batch.advertisements)  # ms offsets
        total += len(batch.advertisements)
    assert all(s == [0, 1, 2, 3, 4] for s in seqs.values())
    assert all(len(b) == 1 for b in boots.values()) and len({next(iter(b)) for b in boots.values()}) > 100
    assert total > 5 * 460 * 3  # every tag heard by several gateways every second
    # retained online at the start, offline at the end, for every gateway and the fleet
    assert all(r for _, _, r in status)
    states = {}
    for gateway_id, payload, _ in status:
        states.setdefault(gateway_id, []).append(decode_status(payload, gateway_id).state)
    assert len(states) == len(world.gateways) + 1
    assert all(s == ["online", "offline"] for s in states.values())
    fleet, _ = pub.will()
    assert fleet == "hospital/seh/simulator/status"

    files = {p.name for p in tmp_path.iterdir()}
    assert files == {"positions.csv", "environment.csv", "events.csv", "run.json"}
    with open(tmp_path / "positions.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["t", "tag_id", "x", "y", "z", "floor", "room"]
    first = {r["tag_id"]: r for r in rows if float(r["t"]) == T0}
    assert len(first) == 460
    tag = world.tags[0]
    assert first[tag.tag_id]["room"] == world.assets[tag.asset].room
    with open(tmp_path / "environment.csv") as f:
        env = list(csv.DictReader(f))
    assert list(env[0]) == ["t", "sensor_id", "quantity", "true_value", "sent_value"]
    with open(tmp_path / "events.csv") as f:
        events = list(csv.DictReader(f))
    assert any(e["kind"] == "scenario_start" and e["subject"] == "env-seh-vrf-0001" for e in events)


def test_gateway_outage_reboots_the_gateway(world):
    sim = Simulator(world, SimConfig(seed=2, start_time=T0, scenarios=["gateway_outage:gw-1c-01@2-4"]))
    pub = MemoryPublisher(world.site)
    sim.run(threading.Event(), pub, duration=6, speed=0)
    mine = [(t.rsplit("/", 1)[1], p) for t, p, _ in pub.messages if "/gw-1c-01/" in t]
    kinds = [k for k, _ in mine]
    assert kinds == ["status", "adv", "status", "status", "adv", "adv", "adv", "status"]
    batches = [decode_batch(p, "gw-1c-01") for k, p in mine if k == "adv"]
    assert [b.seq for b in batches] == [0, 0, 1, 2]  # the reboot restarted the sequence
    assert batches[0].boot != batches[1].boot == batches[2].boot
    states = [decode_status(p).state for k, p in mine if k == "status"]
    assert states == ["online", "offline", "online", "offline"]


@pytest.fixture(scope="module")
def broker_url():
    """MQTT_URL when set (Mosquitto in CI), else an embedded amqtt broker on a free port."""
    url = os.environ.get("MQTT_URL")
    if url:
        yield url
        return
    import socket

    from sensors.mqtt.embedded import EmbeddedBroker

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    broker = EmbeddedBroker(port=port)
    broker.start()
    yield f"mqtt://simtest@127.0.0.1:{port}?protocol=3"
    broker.stop()


class Subscriber:
    def __init__(self, url: str, site: str):
        from sensors.mqtt.client import make_client, parse_mqtt_url

        self.endpoint = parse_mqtt_url(url, default_protocol=3)
        self.messages = []
        self.ready = threading.Event()
        self.client = make_client(self.endpoint, f"simtest-sub-{secrets.token_hex(3)}")
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, m.retain))
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(
            [(f"hospital/{site}/gw/+/#", 1), (f"hospital/{site}/simulator/status", 1)])
        self.client.connect(self.endpoint.host, self.endpoint.port)
        self.client.loop_start()
        assert self.ready.wait(10), "could not subscribe to the test broker"

    def wait_for(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not predicate(self.messages):
            time.sleep(0.05)

    def clear_retained(self, topics):
        """Leave nothing behind on a shared broker: an empty retained message deletes the retained one."""
        infos = [self.client.publish(topic, b"", qos=1, retain=True) for topic in topics]
        for info in infos:
            info.wait_for_publish(5)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def test_publishes_to_mqtt_like_real_gateways(world, broker_url):
    from sensors.mqtt.client import parse_mqtt_url
    from sensors.simulator import MqttPublisher

    site = f"simtest-{secrets.token_hex(3)}"
    small = world.subset(gateways=[g.gateway_id for g in world.gateways if g.floor == 3][:12])
    sub = Subscriber(broker_url, site)
    try:
        sim = Simulator(small, SimConfig(seed=3, start_time=T0, scenarios=["none"]))
        pub = MqttPublisher(parse_mqtt_url(broker_url, default_protocol=3), site)
        sim.run(threading.Event(), pub, duration=4, speed=0)
        n_gw = len(small.gateways)
        sub.wait_for(
            lambda m: (
                sum(t.endswith("/adv") for t, _, _ in m) >= 4 * n_gw
                and sum(t.endswith("/status") for t, _, _ in m) >= 2 * (n_gw + 1)
            )
        )
        adv = [(parse_topic(t), p) for t, p, _ in sub.messages if t.endswith("/adv")]
        assert len(adv) == 4 * n_gw and pub.dropped == 0
        heard = set()
        for topic, payload in adv:
            batch = decode_batch(payload, topic.gateway_id)
            assert batch.rejected == [] and topic.site == site
            heard.update(a.address for a in batch.advertisements)
        assert len(heard) > 30
        by_gw = {}
        for topic, payload in adv:
            by_gw.setdefault(topic.gateway_id, []).append(decode_batch(payload, topic.gateway_id).seq)
        assert all(sorted(s) == [0, 1, 2, 3] for s in by_gw.values())
        last = {}
        for t, p, _ in sub.messages:
            if t.endswith("/status"):
                last[t] = decode_status(p).state
        assert len(last) == n_gw + 1 and set(last.values()) == {"offline"}
    finally:
        sub.clear_retained({t for t, _, _ in sub.messages if t.endswith("/status")})
        sub.close()


def test_manage_py_simulate(broker_url, tmp_path, settings):
    from django.core.management import CommandError, call_command

    site = f"simtest-{secrets.token_hex(3)}"
    sub = Subscriber(broker_url, site)
    try:
        call_command(
            "simulate",
            "--mqtt-url",
            broker_url,
            "--site",
            site,
            "--duration",
            "2",
            "--speed",
            "0",
            "--truth-dir",
            str(tmp_path),
            "--scenario",
            "crowded_waiting_room@0",
            "--seed",
            "4",
        )
        sub.wait_for(lambda m: sum(t.endswith("/adv") for t, _, _ in m) >= 2 * 147)
        assert sum(t.endswith("/adv") for t, _, _ in sub.messages) == 2 * 147
        assert (tmp_path / "positions.csv").exists()
        assert "crowded_waiting_room@0" in (tmp_path / "events.csv").read_text()
    finally:
        sub.clear_retained({t for t, _, _ in sub.messages if t.endswith("/status")})
        sub.close()
    with pytest.raises(CommandError):
        call_command("simulate", "--scenario", "bogus@1")


def test_the_fleet_answers_resend_requests_like_real_gateways(broker_url):
    """Also for a batch it could not send at all (the broker away): the demo's loss counters stay honest."""
    from sensors.mqtt.client import parse_mqtt_url
    from sensors.protocol import Advertisement, encode_resend, topic_for
    from sensors.simulator import MqttPublisher

    site = f"simtest-{secrets.token_hex(3)}"
    sub = Subscriber(broker_url, site)
    pub = MqttPublisher(parse_mqtt_url(broker_url, default_protocol=3), site)
    try:
        pub.start(["gw-s1", "gw-s2"], T0)
        time.sleep(0.3)  # subscribed to the fleet's resend topics
        adv = [Advertisement(T0, "C0:FF:EE:00:00:01", -60, {}, {})]
        for i in range(3):
            pub.publish("gw-s1", adv, T0 + i)
        pub.connected.clear()  # as if the broker were away: batch 3 is made but dropped
        pub.publish("gw-s1", adv, T0 + 3)
        pub.connected.set()
        assert pub.dropped == 1
        ask = lambda gw, payload: sub.client.publish(topic_for(site, gw, "resend"), payload, qos=1)  # noqa: E731
        boot = pub.boot["gw-s1"]
        ask("gw-s1", encode_resend("gw-s1", boot, [(1, 1), (3, 3)]))
        ask("gw-s1", b"{not json")
        ask("gw-s1", encode_resend("gw-s1", boot, [(0, 9)]))  # seqs not made yet
        ask("gw-s2", encode_resend("gw-s2", "old-boot", [(0, 2)]))  # nothing held
        ask("gw-nope", encode_resend("gw-nope", boot, [(0, 0)]))  # not in this fleet

        def seqs(messages):
            return [decode_batch(p, "gw-s1").seq for t, p, _ in messages if t == topic_for(site, "gw-s1", "adv")]

        sub.wait_for(lambda m: len(seqs(m)) >= 5 and sum(pub.resends.ignored.values()) >= 3)
        assert sorted(seqs(sub.messages)) == [0, 1, 1, 2, 3]
        assert pub.resends.resent == 2 and pub.resends.not_held == 3
        assert dict(pub.resends.ignored) == {"malformed": 1, "unknown_range": 1, "unknown_gateway": 1}
    finally:
        pub.close(T0 + 5)
        sub.clear_retained({t for t, _, _ in sub.messages if t.endswith("/status")})
        sub.close()
