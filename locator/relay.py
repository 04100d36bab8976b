"""Carry the sightings of a site's other ingest processes to the one that computes its positions.

Over the channel layer (Redis): a follower ``send``s each committed chunk's sightings to the site's
channel; the leader ``receive``s them and ``drain``s them into its locator before each solve. The
channel layer's asyncio calls run on one event loop in a daemon thread, so ingest never blocks on
Redis: when too many sends are outstanding (Redis slow or away) a chunk's sightings are dropped and
counted. Sightings are soft state (a tag is heard again within a second), so at-most-once is enough;
readings and alarms never travel this way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections import deque

import numpy as np

from sensors.ingest.pipeline import Sightings

log = logging.getLogger(__name__)

MESSAGE_TYPE = "locator.sightings"


def channel_name(site: str, database: str) -> str:
    """One channel per site and database (two deployments may share a Redis)."""
    clean = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{database}.{'all' if site in ('+', '') else site}")
    return f"locator.sightings.{clean}"[:99]


def encode(sightings: Sightings) -> dict:
    """Columns as little-endian arrays: a chunk of 25,000 sightings is about 400 kB and packs in ~1 ms."""
    gateways = sorted(set(sightings.gateway_id))
    index = {g: i for i, g in enumerate(gateways)}
    n = len(sightings)
    return {
        "type": MESSAGE_TYPE,
        "t": np.asarray(sightings.t, "<f8").tobytes(),
        "tag": np.asarray(sightings.tag_pk, "<i8").tobytes(),
        "rssi": np.asarray(sightings.rssi, "<i2").tobytes(),
        "gateways": gateways,
        "gw": np.fromiter((index[g] for g in sightings.gateway_id), "<u4", n).tobytes(),
    }


def decode(message: dict) -> Sightings:
    if message.get("type") != MESSAGE_TYPE:
        raise ValueError(f"not a sightings message: type {message.get('type')!r}")
    out = Sightings()
    t = np.frombuffer(message["t"], "<f8")
    tag = np.frombuffer(message["tag"], "<i8")
    rssi = np.frombuffer(message["rssi"], "<i2")
    gw = np.frombuffer(message["gw"], "<u4")
    if not (len(t) == len(tag) == len(rssi) == len(gw)):
        raise ValueError("sightings message with columns of different lengths")
    gateways = list(message["gateways"])
    if len(gw) and int(gw.max()) >= len(gateways):
        raise ValueError("sightings message names a gateway index out of range")
    out.t, out.tag_pk, out.rssi = t.tolist(), tag.tolist(), rssi.tolist()
    out.gateway_id = [gateways[i] for i in gw.tolist()]
    return out


class SightingsRelay:
    def __init__(self, layer, channel: str, *, max_in_flight: int = 32, inbox_max: int = 512, loop=None):
        """``loop``: run on this (running) event loop instead of a thread of its own."""
        self.layer = layer
        self.channel = channel
        self.max_in_flight = max_in_flight
        self.inbox: deque = deque()
        self.inbox_max = inbox_max
        self.counts = {"sent": 0, "received": 0, "dropped": 0, "bad": 0}
        self._lock = threading.Lock()
        self._in_flight = 0
        self._receiver = None  # the receiving task, on the leader
        self._warned = False
        self.thread = None
        self.loop = loop
        if loop is None:
            self.loop = asyncio.new_event_loop()
            self.thread = threading.Thread(target=self.loop.run_forever, name="sightings-relay", daemon=True)
            self.thread.start()

    def _count(self, name: str, n: int) -> None:
        with self._lock:
            self.counts[name] += n

    # follower side ---------------------------------------------------------------------------
    def send(self, sightings: Sightings) -> bool:
        """Queue one chunk's sightings for the leader; False (and counted) when too many are outstanding."""
        n = len(sightings)
        with self._lock:
            if self._in_flight >= self.max_in_flight:
                self.counts["dropped"] += n
                return False
            self._in_flight += 1
        asyncio.run_coroutine_threadsafe(self._send(encode(sightings), n), self.loop)
        return True

    async def _send(self, message: dict, n: int) -> None:
        try:
            await self.layer.send(self.channel, message)
            self._count("sent", n)
        except Exception as exc:  # noqa: BLE001 - Redis away or the channel full: drop, count, go on
            self._count("dropped", n)
            if not self._warned:
                self._warned = True
                log.warning("sightings relay: could not send to %s (%s); dropping until it recovers", self.channel, exc)
        else:
            self._warned = False
        finally:
            with self._lock:
                self._in_flight -= 1

    # leader side -----------------------------------------------------------------------------
    def receive(self, on: bool) -> None:
        """Start (the lead was taken) or stop (it was lost) taking messages from the channel."""
        if on and self._receiver is None:
            self._receiver = asyncio.run_coroutine_threadsafe(self._start_receiving(), self.loop).result(5)
        elif not on and self._receiver is not None:
            task, self._receiver = self._receiver, None
            asyncio.run_coroutine_threadsafe(self._stop_receiving(task), self.loop).result(5)
            self.inbox.clear()

    async def _start_receiving(self) -> asyncio.Task:
        return asyncio.create_task(self._receive_forever())

    @staticmethod
    async def _stop_receiving(task: asyncio.Task) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _receive_forever(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - Redis away: try again shortly
                log.exception("sightings relay: receive from %s failed; retrying", self.channel)
                await asyncio.sleep(1.0)
                continue
            if len(self.inbox) >= self.inbox_max:  # the leader is not keeping up: keep the newest
                self._count("dropped", len(self.inbox.popleft().get("t", b"")) // 8)
            self.inbox.append(message)

    def drain(self) -> list[Sightings]:
        """Every message received since the last call, decoded (bad ones counted and skipped)."""
        out = []
        while self.inbox:
            message = self.inbox.popleft()
            try:
                sightings = decode(message)
            except (ValueError, KeyError, TypeError) as exc:
                self._count("bad", 1)
                log.warning("sightings relay: unusable message on %s: %s", self.channel, exc)
                continue
            self._count("received", len(sightings))
            out.append(sightings)
        return out

    def close(self) -> None:
        self.receive(False)
        if self.thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
