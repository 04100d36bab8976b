"""Publishing a simulated gateway fleet the way real gateways publish (docs/protocol.md).

Each gateway has its own boot id and a ``seq`` that grows by one per batch; a batch goes to
``hospital/<site>/gw/<gateway_id>/adv`` with QoS 1, and each gateway's retained ``.../status`` says
``online`` while the simulator runs and ``offline`` after it stops (or while a ``gateway_outage``
scenario has that gateway down; when it comes back it has rebooted: new boot id, seq from 0).

One MQTT connection carries the whole fleet (hundreds of connections would cost a thread each in paho
and gain nothing). A connection has only one last will, so the will is the ``offline`` status of a
fleet pseudo-gateway (``hospital/<site>/<fleet_id>/status``, default fleet id ``simulator``; outside
the ``gw/`` topics so ingest does not take it for an unregistered gateway) whose
payload lists every gateway of the fleet (``"gateways": [...]``). If the simulator dies without a clean
shutdown, only that topic turns offline: the per-gateway retained statuses stay ``online`` until the
next run, and the server sees the outage as batches that stop arriving. A clean stop publishes
``offline`` for every gateway.

Like real gateways, the MQTT fleet answers ingest's resend requests (protocol §7a) from a bounded ring
of its recent batches (``resend_max_bytes``, ``resend_keep_s``), also batches it could not send while
the broker was away, so the demo's loss counters show what a real fleet would lose.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

from sensors.protocol import (
    MAX_ADVERTISEMENTS,
    TOPIC_ROOT,
    Advertisement,
    ProtocolError,
    encode_batch,
    encode_status,
    parse_topic,
    topic_for,
)

log = logging.getLogger(__name__)

SOFTWARE = "hospital-simulator 1.0"


class Publisher:
    """Boot ids, sequence numbers and encoding; subclasses deliver the bytes (``_send``)."""

    def __init__(self, site: str, *, fleet_id: str = "simulator"):
        self.site = site
        self.fleet_id = fleet_id
        self.fleet_boot = secrets.token_hex(4)
        self.boot: dict[str, str] = {}
        self.seq: dict[str, int] = {}
        self.started: dict[str, float] = {}
        self.gateways: list[str] = []
        self.published = 0
        self.dropped = 0

    # delivery ---------------------------------------------------------------------------------
    def _send(self, topic: str, payload: bytes, *, retain: bool = False) -> bool:
        raise NotImplementedError

    def _remember(self, gateway_id: str, boot: str, seq: int, payload: bytes) -> None:
        """A batch was made (sent or not); publishers that answer resend requests keep it."""

    # fleet ------------------------------------------------------------------------------------
    def _boot(self, gateway_id: str, t: float) -> None:
        self.boot[gateway_id] = secrets.token_hex(4)
        self.seq[gateway_id] = 0
        self.started[gateway_id] = t

    def status_payload(self, gateway_id: str, state: str, t: float, **info) -> bytes:
        return encode_status(
            gateway_id,
            state,
            self.boot.get(gateway_id, self.fleet_boot),
            ts=t,
            software=SOFTWARE,
            simulated=True,
            **info,
        )

    def will(self) -> tuple[str, bytes]:
        """(topic, payload) of the connection's last will: the fleet pseudo-gateway goes offline."""
        return f"{TOPIC_ROOT}/{self.site}/{self.fleet_id}/status", encode_status(
            self.fleet_id,
            "offline",
            self.fleet_boot,
            ts=time.time(),
            software=SOFTWARE,
            simulated=True,
            reason="last-will",
            fleet=True,
            gateways=self.gateways,
        )

    def start(self, gateway_ids: Iterable[str], t: float) -> None:
        self.gateways = list(gateway_ids)
        for g in self.gateways:
            self._boot(g, t)
        self.announce(t)

    def announce(self, t: float) -> None:
        """Retained ``online`` for the fleet and every gateway (again after every reconnect)."""
        self._send(
            f"{TOPIC_ROOT}/{self.site}/{self.fleet_id}/status",
            encode_status(
                self.fleet_id,
                "online",
                self.fleet_boot,
                ts=t,
                software=SOFTWARE,
                simulated=True,
                fleet=True,
                gateways=len(self.gateways),
            ),
            retain=True,
        )
        for g in self.gateways:
            if g in self.boot:
                self._send(
                    topic_for(self.site, g, "status"), self.status_payload(g, "online", t), retain=True
                )

    def publish(self, gateway_id: str, advertisements: list[Advertisement], sent: float) -> None:
        if gateway_id not in self.boot:
            return
        topic = topic_for(self.site, gateway_id, "adv")
        for i in range(0, max(1, len(advertisements)), MAX_ADVERTISEMENTS):
            seq = self.seq[gateway_id]
            self.seq[gateway_id] = seq + 1
            payload = encode_batch(
                gateway_id, self.boot[gateway_id], seq, advertisements[i : i + MAX_ADVERTISEMENTS], sent=sent
            )
            self._remember(gateway_id, self.boot[gateway_id], seq, payload)
            if self._send(topic, payload):
                self.published += 1
            else:
                self.dropped += 1

    def gateway_down(self, gateway_id: str, t: float, reason: str = "outage") -> None:
        """The gateway vanished: publish what its last will would have said."""
        if gateway_id in self.boot:
            self._send(
                topic_for(self.site, gateway_id, "status"),
                self.status_payload(gateway_id, "offline", t, reason=reason),
                retain=True,
            )
            del self.boot[gateway_id]

    def gateway_up(self, gateway_id: str, t: float) -> None:
        """The gateway is back after a reboot: new boot id, sequence from 0."""
        self._boot(gateway_id, t)
        self._send(
            topic_for(self.site, gateway_id, "status"),
            self.status_payload(gateway_id, "online", t),
            retain=True,
        )

    def close(self, t: float) -> None:
        for g in list(self.boot):
            self._send(
                topic_for(self.site, g, "status"),
                self.status_payload(g, "offline", t, reason="shutdown"),
                retain=True,
            )
        self._send(
            f"{TOPIC_ROOT}/{self.site}/{self.fleet_id}/status",
            encode_status(
                self.fleet_id,
                "offline",
                self.fleet_boot,
                ts=t,
                software=SOFTWARE,
                simulated=True,
                reason="shutdown",
                fleet=True,
                gateways=self.gateways,
            ),
            retain=True,
        )


