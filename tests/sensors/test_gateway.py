"""The gateway agent, fed with bleak's own BLEDevice and AdvertisementData objects (through bleak's
detection-callback machinery where a scanner is involved), checked against a real Mosquitto: batches,
filters from the retained config, status and last will, broker outage with the on-disk queue, the queue
bound, restart with a non-empty queue, TLS with per-gateway credentials."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import datetime
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError
from paho.mqtt.enums import CallbackAPIVersion

from sensors.ble.registry import decode
from sensors.gateway.__main__ import parser, settings_from_args
from sensors.gateway.agent import Agent
from sensors.gateway.batcher import Batcher, Heard, to_wall
from sensors.gateway.config import ConfigError, Settings, build_settings, read_toml
from sensors.gateway.publisher import TokenBucket
from sensors.gateway.queue import DiskQueue
from sensors.gateway.scanner import Scanner, heard_from_bleak, or_patterns_for
from sensors.mqtt.client import parse_mqtt_url
from sensors.mqtt.credentials import GatewayAccount, ServiceAccount, acl_file, hash_password
from sensors.protocol import (
    GatewayConfig,
    SequenceTracker,
    decode_batch,
    decode_config,
    decode_status,
    encode_config,
    encode_resend,
    topic_for,
)
from tests.support.mosquitto import PrivateMosquitto, free_port

ROOT = Path(__file__).resolve().parents[2]
SITE = "test-gw"
SVC_BTHOME = "0000fcd2-0000-1000-8000-00805f9b34fb"
IBEACON_MAC, IBEACON = "D0:0D:1E:A5:00:01", bytes.fromhex("0215e2c56db5dffb48d2b060d0f5a71096e000010002c5")
RUUVI_MAC, RUUVI5 = "CB:B8:33:4C:88:4F", bytes.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F")
BTHOME_MAC, BTHOME = (
    "54:48:E6:8F:80:A5",
    bytes.fromhex("40016102ca0903bf13"),
)  # battery 97 %, 25.06 C, 50.55 %


# --------------------------------------------------------------------------------- bleak objects


def bleak_pair(mac: str, rssi: int, mfr=None, svc=None, name=None) -> tuple[BLEDevice, AdvertisementData]:
    """What bleak's BlueZ backend hands a detection callback."""
    path = f"/org/bluez/hci0/dev_{mac.replace(':', '_')}"
    device = BLEDevice(mac, name, {"path": path, "props": {}})
    adv = AdvertisementData(
        local_name=name,
        manufacturer_data=dict(mfr or {}),
        service_data=dict(svc or {}),
        service_uuids=list(svc or {}),
        tx_power=None,
        rssi=rssi,
        platform_data=(path, {}),
    )
    return device, adv


def ibeacon(rssi=-67):
    return bleak_pair(IBEACON_MAC, rssi, {0x004C: IBEACON})


def ruuvi(rssi=-71):
    return bleak_pair(RUUVI_MAC, rssi, {0x0499: RUUVI5}, name="Ruuvi 884F")


def bthome(rssi=-80):
    return bleak_pair(BTHOME_MAC, rssi, svc={SVC_BTHOME: BTHOME}, name="ATC_8F80A5")


class FakeBlueZ(BaseBleakScanner):
    """A bleak scanner backend (``BleakScanner(backend=...)``) for a machine without Bluetooth: refuses
    passive scanning like a BlueZ without advertisement monitors, and emits advertisements through
    bleak's own ``call_detection_callbacks``."""

    instances: list[FakeBlueZ] = []
    refuse_passive = True

    def __init__(self, detection_callback, service_uuids, scanning_mode, *, bluez, **kwargs):
        super().__init__(detection_callback, service_uuids)
        self.mode, self.bluez, self.started = scanning_mode, bluez, False

    async def start(self):
        if self.mode == "passive" and self.refuse_passive:
            raise BleakError("org.bluez.AdvertisementMonitorManager1 not found")
        self.started = True
        FakeBlueZ.instances.append(self)

    async def stop(self):
        self.started = False

    def emit(self, device, adv):
        self.call_detection_callbacks(device, adv)


# ------------------------------------------------------------------------------------ MQTT helpers


def reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def broker_url(tmp_path_factory):
    """MQTT_URL if set, else the machine's Mosquitto on 1883, else a private one (unless CI demands)."""
    url = os.environ.get("MQTT_URL") or "mqtt://127.0.0.1:1883"
    ep = parse_mqtt_url(url)
    if reachable(ep.host, ep.port):
        yield url
        return
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"MQTT broker {ep.redacted()} is not reachable but REQUIRE_SERVICES=1")
    broker = PrivateMosquitto(tmp_path_factory.mktemp("mosquitto"), "allow_anonymous true").start()
    yield f"mqtt://127.0.0.1:{broker.port}"
    broker.stop()


