"""Answering the server's resend requests (protocol §7a): "publish batches first..last of boot B again".

The server asks when it finds a sequence gap: batches the broker acknowledged and then lost (a broker
restart before ingest had resubscribed its shared subscription), or batches lost anywhere else on the
way. The gateway publishes again what it still holds (``held``: the agent's disk queue keeps delivered
batches for a while, the simulator a ring in memory), with their original boot and seq, so the server's
receipts keep processing exactly once. What is no longer held is counted (``not_held``) and stays
counted as lost by the server.

Requests are input from the network: a malformed one, one for another gateway, one for seqs this boot
has not produced yet, or one over the rate limit is ignored and counted by reason (``ignored``), never
raised. Used by the gateway agent (one gateway) and the simulator (a fleet on one connection): the rate
limit is per gateway.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from sensors.protocol import ProtocolError, decode_resend

from .publisher import TokenBucket

log = logging.getLogger(__name__)

# (boot, first, last) -> [(seq, payload already acknowledged by the broker or None if still queued)]
Held = Callable[[str, str, int, int], list[tuple[int, bytes | None]]]


class ResendHandler:
    """Validates, rate-limits and answers resend requests; counts everything it does.

    - ``held(gateway_id, boot, first, last)``: the held batches of that range as (seq, payload); payload
      None for a batch still waiting in the queue (it goes out anyway, so it is not sent twice);
    - ``current(gateway_id)``: (boot, next seq) of a gateway this handler answers for, None otherwise;
    - ``republish(gateway_id, [(seq, payload)])``: hand batches to the publisher; returns how many it
      took (it may be full).
    """

    def __init__(
        self,
        held: Held,
        current: Callable[[str], tuple[str, int] | None],
        republish: Callable[[str, list[tuple[int, bytes]]], int],
        *,
        rate: float = 2.0,
        burst: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.held, self.current, self.republish = held, current, republish
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, TokenBucket] = {}
        self.requests = 0  # requests answered
        self.resent = 0  # batches handed to the publisher again
        self.not_held = 0  # batches asked for that are no longer held (they stay lost)
        self.ignored: Counter[str] = Counter()  # requests ignored, by reason
        self.last_error: str | None = None

    def ignore(self, reason: str, detail: str) -> None:
        self.ignored[reason] += 1
        self.last_error = detail[:200]
        n = self.ignored[reason]
        # a flood must not flood the log too: the first, then every 100th
        if n == 1 or n % 100 == 0:
            log.warning("ignoring resend request (%s, %d so far): %s", reason, n, detail)

    def handle(self, gateway_id: str, payload: bytes) -> int:
        """One message from ``.../gw/<gateway_id>/resend``; returns the batches handed over again."""
        try:
            return self._handle(gateway_id, payload)
        except Exception as e:  # noqa: BLE001 - a request must never take the agent down
            log.exception("resend request for %s failed", gateway_id)
            self.ignore("error", f"{type(e).__name__}: {e}")
            return 0

    def _handle(self, gateway_id: str, payload: bytes) -> int:
        state = self.current(gateway_id)
        if state is None:
            self.ignore("unknown_gateway", f"not a gateway of this process: {gateway_id[:64]!r}")
            return 0
        try:
            request = decode_resend(payload, gateway_id)
        except ProtocolError as e:
            self.ignore("malformed", e.reason)
            return 0
        bucket = self._buckets.get(gateway_id)
        if bucket is None:
            bucket = self._buckets[gateway_id] = TokenBucket(self.rate, self.burst, self.clock)
        if bucket.available() < 1:
            self.ignore("rate_limited", f"more than {self.rate:g} requests/s (request {request.req})")
            return 0
        bucket.take()
        boot, next_seq = state
        top = max(last for _, last in request.ranges)
        if request.boot == boot and top >= next_seq:
            self.ignore(
                "unknown_range",
                f"asks for up to seq {top} of boot {boot}, which has produced only {next_seq} batch(es)",
            )
            return 0
        again: list[tuple[int, bytes]] = []
        found = 0
        for first, last in request.ranges:
            rows = self.held(gateway_id, request.boot, first, last)
            seen = set()
            for seq, body in rows:
                if seq in seen:
                    continue
                seen.add(seq)
                if body is not None:
                    again.append((seq, body))
            found += len(seen)
        self.requests += 1
        self.not_held += request.batches - found
        taken = self.republish(gateway_id, again, request.boot) if again else 0
        self.resent += taken
        if taken < len(again):
            self.ignore("busy", f"publisher full: {len(again) - taken} of {len(again)} batches not resent")
        log.info(
            "resend request %s for %s boot %s: %d batch(es) asked, %d resent, %d no longer held",
            request.req,
            gateway_id,
            request.boot,
            request.batches,
            taken,
            request.batches - found,
        )
        return taken

    def info(self) -> dict[str, Any]:
        """Counters for the gateway's status (protocol §4)."""
        out: dict[str, Any] = {
            "resend_requests": self.requests,
            "resent": self.resent,
            "resend_not_held": self.not_held,
            "resend_ignored": sum(self.ignored.values()),
        }
        if self.ignored:
            out["resend_ignored_by_reason"] = dict(self.ignored)
        if self.last_error:
            out["resend_error"] = self.last_error
        return out