class MemoryPublisher(Publisher):
    """Keeps every message in ``messages`` as (topic, payload, retain): for tests and benchmarks."""

    def __init__(self, site: str, **kw):
        super().__init__(site, **kw)
        self.messages: list[tuple[str, bytes, bool]] = []

    def _send(self, topic: str, payload: bytes, *, retain: bool = False) -> bool:
        self.messages.append((topic, payload, retain))
        return True


class NullPublisher(Publisher):
    """Encodes every batch (so the cost is real) and throws it away: for benchmarks."""

    def _send(self, topic: str, payload: bytes, *, retain: bool = False) -> bool:
        return True


class MqttPublisher(Publisher):
    """One paho connection for the fleet (see the module docstring for the last-will arrangement).

    While the broker is unreachable batches are dropped (and counted): the gateways' ``seq`` still
    grows, so the server counts exactly what was lost, as it would for real gateways whose buffers
    overflowed. ``max_pending`` bounds the QoS 1 messages waiting for the broker's acknowledgement.
    """

    def __init__(
        self,
        endpoint,
        site: str,
        *,
        client_id: str | None = None,
        fleet_id: str = "simulator",
        connect_timeout_s: float = 10.0,
        max_pending: int = 20000,
        resend_max_bytes: int = 32 * 1024 * 1024,
        resend_keep_s: float = 300.0,
    ):
        super().__init__(site, fleet_id=fleet_id)
        from sensors.gateway.resend import ResendHandler
        from sensors.mqtt.client import make_client

        self.endpoint = endpoint
        self.connect_timeout_s = connect_timeout_s
        self.max_pending = max_pending
        self.connected = threading.Event()
        # QoS 1 messages handed to paho and acknowledged by the broker; each counter is written by one
        # thread only (no lock: paho calls on_publish while holding its own message lock)
        self._handed = 0
        self._acked = 0
        self.client = make_client(endpoint, client_id or f"sim-{site}-{secrets.token_hex(3)}")
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self._t = 0.0
        # recent batches for resends: (gateway, boot, seq) -> (monotonic time made, payload)
        self.resend_max_bytes, self.resend_keep_s = resend_max_bytes, resend_keep_s
        self._ring: OrderedDict[tuple[str, str, int], tuple[float, bytes]] = OrderedDict()
        self._ring_bytes = 0
        self._ring_lock = threading.Lock()
        self.resends = ResendHandler(self._held, self._current, self._republish, rate=2.0)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("simulator: MQTT connect to %s refused: %s", self.endpoint.redacted(), reason_code)
            return
        log.info("simulator: connected to %s", self.endpoint.redacted())
        client.subscribe(f"{TOPIC_ROOT}/{self.site}/gw/+/resend", qos=1)
        self.connected.set()
        if self.gateways:
            self.announce(self._t or time.time())

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected.clear()
        if reason_code != 0:
            log.warning("simulator: disconnected from MQTT (%s); reconnecting", reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        self._acked += 1

    @property
    def pending(self) -> int:
        return self._handed - self._acked

    # resends ----------------------------------------------------------------------------------
    def _remember(self, gateway_id: str, boot: str, seq: int, payload: bytes) -> None:
        now = time.monotonic()
        with self._ring_lock:
            self._ring[(gateway_id, boot, seq)] = (now, payload)
            self._ring_bytes += len(payload)
            while self._ring and (
                self._ring_bytes > self.resend_max_bytes or next(iter(self._ring.values()))[0] < now - self.resend_keep_s
            ):
                _, (_, old) = self._ring.popitem(last=False)
                self._ring_bytes -= len(old)

    def _held(self, gateway_id: str, boot: str, first: int, last: int) -> list[tuple[int, bytes]]:
        cutoff = time.monotonic() - self.resend_keep_s
        out = []
        with self._ring_lock:
            for seq in range(first, last + 1):
                kept = self._ring.get((gateway_id, boot, seq))
                if kept is not None and kept[0] >= cutoff:
                    out.append((seq, kept[1]))
        return out

    def _current(self, gateway_id: str) -> tuple[str, int] | None:
        boot = self.boot.get(gateway_id)
        return None if boot is None else (boot, self.seq[gateway_id])

    def _republish(self, gateway_id: str, batches: list[tuple[int, bytes]], boot: str) -> int:
        # (one stream per simulated gateway, on .../adv: the simulator does not use protocol 2a's .../env)
        topic = topic_for(self.site, gateway_id, "adv")
        taken = 0
        for _, payload in batches:
            if not self._send(topic, payload):
                break
            taken += 1
        self.published += taken
        return taken

    def _on_message(self, client, userdata, message):
        try:
            topic = parse_topic(message.topic)
        except ProtocolError as e:
            self.resends.ignore("malformed", e.reason)
            return
        if topic.kind == "resend":
            self.resends.handle(topic.gateway_id, bytes(message.payload))

    def _send(self, topic: str, payload: bytes, *, retain: bool = False) -> bool:
        if not self.connected.is_set() or self.pending >= self.max_pending:
            return False
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != 0:
            return False
        self._handed += 1
        return True

    def start(self, gateway_ids: Iterable[str], t: float) -> None:
        self.gateways = list(gateway_ids)
        self._t = t
        for g in self.gateways:
            self._boot(g, t)
        topic, payload = self.will()
        self.client.will_set(topic, payload, qos=1, retain=True)
        self.client.connect_async(self.endpoint.host, self.endpoint.port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(self.connect_timeout_s):
            log.warning(
                "simulator: no MQTT connection to %s after %.0fs; batches are dropped until it connects",
                self.endpoint.redacted(),
                self.connect_timeout_s,
            )

    def publish(self, gateway_id: str, advertisements: list[Advertisement], sent: float) -> None:
        self._t = sent
        super().publish(gateway_id, advertisements, sent)

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until the broker acknowledged everything sent so far."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pending <= 0:
                return True
            time.sleep(0.01)
        return False

    def close(self, t: float) -> None:
        try:
            if self.connected.is_set():
                super().close(t)
                self.flush()
                self.client.disconnect()
        finally:
            self.client.loop_stop()
