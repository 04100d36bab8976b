"""The gateway's MQTT side: one connection, acknowledged delivery of queued batches, the retained status
(with an "offline" last will) and the retained server-to-gateway config.

Delivery. A drain thread hands the oldest queued batches to paho (QoS 1), at most ``max_inflight``
unacknowledged at a time and at most ``drain_rate`` per second (a token bucket, so a gateway coming
back after an outage does not flood the broker, and a hundred of them after a broker restart do not
either). A batch leaves the disk queue only after its PUBACK. While the connection is down, paho keeps
the handed-over batches and re-sends them first on reconnect (with the DUP flag), so order is kept;
after a restart of the process everything still on disk is sent again with its original boot and seq.
Duplicates are possible (QoS 1 is at-least-once) and are what the server's SequenceTracker removes.

Resends. Batches the server asks for again (``resend``, from the agent's ResendHandler) wait in a bounded
list and go out before new batches, within the same window and rate; they are already delivered and
kept on disk, so nothing changes in the queue when they are acknowledged again.

A PUBACK with an MQTT 5 failure reason (e.g. 0x87 "not authorized": the broker's ACL refuses the
topic) will not get better by retrying: the batch is removed, counted as ``rejected`` and logged.

Connection. paho's network thread connects and reconnects with exponential backoff
(``reconnect_min_s`` doubling up to ``reconnect_max_s``, reset after a successful connect). TLS and
credentials come from the MQTT URL (``sensors.mqtt.client``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from sensors.mqtt.client import MqttEndpoint, make_client
from sensors.protocol import encode_status, topic_for

from .queue import DiskQueue

log = logging.getLogger(__name__)


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, max(1.0, burst), clock
        self.tokens = self.burst
        self.stamp = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def available(self) -> int:
        self._refill()
        return int(self.tokens)

    def wait_time(self) -> float:
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self, n: int = 1) -> None:
        self.tokens -= n


class Publisher:
    def __init__(
        self,
        endpoint: MqttEndpoint,
        *,
        gateway_id: str,
        site: str,
        boot: str,
        queue: DiskQueue,
        software: str,
        env_boot: str | None = None,
        status_info: Callable[[], dict[str, Any]] = dict,
        on_config: Callable[[bytes], None] | None = None,
        on_resend: Callable[[bytes], None] | None = None,
        max_inflight: int = 20,
        drain_rate: float = 50.0,
        keepalive_s: int = 30,
        reconnect_min_s: float = 1.0,
        reconnect_max_s: float = 60.0,
    ):
        self.endpoint = endpoint
        self.gateway_id, self.boot, self.software = gateway_id, boot, software
        self.queue = queue
        self.status_info = status_info
        self.on_config = on_config
        self.on_resend = on_resend
        self.max_inflight = max_inflight
        self.drain_rate = drain_rate
        self.keepalive_s = keepalive_s
        self.adv_topic = topic_for(site, gateway_id, "adv")
        self.env_topic = topic_for(site, gateway_id, "env")
        self.env_boot = env_boot  # queued batches of this boot are sensor batches, for .../env (protocol §2a)
        self.status_topic = topic_for(site, gateway_id, "status")
        self.config_topic = topic_for(site, gateway_id, "config")
        self.resend_topic = topic_for(site, gateway_id, "resend")
        self.max_resends = 4 * 4096  # batches waiting to be published again (four full requests)

        self.published = 0  # batches handed to the broker (including re-sends after a restart)
        self.acked = 0
        self.rejected = 0  # refused by the broker with a failure reason code; removed, not retried
        self.connects = 0
        self.resent = 0  # batches published again on the server's request and acknowledged
        # Highest seq of this boot the broker acknowledged, for the status (protocol §4): ingest learns of
        # batches lost at the end of a stream from it, without waiting for a later batch.
        self.acked_seq: int | None = None
        self._seq_of: dict[int, int] = {}  # queue row id -> seq, for batches of this boot handed over

        self._lock = threading.Lock()
        self._wake = threading.Event()
        # (paho info, queue row id, a resend?)
        self._inflight: deque[tuple[mqtt.MQTTMessageInfo, int, bool]] = deque()
        self._resends: deque[tuple[str, bytes]] = deque()  # (topic, payload)
        self._reasons: dict[int, tuple[Any, float]] = {}  # mid -> (PUBACK reason code, when)
        self._cursor = 0  # highest queue row id handed to paho
        self._connected = False
        self._hold = False  # shutting down: no new batches
        self._exit = False
        self._failures = 0  # connection attempts failed since the last success
        self._thread: threading.Thread | None = None

        client = make_client(endpoint, client_id=gateway_id)
        client.max_inflight_messages_set(max_inflight)
        client.reconnect_delay_set(min_delay=reconnect_min_s, max_delay=reconnect_max_s)  # type: ignore[arg-type]
        client.will_set(
            self.status_topic,
            encode_status(gateway_id, "offline", boot, software=software, reason="last-will"),
            qos=1,
            retain=True,
        )
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._client = client

    # ------------------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        log.info("connecting to %s as %s", self.endpoint.redacted(), self.gateway_id)
        self._client.connect_async(self.endpoint.host, self.endpoint.port, keepalive=self.keepalive_s)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._drain_loop, name="gateway-drain", daemon=True)
        self._thread.start()

    def stop(self, grace_s: float = 2.0) -> None:
        """Deliver what is queued for up to ``grace_s`` if connected, publish the offline status, disconnect.
        Whatever is not acknowledged by then stays on disk for the next start."""
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and self._connected and (len(self.queue) or self._inflight or self._resends):
            time.sleep(0.02)
        with self._lock:
            self._hold = True
        while time.monotonic() < deadline and self._connected and self._inflight:
            time.sleep(0.02)
        self._exit = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
        self._collect_acks()
        if self._connected:
            info = self._client.publish(
                self.status_topic, self._status("offline", reason="shutdown"), qos=1, retain=True
            )
            try:
                info.wait_for_publish(max(1.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError) as e:
                log.warning("offline status not confirmed: %s", e)
        self._client.disconnect()
        self._client.loop_stop()
        log.info("disconnected; %d batch(es) left in the queue", len(self.queue))

    def wake(self) -> None:
        """A batch was queued (or anything else the drain loop should look at)."""
        self._wake.set()

    def enqueue(self, boot: str, seq: int, payload: bytes) -> int:
        """Queue one encoded batch on disk; returns the number of old batches dropped to make room.
        Batches already handed to paho are never the ones dropped."""
        with self._lock:
            keep = {row_id for _, row_id, _ in self._inflight}
        dropped = self.queue.put(boot, seq, payload, keep=keep)
        self._wake.set()
        return dropped

    def resend(self, payloads: list[bytes], env: bool = False) -> int:
        """Publish these already delivered batches again (the server asked; ``env``: sensor batches);
        returns how many were taken (the list is bounded: a flood of requests cannot fill the memory)."""
        topic = self.env_topic if env else self.adv_topic
        with self._lock:
            room = max(0, self.max_resends - len(self._resends))
            self._resends.extend((topic, payload) for payload in payloads[:room])
        self._wake.set()
        return min(room, len(payloads))

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    # ---------------------------------------------------------------------------------------- status

    def _status(self, state: str, **extra: Any) -> bytes:
        info = dict(self.status_info())
        info.update(extra)
        return encode_status(self.gateway_id, state, self.boot, software=self.software, **info)

    def publish_status(self) -> bool:
        """Publish the retained online status now (if connected)."""
        if not self._connected or self._hold:
            return False
        self._client.publish(self.status_topic, self._status("online"), qos=1, retain=True)
        return True

    # ------------------------------------------------------------------------------- paho callbacks

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._failures += 1
            level = logging.ERROR if self._failures == 1 or self._failures % 60 == 0 else logging.DEBUG
            log.log(
                level,
                "broker %s refused the connection: %s (attempt %d; check the gateway id and "
                "password, and the broker's password file)",
                self.endpoint.redacted(),
                reason_code,
                self._failures,
            )
            return
        self.connects += 1
        backlog = len(self.queue)
        log.info(
            "connected to %s%s; %d batch(es) queued%s",
            self.endpoint.redacted(),
            f" after {self._failures} failed attempt(s)" if self._failures else "",
            backlog,
            f", draining at up to {self.drain_rate:g}/s" if backlog else "",
        )
        self._failures = 0
        client.subscribe(self.config_topic, qos=1)
        if self.on_resend is not None:
            client.subscribe(self.resend_topic, qos=1)
        self._connected = True
        self.publish_status()
        self._wake.set()

    def _on_connect_fail(self, client, userdata) -> None:
        self._failures += 1
        level = logging.WARNING if self._failures == 1 or self._failures % 60 == 0 else logging.DEBUG
        log.log(
            level,
            "cannot reach the broker %s (attempt %d); retrying with backoff, batches are "
            "queued on disk meanwhile",
            self.endpoint.redacted(),
            self._failures,
        )

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self._connected
        self._connected = False
        if was and not self._exit:
            log.warning("lost the broker connection (%s); reconnecting with backoff", reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:
            self._reasons[mid] = (reason_code, time.monotonic())
        self._wake.set()

    def _on_message(self, client, userdata, message) -> None:
        if message.topic == self.config_topic and self.on_config is not None:
            handler = self.on_config
        elif message.topic == self.resend_topic and self.on_resend is not None:
            handler = self.on_resend
        else:
            return
        try:
            handler(bytes(message.payload))
        except Exception:
            log.exception("handling the message on %s failed", message.topic)

    # ------------------------------------------------------------------------------------ drain loop

    def _acknowledged(self, info: mqtt.MQTTMessageInfo) -> bool:
        """Has the broker acknowledged this message? (Called with the lock held.)

        A batch handed to paho in the moment the connection drops (paho has closed the socket, our
        ``_on_disconnect`` has not run yet) gets rc MQTT_ERR_NO_CONN: paho keeps it and sends it after
        the reconnect, but its ``is_published()`` raises for good. Asking it wedged the drain loop and
        the gateway published nothing more until restarted; for those the PUBACK callback tells."""
        if info.rc == mqtt.MQTT_ERR_NO_CONN:
            return info.mid in self._reasons
        return info.is_published()

    def _collect_acks(self) -> None:
        """Remove acknowledged batches from the disk queue (one transaction for all of them)."""
        done: list[int] = []
        refused: list[int] = []
        with self._lock:
            if not self._inflight:
                return
            still: deque[tuple[mqtt.MQTTMessageInfo, int, bool]] = deque()
            for info, row_id, again in self._inflight:
                if not self._acknowledged(info):
                    still.append((info, row_id, again))
                    continue
                reason = self._reasons.pop(info.mid, (None, 0))[0]
                if reason is not None and getattr(reason, "is_failure", False):
                    self.rejected += 1
                    log.error(
                        "broker refused batch (%s) on %s: %s; dropped (check the ACL)",
                        "a resend" if again else f"queue row {row_id}",
                        self.adv_topic,
                        reason,
                    )
                    if not again:
                        refused.append(row_id)
                        self._seq_of.pop(row_id, None)
                elif again:
                    self.resent += 1
                else:
                    self.acked += 1
                    done.append(row_id)
                    seq = self._seq_of.pop(row_id, None)
                    if seq is not None and (self.acked_seq is None or seq > self.acked_seq):
                        self.acked_seq = seq
            self._inflight = still
            if len(self._reasons) > 4 * self.max_inflight:  # acks of status messages nobody collects
                cutoff = time.monotonic() - 60
                self._reasons = {m: r for m, r in self._reasons.items() if r[1] > cutoff}
        if refused:
            self.queue.remove(refused)
        if done:
            self.queue.acknowledge(done)

    def _drain_loop(self) -> None:
        bucket = TokenBucket(self.drain_rate, burst=self.max_inflight)
        next_prune = 0.0
        while not self._exit:
            self._wake.clear()
            try:
                self._collect_acks()
                if time.monotonic() >= next_prune:  # an idle gateway forgets old kept batches too
                    next_prune = time.monotonic() + 10.0
                    self.queue.prune()
                timeout = self._send_some(bucket)
            except Exception:
                log.exception("drain loop error; retrying in 1 s")
                timeout = 1.0
            self._wake.wait(timeout)

    def _handed_over(self, info: mqtt.MQTTMessageInfo) -> None:
        """Not on the wire yet (NO_CONN), so no PUBACK for it can have come: an ack recorded under its
        mid is a stale one of an earlier message (a status nobody collected) and must not count."""
        if info.rc == mqtt.MQTT_ERR_NO_CONN:
            self._reasons.pop(info.mid, None)

    def _send_some(self, bucket: TokenBucket) -> float:
        """Hand queued batches to paho within the window and the rate; returns how long to sleep."""
        with self._lock:
            room = self.max_inflight - len(self._inflight)
            ready = self._connected and not self._hold and room > 0
            cursor = self._cursor
        if not ready:
            return 0.5
        wait = bucket.wait_time()
        if wait > 0:
            return wait
        budget = min(room, bucket.available())
        with self._lock:
            again = [self._resends.popleft() for _ in range(min(budget, len(self._resends)))]
        for topic, payload in again:  # asked for by the server: older data, but few and already late
            bucket.take()
            info = self._client.publish(topic, payload, qos=1)
            with self._lock:
                self._handed_over(info)
                self._inflight.append((info, 0, True))
            self.published += 1
        rows = self.queue.peek(cursor, limit=budget - len(again)) if budget > len(again) else []
        if not rows and not again:
            return 0.5
        for row in rows:
            bucket.take()
            topic = self.env_topic if row.boot == self.env_boot else self.adv_topic
            info = self._client.publish(topic, row.payload, qos=1)
            with self._lock:
                self._handed_over(info)
                self._inflight.append((info, row.id, False))
                self._cursor = row.id
                if row.boot == self.boot:
                    self._seq_of[row.id] = row.seq
            self.published += 1
        return 0.0
