"""Settling sequence gaps: counting what is really lost, and asking gateways for it again (protocol §7a),
so a broker that accepted batches and then lost them (Mosquitto restarting, a shared subscription not
restored yet) costs nothing.

The pipeline reports each sequence gap its tracker sees (``gap``); so does a gateway status that names
a seq this process has not seen (``IngestPipeline``, protocol §4). A gap is only a candidate: with
several ingest processes on one shared subscription each tracker sees part of a gateway's batches, and
the others have most of what it misses. So after ``delay_s`` (a batch delayed by a reconnect, or still
being stored by another process, turns up meanwhile) the planner writes a lost-marker receipt for each
seq of the gap no process holds a receipt for, in one transaction with the gateway's ``batches_lost``
(``BatchReceipt.lost``): the unique receipt key makes several processes count a seq once, and this
process owns what it marked. A batch that still arrives takes its marker over and the loss back
(``IngestPipeline._claim``), whichever process receives it, so ``batches_lost`` stays exact.

Then it asks the gateway, on ``hospital/<site>/gw/<id>/resend``, for the seqs it marked. Batches that
come back are ordinary late arrivals. A gap still open after a request is asked again after
``retry_s``, doubling, at most ``attempts`` times; what is still missing then stays counted as lost
(``resend.unrecovered``) and is logged. With ``attempts`` 0 gaps are only counted.

Bounded: at most ``max_gaps`` open gaps (the oldest are given up first, their seqs counted lost
unmarked), at most ``MAX_RESEND_BATCHES`` markers per gap (the older part of a larger gap is counted
unmarked: exact for one process, possibly twice with several), one request per gateway and boot per
round, at most ``rate`` requests per second for the whole process (a broker restart makes every
gateway gap at once).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from sensors.gateway.publisher import TokenBucket
from sensors.protocol import MAX_RESEND_BATCHES, MAX_RESEND_RANGES, encode_resend, seq_ranges
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
    seqs: list[int] | None = None  # the seqs this process marked lost; None until the gap is settled


class ResendPlanner:
    def __init__(
        self,
        publish: Callable[[str, bytes], bool] | None,
        *,
        delay_s: float = 1.0,
        retry_s: float = 3.0,
        attempts: int = 3,
        rate: float = 20.0,
        max_gaps: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.publish = publish  # (topic, payload) -> sent? False while the broker is away; None: count only
        self.delay_s, self.retry_s = delay_s, retry_s
        self.attempts = attempts if publish is not None else 0
        self.max_gaps = max_gaps
        self.clock = clock
        self.bucket = TokenBucket(rate, burst=max(1.0, rate), clock=clock)
        self.gaps: OrderedDict[tuple[str, str, int], Gap] = OrderedDict()  # (gateway, boot, first) -> gap
        self.counters: Counter[str] = Counter()  # flushed into IngestCounter as resend.*
        self.recovered: Counter[str] = Counter()  # per gateway, flushed into Gateway.batches_recovered

    # called by the pipeline inside its transaction: memory only
    def gap(self, gateway_id: str, site: str, boot: str, first: int, last: int) -> None:
        if last < first:
            return
        key = (gateway_id, boot, first)
        if key in self.gaps:
            return
        while len(self.gaps) >= self.max_gaps:
            (gw, old_boot, _), old = self.gaps.popitem(last=False)
            self.counters["resend.gaps_dropped"] += 1
            unmarked = old.last - old.first + 1 if old.seqs is None else 0
            log.warning("too many open gaps: not asking %s (boot %s) for %d batch(es)%s", gw, old_boot,
                        old.last - old.first + 1, "; counted lost unchecked" if unmarked else "")
            if unmarked:
                self._count_lost(gw, unmarked)
        self.gaps[key] = Gap(site, first, last, self.clock() + self.delay_s)
        self.counters["resend.gaps"] += 1

    def tick(self) -> None:
        """Settle and ask for what is due, close what came back or ran out of attempts, flush the counters."""
        now = self.clock()
        settled = self._settle([(key, gap) for key, gap in self.gaps.items() if gap.due <= now and gap.seqs is None])
        due: dict[tuple[str, str], list[tuple[tuple[str, str, int], Gap, list[int]]]] = {}
        for key, gap in list(self.gaps.items()):
            if gap.due > now or gap.seqs is None:
                continue
            gateway_id, boot, _ = key
            missing = gap.seqs if key in settled else self._still_lost(gateway_id, boot, gap.seqs)
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
            ranges = seq_ranges(sorted(set(seqs)))[:MAX_RESEND_RANGES]
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
                break  # not connected: try again next tick
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

    def _settle(self, gaps: list[tuple[tuple[str, str, int], Gap]]) -> set[tuple[str, str, int]]:
        """Decide the due gaps: one receipt look-up for many first, as with several processes nearly every
        candidate has arrived at another one; only gaps with a seq nobody has get a marking transaction."""
        from sensors.models import BatchReceipt

        for start in range(0, len(gaps), 200):
            part = gaps[start:start + 200]
            where = Q()
            for (gateway_id, boot, _), gap in part:
                where |= Q(gateway_id=gateway_id, boot=boot, seq__gte=gap.first, seq__lte=gap.last)
            have: dict[tuple[str, str], set[int]] = {}
            for gateway_id, boot, seq in BatchReceipt.objects.filter(where, lost=False).values_list(
                "gateway_id", "boot", "seq"
            ):
                have.setdefault((gateway_id, boot), set()).add(seq)
            for (gateway_id, boot, _), gap in part:
                got = have.get((gateway_id, boot), ())
                if gap.last - gap.first < len(got) and all(s in got for s in range(gap.first, gap.last + 1)):
                    gap.seqs = []  # all arrived, at this process or another
                else:
                    gap.seqs = self._mark_lost(gateway_id, boot, gap)
        return {key for key, _ in gaps}

    def _mark_lost(self, gateway_id: str, boot: str, gap: Gap) -> list[int]:
        """Count the seqs of the gap no process holds a receipt for as lost, once for all processes; returns
        the ones this process marked (and so asks for)."""
        from sensors.models import BatchReceipt

        first = max(gap.first, gap.last - MAX_RESEND_BATCHES + 1)
        unmarked = first - gap.first  # too many to mark one by one: counted, not recoverable
        table = connection.ops.quote_name(BatchReceipt._meta.db_table)
        now = timezone.now()
        marked: list[int] = []
        with transaction.atomic(), connection.cursor() as cursor:
            for start in range(first, gap.last + 1, 1000):
                part = range(start, min(start + 1000, gap.last + 1))
                params: list = []
                for seq in part:  # ascending: the pipeline claims in key order too, so no deadlock
                    params += [gateway_id, boot, seq, now, 0, True]
                cursor.execute(
                    f"INSERT INTO {table} (gateway_id, boot, seq, received_at, advertisements, lost) VALUES "
                    f"{', '.join(['(%s, %s, %s, %s, %s, %s)'] * len(part))} "
                    "ON CONFLICT (gateway_id, boot, seq) DO NOTHING RETURNING seq",
                    params,
                )
                marked.extend(int(q) for (q,) in cursor.fetchall())
            if marked or unmarked:
                self._count_lost(gateway_id, len(marked) + unmarked)
        if unmarked:
            log.warning("%s (boot %s): a gap of %d batches; the %d oldest counted lost without a check",
                        gateway_id, boot, gap.last - gap.first + 1, unmarked)
        return sorted(marked)

    @staticmethod
    def _still_lost(gateway_id: str, boot: str, seqs: list[int]) -> list[int]:
        """Of the seqs this process marked lost, those no process has received since."""
        from sensors.models import BatchReceipt

        if not seqs:
            return []
        still = set(
            BatchReceipt.objects.filter(
                gateway_id=gateway_id, boot=boot, seq__gte=seqs[0], seq__lte=seqs[-1], lost=True
            ).values_list("seq", flat=True)
        )
        return [s for s in seqs if s in still]

    def _count_lost(self, gateway_id: str, n: int) -> None:
        from sensors.ingest.pipeline import IngestPipeline
        from sensors.models import Gateway

        with transaction.atomic():
            Gateway.objects.filter(gateway_id=gateway_id).update(batches_lost=F("batches_lost") + n)
            IngestPipeline._bump_counters(Counter({"batches.lost": n}))

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