class Subscriber:
    """A paho subscriber collecting (topic, payload, retain)."""

    def __init__(
        self,
        url: str,
        topics: list[str],
        *,
        client_id: str | None = None,
        persistent: bool = False,
        username: str | None = None,
        password: str | None = None,
    ):
        ep = parse_mqtt_url(url)
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv311,
            clean_session=not persistent,
        )
        if username or ep.username:
            self.client.username_pw_set(username or ep.username, password or ep.password)
        if ep.tls:
            self.client.tls_set(ca_certs=ep.ca_file)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(ep.host, ep.port)
        self.client.loop_start()
        assert self._subscribed.wait(5), "subscription not acknowledged"

    def _on_message(self, client, userdata, message):
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))

    def payloads(self, kind: str) -> list[bytes]:
        with self._lock:
            return [p for t, p, _ in self.messages if t.endswith("/" + kind) and p]

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(predicate, timeout: float = 5.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def batches(sub: Subscriber, gw: str) -> list:
    return [decode_batch(p, gw) for p in sub.payloads("adv")]


def statuses(sub: Subscriber, gw: str) -> list:
    return [decode_status(p, gw) for p in sub.payloads("status")]


def clear_retained(url: str, gw: str) -> None:
    ep = parse_mqtt_url(url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-clear-{uuid.uuid4().hex[:8]}")
    if ep.username:
        client.username_pw_set(ep.username, ep.password)
    client.connect(ep.host, ep.port)
    client.loop_start()
    for kind in ("status", "config"):
        client.publish(topic_for(SITE, gw, kind), b"", qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


@pytest.fixture
def gw(broker_url):
    gateway_id = f"gw-t{uuid.uuid4().hex[:8]}"
    yield gateway_id
    if reachable(*(lambda e: (e.host, e.port))(parse_mqtt_url(broker_url))):
        clear_retained(broker_url, gateway_id)


def make_settings(tmp_path: Path, url: str, gateway_id: str, **kw) -> Settings:
    values = dict(
        gateway_id=gateway_id,
        site=SITE,
        mqtt_url=url,
        state_dir=tmp_path / f"state-{gateway_id}",
        scan_mode="off",
        reconnect_min_s=0.2,
        reconnect_max_s=1.0,
        shutdown_grace_s=1.0,
        initial=GatewayConfig(batch_interval_ms=100),
    )
    values.update(kw)
    return Settings(**values)


@contextlib.contextmanager
def running(agent: Agent):
    """Run the agent's asyncio loop in a thread (the console script runs it in the main thread)."""
    thread = threading.Thread(target=asyncio.run, args=(agent.run(),), name="agent", daemon=True)
    thread.start()
    try:
        yield agent
    finally:
        agent.request_stop()
        thread.join(15)
        assert not thread.is_alive(), "agent did not stop"


def feed(agent: Agent, *pairs) -> None:
    for device, adv in pairs:
        agent.detection_callback(device, adv)


# ------------------------------------------------------------------------------- pure components


def test_heard_from_bleak_objects():
    h = heard_from_bleak(*ibeacon(-67), mono=5.0)
    assert h == Heard(5.0, IBEACON_MAC, -67, {0x004C: IBEACON}, {})
    h = heard_from_bleak(*bleak_pair("54:48:e6:8f:80:a5", -200, svc={SVC_BTHOME: bytearray(BTHOME)}))
    assert h.address == BTHOME_MAC and h.rssi == -127 and h.service_data == {SVC_BTHOME: BTHOME}
    assert type(h.service_data[SVC_BTHOME]) is bytes
    # macOS reports a device UUID, not an address: the protocol cannot carry it
    assert heard_from_bleak(*bleak_pair("6F1A2B3C-0000-4000-8000-00805F9B34FB", -60)) is None
    assert heard_from_bleak(*bleak_pair(RUUVI_MAC, -60, {0x0499: bytes(300)})) is None


def test_or_patterns_follow_the_filters():
    everything = or_patterns_for(GatewayConfig())
    assert len(everything) == 32 and all(p[1] == 0x01 and len(p[2]) == 1 for p in everything)
    cfg = decode_config(
        b'{"v":1,"filters":{"company_ids":["0499"],"service_uuids":["fcd2"],'
        b'"ibeacon_uuids":["e2c56db5-dffb-48d2-b060-d0f5a71096e0"]}}'
    )
    assert or_patterns_for(cfg) == [
        (0, 0x16, b"\xd2\xfc"),
        (0, 0xFF, b"\x4c\x00\x02\x15" + bytes.fromhex("e2c56db5dffb48d2b060d0f5a71096e0")),
        (0, 0xFF, b"\x99\x04"),
    ]
    # addresses cannot be matched by a pattern: fall back to "everything"
    assert (
        or_patterns_for(GatewayConfig(macs=frozenset({RUUVI_MAC}), company_ids=frozenset({1}))) == everything
    )


def test_scanner_uses_passive_with_patterns_or_falls_back_to_active(caplog):
    got = []

    async def scenario():
        FakeBlueZ.refuse_passive = False
        sc = Scanner(
            lambda d, a: got.append((d, a)), mode="auto", adapter="hci1", backend=FakeBlueZ, system="Linux"
        )
        assert await sc.start(GatewayConfig(company_ids=frozenset({0x0499}))) == "passive"
        backend = FakeBlueZ.instances[-1]
        assert backend.bluez == {"adapter": "hci1", "or_patterns": [(0, 0xFF, b"\x99\x04")]}
        await sc.reconfigure(GatewayConfig(service_uuids=frozenset({0xFCD2})))  # new patterns: restart
        assert (
            FakeBlueZ.instances[-1].bluez["or_patterns"] == [(0, 0x16, b"\xd2\xfc")] and not backend.started
        )
        FakeBlueZ.instances[-1].emit(*ruuvi())
        await sc.stop()
        FakeBlueZ.refuse_passive = True
        sc = Scanner(lambda d, a: None, mode="auto", backend=FakeBlueZ, system="Linux")
        assert await sc.start(GatewayConfig()) == "active" and sc.state == "active"
        await sc.stop()
        sc = Scanner(lambda d, a: None, mode="passive", backend=FakeBlueZ, system="Linux")
        with pytest.raises(RuntimeError, match="AdvertisementMonitor"):
            await sc.start(GatewayConfig())
        assert sc.state == "error"

    asyncio.run(scenario())
    assert [d.address for d, _ in got] == [RUUVI_MAC]
    assert "falling back to active scanning" in caplog.text


def test_batcher_closes_on_size_or_interval():
    now = [100.0]
    b = Batcher(max_batch=3, interval_ms=500, clock=lambda: now[0])
    assert b.seconds_left() is None and not b.due()
    assert not b.add(Heard(100.0, RUUVI_MAC, -60, {}, {}))
    now[0] = 100.3
    assert not b.add(Heard(100.3, RUUVI_MAC, -60, {}, {})) and not b.due()
    assert b.seconds_left() == pytest.approx(0.2)
    now[0] = 100.5
    assert b.due()
    assert b.add(Heard(100.5, RUUVI_MAC, -60, {}, {}))  # full
    taken = b.take()
    assert len(taken) == 3 and len(b) == 0
    advs = to_wall(taken, mono_now=101.0, wall_now=1_767_225_601.0)
    assert [round(a.t - advs[0].t, 3) for a in advs] == [0, 0.3, 0.5] and advs[0].t == pytest.approx(
        1_767_225_600.0
    )


def test_token_bucket():
    now = [0.0]
    bucket = TokenBucket(10, burst=2, clock=lambda: now[0])
    assert bucket.available() == 2
    bucket.take(2)
    assert bucket.wait_time() == pytest.approx(0.1)
    now[0] = 0.25
    assert bucket.available() == 2  # capped at the burst


def test_disk_queue_bounds_drop_oldest_and_persist(tmp_path):
    q = DiskQueue(tmp_path / "q.sqlite3", max_batches=3, max_bytes=10**7)
    for seq in range(5):
        q.put("b1", seq, b"x" * 100)
    assert [r.seq for r in q.peek(limit=10)] == [2, 3, 4] and q.stats() == (3, 300, 2)
    oldest = q.peek()[0]
    assert q.put("b1", 5, b"y", keep={oldest.id}) == 1  # a batch in flight is not the one dropped
    assert [r.seq for r in q.peek(limit=10)] == [2, 4, 5]
    assert q.remove([oldest.id]) == 1 and q.remove([oldest.id]) == 0
    one = DiskQueue(tmp_path / "one.sqlite3", max_batches=1)
    one.put("b", 0, b"a")
    kept = one.peek()[0].id
    one.put("b", 1, b"b", keep={kept})  # everything else in flight: over the bound, never the new one lost
    assert [r.seq for r in one.peek(limit=5)] == [0, 1] and one.dropped == 0
    one.put("b", 2, b"c")
    assert [r.seq for r in one.peek(limit=5)] == [2] and one.dropped == 2
    one.close()
    q.close()
    q = DiskQueue(
        tmp_path / "q.sqlite3", max_batches=100, max_bytes=1024 * 1024
    )  # reopened: rows and count kept
    assert [(r.boot, r.seq) for r in q.peek(limit=10)] == [("b1", 4), ("b1", 5)] and q.dropped == 3
    big = b"z" * 400_000
    for seq in range(6, 9):
        q.put("b1", seq, big)
    count, size, dropped = q.stats()
    assert size <= 1024 * 1024 and [r.seq for r in q.peek(limit=10)] == [7, 8] and dropped == 6
    q.count_lost()
    assert q.dropped == 7
    q.close()
    (tmp_path / "bad.sqlite3").write_bytes(b"this is not a database" * 100)
    q = DiskQueue(tmp_path / "bad.sqlite3")  # a corrupt file is moved aside, not fatal
    assert len(q) == 0 and list(tmp_path.glob("bad.sqlite3.corrupt-*"))
    q.close()


def test_config_file_flags_and_errors(tmp_path):
    (tmp_path / "pw").write_text("s3cret\n")
    conf = tmp_path / "gateway.toml"
    conf.write_text(f"""
gateway_id = "gw-2e-11"
site = "main"
state_dir = "{tmp_path}/state"
[mqtt]
url = "mqtt://gw-2e-11@broker.example:1883"
password_file = "{tmp_path}/pw"
[scanner]
mode = "passive"
adapter = "hci0"
[batch]
interval_ms = 500
max_batch = 200
[queue]
max_batches = 1000
drain_rate = 20
[filters]
min_rssi = -95
company_ids = ["0499"]
service_uuids = ["fcd2"]
""")
    s = build_settings(read_toml(conf))
    assert (s.gateway_id, s.site, s.scan_mode, s.adapter, s.queue_max_batches, s.drain_rate) == (
        "gw-2e-11",
        "main",
        "passive",
        "hci0",
        1000,
        20.0,
    )
    assert s.initial.batch_interval_ms == 500 and s.initial.max_batch == 200 and s.initial.min_rssi == -95
    assert s.initial.company_ids == {0x0499} and s.initial.service_uuids == {0xFCD2}
    assert s.endpoint().password == "s3cret" and "s3cret" not in str(s.redacted())
    # flags override the file
    args = parser().parse_args(
        [
            "--config",
            str(conf),
            "--site",
            "north",
            "--filter-mac",
            RUUVI_MAC,
            "--batch-interval-ms",
            "250",
            "--scan-mode",
            "auto",
        ]
    )
    s = settings_from_args(args, environ={})
    assert s.site == "north" and s.scan_mode == "auto" and s.initial.batch_interval_ms == 250
    assert s.initial.macs == {RUUVI_MAC} and s.initial.company_ids == {0x0499}
    for bad, message in [
        ('gateway_id = "gw/1"\nsite = "x"', "gateway id"),
        ('gateway_id = "gw-1"\nsite = "x"\ncolour = 1', "unknown top-level key"),
        ('gateway_id = "gw-1"\nsite = "x"\n[filters]\ncompany_ids = ["xyz12"]', "company_ids"),
        ('gateway_id = "gw-1"\nsite = "x"\n[batch]\ninterval_ms = 5', "batch_interval_ms"),
        ('gateway_id = "gw-1"\nsite = "x"\n[queue]\nmax_batches = "many"', "queue.max_batches"),
        ('gateway_id = "gw-1"\nsite = "x"\n[mqtt]\nurl = "http://x"', "mqtt.url"),
        ('site = "x"', "gateway_id is required"),
    ]:
        conf.write_text(bad)
        with pytest.raises(ConfigError, match=message):
            build_settings(read_toml(conf))


def test_console_script_help_and_bad_config(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "sensors.gateway", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=30,
    )
    assert out.returncode == 0 and "--config" in out.stdout and "--mqtt-url" in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "sensors.gateway", "--site", "x"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=30,
    )
    assert out.returncode == 2 and "gateway_id is required" in out.stderr
    # the agent runs on a small box: no Django, nothing of the server's stack, only these
    probe = (
        "import sys, sensors.gateway.__main__, sensors.gateway.agent, sensors.gateway.scanner; "
        "print(sorted({m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, env=env, timeout=30
    )
    third_party = {m for m in ast.literal_eval(out.stdout) if not m.startswith("__editable__")}
    third_party -= {"__main__", "_distutils_hack", "sensors"}  # (an editable install adds a path finder)
    assert third_party == {"orjson", "paho"}, third_party  # bleak is imported when scanning starts


# ------------------------------------------------------------------------------ against Mosquitto


def test_batches_reach_the_broker_and_decode(tmp_path, broker_url, gw):
    """bleak scanner backend -> bleak's callback dispatch -> agent -> Mosquitto -> decode_batch -> registry."""
    sub = Subscriber(broker_url, [topic_for(SITE, gw, "adv"), topic_for(SITE, gw, "status")])
    FakeBlueZ.refuse_passive = True
    FakeBlueZ.instances.clear()
    agent = Agent(
        make_settings(
            tmp_path,
            broker_url,
            gw,
            scan_mode="auto",
            initial=GatewayConfig(batch_interval_ms=100, max_batch=3),
        ),
        scanner_backend=FakeBlueZ,
        system="Linux",
    )
    try:
        with running(agent):
            backend = wait_for(lambda: FakeBlueZ.instances and FakeBlueZ.instances[-1], what="scanner start")
            assert backend.mode == "active"  # passive refused: fell back
            for _ in range(3):
                for device, adv in (ibeacon(), ruuvi(), bthome()):  # max_batch 3: one batch per round
                    backend.emit(device, adv)
            backend.emit(*ruuvi(-90))  # a lone advertisement goes out after batch_interval_ms
            got = wait_for(lambda: len(batches(sub, gw)) >= 4 and batches(sub, gw), what="4 batches")
            online = wait_for(lambda: [s for s in statuses(sub, gw) if s.state == "online"], what="status")[
                -1
            ]
        assert [b.seq for b in got] == [0, 1, 2, 3] and len({b.boot for b in got}) == 1
        assert got[0].boot == agent.boot and [len(b.advertisements) for b in got] == [3, 3, 3, 1]
        assert all(not b.rejected for b in got)
        decoded = {
            a.address: decode(a.address, a.manufacturer_data, a.service_data) for a in got[0].advertisements
        }
        assert decoded[IBEACON_MAC].tag_id == "ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:2"
        assert (
            decoded[RUUVI_MAC].formats == ["ruuvi_v5"]
            and decoded[RUUVI_MAC].measurements["temperature_c"] == 24.3
        )
        assert decoded[BTHOME_MAC].measurements == {
            "battery_pct": 97,
            "temperature_c": 25.06,
            "humidity_pct": 50.55,
        }
        assert got[3].advertisements[0].rssi == -90
        assert online.boot == agent.boot and online.software.startswith("hospital-gateway ")
        assert online.info["scanner"] == "active" and online.info["dropped"] == 0 and "queue" in online.info
        # the retained status says "offline" after the clean stop, and a new subscriber gets it
        late = Subscriber(broker_url, [topic_for(SITE, gw, "status")])
        last = wait_for(lambda: statuses(late, gw), what="retained status")[-1]
        assert last.state == "offline" and last.info["reason"] == "shutdown" and late.messages[-1][2]
        late.close()
    finally:
        sub.close()


def test_sensor_advertisements_go_on_env_numbered_apart_and_are_resent_there(tmp_path, broker_url, gw):
    """Protocol §2a: with env_topic, Ruuvi and BTHome advertisements leave in batches of their own on
    .../env (boot <boot>-env, seq from 0); tags stay on .../adv; a resend request for the sensor stream's
    boot is answered on .../env."""
    sub = Subscriber(broker_url, [topic_for(SITE, gw, "adv"), topic_for(SITE, gw, "env")])
    agent = Agent(make_settings(tmp_path, broker_url, gw, env_topic=True))
    try:
        with running(agent):
            for _ in range(2):
                feed(agent, ibeacon(), ruuvi(), bthome())
                agent.flush()
            env = wait_for(lambda: len(sub.payloads("env")) >= 2 and sub.payloads("env"), what="2 sensor batches")
            tags = wait_for(lambda: len(batches(sub, gw)) >= 2 and batches(sub, gw), what="2 tag batches")
            sensor_batches = [decode_batch(p, gw) for p in env]
            assert [(b.boot, b.seq) for b in sensor_batches] == [(f"{agent.boot}-env", 0), (f"{agent.boot}-env", 1)]
            assert [sorted(a.address for a in b.advertisements) for b in sensor_batches] == [
                sorted([RUUVI_MAC, BTHOME_MAC])] * 2
            assert [(b.boot, b.seq, [a.address for a in b.advertisements]) for b in tags] == [
                (agent.boot, 0, [IBEACON_MAC]), (agent.boot, 1, [IBEACON_MAC])]
            server = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-server-{gw}")
            ep = parse_mqtt_url(broker_url)
            if ep.username:
                server.username_pw_set(ep.username, ep.password)
            server.connect(ep.host, ep.port)
            server.loop_start()
            server.publish(topic_for(SITE, gw, "resend"), encode_resend(gw, f"{agent.boot}-env", [(0, 0)]),
                           qos=1).wait_for_publish(5)
            wait_for(lambda: len(sub.payloads("env")) >= 3, what="the resent sensor batch")
            assert sub.payloads("env")[2] == env[0] and len(batches(sub, gw)) == 2
            server.disconnect()
            server.loop_stop()
    finally:
        sub.close()


def test_retained_config_filters_advertisements(tmp_path, broker_url, gw):
    sub = Subscriber(broker_url, [topic_for(SITE, gw, "adv"), topic_for(SITE, gw, "status")])
    ep = parse_mqtt_url(broker_url)
    server = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-server-{gw}")
    if ep.username:
        server.username_pw_set(ep.username, ep.password)
    server.connect(ep.host, ep.port)
    server.loop_start()
    config_topic = topic_for(SITE, gw, "config")

    def set_config(payload: bytes):
        server.publish(config_topic, payload, qos=1, retain=True).wait_for_publish(5)

    set_config(encode_config(GatewayConfig(batch_interval_ms=50, company_ids=frozenset({0x0499}))))
    agent = Agent(make_settings(tmp_path, broker_url, gw))
    try:
        with running(agent):
            wait_for(lambda: agent.config_source == "server", what="retained config")
            assert agent.batcher.interval_s == 0.05
            feed(agent, ibeacon(), ruuvi(), bthome())
            agent.flush()
            first = wait_for(lambda: batches(sub, gw), what="batch")[0]
            assert [a.address for a in first.advertisements] == [RUUVI_MAC]
            set_config(encode_config(GatewayConfig(service_uuids=frozenset({0xFCD2}))))
            wait_for(lambda: agent.config.service_uuids, what="second config")
            feed(agent, ibeacon(), ruuvi(), bthome())
            agent.flush()
            second = wait_for(lambda: len(batches(sub, gw)) > 1 and batches(sub, gw)[1], what="batch")
            assert [a.address for a in second.advertisements] == [BTHOME_MAC]
            set_config(b'{"v": 2}')  # invalid: the previous config stays, the status says why
            st = wait_for(lambda: [s for s in statuses(sub, gw) if "config_error" in s.info], what="error")[
                -1
            ]
            assert "unsupported config version" in st.info["config_error"] and agent.config.service_uuids
            assert (agent.settings.state_dir / "server-config.json").exists()  # survives a restart
            set_config(b"")  # the server clears its config: back to the local one
            wait_for(lambda: agent.config_source == "local", what="local config")
            assert agent.filtered == 4 and agent.forwarded == 2
    finally:
        server.disconnect()
        server.loop_stop()
        sub.close()


def test_last_will_on_kill_and_clean_sigterm(tmp_path, broker_url, gw):
    """The console script in a real process: SIGKILL -> the broker publishes the retained last will;
    SIGTERM -> offline status with reason "shutdown" and exit status 0."""
    conf = tmp_path / "gateway.toml"
    conf.write_text(
        f'gateway_id = "{gw}"\nsite = "{SITE}"\nstate_dir = "{tmp_path}/state"\n'
        f'[mqtt]\nurl = "{broker_url}"\n[scanner]\nmode = "off"\n'
    )
    sub = Subscriber(broker_url, [topic_for(SITE, gw, "status")])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "sensors.gateway", "--config", str(conf)]
    proc = None
    try:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        first = wait_for(lambda: [s for s in statuses(sub, gw) if s.state == "online"], 10, "online")[0]
        proc.kill()
        proc.wait(5)
        will = wait_for(lambda: [s for s in statuses(sub, gw) if s.state == "offline"], 10, "last will")[0]
        assert will.boot == first.boot and will.info["reason"] == "last-will"
        late = Subscriber(broker_url, [topic_for(SITE, gw, "status")])
        retained = wait_for(lambda: late.messages, what="retained")[-1]
        assert retained[2] and decode_status(retained[1], gw).info["reason"] == "last-will"
        late.close()

        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        second = wait_for(
            lambda: [s for s in statuses(sub, gw) if s.state == "online" and s.boot != first.boot],
            10,
            "second online",
        )[0]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, proc.stderr.read().decode()
        bye = wait_for(
            lambda: [s for s in statuses(sub, gw) if s.state == "offline" and s.boot == second.boot],
            5,
            "offline",
        )[0]
        assert bye.info["reason"] == "shutdown" and bye.info["scanner"] == "off"
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        sub.close()


def test_broker_outage_queues_on_disk_and_drains_exactly_once_in_order(tmp_path):
    gw = "gw-outage"
    extra = f"allow_anonymous true\npersistence true\npersistence_location {tmp_path}/\n"
    broker = PrivateMosquitto(tmp_path, extra).start()
    url = f"mqtt://127.0.0.1:{broker.port}"
    # a persistent session, so the broker keeps what arrives while this subscriber is reconnecting
    sub = Subscriber(url, [topic_for(SITE, gw, "adv")], client_id="test-outage-sub", persistent=True)
    agent = Agent(
        make_settings(
            tmp_path, url, gw, initial=GatewayConfig(batch_interval_ms=50), drain_rate=100.0, max_inflight=10
        )
    )
    try:
        with running(agent):
            wait_for(lambda: agent.publisher.connected, what="connect")
            end = time.monotonic() + 0.5
            while time.monotonic() < end:
                feed(agent, ruuvi(), bthome())
                time.sleep(0.01)
            agent.flush()
            before = agent.seq
            wait_for(lambda: len(sub.payloads("adv")) == before, what="batches before the outage")
            broker.stop()
            wait_for(lambda: not agent.publisher.connected, what="disconnect")
            end = time.monotonic() + 1.5
            while time.monotonic() < end:
                feed(agent, ruuvi(), bthome())
                time.sleep(0.01)
            agent.flush()
            queued = len(agent.queue)
            assert queued == agent.seq - before and queued >= 15, (queued, agent.seq, before)
            assert (agent.settings.state_dir / "queue.sqlite3").stat().st_size > 0
            broker = PrivateMosquitto(tmp_path, extra, port=broker.port).start()
            t0 = time.monotonic()
            wait_for(lambda: agent.publisher.connected, 5, "reconnect")
            t_connected = time.monotonic()
            total = agent.seq
            wait_for(lambda: len(agent.queue) == 0, 15, "queue drained")
            t_drained = time.monotonic()
            wait_for(lambda: len(sub.payloads("adv")) >= total, 10, "every batch at the subscriber")
            time.sleep(0.3)  # anything duplicated would arrive now
        got = batches(sub, gw)
        assert [b.seq for b in got] == list(range(total)), "every batch exactly once, in seq order"
        assert {b.boot for b in got} == {agent.boot}
        tracker = SequenceTracker()
        assert [tracker.observe(gw, b.boot, b.seq).status for b in got][1:] == ["new"] * (total - 1)
        assert agent.queue.dropped == 0
        print(
            f"\noutage: {queued} batches queued; reconnected {t_connected - t0:.2f} s after the broker "
            f"restart; drained in {t_drained - t_connected:.2f} s ({queued / max(t_drained - t_connected, 1e-3):.0f}"
            f" batches/s at drain_rate 100)"
        )
    finally:
        sub.close()
        broker.stop()


def test_batches_handed_over_as_the_connection_drops_are_delivered_after_the_reconnect(tmp_path):
    """paho closes the socket before it runs on_disconnect; on a loaded machine the drain thread can hand
    batches over in between. paho keeps them (rc MQTT_ERR_NO_CONN) and sends them after the reconnect,
    but their is_published() raises for good: that once wedged the drain loop, and the gateway published
    nothing more (the flaky broker-restart resend test). Here the callback is slowed down to open that
    window every time."""
    gw = "gw-drop-race"
    extra = f"allow_anonymous true\npersistence true\npersistence_location {tmp_path}/\n"
    broker = PrivateMosquitto(tmp_path, extra).start()
    url = f"mqtt://127.0.0.1:{broker.port}"
    sub = Subscriber(url, [topic_for(SITE, gw, "adv")], client_id="test-drop-race-sub", persistent=True)
    agent = Agent(make_settings(tmp_path, url, gw, initial=GatewayConfig(batch_interval_ms=20)))
    client = agent.publisher._client
    on_disconnect, publish = client.on_disconnect, client.publish
    handed_over_unconnected = []

    def slow_on_disconnect(*args):
        time.sleep(0.5)  # the socket is closed, the publisher still thinks it is connected
        on_disconnect(*args)

    def counting_publish(*args, **kwargs):
        info = publish(*args, **kwargs)
        if info.rc == mqtt.MQTT_ERR_NO_CONN:
            handed_over_unconnected.append(info.mid)
        return info

    client.on_disconnect, client.publish = slow_on_disconnect, counting_publish
    stop = threading.Event()

    def feeder():
        while not stop.is_set():
            feed(agent, ruuvi())
            time.sleep(0.005)

    thread = threading.Thread(target=feeder, daemon=True)
    try:
        with running(agent):
            wait_for(lambda: agent.publisher.connected, what="connect")
            thread.start()
            wait_for(lambda: agent.publisher.acked >= 5, what="batches delivered")
            broker.stop()
            wait_for(lambda: not agent.publisher.connected, what="disconnect")
            broker = PrivateMosquitto(tmp_path, extra, port=broker.port).start()
            wait_for(lambda: agent.publisher.connected, 10, "reconnect")
            time.sleep(0.3)
            stop.set()
            thread.join(5)
            agent.flush()
            total = agent.seq
            wait_for(lambda: len(agent.queue) == 0 and not agent.publisher.inflight, 10, "queue drained")
            wait_for(lambda: len({b.seq for b in batches(sub, gw)}) >= total, 10, "every batch at the subscriber")
    finally:
        stop.set()
        sub.close()
        broker.stop()
    assert handed_over_unconnected, "the race was not exercised"
    assert sorted({b.seq for b in batches(sub, gw)}) == list(range(total))
    assert agent.queue.dropped == 0 and agent.publisher.rejected == 0


def test_queue_bound_drops_oldest_and_reports_it(tmp_path):
    gw = "gw-overflow"
    broker = PrivateMosquitto(tmp_path, "allow_anonymous true").start()
    url = f"mqtt://127.0.0.1:{broker.port}"
    sub = Subscriber(url, [topic_for(SITE, gw, "adv"), topic_for(SITE, gw, "status")])
    agent = Agent(make_settings(tmp_path, url, gw, queue_max_batches=5))
    try:
        for _ in range(12):  # not connected yet: everything goes to the queue
            feed(agent, ruuvi())
            agent.flush()
        assert len(agent.queue) == 5 and agent.status_info()["dropped"] == 7
        assert [r.seq for r in agent.queue.peek(limit=10)] == [7, 8, 9, 10, 11]
        with running(agent):
            got = wait_for(lambda: len(batches(sub, gw)) >= 5 and batches(sub, gw), what="queued batches")
            st = wait_for(lambda: [s for s in statuses(sub, gw) if s.state == "online"], what="status")[-1]
        assert [b.seq for b in got] == [7, 8, 9, 10, 11]
        assert st.info["dropped"] == 7 and st.info["seq"] == 12  # 12 batches made, 7 dropped, 5 delivered
    finally:
        sub.close()
        broker.stop()


def test_restart_resends_queued_batches_with_their_seq(tmp_path):
    gw = "gw-restart"
    port = free_port()  # nothing listens there yet: the first process cannot deliver
    url = f"mqtt://127.0.0.1:{port}"
    first = Agent(make_settings(tmp_path, url, gw, initial=GatewayConfig(batch_interval_ms=60000)))
    with running(first):
        for _ in range(3):
            feed(first, ibeacon(), ruuvi())
            first.flush()
        feed(first, bthome())  # still pending when the stop comes: flushed into the queue on the way out
    broker = PrivateMosquitto(tmp_path, "allow_anonymous true", port=port).start()
    sub = Subscriber(url, [topic_for(SITE, gw, "adv")])
    second = Agent(make_settings(tmp_path, url, gw))  # same state dir: a restart of the process
    assert second.boot != first.boot
    assert [(r.boot, r.seq) for r in second.queue.peek(limit=10)] == [(first.boot, s) for s in range(4)]
    try:
        with running(second):
            got = wait_for(lambda: len(batches(sub, gw)) >= 4 and batches(sub, gw), what="re-sent batches")
            feed(second, ruuvi())
            second.flush()
            new = wait_for(lambda: len(batches(sub, gw)) >= 5 and batches(sub, gw)[4], what="new batch")
        assert [(b.boot, b.seq) for b in got[:4]] == [(first.boot, s) for s in range(4)]
        assert [a.address for a in got[3].advertisements] == [BTHOME_MAC]
        assert (new.boot, new.seq) == (second.boot, 0)
        tracker = SequenceTracker()
        assert [tracker.observe(gw, b.boot, b.seq).status for b in batches(sub, gw)] == [
            "first",
            "new",
            "new",
            "new",
            "reboot",
        ]
    finally:
        sub.close()
        broker.stop()


# ------------------------------------------------------------------------------------- TLS + auth


def make_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test hospital CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


def test_tls_and_per_gateway_credentials(tmp_path):
    gw, password = "gw-2e-11", "pw-of-gw-2e-11"
    ca, cert, key = make_tls_files(tmp_path)
    gateways = [GatewayAccount(gw, SITE, hash_password(password))]
    services = [ServiceAccount("ingest", hash_password("ingest-pw"), "ingest")]
    (tmp_path / "passwd").write_text(
        f"{services[0].username}:{services[0].password_hash}\n{gw}:{gateways[0].password_hash}\n"
    )
    (tmp_path / "acl").write_text(acl_file(gateways, services))  # what manage.py mqtt_credentials writes
    tls_port = free_port()
    broker = PrivateMosquitto(
        tmp_path,
        (
            f"allow_anonymous false\npassword_file {tmp_path / 'passwd'}\nacl_file {tmp_path / 'acl'}\n"
            f"listener {tls_port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
        ),
    ).start()
    wait_for(lambda: reachable("127.0.0.1", tls_port), what="TLS listener")
    url = f"mqtts://{gw}:{password}@127.0.0.1:{tls_port}?ca={ca}"
    sub = Subscriber(
        f"mqtts://ingest:ingest-pw@127.0.0.1:{tls_port}?ca={ca}",
        [topic_for(SITE, gw, "adv"), topic_for(SITE, gw, "status")],
    )
    agent = Agent(make_settings(tmp_path, url, gw))
    intruder = Agent(
        make_settings(tmp_path, url.replace(password, "wrong-password"), gw, state_dir=tmp_path / "intruder")
    )
    try:
        with running(agent), running(intruder):
            feed(agent, ruuvi())
            agent.flush()
            feed(intruder, ruuvi())
            intruder.flush()
            got = wait_for(lambda: batches(sub, gw), what="batch over TLS")
            st = wait_for(
                lambda: [s for s in statuses(sub, gw) if s.state == "online"], what="status over TLS"
            )
            time.sleep(0.5)
            assert not intruder.publisher.connected and len(intruder.queue) == 1  # refused, kept queued
        assert [(b.boot, b.seq) for b in got] == [(agent.boot, 0)] and st[-1].boot == agent.boot
        assert agent.publisher.rejected == 0
    finally:
        sub.close()
        broker.stop()
