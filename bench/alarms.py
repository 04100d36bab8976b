"""Benchmark: readings per second through Evaluator.feed on a realistic mix.

2,000 sensors across the shipped profiles (fridges, freezers with defrost, pressure rooms with door
contacts, wards, waiting areas), each reporting every 10 s with two or three quantities, mostly in
range; about 2 % of sensors (--bad) go through an excursion, doors open now and then, and the evaluator is
ticked every simulated second (watchdog included), as the alarm worker does. Only feeding and
ticking are timed; generating the readings is not.

    .venv/bin/python bench/alarms.py [--sensors 2000] [--minutes 10]

The last line of output is JSON: {"readings_per_s": ..., ...}.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sensors.alarms import Evaluator  # noqa: E402

# profile -> (quantity, normal value, noise, excursion value)
MIX = [
    ("vaccine_fridge", [("temperature_c", 5.0, 0.4, 10.0), ("door_open", 0, 0, 1)], 0.25),
    ("vaccine_freezer", [("temperature_c", -20.0, 0.8, -12.0), ("door_open", 0, 0, 1)], 0.10),
    ("blood_fridge", [("temperature_c", 4.0, 0.3, 6.5)], 0.05),
    ("pharmacy_crt", [("temperature_c", 22.0, 0.5, 26.0), ("humidity_pct", 45.0, 3.0, 65.0)], 0.10),
    ("isolation_room_negative", [("differential_pressure_pa", -6.0, 0.5, 0.0), ("door_open", 0, 0, 1)], 0.05),
    ("operating_room", [("temperature_c", 21.0, 0.3, 25.0), ("humidity_pct", 45.0, 3.0, 62.0),
                        ("differential_pressure_pa", 6.0, 0.5, 0.0)], 0.05),
    ("patient_room", [("temperature_c", 22.5, 0.4, 25.0), ("humidity_pct", 40.0, 3.0, 65.0),
                      ("battery_pct", 80.0, 1.0, 15.0)], 0.30),
    ("waiting_area", [("co2_ppm", 700.0, 80.0, 1500.0), ("pm25_ugm3", 8.0, 2.0, 30.0)], 0.10),
]


def build(n_sensors: int, minutes: int, bad: float = 0.02, seed: int = 1):
    rnd = random.Random(seed)
    profiles = [m for m in MIX]
    weights = [m[2] for m in MIX]
    sensors = []
    for i in range(n_sensors):
        slug, quantities, _w = rnd.choices(profiles, weights)[0]
        phase = rnd.uniform(0, 10)
        sensors.append((f"s{i:05d}", slug, quantities, phase, rnd.random() < bad))
    t0 = 1_704_855_600.0  # 2024-01-10 03:00 UTC: a defrost window starts within the run
    readings = []
    steps = minutes * 6
    for step in range(steps):
        for key, _slug, quantities, phase, bad in sensors:
            t = t0 + step * 10 + phase
            excursion = bad and steps // 3 <= step < 2 * steps // 3
            for q, normal, noise, exc in quantities:
                if q == "door_open":
                    v = 1 if (step + int(phase)) % 90 < 2 else 0
                else:
                    v = (exc if excursion else normal) + rnd.gauss(0, noise) if noise else normal
                readings.append((key, q, t, v))
    return sensors, readings, t0


def run(n_sensors: int, minutes: int, bad: float = 0.02) -> dict:
    sensors, readings, t0 = build(n_sensors, minutes, bad)
    ev = Evaluator(tz="UTC")
    for key, slug, *_rest in sensors:
        ev.bind(key, slug, interval_s=10)
    # Readings come in time order; tick once per simulated second like the alarm worker.
    readings.sort(key=lambda r: r[2])
    feed, tick = ev.feed, ev.tick
    n_events = 0
    next_tick = t0 + 1
    start = time.perf_counter()
    for key, q, t, v in readings:
        if t >= next_tick:
            n_events += len(tick(next_tick))
            next_tick += 1
        ev_out = feed(key, q, t, v)
        if ev_out:
            n_events += len(ev_out)
    elapsed = time.perf_counter() - start
    return {
        "readings_per_s": round(len(readings) / elapsed),
        "readings": len(readings),
        "sensors": n_sensors,
        "excursion_fraction": bad,
        "rules": sum(len(ev.profile_of(k).rules) for k, *_r in sensors),
        "events": n_events,
        "active_alarms": ev.active_count(),
        "seconds": round(elapsed, 3),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sensors", type=int, default=2000)
    p.add_argument("--minutes", type=int, default=10, help="simulated minutes (6 reports per sensor a minute)")
    p.add_argument("--bad", type=float, default=0.02, help="fraction of sensors with an excursion (default 0.02)")
    args = p.parse_args(argv)
    result = run(args.sensors, args.minutes, args.bad)
    print(f"{result['readings']} readings from {result['sensors']} sensors ({result['rules']} rules) in "
          f"{result['seconds']} s; {result['events']} transitions, {result['active_alarms']} alarms active at the end")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
