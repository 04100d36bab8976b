"""Environmental sensor physics and the advertisements the sensors send.

Cold storage (fridges, freezers, the platelet incubator) is a thermostat: the compressor (a heater for
the incubator) runs when the temperature leaves its band and drives it toward a cold target; idle, the
unit drifts toward the room. First-order exchange, integrated in one-second steps::

    dT/dt = (T_active - T) / tau_active * [compressor on] + (T_room - T) / tau_idle
            + (T_room - T) / tau_door * [door open]

which makes a vaccine fridge cycle between about 3.5 and 6 C every 20 minutes, a door opening a short
bump of up to a degree, and a freezer defrost (every 8 h, 25 min, heater on, compressor off) a rise of
several degrees. Rooms follow their HVAC set points with a small daily swing and slow noise; pressure
monitors hold their differential pressure (+10 Pa operating room, -8 Pa airborne-infection isolation,
+8 Pa protective environment) and lose most of it while the door is open; the waiting room's CO2 follows
the number of people in it (C -> 420 + 25 ppm per person, 10 min air-change time constant). Batteries
drain slowly. Scenarios (scenarios.py) change these models' parameters at run time.

Each sensor advertises once per report interval in its real format (RuuviTag data format 5, or BTHome
v2, encrypted with its bind key when it has one, with a growing counter); BTHome units with a door
contact also send an event-triggered advertisement at every door opening and closing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import encoders
from .world import SensorSpec, World

AMBIENT_C = 21.0
SEA_LEVEL_PA = 101325.0


@dataclass(frozen=True)
class ColdUnit:
    band: tuple[float, float]  # thermostat: compressor on above hi, off below lo (a heater: the reverse)
    active_c: float  # what the compressor (or heater) drives the temperature toward
    tau_active_s: float
    tau_idle_s: float  # toward the room when the compressor is off
    door_rate_per_h: float
    door_open_s: tuple[float, float]
    tau_door_s: float
    defrost: tuple[float, float, float] | None = None  # every s, lasting s, rise of the cabinet air C
    rh_pct: float = 50.0


COLD_UNITS: dict[str, ColdUnit] = {
    "vaccine_fridge": ColdUnit((3.5, 6.0), -6.0, 1900, 4600, 3.0, (8, 40), 500),
    "pharmacy_fridge": ColdUnit((3.5, 6.0), -6.0, 1900, 4600, 4.0, (8, 40), 500),
    "blood_fridge": ColdUnit((2.8, 4.6), -8.0, 1500, 5000, 2.0, (8, 30), 900),
    "vaccine_freezer": ColdUnit(
        (-22.0, -18.5), -40.0, 2500, 6000, 1.0, (5, 25), 400, (8 * 3600, 25 * 60, 5.0), 70.0
    ),
    "plasma_freezer": ColdUnit(
        (-33.0, -28.5), -45.0, 2500, 7000, 1.0, (5, 25), 600, (8 * 3600, 25 * 60, 5.0), 70.0
    ),
    "ultra_cold_freezer": ColdUnit((-81.0, -78.5), -95.0, 3000, 20000, 0.5, (5, 20), 800, None, 60.0),
    "platelet_incubator": ColdUnit((21.7, 22.3), 30.0, 1500, 4000, 1.0, (5, 20), 600, None, 40.0),
}


@dataclass(frozen=True)
class RoomClimate:
    temp_c: float
    temp_day_amp_c: float
    rh_pct: float
    rh_day_amp_pct: float
    dp_pa: float | None = None  # differential pressure set point
    door_rate_per_h: float = 0.0
    door_open_s: tuple[float, float] = (8, 25)
    occupants: float | None = None  # waiting rooms: baseline number of people (drives CO2)


ROOMS: dict[str, RoomClimate] = {
    "operating_room": RoomClimate(21.0, 0.3, 45.0, 3.0, 10.0, 6.0, (10, 30)),
    "isolation_room_negative": RoomClimate(22.5, 0.4, 42.0, 3.0, -8.0, 4.0),
    "protective_environment_positive": RoomClimate(22.5, 0.4, 42.0, 3.0, 8.0, 4.0),
    "pharmacy_crt": RoomClimate(21.5, 0.5, 40.0, 4.0),
    "sterile_storage": RoomClimate(20.5, 0.4, 45.0, 3.0),
    "waiting_area": RoomClimate(22.0, 0.6, 40.0, 4.0, occupants=8.0),
    "critical_care": RoomClimate(22.5, 0.4, 45.0, 3.0),
    "patient_room": RoomClimate(22.5, 0.5, 42.0, 4.0),
}
DEFAULT_ROOM = RoomClimate(22.0, 0.5, 42.0, 4.0)

CO2_OUTDOOR_PPM = 420.0
CO2_PER_PERSON_PPM = 25.0
CO2_TAU_S = 600.0
DOOR_DP_TAU_S = 3.0  # pressure collapses within seconds of opening the door
DP_RECOVER_TAU_S = 8.0
AJAR_FACTOR = 4.0  # a door left ajar exchanges air 4x more slowly than one held wide open

NOISE = {  # sensor noise (standard deviation) added to the true value before encoding
    "temperature_c": 0.04,
    "humidity_pct": 0.4,
    "differential_pressure_pa": 0.15,
    "co2_ppm": 8.0,
    "pm25_ugm3": 0.8,
    "pressure_pa": 2.0,
}


@dataclass(slots=True)
class Packet:
    t: float
    sensor: int  # index into EnvironmentModel.sensors
    manufacturer_data: dict
    service_data: dict


@dataclass(slots=True)
class SensorState:
    spec: SensorSpec
    cold: ColdUnit | None
    room: RoomClimate | None
    elevation_m: float
    next_report: float
    # physical state
    temp_c: float = AMBIENT_C
    rh_pct: float = 45.0
    dp_pa: float = 0.0
    co2_ppm: float = 600.0
    occupants: float = 8.0
    occupants_target: float | None = None  # set by the crowded waiting room scenario
    pm25: float = 6.0
    battery_pct: float = 90.0
    battery_v: float = 3.0
    battery_drain_per_s: float = 0.01 / 3600  # percent per second (about a year on a battery)
    compressor: bool = False
    failed_tau_s: float | None = None  # compressor failure: drifting toward the room with this tau
    defrost_until: float = -math.inf
    defrost_target: float = 0.0
    next_defrost: float = math.inf
    door_open: bool = False
    door_close_at: float = math.inf
    door_ajar: bool = False
    next_door: float = math.inf
    dp_setpoint: float | None = None
    dp_tau_s: float = DP_RECOVER_TAU_S
    temp_noise: float = 0.0
    rh_noise: float = 0.0
    dp_noise: float = 0.0
    # advertising state
    counter: int = 0  # BTHome encryption counter / packet id
    sequence: int = 0  # Ruuvi measurement sequence
    movement: int = 0  # Ruuvi movement counter (sensor on the door)
    overrides: dict = field(default_factory=dict)  # quantity -> value forced by a scenario
    index: int = 0

    def truth(self) -> dict[str, float]:
        """The true physical values of the quantities this sensor reports."""
        out: dict[str, float] = {}
        for q in self.spec.quantities:
            if q == "temperature_c":
                out[q] = self.temp_c
            elif q == "humidity_pct":
                out[q] = self.rh_pct
            elif q == "pressure_pa":
                out[q] = SEA_LEVEL_PA - 12.0 * self.elevation_m
            elif q == "differential_pressure_pa":
                out[q] = self.dp_pa
            elif q == "co2_ppm":
                out[q] = self.co2_ppm
            elif q == "pm25_ugm3":
                out[q] = self.pm25
            elif q == "door_open":
                out[q] = 1.0 if self.door_open else 0.0
            elif q == "battery_pct":
                out[q] = self.battery_pct
            elif q == "battery_v":
                out[q] = self.battery_v
        return out


class EnvironmentModel:
    def __init__(self, world: World, sensors: list[SensorSpec], rng: np.random.Generator, t0: float):
        self.rng = rng
        self.sensors: list[SensorState] = []
        self.pressure_offset = 0.0  # weather: slow barometric drift shared by all sensors
        for spec in sensors:
            cold = COLD_UNITS.get(spec.profile)
            room = None if cold else ROOMS.get(spec.profile, DEFAULT_ROOM)
            elev = world.floor(spec.floor).elevation_m if spec.floor in world.floor_index else 0.0
            st = SensorState(
                spec, cold, room, elev, next_report=t0 + float(rng.uniform(0, spec.report_interval_s))
            )
            st.battery_pct = float(rng.uniform(55, 100))
            st.battery_v = float(rng.uniform(2.90, 3.05))
            st.counter = int(rng.integers(0, 1 << 16))
            st.sequence = int(rng.integers(0, 1 << 15))
            if cold:
                lo, hi = cold.band
                st.temp_c = float(rng.uniform(lo, hi))
                st.compressor = bool(rng.random() < 0.4)
                st.rh_pct = cold.rh_pct
                if cold.defrost:
                    st.next_defrost = t0 + float(rng.uniform(0, cold.defrost[0]))
                rate = cold.door_rate_per_h
            else:
                st.temp_c = room.temp_c
                st.rh_pct = room.rh_pct
                st.dp_setpoint = room.dp_pa
                st.dp_pa = room.dp_pa or 0.0
                if room.occupants is not None:
                    st.occupants = room.occupants
                    st.co2_ppm = CO2_OUTDOOR_PPM + CO2_PER_PERSON_PPM * room.occupants
                    st.pm25 = 5.0 + 0.06 * room.occupants
                rate = room.door_rate_per_h
            if rate > 0:
                st.next_door = t0 + float(rng.exponential(3600.0 / rate))
            st.index = len(self.sensors)
            self.sensors.append(st)
        self.t = t0
        self.events: list[tuple[float, str, str, str]] = []
        self.reported: list[tuple[float, str, dict[str, float], dict[str, float]]] = []

    # ---------------------------------------------------------------------------------- physics
    def _door(
        self, st: SensorState, t: float, packets: list[Packet], opening: bool, ajar: bool = False
    ) -> None:
        if st.door_open == opening:
            return
        st.door_open = opening
        st.door_ajar = ajar if opening else False
        if opening:
            st.movement = (st.movement + 1) & 0xFF
        self.events.append(
            (t, "door_open" if opening else "door_close", st.spec.sensor_id, "left ajar" if ajar else "")
        )
        if "door_open" in st.spec.quantities and st.spec.ble_format == "bthome_v2":
            packets.append(self._advertise(st, t, trigger=True))

    def _tick(self, st: SensorState, t: float, dt: float, packets: list[Packet]) -> None:
        rng = self.rng
        # doors: random openings (Poisson), closing after a short while
        if st.door_open and t >= st.door_close_at:
            self._door(st, st.door_close_at, packets, False)
            st.door_close_at = math.inf
        if not st.door_open and t >= st.next_door:
            rate = st.cold.door_rate_per_h if st.cold else st.room.door_rate_per_h
            lo, hi = st.cold.door_open_s if st.cold else st.room.door_open_s
            self._door(st, st.next_door, packets, True)
            st.door_close_at = st.next_door + float(rng.uniform(lo, hi))
            st.next_door = st.door_close_at + float(rng.exponential(3600.0 / rate))
        st.battery_pct = max(0.0, st.battery_pct - st.battery_drain_per_s * dt)
        st.battery_v = max(2.0, st.battery_v - st.battery_drain_per_s * dt * 0.012)  # 1 % ~ 12 mV
        if st.cold:
            self._cold(st, t, dt)
        else:
            self._room(st, t, dt)

    def _cold(self, st: SensorState, t: float, dt: float) -> None:
        c = st.cold
        lo, hi = c.band
        heating = c.active_c > hi
        if c.defrost and t >= st.next_defrost:
            st.defrost_until = t + c.defrost[1]
            st.next_defrost = t + c.defrost[0]
            st.defrost_target = st.temp_c + c.defrost[2]
            self.events.append((t, "defrost_start", st.spec.sensor_id, f"{c.defrost[1] / 60:.0f} min"))
        defrosting = t < st.defrost_until
        if st.failed_tau_s is not None or defrosting:
            st.compressor = False
        elif heating:
            st.compressor = st.temp_c < lo or (st.compressor and st.temp_c < hi)
        else:
            st.compressor = st.temp_c > hi or (st.compressor and st.temp_c > lo)
        rate = 0.0
        if st.compressor:
            rate += (c.active_c - st.temp_c) / c.tau_active_s
        if defrosting:  # the heater melts the coil's ice; the cabinet air rises by about `rise` degrees
            rate += (st.defrost_target - st.temp_c) / (c.defrost[1] / 2)
        else:
            rate += (AMBIENT_C - st.temp_c) / (st.failed_tau_s or c.tau_idle_s)
        if st.door_open:
            tau = c.tau_door_s * (AJAR_FACTOR if st.door_ajar else 1.0)
            rate += (AMBIENT_C - st.temp_c) / tau
        st.temp_c += rate * dt
        rh_target = c.rh_pct + (15.0 if st.door_open else 0.0)
        st.rh_pct += (rh_target - st.rh_pct) * (1 - math.exp(-dt / 120.0))

    def _ou(self, x: float, sigma: float, tau: float, dt: float) -> float:
        a = math.exp(-dt / tau)
        return a * x + math.sqrt(1 - a * a) * sigma * float(self.rng.standard_normal())

    def _room(self, st: SensorState, t: float, dt: float) -> None:
        r = st.room
        day = math.sin(2 * math.pi * ((t % 86400.0) / 86400.0 - 0.375))  # warmest mid-afternoon
        st.temp_noise = self._ou(st.temp_noise, 0.15, 600.0, dt)
        st.rh_noise = self._ou(st.rh_noise, 1.0, 900.0, dt)
        st.temp_c = r.temp_c + r.temp_day_amp_c * day + st.temp_noise
        st.rh_pct = r.rh_pct - r.rh_day_amp_pct * day + st.rh_noise
        if st.dp_setpoint is not None:
            st.dp_noise = self._ou(st.dp_noise, 0.3, 20.0, dt)
            if st.door_open:
                target, tau = 0.1 * st.dp_setpoint, DOOR_DP_TAU_S
            else:
                target, tau = st.dp_setpoint + st.dp_noise, st.dp_tau_s
            st.dp_pa += (target - st.dp_pa) * (1 - math.exp(-dt / tau))
        if r.occupants is not None:
            if st.occupants_target is not None:
                st.occupants += (st.occupants_target - st.occupants) * (1 - math.exp(-dt / 60.0))
            else:
                st.occupants = max(0.0, self._ou(st.occupants - r.occupants, 3.0, 1800.0, dt) + r.occupants)
            c_eq = CO2_OUTDOOR_PPM + CO2_PER_PERSON_PPM * st.occupants
            st.co2_ppm += (c_eq - st.co2_ppm) * (1 - math.exp(-dt / CO2_TAU_S))
            pm_eq = 5.0 + 0.06 * st.occupants
            st.pm25 += (pm_eq - st.pm25) * (1 - math.exp(-dt / 900.0))

    def advance(self, t_prev: float, t: float) -> list[Packet]:
        """Integrate the physics from ``t_prev`` to ``t`` in steps of at most a second; return the
        advertisements the sensors sent in (t_prev, t]."""
        packets: list[Packet] = []
        self.pressure_offset = 150.0 * math.sin(2 * math.pi * t / (3 * 86400.0))
        now = t_prev
        while now < t - 1e-9:
            nxt = min(t, now + 1.0)
            dt = nxt - now
            for st in self.sensors:
                self._tick(st, nxt, dt, packets)
                while st.next_report <= nxt:
                    packets.append(self._advertise(st, st.next_report))
                    st.next_report += st.spec.report_interval_s
            now = nxt
        self.t = t
        packets.sort(key=lambda p: p.t)
        return packets

    # ---------------------------------------------------------------------------------- encoding
    def _advertise(self, st: SensorState, t: float, trigger: bool = False) -> Packet:
        rng = self.rng
        truth = st.truth()
        values = {q: v + NOISE.get(q, 0.0) * float(rng.standard_normal()) for q, v in truth.items()}
        if "pressure_pa" in values:
            values["pressure_pa"] += self.pressure_offset
        values.update(st.overrides)
        spec = st.spec
        idx = st.index
        if spec.ble_format == "ruuvi_v5":
            st.sequence = (st.sequence + 1) % 0xFFFF
            ax, ay, az = (0, 0, 1000) if not st.door_open else (700, 0, 714)
            jitter = rng.integers(-8, 9, size=3)
            mfr = encoders.ruuvi_v5(
                spec.mac,
                temperature_c=values.get("temperature_c", st.temp_c),
                humidity_pct=values.get("humidity_pct", st.rh_pct),
                pressure_pa=values.get("pressure_pa", SEA_LEVEL_PA - 12.0 * st.elevation_m),
                acceleration_mg=(int(ax + jitter[0]), int(ay + jitter[1]), int(az + jitter[2])),
                battery_v=values.get("battery_v", st.battery_v),
                tx_power_dbm=4,
                movement_counter=st.movement,
                measurement_sequence=st.sequence,
            )
            packet = Packet(t, idx, mfr, {})
        else:
            st.counter = (st.counter + 1) & 0xFFFFFFFF
            objs = {q: v for q, v in values.items() if q in encoders.BTHOME_OBJECTS}
            if not spec.bindkey:
                objs["packet_id"] = st.counter & 0xFF
            svc = encoders.bthome_v2(
                spec.mac, objs, bindkey=spec.bindkey or None, counter=st.counter, trigger=trigger
            )
            packet = Packet(t, idx, {}, svc)
        self.reported.append((t, spec.sensor_id, truth, values))
        return packet

    def drain_reports(self) -> list[tuple[float, str, dict[str, float], dict[str, float]]]:
        """(t, sensor_id, true values, values sent) of every advertisement since the last call."""
        out, self.reported = self.reported, []
        return out
