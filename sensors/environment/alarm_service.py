"""The alarm service: the live ``sensors.alarms`` state machine inside ingest.

One ``AlarmService`` per ingest process (per partition: all sites, or one site). It holds one
``Evaluator`` per monitored sensor and per gateway, each bound to its effective profile, so the state
of one sensor is one small row (``EvaluatorState``) that can be written when, and only when, that
sensor changed. The evaluators are called from ingest's thread only (they are not thread-safe).

* ``on_readings(readings)`` is ingest's callback, called INSIDE the chunk's transaction: it feeds the
  readings, stores the transitions (through ``services.record_events``) and the new state of every
  sensor it touched in that same transaction. A crash before the commit rolls everything back and the
  broker redelivers the chunk; a crash after it leaves a consistent state. Nothing lost, nothing twice.
* ``tick(now)`` (every second, from ingest's idle hook) applies what is due by time alone (delays,
  re-alarms, shelve expiry, defrost windows), the offline watchdog and calibration checks, the
  gateways' status, and the operator actions queued by the web (acknowledge, shelve, ...).
* Several ingest processes may share one site (a shared MQTT subscription hands any reading to any
  of them). The state row of a sensor is the truth: every write locks the row first (rows in key
  order, so processes cannot deadlock) and ``EvaluatorState.version`` grows with every write. A
  process whose copy is older than the row (another process wrote, or its own transaction was
  rolled back) reloads that sensor from the row before evaluating. Readings of a chunk are evaluated
  in reading-time order; a reading older than the sensor's clock (a late packet, or one committed
  first by another process) counts with its value at the rule's current time (docs/alarms.md).
  ``tick`` never waits for a row another process holds: it skips that sensor for this second.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from datetime import UTC, datetime

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from sensors.alarms import Evaluator, FloodDetector, Profile, ProfileCatalog
from sensors.choices import GatewayStatus
from sensors.models import Gateway, Reading, Sensor

from . import profiles as profiles_mod
from . import services
from .choices import EVALUATOR_ACTIONS, ActionKind, ActionStatus
from .models import AlarmAction, AlarmPartition, EvaluatorState, RollupBacklog
from .rollup import rollup_margin_s

log = logging.getLogger(__name__)

REFRESH_S = 30.0  # how often bindings are compared with the database (new sensors, changed profiles)
GATEWAY_CHECK_S = 5.0
CHECKPOINT_S = 60.0  # every evaluator whose state changed without an event is saved this often


class Unit:
    """One watched subject: a sensor or a gateway, with its evaluator."""

    __slots__ = ("key", "ev", "sensor_pk", "gateway_pk", "site_id", "title", "profile", "config", "saved",
                 "saved_quiet", "version")

    def __init__(self, key, ev, sensor_pk, gateway_pk, site_id, title, profile, config):
        self.key = key
        self.ev: Evaluator = ev
        self.sensor_pk = sensor_pk
        self.gateway_pk = gateway_pk
        self.site_id = site_id
        self.title = title
        self.profile: Profile = profile
        self.config = config
        self.saved: bytes | None = None
        self.saved_quiet = False  # the stored state was quiet (see ``quiet``)
        self.version: int | None = None  # EvaluatorState.version of ``saved``; None: no row known

    def state_key(self) -> str:
        return f"sensor:{self.sensor_pk}" if self.sensor_pk else f"gateway:{self.gateway_pk}"


def quiet(ev: Evaluator, key: str) -> bool:
    """Every rule of the sensor is normal with nothing pending and no design window is open or planned.

    From a quiet state, a reading that keeps it quiet changes nothing but the last-seen time and the
    last values, and the readings themselves are in the database. So a quiet sensor whose stored state
    was quiet too is not written again for every chunk: after a restart its stored state plus the
    readings stored since (re-fed in the order ingest stored them) is exactly where it was. This reads
    the evaluator's per-rule fast-path flag (``quick``, documented in docs/alarms.md, "Speed");
    ``test_environment_alarms`` restarts mid-stream to keep that honest.
    """
    b = ev._b.get(key)
    if b is None or b.windows or b.door_is_open:
        return False
    for rs in b.rules:
        if not rs.quick or rs.manual:
            return False
    return True


def _ts(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt else None


def _profile_fingerprint(p: Profile) -> tuple:
    return (p.slug, tuple(tuple(sorted((k, str(v)) for k, v in r.to_dict().items())) for r in p.rules))


class AlarmService:
    def __init__(self, *, site: str = "+", name: str | None = None, clock=time.time, flood: dict | None = None):
        self.site = None if site in ("+", "", None) else site  # None: every site
        self.name = name or ("all" if self.site is None else f"site:{site}")
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.units: dict[str, Unit] = {}
        self.by_sensor: dict[int, Unit] = {}
        self.by_gateway: dict[int, Unit] = {}
        self.unmonitored: set[int] = set()
        self.cache = services.AlarmCache()
        self.flood = FloodDetector()
        self._flood_options = flood or {}
        self._next_refresh = -math.inf
        self._next_gateways = -math.inf
        self._next_checkpoint = -math.inf
        self.stats = {"readings": 0, "events": 0, "reloads": 0}
        self.load()

    # ------------------------------------------------------------------ loading

    def _flood_detector(self, state: dict | None) -> FloodDetector:
        if state:
            return FloodDetector.from_dict(state)
        return FloodDetector(
            threshold=int(self._flood_options.get("threshold", getattr(settings, "ALARM_FLOOD_THRESHOLD", 10))),
            window_s=float(self._flood_options.get("window_s", getattr(settings, "ALARM_FLOOD_WINDOW_S", 600))),
            clear_below=int(self._flood_options.get("clear_below", getattr(settings, "ALARM_FLOOD_CLEAR_BELOW", 5))),
        )

    def load(self) -> None:
        """(Re)build every evaluator from the database: bindings from the sensors and gateways, state
        from ``EvaluatorState``."""
        with transaction.atomic():
            part, _ = AlarmPartition.objects.get_or_create(name=self.name)
            self.flood = self._flood_detector(part.flood)
            self.units, self.by_sensor, self.by_gateway = {}, {}, {}
            self.unmonitored = set()
            self.cache = services.AlarmCache()
            states = {k: (s, v) for k, s, v in EvaluatorState.objects.values_list("key", "state", "version")}
            self._seen_signatures = self._signatures()
            now = self.clock()
            for sensor in self._sensors():
                self._bind_sensor(sensor, states.get(f"sensor:{sensor.pk}"), now)
            for gateway in self._gateways():
                self._bind_gateway(gateway, states.get(f"gateway:{gateway.pk}"), now)
            self._catch_up()
        self._next_refresh = self.clock() + REFRESH_S
        log.info("alarm service %s: %d sensors, %d gateways watched", self.name, len(self.by_sensor),
                 len(self.by_gateway))

    def _catch_up(self) -> None:
        """Re-feed the readings stored since a quiet sensor's state was last written (see ``quiet``)."""
        seen: dict[int, float] = {}
        for pk, unit in self.by_sensor.items():
            if unit.saved is not None and quiet(unit.ev, unit.key):
                unit.saved_quiet = True
                s = unit.ev.to_dict()["bindings"][unit.key].get("seen")
                if s is not None:
                    seen[pk] = s
        if not seen:
            return
        since = datetime.fromtimestamp(min(seen.values()), tz=UTC)
        rows = (Reading.objects.filter(t__gt=since, sensor_id__in=list(seen)).order_by("id")
                .values_list("sensor_id", "quantity", "t", "value"))
        n = 0
        for pk, quantity, t, value in rows.iterator(chunk_size=5000):
            ts = t.timestamp()
            if ts > seen[pk]:
                unit = self.by_sensor[pk]
                events = unit.ev.feed(unit.key, quantity, ts, value)
                n += 1
                if events:  # cannot happen for a quiet sensor; never record twice
                    log.error("alarm service: catching up %s produced %d transition(s); dropped", unit.key,
                              len(events))
        if n:
            log.info("alarm service %s: caught up %d reading(s) of quiet sensors", self.name, n)

    def _sensors(self, **filters):
        qs = Sensor.objects.select_related(
            "room__floor__building__site", "asset__asset_type", "asset__installed_room__floor__building__site",
            "profile_override",
        ).filter(**filters)
        if self.site is not None:
            sensors = list(qs)
            return [s for s in sensors if (site := profiles_mod.sensor_site(s)) is not None and site.code == self.site]
        return list(qs)

    def _gateways(self, **filters):
        qs = Gateway.objects.select_related("site", "room").filter(enabled=True, **filters).exclude(
            status=GatewayStatus.UNKNOWN, last_seen_at=None)
        if self.site is not None:
            qs = qs.filter(site__code=self.site)
        return list(qs)

    def _sensor_config(self, sensor) -> tuple[Profile | None, tuple]:
        profile = profiles_mod.effective_profile(sensor)
        site = profiles_mod.sensor_site(sensor)
        tz = site.timezone if site is not None and site.timezone else "UTC"
        config = (
            _profile_fingerprint(profile) if profile else None, sensor.report_interval_s or None,
            sensor.calibration_due_on, tz, site.pk if site else None, sensor.name,
        )
        return profile, config

    def _evaluator_for(self, key: str, profile: Profile, state_json: str | None, *, interval, cal_due, tz, start):
        if state_json:
            try:
                d = orjson.loads(state_json)
                bd = d["bindings"][key]
                bd["profile"] = profile.slug
                bd["interval_s"] = interval
                bd["calibration_due"] = cal_due
                d["tz"] = tz
                d["max_shelve_s"] = float(getattr(settings, "ALARM_MAX_SHELVE_S", 24 * 3600))
                cat = ProfileCatalog(profiles={profile.slug: profile}, room_types={}, equipment_types={})
                return Evaluator.from_dict(d, cat), True
            except (KeyError, ValueError, TypeError):
                log.exception("unusable alarm state for %s: starting it afresh", key)
        ev = Evaluator(tz=tz, max_shelve_s=float(getattr(settings, "ALARM_MAX_SHELVE_S", 24 * 3600)))
        ev.bind(key, profile, interval_s=interval, calibration_due=cal_due, t=start)
        return ev, False

    def _bind_sensor(self, sensor, stored: tuple[str, int] | None, now: float) -> Unit | None:
        """``stored``: the sensor's (state, version) row, if any."""
        state_json, version = stored or (None, None)
        profile, config = self._sensor_config(sensor)
        if profile is None:
            self.unmonitored.add(sensor.pk)
            return None
        _fp, interval, cal_due, tz, site_id, _name = config
        start = _ts(sensor.last_seen_at) or now
        ev, restored = self._evaluator_for(sensor.sensor_id, profile, state_json, interval=interval,
                                           cal_due=cal_due, tz=tz, start=start)
        unit = Unit(sensor.sensor_id, ev, sensor.pk, None, site_id, sensor.name, profile, config)
        unit.version = version if restored else (-1 if version is not None else None)  # -1: reload at first use
        if restored:
            unit.saved = state_json.encode() if isinstance(state_json, str) else state_json
        self.units[unit.key] = unit
        self.by_sensor[sensor.pk] = unit
        self.unmonitored.discard(sensor.pk)
        return unit

    def _bind_gateway(self, gateway, stored: tuple[str, int] | None, now: float) -> Unit:
        state_json, version = stored or (None, None)
        profile = profiles_mod.gateway_profile()
        key = f"gateway:{gateway.gateway_id}"
        tz = gateway.site.timezone or "UTC"
        ev, restored = self._evaluator_for(key, profile, state_json, interval=None, cal_due=None, tz=tz, start=now)
        where = f" ({gateway.room})" if gateway.room_id else ""
        unit = Unit(key, ev, None, gateway.pk, gateway.site_id, f"Gateway {gateway.gateway_id}{where}", profile,
                    (gateway.site_id,))
        unit.version = version if restored else (-1 if version is not None else None)
        if restored:
            unit.saved = state_json.encode()
        self.units[key] = unit
        self.by_gateway[gateway.pk] = unit
        return unit

    SIGNATURE_FIELDS = (
        "pk", "updated_at", "profile", "report_interval_s", "calibration_due_on", "name", "room__room_type",
        "room__floor__building__site__timezone", "asset__asset_type__code", "asset__installed_room__room_type",
        "asset__installed_room__floor__building__site__timezone", "profile_override__updated_at",
    )

    def _signatures(self) -> dict[int, tuple]:
        """A cheap fingerprint of everything a sensor's binding depends on (one query, no objects)."""
        return {row[0]: row[1:] for row in Sensor.objects.values_list(*self.SIGNATURE_FIELDS)}

    def _refresh(self, now: float, dirty: set) -> None:
        """Pick up new sensors and gateways and changed profiles, intervals and calibration dates.
        Rebinding keeps the state of every rule the new profile still has. Only sensors whose
        fingerprint changed are loaded."""
        signatures = self._signatures()
        changed = [pk for pk, sig in signatures.items() if self._seen_signatures.get(pk) != sig]
        gone = [pk for pk in self._seen_signatures if pk not in signatures]
        self._seen_signatures = signatures
        for sensor in (self._sensors(pk__in=changed) if changed else []):
            unit = self.by_sensor.get(sensor.pk)
            if unit is None:
                self.unmonitored.discard(sensor.pk)
                unit = self._bind_sensor(sensor, self._stored(f"sensor:{sensor.pk}"), now)
                if unit is not None:
                    dirty.add(unit)
                continue
            profile, config = self._sensor_config(sensor)
            if config == unit.config:
                continue
            if profile is None:
                self._drop(unit)
                self.unmonitored.add(sensor.pk)
                continue
            _fp, interval, cal_due, tz, site_id, _name = config
            if tz != unit.ev.tz_name:
                state = orjson.dumps(unit.ev.to_dict()).decode()
                unit.ev, _ = self._evaluator_for(unit.key, profile, state, interval=interval, cal_due=cal_due, tz=tz,
                                                 start=now)
            else:
                unit.ev.bind(unit.key, profile, interval_s=interval, calibration_due=cal_due)
            unit.profile, unit.config, unit.site_id, unit.title = profile, config, site_id, sensor.name
            dirty.add(unit)
            log.info("alarm service: %s now watched with %s", unit.key, profile.slug)
        if self.site is not None:  # a sensor moved to another site's partition
            for pk in [pk for pk in changed if pk in self.by_sensor]:
                if not self._sensors(pk=pk):
                    self._drop(self.by_sensor[pk])
        for pk in gone:
            if pk in self.by_sensor:
                self._drop(self.by_sensor[pk])
            self.unmonitored.discard(pk)
        gw_seen = set()
        for gateway in self._gateways():
            gw_seen.add(gateway.pk)
            if gateway.pk not in self.by_gateway:
                dirty.add(self._bind_gateway(gateway, self._stored(f"gateway:{gateway.pk}"), now))
        for pk in [pk for pk in self.by_gateway if pk not in gw_seen]:
            self._drop(self.by_gateway[pk])

    def _drop(self, unit: Unit) -> None:
        self.units.pop(unit.key, None)
        if unit.sensor_pk:
            self.by_sensor.pop(unit.sensor_pk, None)
        if unit.gateway_pk:
            self.by_gateway.pop(unit.gateway_pk, None)

    def _unknown_sensor(self, pk: int) -> Unit | None:
        """A reading from a sensor enrolled since the last refresh."""
        if pk in self.unmonitored:
            return None
        sensors = self._sensors(pk=pk)
        if not sensors:
            self.unmonitored.add(pk)
            return None
        return self._bind_sensor(sensors[0], self._stored(f"sensor:{pk}"), self.clock())

    @staticmethod
    def _stored(key: str) -> tuple[str, int] | None:
        return EvaluatorState.objects.filter(key=key).values_list("state", "version").first()

    # ------------------------------------------------------------------ the shared state rows

    def _lock(self, units, *, wait: bool = True) -> tuple[set, set]:
        """Lock the state rows of ``units`` for this transaction; reload every unit whose row changed
        since this process last read or wrote it. Returns ``(locked, stale)``: ``stale`` were reloaded.
        With ``wait=False`` a row held by another transaction is skipped (left out of ``locked``).

        Rows are locked in key order by one statement per 500, so two processes locking overlapping
        sets cannot deadlock. A unit without a row gets one first (its current state, version 1)."""
        units = sorted({u for u in units if u.key in self.units}, key=Unit.state_key)
        if not units:
            return set(), set()
        self._insert_missing([u for u in units if u.version is None])
        by_key = {u.state_key(): u for u in units}
        versions: dict[str, int] = {}
        keys = list(by_key)
        for start in range(0, len(keys), 500):
            qs = EvaluatorState.objects.filter(key__in=keys[start:start + 500]).order_by("key")
            if connection.features.has_select_for_update:
                qs = qs.select_for_update(skip_locked=not wait)
            versions.update(qs.values_list("key", "version"))
        locked = {by_key[k] for k in versions}
        stale = {u for u in locked if versions[u.state_key()] != u.version}
        if stale:
            keys = [u.state_key() for u in stale]
            for key, state in EvaluatorState.objects.filter(key__in=keys).values_list("key", "state"):
                self._reload(by_key[key], state, versions[key])
        return locked, stale

    def _insert_missing(self, units) -> None:
        if not units:
            return
        q = connection.ops.quote_name
        table = q(EvaluatorState._meta.db_table)
        now = EvaluatorState._meta.get_field("updated_at").get_db_prep_value(timezone.now(), connection)
        data = {u.state_key(): orjson.dumps(u.ev.to_dict()) for u in units}
        params: list = []
        for u in units:
            params += [u.state_key(), u.sensor_pk, u.gateway_pk, data[u.state_key()].decode(), now, 1]
        values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(units))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({q('key')}, {q('sensor_id')}, {q('gateway_id')}, {q('state')}, "
                f"{q('updated_at')}, {q('version')}) VALUES {values} ON CONFLICT ({q('key')}) DO NOTHING "
                f"RETURNING {q('key')}", params)
            inserted = {row[0] for row in cursor.fetchall()}
        for u in units:
            if u.state_key() in inserted:
                u.saved, u.version, u.saved_quiet = data[u.state_key()], 1, quiet(u.ev, u.key)
            else:
                u.version = -1  # another process created it meanwhile: the lock below reloads it

    def _reload(self, unit: Unit, state: str, version: int) -> None:
        """Continue ``unit`` from its stored row (written by another process, or ours rolled back)."""
        b = unit.ev._b.get(unit.key)
        unit.ev, _ = self._evaluator_for(unit.key, unit.profile, state, interval=b.interval if b else None,
                                         cal_due=b.cal_due if b else None, tz=unit.ev.tz_name, start=self.clock())
        unit.saved, unit.version, unit.saved_quiet = state.encode(), version, quiet(unit.ev, unit.key)
        self.stats["reloads"] += 1

    def _lock_partition(self) -> None:
        """Lock this partition's row (after any state row: one lock order everywhere) and take the
        flood detector's state from it: other processes count alarms of the same operators."""
        qs = AlarmPartition.objects.filter(name=self.name)
        if connection.features.has_select_for_update:
            qs = qs.select_for_update()
        flood = qs.values_list("flood", flat=True).first()
        if flood is None and not AlarmPartition.objects.filter(name=self.name).exists():
            AlarmPartition.objects.create(name=self.name)
        self.flood = self._flood_detector(flood)

    # ------------------------------------------------------------------ the ingest path

    def on_readings(self, readings) -> None:
        """Ingest's callback: evaluate readings and persist, in the caller's transaction."""
        with transaction.atomic(savepoint=False):
            by_sensor = self.by_sensor
            todo = []
            for r in readings:
                unit = by_sensor.get(r.sensor_pk)
                if unit is None:
                    unit = self._unknown_sensor(r.sensor_pk)
                    if unit is None:
                        continue
                todo.append((r, unit))
            locked, _ = self._lock({unit for _, unit in todo})
            todo.sort(key=lambda item: item[0].t)  # reading-time order (stable: equal times keep arrival order)
            batch = []
            late = set()
            late_cut = self.clock() - rollup_margin_s() / 2
            for r, unit in todo:
                if unit not in locked:
                    continue  # its sensor was deleted meanwhile
                out = unit.ev.feed(unit.key, r.quantity, r.t, r.value)
                if out:
                    batch.append((unit, out))
                if r.t < late_cut:
                    late.add((r.sensor_pk, r.quantity, int(r.t // 60) * 60))
            self.stats["readings"] += len(readings)
            if late:
                RollupBacklog.objects.bulk_create(
                    [RollupBacklog(sensor_id=s, quantity=q, minute=datetime.fromtimestamp(m, tz=UTC))
                     for s, q, m in late], ignore_conflicts=True)
            self._commit(batch, {u for u in locked if not (u.saved_quiet and quiet(u.ev, u.key))})

    def _commit(self, batch, dirty, users: dict | None = None) -> None:
        """Store events and the state of ``dirty`` units; every unit here has its row locked."""
        if batch:
            self._lock_partition()
            self.stats["events"] += sum(len(evs) for _, evs in batch)
            services.record_events(batch, cache=self.cache, flood=self.flood, users=users)
            self._save_flood()
        if dirty:
            self._save_states(dirty)

    def _save_states(self, units) -> None:
        """Write the state of every unit that changed: one UPDATE executed for many rows (the ORM's
        bulk_update builds a CASE per row: several times slower on this hot path)."""
        now = timezone.now()
        rows = []
        for u in units:
            if u.key not in self.units:
                continue
            data = orjson.dumps(u.ev.to_dict())
            u.saved_quiet = quiet(u.ev, u.key)
            if data == u.saved:
                continue
            u.saved = data
            u.version += 1
            rows.append((u.state_key(), data.decode(), now))
        if rows:
            self._write_rows(rows)

    @staticmethod
    def _write_rows(rows) -> None:
        q = connection.ops.quote_name
        table = q(EvaluatorState._meta.db_table)
        sql = (f"UPDATE {table} SET {q('state')} = %s, {q('updated_at')} = %s, {q('version')} = {q('version')} + 1 "
               f"WHERE {q('key')} = %s")
        field = EvaluatorState._meta.get_field("updated_at")
        with connection.cursor() as cursor:
            cursor.executemany(sql, [(d, field.get_db_prep_value(t, connection), k) for k, d, t in sorted(rows)])

    def _save_flood(self) -> None:
        AlarmPartition.objects.filter(name=self.name).update(flood=self.flood.to_dict())

    # ------------------------------------------------------------------ time

    def tick(self, now: float | None = None) -> int:
        """Time-driven work; call about every second. Returns the number of transitions.

        Operator actions lock their sensors' rows first (waiting, as nothing else is held yet). The
        rest is tentative: the units it changed are locked afterwards without waiting; a unit whose
        row another process wrote meanwhile is reloaded and ticked again, one whose row is held right
        now is left for the next tick (its tentative change is dropped)."""
        now = self.clock() if now is None else now
        mono = now  # schedules follow the service's clock (wall time in production, simulated in tests)
        batch: list = []
        dirty: set = set()
        with transaction.atomic():
            if mono >= self._next_refresh:
                self._next_refresh = mono + REFRESH_S
                self._refresh(now, dirty)
            users, held = self._apply_actions(now, batch, dirty)
            if mono >= self._next_gateways:
                self._next_gateways = mono + GATEWAY_CHECK_S
                self._check_gateways(now, batch, dirty)
            self._note_seen()
            for unit in self.units.values():
                out = unit.ev.tick(now)
                if out:
                    batch.append((unit, out))
                    dirty.add(unit)
                elif not (unit.saved_quiet and quiet(unit.ev, unit.key)):
                    dirty.add(unit)  # e.g. the watchdog started an on-delay: no event, but state to keep
            batch, dirty = self._verify(batch, dirty, held, now)
            self._commit(batch, dirty, users)
            self._lock_partition()
            changes = self.flood.tick(now)
            if changes:
                services.record_flood_changes(changes, self._site_of_group)
            AlarmPartition.objects.filter(name=self.name).update(
                flood=self.flood.to_dict(), owner=self.owner, heartbeat_at=timezone.now())
            if mono >= self._next_checkpoint:
                self._next_checkpoint = mono + CHECKPOINT_S
                self._checkpoint()
        return sum(len(evs) for _, evs in batch)

    def _verify(self, batch, dirty, held, now):
        """Lock (without waiting) what the tentative tick changed; redo the units found stale, drop the
        units another transaction holds (reloaded at their next use)."""
        locked, stale = self._lock(dirty - held, wait=False)
        skipped = dirty - held - locked
        for u in skipped:
            u.version = -1
        redo = stale | skipped
        if redo:
            batch = [(u, out) for u, out in batch if u not in redo]
            for u in stale:
                out = u.ev.tick(now)
                if out:
                    batch.append((u, out))
        return batch, dirty - skipped

    def _note_seen(self) -> None:
        """Another process may have stored this sensor's latest readings: take ``Sensor.last_seen_at``
        (kept monotonic by ingest) so the watchdog never calls a sensor silent that is not."""
        watched = [pk for pk, u in self.by_sensor.items() if u.ev._b.get(u.key) is not None and u.ev._b[u.key].interval]
        for start in range(0, len(watched), 2000):
            for pk, seen in Sensor.objects.filter(pk__in=watched[start:start + 2000]).exclude(
                    last_seen_at=None).values_list("pk", "last_seen_at"):
                unit = self.by_sensor[pk]
                unit.ev.saw(unit.key, seen.timestamp())

    def _checkpoint(self) -> None:
        candidates = [u for u in self.units.values() if orjson.dumps(u.ev.to_dict()) != u.saved]
        locked, stale = self._lock(candidates, wait=False)
        for u in set(candidates) - locked:
            u.version = -1
        self._save_states(locked - stale)

    def checkpoint(self) -> None:
        """Save every evaluator whose state changed (at shutdown, and every minute from ``tick``)."""
        with transaction.atomic():
            self._checkpoint()

    def check_gateways(self, now: float | None = None) -> int:
        """Run the gateway check now (tests; ``tick`` does it every few seconds)."""
        self._next_gateways = -math.inf
        return self.tick(now)

    def refresh(self, now: float | None = None) -> int:
        """Compare bindings with the database now (``tick`` does it every 30 s)."""
        self._next_refresh = -math.inf
        return self.tick(now)

    @staticmethod
    def _site_of_group(group: str) -> int | None:
        prefix = "alarms.site."
        return int(group[len(prefix):]) if group.startswith(prefix) else None

    def _check_gateways(self, now: float, batch: list, dirty: set) -> None:
        """Silence of a gateway: its last will (status offline, set by ingest) or nothing heard for
        ``ALARM_GATEWAY_OFFLINE_AFTER_S``."""
        if not self.by_gateway:
            return
        stale = float(getattr(settings, "ALARM_GATEWAY_OFFLINE_AFTER_S", 300))
        for pk, status, last_seen in Gateway.objects.filter(pk__in=list(self.by_gateway)).values_list(
                "pk", "status", "last_seen_at"):
            unit = self.by_gateway[pk]
            offline = status == GatewayStatus.OFFLINE or (last_seen is not None and now - last_seen.timestamp() > stale)
            out = unit.ev.feed(unit.key, profiles_mod.GATEWAY_RULE, now, 1.0 if offline else 0.0)
            dirty.add(unit)
            if out:
                batch.append((unit, out))

    # ------------------------------------------------------------------ operator actions

    def _apply_actions(self, now: float, batch: list, dirty: set) -> tuple[dict[str, int], set]:
        """Apply pending operator actions; returns the users by name and the units locked for them.
        An action row another process is applying is skipped (SKIP LOCKED), so each applies once."""
        qs = AlarmAction.objects.filter(status=ActionStatus.PENDING, kind__in=EVALUATOR_ACTIONS).select_related("alarm")
        if self.site is not None:
            qs = qs.filter(alarm__site__code=self.site)
        qs = qs.order_by("created_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        actions = list(qs[:500])
        held, _ = self._lock({self.units[a.alarm.key] for a in actions if a.alarm.key in self.units})
        users: dict[str, int] = {}
        for action in actions:
            alarm = action.alarm
            unit = self.units.get(alarm.key)
            if unit is None:
                if self.site is None:
                    services.finish_action(action, ActionStatus.FAILED, "this sensor is no longer monitored")
                continue
            if unit not in held:
                continue
            t = min(action.created_at.timestamp(), now)
            who = action.username or "system"
            if action.user_id:
                users[who] = action.user_id
            ev, key, rule = unit.ev, unit.key, alarm.rule
            try:
                if action.kind == ActionKind.ACKNOWLEDGE:
                    out = ev.acknowledge(key, rule, t, who)
                elif action.kind == ActionKind.SHELVE:
                    out = ev.shelve(key, rule, t, action.until.timestamp(), action.text, who)
                elif action.kind == ActionKind.UNSHELVE:
                    out = ev.unshelve(key, rule, t, who)
                elif action.kind == ActionKind.SUPPRESS:
                    out = ev.suppress(key, rule, t, until=_ts(action.until), reason=action.text or "maintenance",
                                      who=who)
                elif action.kind == ActionKind.UNSUPPRESS:
                    out = ev.unsuppress(key, rule, t, who)
                elif action.kind == ActionKind.OUT_OF_SERVICE:
                    out = ev.set_out_of_service(key, rule, t, who, reason=action.text)
                elif action.kind == ActionKind.RETURN_TO_SERVICE:
                    out = ev.return_to_service(key, rule, t, who)
                else:
                    out = []
            except (KeyError, ValueError) as exc:
                services.finish_action(action, ActionStatus.FAILED, str(exc.args[0] if exc.args else exc))
                continue
            dirty.add(unit)
            if out:
                batch.append((unit, out))
                services.finish_action(action, ActionStatus.APPLIED, f"{len(out)} transition(s)")
            else:
                services.finish_action(action, ActionStatus.NO_OP, f"nothing to do: the alarm is {ev.state(key, rule)}")
        return users, held

    # ------------------------------------------------------------------ inspection

    def evaluator(self, key: str) -> Evaluator:
        return self.units[key].ev


__all__ = ["AlarmService", "Unit"]
