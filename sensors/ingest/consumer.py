"""The MQTT side of ingest: subscribe, hand messages over in chunks, acknowledge after commit.

Messages are acknowledged (QoS 1 PUBACK) only after the chunk that holds them is committed, and the
session is persistent, so a crash or ``kill -9`` loses nothing: the broker redelivers what was not
acknowledged, and sequence numbers (committed with the data) make the redelivery a no-op.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from sensors.mqtt.client import MqttEndpoint, connect_properties, make_client

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Message:
    topic: str
    payload: bytes
    mid: int
    qos: int
    received: float


class ChunkedConsumer:
    """Receives from MQTT on paho's thread; ``run()`` processes chunks on the caller's thread.

    ``handle(messages)`` must commit everything it does with the chunk before returning; the chunk is
    acknowledged afterwards. If it raises, nothing is acknowledged and the consumer reconnects, so
    the broker redelivers the chunk (a database outage therefore loses nothing the broker holds).
    """

    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str,
        subscriptions: list[tuple[str, int]],
        handle: Callable[[list[Message]], None],
        *,
        chunk_size: int = 500,
        chunk_wait_s: float = 0.05,
        queue_size: int = 5000,
        session_expiry_s: int = 86400,
        on_idle: Callable[[], None] | None = None,
    ):
        self.endpoint = endpoint
        self.subscriptions = subscriptions
        self.handle = handle
        self.on_idle = on_idle
        self.chunk_size = chunk_size
        self.chunk_wait_s = chunk_wait_s
        self.session_expiry_s = session_expiry_s
        self.inbox: queue.Queue[Message] = queue.Queue(maxsize=queue_size)
        self.connected = threading.Event()
        self.client = make_client(endpoint, client_id, clean_start=False)
        self.client.manual_ack_set(True)
        # Come back within 2 s of the broker: Mosquitto 2.0 does not restore a persistent session's
        # *shared* subscription after its own restart, so until ingest resubscribes, batches for the
        # share group are dropped by the broker (bench/faults.py, docs/deploy.md).
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.failures = 0  # chunks that had to be retried (database outages)

    # paho thread -------------------------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("MQTT connect to %s refused: %s", self.endpoint.redacted(), reason_code)
            return
        log.info("connected to %s (session present: %s)", self.endpoint.redacted(), flags.session_present)
        for topic, qos in self.subscriptions:
            client.subscribe(topic, qos=qos)
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected.clear()
        log.warning("disconnected from MQTT broker (%s); paho reconnects with backoff", reason_code)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage):
        # Blocks when the inbox is full: backpressure to the broker instead of unbounded memory.
        self.inbox.put(Message(msg.topic, msg.payload, msg.mid, msg.qos, time.time()))

    # worker thread -----------------------------------------------------------------------------
    def start(self) -> None:
        props = connect_properties(self.endpoint, session_expiry_s=self.session_expiry_s)
        if self.endpoint.is_v5:
            props.ReceiveMaximum = min(65535, self.inbox.maxsize)
            self.client.connect_async(self.endpoint.host, self.endpoint.port, keepalive=30, clean_start=False,
                                      properties=props)
        else:
            self.client.connect_async(self.endpoint.host, self.endpoint.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def next_chunk(self, timeout: float) -> list[Message]:
        try:
            first = self.inbox.get(timeout=timeout)
        except queue.Empty:
            return []
        chunk = [first]
        deadline = time.monotonic() + self.chunk_wait_s
        while len(chunk) < self.chunk_size:
            remaining = deadline - time.monotonic()
            try:
                chunk.append(self.inbox.get(timeout=max(0.0, remaining)) if remaining > 0 else self.inbox.get_nowait())
            except queue.Empty:
                break
        return chunk

    def publish(self, topic: str, payload: bytes) -> bool:
        """Send a QoS 1 message (e.g. a resend request) if connected; False while the broker is away
        (the caller asks again later rather than piling messages up in paho)."""
        if not self.connected.is_set():
            return False
        return self.client.publish(topic, payload, qos=1).rc == mqtt.MQTT_ERR_SUCCESS

    def acknowledge(self, chunk: list[Message]) -> None:
        for message in chunk:
            if message.qos > 0:
                self.client.ack(message.mid, message.qos)

    def run(self, stop: threading.Event, *, idle_every_s: float = 1.0) -> None:
        """Process until ``stop`` is set, then drain what is already received and return."""
        self.start()
        last_idle = time.monotonic()
        draining = False
        try:
            while True:
                if stop.is_set() and not draining:
                    # Take nothing new; what the broker already sent is processed and acknowledged below.
                    draining = True
                    self.client.unsubscribe([topic for topic, _ in self.subscriptions])
                chunk = self.next_chunk(timeout=0.2)
                if chunk:
                    self._process(chunk)
                elif draining:
                    break
                if self.on_idle and time.monotonic() - last_idle >= idle_every_s:
                    last_idle = time.monotonic()
                    self.on_idle()
        finally:
            self.stop()

    def _process(self, chunk: list[Message]) -> None:
        backoff = 0.5
        while True:
            try:
                self.handle(chunk)
                self.acknowledge(chunk)
                return
            except Exception:  # noqa: BLE001 - e.g. database down: retry the same chunk, never drop it
                log.exception("could not process a chunk of %d messages (nothing acknowledged; the broker keeps "
                              "them); retrying in %.1fs", len(chunk), backoff)
                self.failures += 1
                _reset_database_connection()
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)


def _reset_database_connection() -> None:
    """After a database error the connection may be dead: drop it so the retry opens a fresh one."""
    from django.db import connection

    try:
        connection.close()
    except Exception:  # noqa: BLE001 - closing a broken connection may itself fail
        pass
