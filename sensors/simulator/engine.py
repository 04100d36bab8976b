"""The simulator core: a virtual gateway fleet for a hospital described by fixture and floor-plan files.

``Simulator(world, config)`` owns the movement model (movement.py), the sensor physics (environment.py)
and the radio model (radio.py). ``step(now)`` advances simulated time to ``now`` in ticks of one batch
interval and returns, per gateway, the advertisements it heard; ``run(stop_event, publisher)`` does that
in (scaled) real time and publishes one batch per gateway per interval. No Django here.

Per tick: scenarios that start or end; trips that start or end; sensor physics; every tag sends one
iBeacon advertisement per advertising interval (1 s plus the 0-10 ms random advDelay of the BLE
specification, so tags drift in phase like real ones); sensors send when their report is due or a door
opens or closes. For every packet, the gateways whose mean RSSI is within reach get fast fading and
packet loss applied; what survives goes into that gateway's batch with the packet's time.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from sensors.protocol import Advertisement

from . import encoders
from .environment import EnvironmentModel
from .movement import MovementModel, MovementParams
from .radio import RadioModel, RadioParams
from .scenarios import (
    CROWD_PEOPLE,
    FAILED_FRIDGE_TAU_S,
    PRESSURE_LOSS_DP_PA,
    PRESSURE_LOSS_TAU_S,
    Scenario,
    parse_scenarios,
)
from .truth import TruthWriter
from .world import TAG_HEIGHT_M, World

log = logging.getLogger(__name__)

ADV_DELAY_MAX_S = 0.010  # BLE advDelay: 0-10 ms added to every advertising interval
RUUVI_P1M_DBM = -55.0  # RuuviTag at +4 dBm: about -55 dBm at 1 m
BTHOME_P1M_DBM = -59.0  # 0 dBm sensors
CABINET_LOSS_DB = 10.0  # a sensor inside a fridge or freezer: metal box
ROOM_SENSOR_Z_M = 1.5


@dataclass
class SimConfig:
    seed: int = 1
    start_time: float | None = None  # simulated unix time at the start (default: now)
    batch_interval_s: float = 1.0
    adv_interval_s: float = 1.0  # tags
    speed: float = 1.0  # simulated seconds per real second in run(); 0 = as fast as possible
    scenarios: list[str] | tuple[str, ...] | None = None  # None: the defaults; ["none"]: no scenarios
    truth_dir: str | Path | None = None
    radio: RadioParams = field(default_factory=RadioParams)
    movement: MovementParams = field(default_factory=MovementParams)


class TruePosition(NamedTuple):
    floor: int
    x: float
    y: float
    z: float
    room: str
    moving: bool


class Simulator:
    def __init__(self, world: World, config: SimConfig | None = None):
        self.world = world
        self.config = config = config or SimConfig()
        seeds = np.random.SeedSequence(config.seed).spawn(4)
        self.rng_radio, rng_move, rng_env, self.rng_tx = (np.random.default_rng(s) for s in seeds)
        self.t0 = float(config.start_time if config.start_time is not None else time.time())
        self.t = self.t0
        self.scenarios: list[Scenario] = parse_scenarios(config.scenarios)
        self.gateway_ids = [g.gateway_id for g in world.gateways]
        self.gw_index = {g: i for i, g in enumerate(self.gateway_ids)}
        self.down: set[str] = set()
        self.gateway_changes: list[tuple[float, str, str]] = []  # (t, gateway_id, "offline" | "online")
        self.events: deque[tuple[float, str, str, str]] = deque(maxlen=10000)
        self.stats = {"ticks": 0, "packets": 0, "advertisements": 0}

        self.movement = MovementModel(world, world.tags, config.movement, rng_move, self.t0)
        self.env = EnvironmentModel(world, world.sensors, rng_env, self.t0)
        self.radio = RadioModel(world, config.radio, self.rng_radio)

        # transmitters: tags first, then sensors
        tags, sensors = world.tags, world.sensors
        self.n_tags = len(tags)
        n = self.n_tags + len(sensors)
        self.tx_floor = np.zeros(n, dtype=np.int64)
        self.tx_x = np.zeros(n)
        self.tx_y = np.zeros(n)
        self.tx_z = np.zeros(n)
        self.tx_p1m = np.zeros(n)
        self.tx_mac: list[str] = [t.mac for t in tags] + [s.mac for s in sensors]
        for i, a in enumerate(self.movement.agents):
            self._set_tx(i, a.floor, a.x, a.y, a.z)
            self.tx_p1m[i] = tags[i].tx_power_dbm
        self.sensor_room: list[str] = []
        place_rng = np.random.default_rng(np.random.SeedSequence(config.seed).spawn(5)[4])
        for j, s in enumerate(sensors):
            room = world.rooms[s.room]
            ring = room.inner.exterior
            pt = ring.interpolate(float(place_rng.uniform(0, 1)), normalized=True)
            cabinet = s.asset is not None
            self._set_tx(self.n_tags + j, s.floor, pt.x, pt.y, TAG_HEIGHT_M if cabinet else ROOM_SENSOR_Z_M)
            p1m = RUUVI_P1M_DBM if s.ble_format == "ruuvi_v5" else BTHOME_P1M_DBM
            self.tx_p1m[self.n_tags + j] = p1m - (CABINET_LOSS_DB if cabinet else 0.0)
            self.sensor_room.append(s.room)
        self.tag_mfr = [encoders.ibeacon(t.uuid, t.major, t.minor, t.tx_power_dbm) for t in tags]
        self.next_tx = self.t0 + self.rng_tx.uniform(0, config.adv_interval_s, size=self.n_tags)
        self.base = self.radio.mean_rssi(self.tx_floor, self.tx_x, self.tx_y, self.tx_z, self.tx_p1m)
        self.base = self.base.astype(np.float32)
        self.slow = np.zeros_like(self.base)  # temporal shadowing state

        self.truth = TruthWriter(config.truth_dir) if config.truth_dir else None
        if self.truth:
            self.truth.run_info(
                {
                    "seed": config.seed,
                    "start_time": self.t0,
                    "speed": config.speed,
                    "batch_interval_s": config.batch_interval_s,
                    "adv_interval_s": config.adv_interval_s,
                    "scenarios": [str(s) for s in self.scenarios],
                    "radio": asdict(config.radio),
                    "movement": asdict(config.movement),
                    "site": world.site,
                    "gateways": len(world.gateways),
                    "tags": len(tags),
                    "sensors": len(sensors),
                }
            )
            for i, a in enumerate(self.movement.agents):
                self.truth.position(self.t0, tags[i].tag_id, a.x, a.y, a.z, a.floor, a.room)
        self._scenario_state: dict[int, dict] = {}

    # ------------------------------------------------------------------------------------ helpers
    def _set_tx(self, i: int, level: int, x: float, y: float, z: float) -> None:
        self.tx_floor[i] = self.world.floor_index[level]
        self.tx_x[i] = x
        self.tx_y[i] = y
        self.tx_z[i] = z

    def _event(self, t: float, kind: str, subject: str, detail: str = "") -> None:
        self.events.append((t, kind, subject, detail))
        if self.truth:
            self.truth.event(t, kind, subject, detail)

    # ------------------------------------------------------------------------------------ scenarios
    def _target_sensor(self, sc: Scenario, ok) -> list:
        states = self.env.sensors
        if sc.target:
            found = [s for s in states if s.spec.sensor_id == sc.target]
            if not found:
                raise ValueError(f"scenario {sc}: no sensor {sc.target!r}")
            return found
        found = [s for s in states if ok(s)]
        return found[:1]

    def _apply(self, k: int, sc: Scenario, t: float, starting: bool) -> None:
        name = sc.name
        st_map = self._scenario_state.setdefault(k, {})
        if name == "gateway_outage":
            gw = sc.target or (self.gateway_ids[0] if self.gateway_ids else None)
            if gw not in self.gw_index:
                raise ValueError(f"scenario {sc}: no gateway {gw!r}")
            (self.down.add if starting else self.down.discard)(gw)
            self.gateway_changes.append((t, gw, "offline" if starting else "online"))
            self._event(t, "scenario_start" if starting else "scenario_end", gw, str(sc))
            return
        if name == "compressor_failure":
            targets = self._target_sensor(sc, lambda s: s.spec.profile == "vaccine_fridge")
        elif name == "isolation_pressure_loss":
            targets = self._target_sensor(sc, lambda s: s.spec.profile == "isolation_room_negative")
        elif name == "crowded_waiting_room":
            targets = self._target_sensor(sc, lambda s: s.room is not None and s.room.occupants is not None)
        elif name == "door_left_open":
            targets = self._target_sensor(
                sc,
                lambda s: (
                    s.cold is not None
                    and "door_open" in s.spec.quantities
                    and s.spec.profile in ("vaccine_fridge", "pharmacy_fridge")
                ),
            )
        elif name == "low_battery":
            targets = self._target_sensor(sc, lambda s: "battery_pct" in s.spec.quantities)
        elif name == "freezer_defrost":
            if sc.target:
                targets = self._target_sensor(sc, None)
            else:
                targets = [s for s in self.env.sensors if s.cold is not None and s.cold.defrost]
        else:  # pragma: no cover - parse_scenario refuses unknown names
            raise ValueError(name)
        if not targets:
            log.warning("scenario %s: no matching sensor in this world; skipped", sc)
            return
        packets = []
        for st in targets:
            sid = st.spec.sensor_id
            if name == "compressor_failure":
                st.failed_tau_s = FAILED_FRIDGE_TAU_S if starting else None
            elif name == "isolation_pressure_loss":
                if starting:
                    st_map[sid] = st.dp_setpoint
                    st.dp_setpoint, st.dp_tau_s = PRESSURE_LOSS_DP_PA, PRESSURE_LOSS_TAU_S
                else:
                    st.dp_setpoint = st_map.get(sid, st.room.dp_pa)
                    st.dp_tau_s = PRESSURE_LOSS_TAU_S
            elif name == "crowded_waiting_room":
                st.occupants_target = CROWD_PEOPLE if starting else None
            elif name == "door_left_open":
                if starting:
                    st.door_close_at = math.inf
                    st.next_door = math.inf
                    self.env._door(st, t, packets, True, ajar=True)
                else:
                    self.env._door(st, t, packets, False)
                    rate = st.cold.door_rate_per_h
                    st.next_door = t + float(self.env.rng.exponential(3600.0 / rate)) if rate else math.inf
            elif name == "low_battery":
                if starting:
                    st_map[sid] = st.battery_drain_per_s
                    st.battery_drain_per_s = 1.0 / 60.0
                else:
                    st.battery_drain_per_s = st_map.get(sid, st.battery_drain_per_s)
                    st.battery_pct, st.battery_v = 100.0, 3.05
            elif name == "freezer_defrost" and starting:
                st.next_defrost = t
            self._event(t, "scenario_start" if starting else "scenario_end", sid, str(sc))
        self._pending_packets.extend(packets)

    # ------------------------------------------------------------------------------------ stepping
    def step(self, now: float) -> dict[str, list[Advertisement]]:
        """Advance to ``now`` (simulated unix seconds) and return every gateway's advertisements heard
        since the previous step (gateways that are down are left out; the others are all present, with
        an empty list when they heard nothing)."""
        out: dict[str, list[Advertisement]] = {g: [] for g in self.gateway_ids}
        while self.t < now - 1e-9:
            t1 = min(now, self.t + self.config.batch_interval_s)
            self._tick(self.t, t1, out)
            self.t = t1
        for g in self.down:
            out.pop(g, None)
        if self.truth:
            self.truth.flush()
        return out

    _pending_packets: list

    def _tick(self, t0: float, t1: float, out: dict[str, list[Advertisement]]) -> None:
        self._pending_packets = []
        rel0, rel1 = t0 - self.t0, t1 - self.t0
        for k, sc in enumerate(self.scenarios):
            if rel0 < sc.start_s <= rel1 or (sc.start_s <= rel0 and self.stats["ticks"] == 0):
                self._apply(k, sc, self.t0 + sc.start_s, True)
            if sc.end_s is not None and rel0 < sc.end_s <= rel1:
                self._apply(k, sc, self.t0 + sc.end_s, False)
        self.stats["ticks"] += 1

        # movement
        active, events = self.movement.advance(t1)
        for ev in events:
            self._event(*ev)
            if self.truth and ev[1] in ("trip_start", "trip_end"):
                i = self._tag_index(ev[2])
                f, x, y, z = self.movement.position(i, ev[0] if ev[1] == "trip_end" else ev[0] - 1e-6)
                self.truth.position(ev[0], ev[2], x, y, z, f, self._room_at(f, x, y))

        # tag transmissions in (t0, t1]
        tx_ids: list[np.ndarray] = []
        tx_times: list[np.ndarray] = []
        interval = self.config.adv_interval_s
        while True:
            due = np.nonzero(self.next_tx <= t1)[0]
            if len(due) == 0:
                break
            tx_ids.append(due)
            tx_times.append(self.next_tx[due].copy())
            self.next_tx[due] += interval + self.rng_tx.uniform(0, ADV_DELAY_MAX_S, size=len(due))
        ids = np.concatenate(tx_ids) if tx_ids else np.zeros(0, dtype=np.int64)
        times = np.concatenate(tx_times) if tx_times else np.zeros(0)

        # moving tags: position at their (last) transmission in this tick, or at t1
        if active:
            moving = np.array(sorted(active), dtype=np.int64)
            when = {int(i): t1 for i in moving}
            for i, t in zip(ids.tolist(), times.tolist(), strict=True):
                if i in when:
                    when[i] = t
            tags = self.world.tags
            for i in moving.tolist():
                f, x, y, z = self.movement.position(i, when[i])
                self._set_tx(i, f, x, y, z)
                if self.truth:
                    self.truth.position(when[i], tags[i].tag_id, x, y, z, f, self._room_at(f, x, y))
            self.base[moving] = self.radio.mean_rssi(
                self.tx_floor[moving],
                self.tx_x[moving],
                self.tx_y[moving],
                self.tx_z[moving],
                self.tx_p1m[moving],
            )

        # sensors
        env_packets = self._pending_packets + self.env.advance(t0, t1)
        for ev in self.env.events:
            self._event(*ev)
        self.env.events.clear()
        reports = self.env.drain_reports()
        if self.truth:
            for t, sid, truth, sent in reports:
                self.truth.environment(t, sid, truth, sent)

        # temporal shadowing (Ornstein-Uhlenbeck, exact for any step)
        p = self.config.radio
        a = math.exp(-(t1 - t0) / p.temporal_tau_s)
        noise = self.rng_radio.standard_normal(self.slow.shape, dtype=np.float32)
        self.slow *= a
        self.slow += noise * np.float32(math.sqrt(1 - a * a) * p.temporal_sigma_db)

        # the radio: every packet against every gateway in reach
        if env_packets:
            ids = np.concatenate(
                [ids, np.array([self.n_tags + pk.sensor for pk in env_packets], dtype=np.int64)]
            )
            times = np.concatenate([times, np.array([pk.t for pk in env_packets])])
        if len(ids) == 0:
            return
        self.stats["packets"] += len(ids)
        mean = self.base[ids] + self.slow[ids]
        reach = mean > (p.sensitivity_dbm - 12.0)
        if self.down:
            reach[:, [self.gw_index[g] for g in self.down]] = False
        r, g = np.nonzero(reach)
        if len(r) == 0:
            return
        rssi = mean[r, g] + self.radio.fading_db(len(r))
        ok = self.radio.received(rssi)
        r, g, rssi = r[ok], g[ok], rssi[ok]
        rssi = np.clip(np.rint(rssi), -127, 20).astype(np.int64)
        order = np.lexsort((times[r], g))
        n_tags = self.n_tags
        macs = self.tx_mac
        mfr = self.tag_mfr
        gids = self.gateway_ids
        tx = ids[r[order]].tolist()
        tt = times[r[order]].tolist()
        rr = rssi[order].tolist()
        gg = g[order].tolist()
        pk_of = {}
        if env_packets:
            base_idx = len(ids) - len(env_packets)
            for k in set(r[order].tolist()):
                if k >= base_idx:
                    pk_of[k] = env_packets[k - base_idx]
        rows = r[order].tolist()
        for k, n, t, s, gi in zip(rows, tx, tt, rr, gg, strict=True):
            if n < n_tags:
                adv = Advertisement(t, macs[n], s, mfr[n], {})
            else:
                pk = pk_of[k]
                adv = Advertisement(t, macs[n], s, pk.manufacturer_data, pk.service_data)
            out[gids[gi]].append(adv)
        self.stats["advertisements"] += len(tx)

    def _tag_index(self, tag_id: str) -> int:
        idx = getattr(self, "_tag_idx", None)
        if idx is None:
            idx = self._tag_idx = {t.tag_id: i for i, t in enumerate(self.world.tags)}
        return idx[tag_id]

    def _room_at(self, level: int, x: float, y: float) -> str:
        room = self.world.floor(level).room_at(x, y)
        return room.number if room else ""

    # ------------------------------------------------------------------------------------ truth
    def tag_positions(self) -> dict[str, TruePosition]:
        """Where every tag is now (simulated time ``self.t``)."""
        out = {}
        for i, tag in enumerate(self.world.tags):
            a = self.movement.agents[i]
            f, x, y, z = self.movement.position(i, self.t)
            room = a.room if a.trip is None else self._room_at(f, x, y)
            out[tag.tag_id] = TruePosition(f, x, y, z, room, a.trip is not None)
        return out

    def sensor_values(self) -> dict[str, dict[str, float]]:
        """The true physical value of every quantity of every sensor, now."""
        return {st.spec.sensor_id: st.truth() for st in self.env.sensors}

    # ------------------------------------------------------------------------------------ running
    def run(
        self,
        stop_event: threading.Event,
        publisher,
        *,
        duration: float | None = None,
        speed: float | None = None,
    ) -> None:
        """Publish one batch per gateway per batch interval until ``stop_event`` is set (or ``duration``
        simulated seconds have passed). ``speed`` simulated seconds per real second (default: the
        config's); 0 runs as fast as the CPU allows. Falling behind is logged, never silently skipped."""
        speed = self.config.speed if speed is None else speed
        interval = self.config.batch_interval_s
        publisher.start(self.gateway_ids, self.t)
        sim_start, wall_start = self.t, time.monotonic()
        end = None if duration is None else sim_start + duration
        cpu = time.process_time()
        last_report, behind_logged = wall_start, 0.0
        try:
            while not stop_event.is_set():
                target = self.t + interval
                if end is not None and target > end + 1e-9:
                    break
                batches = self.step(target)
                for t, gw, state in self.gateway_changes:
                    if state == "offline":
                        publisher.gateway_down(gw, t)
                    else:
                        publisher.gateway_up(gw, t)
                self.gateway_changes.clear()
                for gw, advs in batches.items():
                    publisher.publish(gw, advs, target)
                now = time.monotonic()
                if speed and speed > 0:
                    due = wall_start + (target - sim_start) / speed
                    if due > now:
                        stop_event.wait(due - now)
                    elif now - due > 5.0 and now - behind_logged > 60.0:
                        behind_logged = now
                        log.warning(
                            "simulator is %.1f s behind real time at speed %g (CPU-bound)", now - due, speed
                        )
                if now - last_report > 60.0:
                    last_report = now
                    log.info(
                        "simulator: t+%.0fs, %d advertisements, %d batches published, %d dropped, CPU %.1f%%",
                        self.t - self.t0,
                        self.stats["advertisements"],
                        publisher.published,
                        publisher.dropped,
                        100 * (time.process_time() - cpu) / max(1e-9, now - wall_start),
                    )
        finally:
            publisher.close(self.t)
            self.close()

    def close(self) -> None:
        if self.truth:
            self.truth.close()
            self.truth = None
