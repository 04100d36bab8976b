"""Turn a chunk of MQTT messages into stored data, exactly once.

For each message: check the topic and the gateway (only registered, enabled gateways of the right
site are accepted), decode the batch envelope, then every advertisement. Anything unusable becomes a
dead letter with its reason and a counter; it never stops the chunk. Then, in ONE transaction: claim
the batches (a unique receipt per gateway/boot/seq makes redelivery a no-op), store readings,
update gateway loss accounting and counters. Tag sightings go to the locator after the commit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models import F

from sensors.ble import decode
from sensors.choices import GatewayStatus, Quantity
from sensors.models import BatchReceipt, DeadLetter, Gateway, IngestCounter, Reading, Sensor
from sensors.protocol import Batch, ProtocolError, SequenceTracker, decode_batch, decode_status, parse_topic

from .consumer import Message
from .discovered import DiscoveredBuffer
from .registry import KnownGateway, KnownSensor, Registry
from .shedding import LoadShedder, chunk_lag

log = logging.getLogger(__name__)

QUANTITIES = frozenset(Quantity.values)
TOKEN_KEYS = ("measurement_sequence", "packet_id", "encryption_counter")
DEAD_LETTER_PAYLOAD_BYTES = 65536
DEAD_LETTERS_PER_MINUTE = 20  # per (gateway, reason); beyond that only the counter grows
# Memory bounds (docs/deploy.md, "Overload"): gateway ids of rejected input come from the topic, so a
# flood of made-up ids must not grow the budget table; the decode cache holds ~1.1 kB an entry.
DEAD_LETTER_BUDGET_KEYS = 10_000
DECODE_CACHE_ENTRIES = 50_000  # 2.5 x the design's 20,000 tags


@dataclass(slots=True)
class Sighting:
    t: float
    gateway_id: str
    tag_pk: int
    rssi: int


class Sightings:
    """Tag sightings of a chunk as parallel columns (cheap to build, cheap to turn into arrays)."""

    __slots__ = ("t", "gateway_id", "tag_pk", "rssi")

    def __init__(self):
        self.t: list[float] = []
        self.gateway_id: list[str] = []
        self.tag_pk: list[int] = []
        self.rssi: list[int] = []

    @classmethod
    def of(cls, items) -> Sightings:
        if isinstance(items, Sightings):
            return items
        out = cls()
        for s in items:
            out.append(s.t, s.gateway_id, s.tag_pk, s.rssi)
        return out

    def append(self, t: float, gateway_id: str, tag_pk: int, rssi: int) -> None:
        self.t.append(t)
        self.gateway_id.append(gateway_id)
        self.tag_pk.append(tag_pk)
        self.rssi.append(rssi)

    def __len__(self) -> int:
        return len(self.t)

    def __iter__(self):
        for row in zip(self.t, self.gateway_id, self.tag_pk, self.rssi, strict=True):
            yield Sighting(*row)


@dataclass(slots=True)
class ReadingIn:
    sensor_pk: int
    quantity: str
    t: float
    value: float
    token: int | None


@dataclass
class ChunkWork:
    counters: Counter = field(default_factory=Counter)
    dead: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    batches: list[tuple[KnownGateway, Batch, bool]] = field(default_factory=list)  # bool: from .../env
    statuses: dict[str, tuple[str, float]] = field(default_factory=dict)
    tails: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # gateway -> (site, boot, acked seq)
    duplicates: Counter = field(default_factory=Counter)  # per gateway pk
    found: set = field(default_factory=set)  # (gateway, boot, seq) of claimed batches counted lost before


def to_datetime(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def battery_pct_from_volts(volts: float) -> float:
    """Coin-cell (CR2477/CR2032) estimate: 3.0 V full, 2.5 V empty, linear between."""
    return max(0.0, min(100.0, (volts - 2.5) / 0.5 * 100.0))


class IngestPipeline:
    def __init__(
        self,
        registry: Registry | None = None,
        *,
        on_sightings: Callable[[Sightings], None] | None = None,
        on_readings: Callable[[list[ReadingIn]], None] | None = None,
        shedder: LoadShedder | None = None,
        on_gap: Callable[[str, str, str, int, int], None] | None = None,
    ):
        self.registry = registry or Registry()
        self.shedder = shedder or LoadShedder()
        self.on_sightings = on_sightings
        self.on_readings = on_readings
        self.on_gap = on_gap  # (gateway, site, boot, first, last missing seq): ask for a resend
        self.tracker = SequenceTracker()
        # Sensor batches (``.../env``, protocol §2a) are a sequence of their own: the gateway numbers them
        # apart, and ingest takes them ahead of the tag batches, so one tracker would see false gaps.
        # (Their gaps go to ``on_gap`` like any: the stream's own boot tells them apart.)
        self.env_tracker = SequenceTracker()
        # Two consumers (tag batches, and sensor batches ahead of them) share this pipeline and the
        # alarm service hooked to it; one chunk at a time. Idle tasks take it as well (service.py).
        self.lock = threading.RLock()
        self.decode_cache: dict[tuple, object] = {}
        self.recent_tokens: dict[int, deque] = defaultdict(lambda: deque(maxlen=64))
        self.dead_letter_budget: dict[tuple[str, str], tuple[int, int]] = {}
        self.discovered = DiscoveredBuffer()
        self.registry.refresh()
        self._seed_from_database()

    def _seed_from_database(self) -> None:
        """Continue loss accounting where the last process stopped, without counting false gaps."""
        for gateway_id, boot, seq in Gateway.objects.exclude(last_seq=None).values_list("gateway_id", "boot_id", "last_seq"):
            self.tracker.observe(gateway_id, boot, seq)
        since = time.time() - 3600
        for sensor_pk, token in Reading.objects.filter(t__gte=to_datetime(since)).exclude(token=None).values_list(
            "sensor_id", "token"
        ).distinct():
            self.recent_tokens[sensor_pk].append(token)

    # ----------------------------------------------------------------------------- the chunk
    def handle(self, messages: list[Message]) -> None:
        with self.lock:
            self._handle(messages)

    def handle_priority(self, messages: list[Message]) -> None:
        """Sensor batches taken ahead of the tag backlog: their lag says nothing about the tag load."""
        with self.lock:
            self._handle(messages, observe=False)

    def _handle(self, messages: list[Message], observe: bool = True) -> None:
        self.registry.refresh_if_due()
        work = ChunkWork()
        keep = self._shed_filter()
        stale_before = self.shedder.stale_before(time.time())
        for message in messages:
            self._classify(message, work, keep, stale_before)
        if observe:
            self.shedder.observe(chunk_lag(time.time(), (m.received for m in messages),
                                           (b.sent for _, b, _ in work.batches)))
        sightings = Sightings()
        with transaction.atomic():
            claimed = self._claim(work)
            readings = self._route(claimed, work, sightings)
            self._store_readings(readings, work)
            if self.on_readings and readings:
                self.on_readings(readings)
            self._update_gateways(claimed, work)
            self._store_dead_letters(work)
            self._bump_counters(work.counters)
        if self.on_sightings and sightings:
            self.on_sightings(sightings)
        if observe:
            self.shedder.busy_until_now()

    def _shed_filter(self) -> Callable[[str, float], bool] | None:
        """While shedding: which advertisements decode_batch decodes at all (shedding.py)."""
        return self.shedder.advertisement_filter(self.registry.sensors_by_mac)

    def _reject(self, work: ChunkWork, message: Message, gateway_id: str, counter: str, reason: str) -> None:
        work.counters[counter] += 1
        key = (gateway_id, counter)
        minute = int(time.time() // 60)
        budget = self.dead_letter_budget
        if key not in budget and len(budget) >= DEAD_LETTER_BUDGET_KEYS:
            for old in [k for k, (m, _) in budget.items() if m != minute]:
                del budget[old]
            if len(budget) >= DEAD_LETTER_BUDGET_KEYS:
                work.counters["dead_letters.dropped"] += 1  # counted; too many distinct sources this minute
                return
        used_minute, used = budget.get(key, (minute, 0))
        if used_minute != minute:
            used = 0
        if used < DEAD_LETTERS_PER_MINUTE:
            work.dead.append((message.topic, gateway_id, reason, bytes(message.payload[:DEAD_LETTER_PAYLOAD_BYTES])))
            work.counters["dead_letters"] += 1
        self.dead_letter_budget[key] = (minute, used + 1)

    def _classify(self, message: Message, work: ChunkWork, keep=None, stale_before: float | None = None) -> None:
        try:
            topic = parse_topic(message.topic)
        except ProtocolError as exc:
            self._reject(work, message, "", "rejected.bad_topic", exc.reason)
            return
        gateway = self.registry.gateways.get(topic.gateway_id)
        if gateway is None:
            self._reject(work, message, topic.gateway_id, "rejected.unknown_gateway",
                         f"unknown gateway {topic.gateway_id!r}: not registered (enrol it in the admin)")
            return
        if not gateway.enabled:
            self._reject(work, message, topic.gateway_id, "rejected.disabled_gateway",
                         f"gateway {topic.gateway_id!r} is disabled")
            return
        if gateway.site != topic.site:
            self._reject(work, message, topic.gateway_id, "rejected.wrong_site",
                         f"gateway {topic.gateway_id!r} belongs to site {gateway.site!r}, not {topic.site!r}")
            return
        try:
            if topic.kind == "adv" or topic.kind == "env":
                # A stale tag-only batch is shed whole, before its advertisements are even validated.
                work.batches.append((gateway, decode_batch(message.payload, gateway.gateway_id, keep,
                                                           stale_before=stale_before,
                                                           always=self.registry.sensors_by_mac),
                                     topic.kind == "env"))
            elif topic.kind == "status":
                status = decode_status(message.payload, gateway.gateway_id)
                work.statuses[gateway.gateway_id] = (status.state, status.ts or message.received)
                if status.acked_seq is not None:
                    work.tails[gateway.gateway_id] = (gateway.site, status.boot, status.acked_seq)
        except ProtocolError as exc:
            self._reject(work, message, gateway.gateway_id, f"rejected.malformed_{topic.kind}", exc.reason)

    def _claim(self, work: ChunkWork) -> list[tuple[KnownGateway, Batch, bool]]:
        """The batches of this chunk not processed before (by this or any other ingest process).

        One INSERT ... ON CONFLICT DO NOTHING RETURNING (PostgreSQL and SQLite >= 3.35) both records
        the receipts and says which are new. A concurrent process inserting the same receipt waits for
        the other transaction and then skips it: exactly once, however many processes share the load.
        """
        unique: dict[tuple[str, str, int], tuple[KnownGateway, Batch, bool]] = {}
        for gateway, batch, env in work.batches:
            key = (gateway.gateway_id, batch.boot, batch.seq)
            if key in unique:
                work.counters["batches.duplicate"] += 1
                work.duplicates[gateway.pk] += 1
            else:
                unique[key] = (gateway, batch, env)
        if not unique:
            return []
        now = to_datetime(time.time())
        table = connection.ops.quote_name(BatchReceipt._meta.db_table)
        new: set[tuple[str, str, int]] = set()
        keys = sorted(unique)  # one lock order with the other processes and the loss markers (resend.py)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # Array parameters instead of 6 x 500 placeholders: psycopg parses a long, never-cached
                # query text on every chunk (35 ms a chunk of 500, profiled under overload). In key order.
                cursor.execute(
                    f"INSERT INTO {table} (gateway_id, boot, seq, received_at, advertisements, lost) "
                    "SELECT g, b, s, %s, a, false FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::int[]) "
                    "WITH ORDINALITY AS u(g, b, s, a, o) ORDER BY o "
                    "ON CONFLICT (gateway_id, boot, seq) DO NOTHING RETURNING gateway_id, boot, seq",
                    [now, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
                     [len(unique[k][1].advertisements) + unique[k][1].skipped for k in keys]],
                )
                new.update((g, b, int(q)) for g, b, q in cursor.fetchall())
            else:
                for start in range(0, len(keys), 1000):
                    part = keys[start:start + 1000]
                    params: list = []
                    for key in part:
                        batch = unique[key][1]
                        params += [*key, now, len(batch.advertisements) + batch.skipped, False]
                    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(part))
                    cursor.execute(
                        f"INSERT INTO {table} (gateway_id, boot, seq, received_at, advertisements, lost) VALUES {values} "
                        "ON CONFLICT (gateway_id, boot, seq) DO NOTHING RETURNING gateway_id, boot, seq",
                        params,
                    )
                    new.update((g, b, int(q)) for g, b, q in cursor.fetchall())
            conflicts = [key for key in keys if key not in new]
            if conflicts:
                work.found = self._take_over_lost(cursor, table, conflicts, now)
                new |= work.found
        claimed = []
        for key, (gateway, batch, env) in unique.items():
            if key in new:
                claimed.append((gateway, batch, env))
            else:
                work.counters["batches.duplicate"] += 1
                work.duplicates[gateway.pk] += 1
        work.counters["batches.accepted"] += len(claimed)
        return claimed

    @staticmethod
    def _take_over_lost(cursor, table: str, keys, now) -> set[tuple[str, str, int]]:
        """Of these already-receipted batches, the ones whose receipt only marks them lost: the batch is
        here after all, so it is processed and the loss taken back (the row lock makes that happen once).
        Costs one statement per gateway boot, and only for the chunk's duplicates."""
        by_boot: dict[tuple[str, str], list[int]] = defaultdict(list)
        for gateway_id, boot, seq in keys:
            by_boot[(gateway_id, boot)].append(seq)
        found: set[tuple[str, str, int]] = set()
        for (gateway_id, boot), seqs in by_boot.items():
            for start in range(0, len(seqs), 1000):
                part = seqs[start:start + 1000]
                cursor.execute(
                    f"UPDATE {table} SET lost = %s, received_at = %s WHERE lost AND gateway_id = %s AND boot = %s "
                    f"AND seq IN ({', '.join(['%s'] * len(part))}) RETURNING seq",
                    [False, now, gateway_id, boot, *part],
                )
                found.update((gateway_id, boot, int(q)) for (q,) in cursor.fetchall())
        return found

    def _decode_cached(self, adv):
        key = (adv.address, tuple(adv.manufacturer_data.items()), tuple(adv.service_data.items()))
        decoded = self.decode_cache.get(key)
        if decoded is None:
            if len(self.decode_cache) >= DECODE_CACHE_ENTRIES:
                self.decode_cache.clear()
            decoded = self.decode_cache[key] = decode(adv.address, adv.manufacturer_data, adv.service_data)
        return decoded

    def _route(self, claimed, work: ChunkWork, sightings: Sightings) -> list[ReadingIn]:
        tags = self.registry.tags
        sensors = self.registry.sensors_by_mac
        readings: list[ReadingIn] = []
        counters = work.counters
        add_t, add_gw, add_tag, add_rssi = (sightings.t.append, sightings.gateway_id.append, sightings.tag_pk.append,
                                            sightings.rssi.append)
        # Overload: tag advertisements were sampled, or those of stale batches dropped, before
        # decoding (decode_batch's ``keep`` and ``stale_before``; see shedding.py).
        shed = 0
        for gateway, batch, _ in claimed:
            counters["advertisements.rejected"] += len(batch.rejected)
            gateway_id = gateway.gateway_id
            shed += batch.skipped
            for adv in batch.advertisements:
                sensor = sensors.get(adv.address)
                if sensor is not None:
                    self._sensor_readings(sensor, adv, readings, counters)
                    continue
                decoded = self._decode_cached(adv)
                if decoded.errors:
                    counters["advertisements.decode_error"] += 1
                tag_pk = tags.get(decoded.identity["tag_id"])
                if tag_pk is not None:
                    add_t(adv.t)
                    add_gw(gateway_id)
                    add_tag(tag_pk)
                    add_rssi(adv.rssi)
                elif decoded.formats:
                    self.discovered.add(decoded, adv, gateway_id)
        counters["sightings"] += len(sightings)
        if shed:
            counters["sightings.shed"] += shed
            self.shedder.count_shed(shed)
        return readings

    def _sensor_readings(self, sensor: KnownSensor, adv, readings: list[ReadingIn], counters: Counter) -> None:
        decoded = decode(adv.address, adv.manufacturer_data, adv.service_data, sensor.bindkey)
        if decoded.errors:
            counters["advertisements.decode_error"] += 1
            counters[f"sensor_errors.{sensor.sensor_id}"] += 1
        values = dict(decoded.measurements)
        if not values:
            return
        token = next((int(values[k]) for k in TOKEN_KEYS if k in values), None)
        if token is None:
            token = int(adv.t)  # no counter: one reading per second at most
        recent = self.recent_tokens[sensor.pk]
        if token in recent:
            counters["readings.repeat"] += 1  # the same packet heard by another gateway
            return
        recent.append(token)
        for name, rule in sensor.measurement_map.items():
            if name in values:
                values[rule["quantity"]] = values.pop(name) * float(rule.get("scale", 1.0))
        if "battery_pct" not in values and "battery_v" in values:
            values["battery_pct"] = round(battery_pct_from_volts(values["battery_v"]), 1)
        for quantity, value in values.items():
            if quantity in QUANTITIES:
                readings.append(ReadingIn(sensor.pk, quantity, adv.t, float(value), token))

    def _store_readings(self, readings: list[ReadingIn], work: ChunkWork) -> None:
        if not readings:
            return
        Reading.objects.bulk_create(
            [Reading(sensor_id=r.sensor_pk, quantity=r.quantity, t=to_datetime(r.t), value=r.value, token=r.token)
             for r in readings],
            ignore_conflicts=True,
            batch_size=2000,
        )
        work.counters["readings.stored"] += len(readings)
        latest: dict[int, tuple[float, float | None]] = {}
        for r in readings:
            t, battery = latest.get(r.sensor_pk, (0.0, None))
            latest[r.sensor_pk] = (max(t, r.t), r.value if r.quantity == "battery_pct" else battery)
        # One pipelined statement per sensor instead of bulk_update's CASE expressions, which cost more
        # than storing the readings (profiled under overload); in pk order, so processes never deadlock.
        # last_seen_at never goes back: another ingest process may have stored a later reading first
        # (the alarms' watchdog counts silence from it).
        table = connection.ops.quote_name(Sensor._meta.db_table)
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET last_seen_at = CASE WHEN last_seen_at > %s THEN last_seen_at ELSE %s END,"
                " battery_pct = COALESCE(%s, battery_pct) WHERE id = %s",
                [(to_datetime(t), to_datetime(t), battery, pk) for pk, (t, battery) in sorted(latest.items())],
            )

    def _update_gateways(self, claimed, work: ChunkWork) -> None:
        per_gateway: dict[str, dict] = {}
        for gateway, batch, env in claimed:
            result = (self.env_tracker if env else self.tracker).observe(gateway.gateway_id, batch.boot, batch.seq)
            entry = per_gateway.setdefault(
                gateway.gateway_id,
                {"pk": gateway.pk, "batches": 0, "lost": 0, "advs": 0, "rejected": 0, "boot": None, "seq": None,
                 "seen": batch.sent},
            )
            entry["batches"] += 1
            # A gap is only a candidate: with several processes on one shared subscription the others have
            # most of what this one misses. The planner counts what no process has (resend.py).
            if result.status in ("gap", "reboot") and result.missing and self.on_gap:
                self.on_gap(gateway.gateway_id, gateway.site, batch.boot, batch.seq - result.missing, batch.seq - 1)
            if (gateway.gateway_id, batch.boot, batch.seq) in work.found:
                entry["lost"] -= 1  # counted lost, here after all
            entry["advs"] += len(batch.advertisements) + batch.skipped
            entry["rejected"] += len(batch.rejected)
            # boot_id/last_seq (where a restarted ingest resumes loss accounting) follow the tag stream.
            if not env and (entry["boot"] is None or result.status in ("first", "new", "gap", "reboot")):
                entry["boot"], entry["seq"] = batch.boot, batch.seq
            entry["seen"] = max(entry["seen"], batch.sent)
        # The gateway's status names the last batch the broker took (protocol §4): batches lost at the end of
        # a stream are candidates now, not when (if ever) a later batch shows the gap. After this chunk's
        # batches, which the status may well have overtaken on their way.
        for gateway_id, (site, boot, acked_seq) in work.tails.items():
            result = self.tracker.advance(gateway_id, boot, acked_seq)
            if result is not None and self.on_gap:
                self.on_gap(gateway_id, site, boot, acked_seq - result.missing + 1, acked_seq)
        work.counters["batches.lost"] += sum(e["lost"] for e in per_gateway.values())
        rows = [
            (entry["batches"], entry["lost"], work.duplicates.pop(entry["pk"], 0), entry["advs"], entry["rejected"],
             entry["boot"], entry["seq"], to_datetime(min(entry["seen"], time.time())), GatewayStatus.ONLINE,
             entry["pk"])
            for entry in per_gateway.values()
        ]
        rows += [(0, 0, n, 0, 0, None, None, None, None, pk) for pk, n in work.duplicates.items()]
        rows.sort(key=lambda row: row[-1])  # gateway rows locked in pk order: no deadlock between processes
        if rows:
            self._write_gateway_rows(rows)
        for gateway_id, (state, ts) in work.statuses.items():
            fields = {"status": GatewayStatus.ONLINE if state == "online" else GatewayStatus.OFFLINE}
            if state == "online":
                fields["last_seen_at"] = to_datetime(min(ts, time.time()))
            Gateway.objects.filter(gateway_id=gateway_id).update(**fields)
            work.counters[f"gateway_status.{state}"] += 1

    @staticmethod
    def _write_gateway_rows(rows: list[tuple]) -> None:
        """Add a chunk's per-gateway counts; increments are relative, so concurrent ingest processes
        never overwrite each other's counts. Rows are locked in pk order: no deadlock between processes."""
        table = connection.ops.quote_name(Gateway._meta.db_table)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # One statement with array parameters for the whole chunk (a row per gateway: 2,000 at the
                # design size); a pipelined UPDATE per gateway cost more than the rest of the chunk.
                cursor.execute(f"SELECT id FROM {table} WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                               [[row[-1] for row in rows]])
                cursor.execute(
                    f"UPDATE {table} AS g SET batches_received = g.batches_received + u.b,"
                    " batches_lost = g.batches_lost + u.l, batches_duplicated = g.batches_duplicated + u.d,"
                    " advertisements_received = g.advertisements_received + u.a,"
                    " advertisements_rejected = g.advertisements_rejected + u.r,"
                    " boot_id = COALESCE(u.boot, g.boot_id), last_seq = COALESCE(u.seq, g.last_seq),"
                    " last_seen_at = COALESCE(u.seen, g.last_seen_at), status = COALESCE(u.st, g.status)"
                    " FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::text[],"
                    " %s::bigint[], %s::timestamptz[], %s::text[], %s::bigint[])"
                    " AS u(b, l, d, a, r, boot, seq, seen, st, id) WHERE g.id = u.id",
                    [list(column) for column in zip(*rows, strict=True)],
                )
                return
            cursor.executemany(
                f"UPDATE {table} SET batches_received = batches_received + %s, batches_lost = batches_lost + %s,"
                " batches_duplicated = batches_duplicated + %s,"
                " advertisements_received = advertisements_received + %s,"
                " advertisements_rejected = advertisements_rejected + %s,"
                " boot_id = COALESCE(%s, boot_id), last_seq = COALESCE(%s, last_seq),"
                " last_seen_at = COALESCE(%s, last_seen_at), status = COALESCE(%s, status) WHERE id = %s",
                rows,
            )

    def _store_dead_letters(self, work: ChunkWork) -> None:
        if work.dead:
            DeadLetter.objects.bulk_create(
                [DeadLetter(topic=topic[:300], gateway_id=gw[:200], reason=reason[:500], payload=payload,
                            payload_size=len(payload)) for topic, gw, reason, payload in work.dead]
            )

    @staticmethod
    def _bump_counters(counters: Counter) -> None:
        counters = {name: value for name, value in sorted(counters.items()) if value}  # one lock order
        if counters and connection.vendor == "postgresql":
            # One statement however many counters moved (a chunk of sensor batches moves about six).
            table = connection.ops.quote_name(IngestCounter._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {table} AS c (name, value, updated_at) SELECT n, v, now() "
                    "FROM unnest(%s::text[], %s::bigint[]) AS u(n, v) "
                    "ON CONFLICT (name) DO UPDATE SET value = c.value + EXCLUDED.value, updated_at = now()",
                    [list(counters), list(counters.values())],
                )
            return
        for name, value in counters.items():
            if not IngestCounter.objects.filter(name=name).update(value=F("value") + value):
                IngestCounter.objects.create(name=name, value=value)

    # ------------------------------------------------------------------------- periodic work
    def flush_discovered(self) -> int:
        return self.discovered.flush()

