"""Wiring of the gateway agent: scanner callback -> filter -> batcher -> encode once -> disk queue ->
publisher; the server's retained config; periodic status; orderly shutdown.

Threads: bleak calls ``detection_callback`` on the asyncio loop that runs ``Agent.run``; paho calls
``on_config_message`` on its network thread; the publisher drains the queue on a thread of its own. A
lock guards the batcher, the sequence counter and the active config, so the callback may be called
from any thread (the tests feed bleak objects from theirs).

Sequence numbers: ``boot`` is random per process start, ``seq`` starts at 0 and grows by one per batch
closed. Sensor advertisements (Ruuvi, BTHome) go in batches of their own on ``.../env`` (protocol §2a,
``env_topic``), numbered apart: boot ``<boot>-env``, their own seq from 0. A batch is encoded exactly once, when it closes, and keeps that seq through the queue and any
re-send, so the server's loss accounting (protocol §7) is exact: a batch dropped from a full queue, or
one that could not be written to disk, is a gap the server counts as lost and the gateway counts as
``dropped`` in its status.

Config precedence: a valid server config (retained on ``.../config``) replaces the local filters and
batch settings as a whole; it is cached in the state directory so a restart during an outage keeps it.
An invalid one is ignored (the previous stays) and its reason is reported as ``config_error``. An
empty retained message (the server cleared it) restores the local config.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sqlite3
import threading
import time
from typing import Any

from sensors.protocol import GatewayConfig, ProtocolError, decode_config, encode_batch

from . import SOFTWARE
from .batcher import Batcher, is_sensor, to_wall
from .config import Settings
from .publisher import Publisher
from .queue import DiskQueue
from .resend import ResendHandler
from .scanner import Scanner, ScannerUnavailable, heard_from_bleak

log = logging.getLogger(__name__)

STALL_RESTART_S = 300.0  # restart a scanner that has reported nothing for this long (BlueZ stalls happen)
TICK_S = 0.2  # longest sleep of the main loop
QUIET_STATUS_S = 2.0  # a status this long after the last batch, once delivered: it names the last seq


class Agent:
    def __init__(self, settings: Settings, *, scanner_backend: type | None = None, system: str | None = None):
        self.settings = settings
        self.boot = secrets.token_hex(8)
        self.started = time.monotonic()
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.queue = DiskQueue(
            settings.state_dir / "queue.sqlite3",
            max_bytes=settings.queue_max_bytes,
            max_batches=settings.queue_max_batches,
            retain_s=settings.retain_s,
            retain_max_bytes=settings.retain_max_bytes,
        )
        self._config_cache = settings.state_dir / "server-config.json"
        self.local_config = settings.initial
        self.config, self.config_source = self.local_config, "local"
        self.config_error: str | None = None
        self._load_cached_config()
        self.batcher = Batcher(self.config.max_batch, self.config.batch_interval_ms)
        self.seq = 0
        self._last_batch = time.monotonic()  # when the last batch closed
        self._reported_acked: int | None = None  # the acked_seq the last status said
        self.env_boot = f"{self.boot}-env"  # sensor batches (protocol §2a): a sequence of their own
        self.env_batcher = Batcher(self.config.max_batch, self.config.batch_interval_ms)
        self.env_seq = 0
        self.seen = self.forwarded = self.filtered = self.invalid = 0
        self._lock = threading.Lock()
        self._closed = False
        self._rescan = False
        self._status_due = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick: asyncio.Event | None = None  # wakes the main loop early (stop, a batch opened)
        self._stop_requested = False
        self.publisher = Publisher(
            settings.endpoint(),
            gateway_id=settings.gateway_id,
            site=settings.site,
            boot=self.boot,
            queue=self.queue,
            env_boot=self.env_boot if settings.env_topic else None,
            software=SOFTWARE,
            status_info=self.status_info,
            on_config=self.on_config_message,
            on_resend=self.on_resend_message if self.queue.retaining else None,
            max_inflight=settings.max_inflight,
            drain_rate=settings.drain_rate,
            keepalive_s=settings.keepalive_s,
            reconnect_min_s=settings.reconnect_min_s,
            reconnect_max_s=settings.reconnect_max_s,
        )
        self.resends = ResendHandler(
            lambda gw, boot, first, last: [
                (r.seq, r.payload if r.acked is not None else None) for r in self.queue.held(boot, first, last)
            ],
            lambda gw: (self.boot, self.seq) if gw == settings.gateway_id else None,
            lambda gw, batches, boot: self.publisher.resend([payload for _, payload in batches],
                                                            env=boot == self.env_boot),
            rate=settings.resend_rate,
        )
        self.scanner = Scanner(
            self.detection_callback,
            mode=settings.scan_mode,
            adapter=settings.adapter,
            backend=scanner_backend,
            system=system,
        )

    # -------------------------------------------------------------------------------- advertisements

    def detection_callback(self, device: Any, advertisement_data: Any) -> None:
        """bleak's detection callback: (BLEDevice, AdvertisementData)."""
        if self._closed:
            return
        heard = heard_from_bleak(device, advertisement_data)
        with self._lock:
            self.seen += 1
            if heard is None:
                self.invalid += 1
                return
            if not self.config.accepts(
                heard.address, heard.rssi, heard.manufacturer_data, heard.service_data
            ):
                self.filtered += 1
                return
            self.forwarded += 1
            batcher = self.env_batcher if self.settings.env_topic and is_sensor(heard) else self.batcher
            if batcher.add(heard):
                self._flush_locked()
            elif len(batcher) == 1:
                self._poke()  # a batch just opened: the main loop must time its deadline

    def flush(self) -> list[int]:
        """Close every pending advertisement into batches now; returns their seqs."""
        with self._lock:
            return self._flush_locked(everything=True)

    def _flush_locked(self, everything: bool = False) -> list[int]:
        """Close due batches into the queue; returns the seqs of the tag batches closed."""
        self._flush_stream(self.env_batcher, everything, env=True)
        return self._flush_stream(self.batcher, everything)

    def _flush_stream(self, batcher: Batcher, everything: bool, env: bool = False) -> list[int]:
        seqs = []
        while len(batcher) and (everything or batcher.due()):
            heard = batcher.take(batcher.max_batch)
            advertisements = to_wall(heard, time.monotonic(), time.time())
            boot, seq = (self.env_boot, self.env_seq) if env else (self.boot, self.seq)
            if not env:
                self._last_batch = time.monotonic()  # the tag stream's tail is what the status reports
            try:
                payload = encode_batch(self.settings.gateway_id, boot, seq, advertisements)
            except ProtocolError as e:  # a bug here, not bad radio data: that is screened in the scanner
                log.error("could not encode a batch of %d advertisements: %s", len(heard), e.reason)
                self.invalid += len(heard)
                continue
            if env:
                self.env_seq += 1
            else:
                self.seq += 1
            try:
                if self.publisher.enqueue(boot, seq, payload):
                    self._status_due = True
            except (sqlite3.Error, OSError) as e:
                # Disk full or failing: the batch is lost, and counted, so the seq gap is explained.
                log.error("could not queue batch %d (%d advertisements): %s", seq, len(heard), e)
                self.queue.count_lost()
                self._status_due = True
            seqs.append(seq)
        return seqs

    # ---------------------------------------------------------------------------------------- config

    def _load_cached_config(self) -> None:
        try:
            payload = self._config_cache.read_bytes()
        except FileNotFoundError:
            return
        except OSError as e:
            log.warning("cannot read the cached server config %s: %s", self._config_cache, e)
            return
        try:
            self.config, self.config_source = decode_config(payload), "server"
            log.info("using the server config cached from the last run until the broker sends its own")
        except ProtocolError as e:
            log.warning("ignoring the cached server config: %s", e.reason)

    def on_config_message(self, payload: bytes) -> None:
        """The retained ``.../config`` message (paho's thread)."""
        if not payload.strip():
            config, source = self.local_config, "local"
            self._config_cache.unlink(missing_ok=True)
            log.info("the server cleared the config: back to the local config")
        else:
            try:
                config, source = decode_config(payload), "server"
            except ProtocolError as e:
                self.config_error = e.reason
                log.warning(
                    "ignoring an invalid config from the server (keeping the previous one): %s", e.reason
                )
                self.publisher.publish_status()
                return
            try:
                tmp = self._config_cache.with_suffix(".tmp")
                tmp.write_bytes(payload)
                os.replace(tmp, self._config_cache)
            except OSError as e:
                log.warning("cannot cache the server config: %s", e)
        with self._lock:
            changed = config != self.config
            self.config, self.config_source, self.config_error = config, source, None
            self.batcher.configure(config.max_batch, config.batch_interval_ms)
            self.env_batcher.configure(config.max_batch, config.batch_interval_ms)
        if changed:
            log.info(
                "config applied (%s): batch %d ms / %d advertisements, filters %s",
                source,
                config.batch_interval_ms,
                config.max_batch,
                describe_filters(config),
            )
            self._rescan = True
        self.publisher.publish_status()

    def on_resend_message(self, payload: bytes) -> None:
        """A ``.../resend`` request from the server (paho's thread); see ``resend.ResendHandler``."""
        self.resends.handle(self.settings.gateway_id, payload)

    # ---------------------------------------------------------------------------------------- status

    def status_info(self) -> dict[str, Any]:
        count, size, dropped = self.queue.stats()
        info: dict[str, Any] = {
            "uptime_s": int(time.monotonic() - self.started),
            "queue": count,
            "queue_bytes": size,
            "dropped": dropped,
            "rejected": self.publisher.rejected if hasattr(self, "publisher") else 0,
            "kept": self.queue.kept()[0],
            "seq": self.seq,
            "env_seq": self.env_seq,
            "scanner": self.scanner.state if hasattr(self, "scanner") else "stopped",
            "adapter": self.settings.adapter or "default",
            "config": self.config_source,
            "seen": self.seen,
            "forwarded": self.forwarded,
            "filtered": self.filtered,
            "invalid": self.invalid,
        }
        acked = self.publisher.acked_seq if hasattr(self, "publisher") else None
        if acked is not None:
            info["acked_seq"] = self._reported_acked = acked
        if hasattr(self, "resends"):
            info.update(self.resends.info())
        if hasattr(self, "scanner") and self.scanner.error:
            info["scanner_error"] = self.scanner.error[:200]
        if self.config_error:
            info["config_error"] = self.config_error[:200]
        return info

    # ------------------------------------------------------------------------------------- main loop

    def _poke(self) -> None:
        loop, tick = self._loop, self._tick
        if loop is not None and tick is not None:
            try:
                loop.call_soon_threadsafe(tick.set)
            except RuntimeError:  # the loop has closed
                pass

    def request_stop(self) -> None:
        """Ask ``run`` to finish (SIGTERM, SIGINT); safe from any thread."""
        self._stop_requested = True
        self._poke()

    def _tail_unreported(self, now: float) -> bool:
        """The stream paused or ended and everything is delivered, but no status has named its last seq
        yet: without one, ingest could not tell whether the last batches reached it (protocol §4)."""
        acked = self.publisher.acked_seq
        return (acked is not None and acked != self._reported_acked and now - self._last_batch >= QUIET_STATUS_S
                and not len(self.queue) and not self.publisher.inflight)

    async def run(self) -> None:
        """Scan, batch and publish until ``request_stop``; then flush the current batch into the queue,
        give the publisher ``shutdown_grace_s`` to deliver, publish the offline status and return."""
        s = self.settings
        self._loop = asyncio.get_running_loop()
        self._tick = asyncio.Event()
        log.info(
            "%s: gateway %s at site %s, boot %s, state in %s",
            SOFTWARE,
            s.gateway_id,
            s.site,
            self.boot,
            s.state_dir,
        )
        self.publisher.start()
        next_status = time.monotonic() + s.status_interval_s
        next_scan = 0.0
        scan_failures = 0
        try:
            while not self._stop_requested:
                now = time.monotonic()
                sc = self.scanner
                if sc.mode != "off" and not sc.running and now >= next_scan:
                    try:
                        await sc.start(self.config)
                        scan_failures = 0
                    except ScannerUnavailable as e:
                        scan_failures += 1
                        log.log(
                            logging.ERROR if scan_failures == 1 else logging.DEBUG,
                            "cannot scan (%s); retrying every %g s",
                            e,
                            s.scanner_retry_s,
                        )
                        next_scan = now + s.scanner_retry_s
                    self._status_due = True
                elif self._rescan:
                    self._rescan = False
                    try:
                        await sc.reconfigure(self.config)
                    except ScannerUnavailable as e:
                        log.error("restarting the scanner failed (%s)", e)
                elif sc.running and now - sc.last_heard > STALL_RESTART_S:
                    log.warning("no advertisement heard for %d s: restarting the scanner", STALL_RESTART_S)
                    try:
                        await sc.restart(self.config)
                    except ScannerUnavailable as e:
                        log.error("restarting the scanner failed (%s)", e)
                with self._lock:
                    self._flush_locked()
                    left = min((x for x in (self.batcher.seconds_left(), self.env_batcher.seconds_left())
                                if x is not None), default=None)
                if self._status_due or now >= next_status or self._tail_unreported(now):
                    self._status_due = False
                    self.publisher.publish_status()
                    next_status = now + s.status_interval_s
                if self._stop_requested:
                    break
                try:
                    await asyncio.wait_for(self._tick.wait(), TICK_S if left is None else min(left, TICK_S))
                except TimeoutError:
                    pass
                self._tick.clear()
        finally:
            log.info("stopping: flushing the current batch into the queue")
            await self.scanner.stop()
            self._closed = True
            self.flush()
            await self._loop.run_in_executor(None, self.publisher.stop, s.shutdown_grace_s)
            self.queue.close()


def describe_filters(config: GatewayConfig) -> str:
    parts = [f"min_rssi {config.min_rssi}"] if config.min_rssi > -127 else []
    for name in ("macs", "company_ids", "service_uuids", "ibeacon_uuids", "eddystone_namespaces"):
        n = len(getattr(config, name))
        if n:
            parts.append(f"{n} {name}")
    return ", ".join(parts) or "none (forward everything)"
