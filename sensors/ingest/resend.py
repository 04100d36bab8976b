"""Asking gateways for the batches ingest found missing (protocol §7a), so a broker that accepted batches
and then lost them (Mosquitto restarting, a shared subscription not restored yet) costs nothing.

The pipeline reports each sequence gap (``gap``). After ``delay_s`` (a batch delayed by a reconnect
may still turn up on its own) the planner asks the gateway, on ``hospital/<site>/gw/<id>/resend``, for
the seqs of that gap the tracker still counts missing and no ingest process has a receipt for (with
several processes on one shared subscription, another one may hold them). Batches that come back are
ordinary late arrivals: the tracker takes them off the lost count, the receipts keep them exactly once.
A gap still open after a request is asked again after ``retry_s``, doubling, at most ``attempts``
times; what is still missing then stays counted as lost (``resend.unrecovered``) and is logged.

Bounded: at most ``max_gaps`` open gaps (the oldest are given up first), one request per gateway and
boot per round, at most ``rate`` requests per second for the whole process (a broker restart makes
every gateway gap at once).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import F

from sensors.gateway.publisher import TokenBucket
from sensors.protocol import MAX_RESEND_BATCHES, MAX_RESEND_RANGES, SequenceTracker, encode_resend, seq_ranges
from sensors.protocol import topic_for as _topic_for

log = logging.getLogger(__name__)


@dataclass
class Gap:
    site: str
    first: int
    last: int
    due: float
    attempts: int = 0
    asked: int = 0  # seqs still missing when first asked (what a resend could recover)


class ResendPlanner:
    def __init__(
        self,
        tracker: SequenceTracker,
        publish: Callable[[str, bytes], bool],
        *,
        delay_s: float = 1.0,
        retry_s: float = 3.0,
        attempts: int = 3,
        rate: float = 20.0,
        max_gaps: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.tracker = tracker
        self.publish = publish  # (topic, payload) -> sent? False while the broker is away
        self.delay_s, self.retry_s, self.attempts = delay_s, retry_s, attempts
        self.max_gaps = max_gaps
        self.clock = clock
        self.bucket = TokenBucket(rate, burst=max(1.0, rate), clock=clock)
        self.gaps: OrderedDict[tuple[str, str, int], Gap] = OrderedDict()  # (gateway, boot, first) -> gap
        self.counters: Counter[str] = Counter()  # flushed into IngestCounter as resend.*
        self.recovered: Counter[str] = Counter()  # per gateway, flushed into Gateway.batches_recovered

    # called by the pipeline inside its transaction: memory only
    def gap(self, gateway_id: str, site: str, boot: str, first: int, last: int) -> None:
        if self.attempts <= 0 or last < first:
            return
        key = (gateway_id, boot, first)
        if key in self.gaps:
            return
        while len(self.gaps) >= self.max_gaps:
            (gw, old_boot, _), old = self.gaps.popitem(last=False)
            self.counters["resend.gaps_dropped"] += 1
            log.warning("too many open gaps: not asking %s (boot %s) for %d batch(es)", gw, old_boot,
                        old.last - old.first + 1)
        self.gaps[key] = Gap(site, first, last, self.clock() + self.delay_s)
        self.counters["resend.gaps"] += 1

    def tick(self) -> None:
        """Ask for what is due, close what came back or ran out of attempts, flush the counters."""
        now = self.clock()
        due: dict[tuple[str, str], list[tuple[tuple[str, str, int], Gap, list[int]]]] = {}
        for key, gap in list(self.gaps.items()):
            if gap.due > now:
                continue
            gateway_id, boot, _ = key
            missing = self.tracker.missing_in(gateway_id, boot, gap.first, gap.last)
            if missing is None:  # the tracker forgot this boot (many reboots): cannot tell any more
                self._close(key, gap, gap.asked)
                continue
            if missing:
                missing = self._without_receipts(gateway_id, boot, missing)
            if not missing:
                self._close(key, gap, 0)
            elif gap.attempts >= self.attempts:
                self._close(key, gap, len(missing))
            else:
                due.setdefault((gateway_id, boot), []).append((key, gap, missing))
        for (gateway_id, boot), items in due.items():
            if self.bucket.available() < 1:
                break  # the rest next tick
            seqs: list[int] = []
            for _, _, missing in items:
                seqs.extend(missing)
            ranges = seq_ranges(seqs)[:MAX_RESEND_RANGES]
            total, capped = 0, []
            for first, last in ranges:
                last = min(last, first + MAX_RESEND_BATCHES - total - 1)
                capped.append((first, last))
                total += last - first + 1
                if total >= MAX_RESEND_BATCHES:
                    break
            req = secrets.token_hex(4)
            payload = encode_resend(gateway_id, boot, capped, req=req)
            if not self.publish(_topic_for(items[0][1].site, gateway_id, "resend"), payload):
                return  # not connected: try again next tick
            self.bucket.take()
            self.counters["resend.requests"] += 1
            self.counters["resend.requested"] += total
            log.info("asked %s (boot %s) to resend %d batch(es) in %d range(s), request %s", gateway_id, boot,
                     total, len(capped), req)
            for _, gap, missing in items:
                if not gap.attempts:
                    gap.asked = len(missing)
                gap.attempts += 1
                gap.due = now + self.retry_s * 2 ** (gap.attempts - 1)
        self.flush()

    def _without_receipts(self, gateway_id: str, boot: str, missing: list[int]) -> list[int]:
        """Another ingest process on the same shared subscription may have these: ask only for the rest."""
        from sensors.models import BatchReceipt

        have = set(
            BatchReceipt.objects.filter(
                gateway_id=gateway_id, boot=boot, seq__gte=missing[0], seq__lte=missing[-1]
            ).values_list("seq", flat=True)
        )
        return [s for s in missing if s not in have] if have else missing

    def _close(self, key: tuple[str, str, int], gap: Gap, still_missing: int) -> None:
        del self.gaps[key]
        if not gap.attempts:
            return  # everything turned up before we asked: ordinary late arrivals
        recovered = max(0, gap.asked - still_missing)
        if recovered:
            self.counters["resend.recovered"] += recovered
            self.recovered[key[0]] += recovered
        if still_missing:
            self.counters["resend.unrecovered"] += still_missing
            log.warning("%s (boot %s): %d batch(es) of seq %d..%d still missing after %d resend request(s); "
                        "they stay counted as lost", key[0], key[1], still_missing, gap.first, gap.last,
                        gap.attempts)

    def flush(self) -> None:
        """Counters to the database (outside the pipeline's transactions; a few rows, rarely)."""
        if not self.counters and not self.recovered:
            return
        from sensors.ingest.pipeline import IngestPipeline
        from sensors.models import Gateway

        counters, self.counters = self.counters, Counter()
        recovered, self.recovered = self.recovered, Counter()
        IngestPipeline._bump_counters(counters)
        for gateway_id, n in recovered.items():
            Gateway.objects.filter(gateway_id=gateway_id).update(batches_recovered=F("batches_recovered") + n)

    def stats(self) -> dict[str, int]:
        return {"open_gaps": len(self.gaps), "batches_open": sum(g.last - g.first + 1 for g in self.gaps.values())}
