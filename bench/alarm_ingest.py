"""Bench: readings per second through the alarm service as ingest calls it (``AlarmService.on_readings``
inside the chunk's transaction, plus ``tick`` every simulated second).

It creates a throw-away test database (SQLite by default, PostgreSQL with DATABASE_URL), enrols
``--sensors`` sensors over the shipped profiles (2-3 quantities each, a report every ``--interval``
seconds, ``--bad`` of them in an excursion, doors opening), then feeds ``--minutes`` of simulated time
in chunks of ``--chunk`` seconds. Reported:

* ``full``: evaluation + storing each touched sensor's state (``Evaluator.to_dict``) + events, committed
  per chunk, i.e. the whole service path inside ingest (the readings themselves are stored by ingest
  and are not counted here);
* ``evaluation``: the same with the state writes replaced by no-ops (the serialisation is kept).

A sensor whose rules are all normal with nothing pending ("quiet") and whose stored state was quiet
too is not written for every chunk (see ``sensors.environment.alarm_service.quiet``); the first chunk
writes every sensor once.

    .venv/bin/python bench/alarm_ingest.py [--sensors 2000] [--minutes 10] [--interval 10] [--bad 0.02]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hospital .venv/bin/python bench/alarm_ingest.py
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402

T0 = 1_750_000_000.0
SETUPS = [  # (profile, quantities with normal value and noise, excursion value of the first one)
    ("vaccine_fridge", {"temperature_c": (5.0, 0.3), "door_open": (0, 0), "battery_pct": (80, 0)}, 9.5),
    ("ultra_cold_freezer", {"temperature_c": (-80.0, 1.0), "door_open": (0, 0), "battery_pct": (80, 0)}, -60.0),
    ("blood_fridge", {"temperature_c": (4.0, 0.2), "door_open": (0, 0), "battery_pct": (80, 0)}, 7.0),
    ("isolation_room_negative", {"differential_pressure_pa": (-8.0, 0.5), "temperature_c": (22, 0.3),
                                 "door_open": (0, 0)}, -1.0),
    ("operating_room", {"temperature_c": (21.0, 0.3), "humidity_pct": (45, 2), "differential_pressure_pa": (8, .5)},
     26.0),
    ("patient_room", {"temperature_c": (22.0, 0.3), "humidity_pct": (45, 2)}, 27.0),
]


def enrol(n: int, interval: int):
    from hospital.facility.models import Building, Floor, Room, Site
    from sensors.models import Sensor

    site = Site.objects.create(code="bench", name="Bench")
    building = Building.objects.create(site=site, code="b", name="B")
    floor = Floor.objects.create(building=building, level=1, name="1", elevation_m=0, metres_per_unit=0.1)
    room = Room.objects.create(floor=floor, number="1", room_type="laboratory", polygon=[[0, 0], [1, 0], [1, 1]])
    Sensor.objects.bulk_create([
        Sensor(sensor_id=f"s{i:05d}", name=f"Sensor {i}", mac_address=f"AA:BB:CC:{i >> 16 & 255:02X}:"
               f"{i >> 8 & 255:02X}:{i & 255:02X}", ble_format="ruuvi_v5", room=room,
               profile=SETUPS[i % len(SETUPS)][0], report_interval_s=interval)
        for i in range(n)
    ])
    return list(Sensor.objects.order_by("pk").values_list("pk", flat=True))


def readings(pks, minutes: int, interval: int, bad: float, chunk_s: float, seed: int = 1):
    """Yield (t_end, [ReadingIn]) per ``chunk_s`` simulated seconds."""
    from sensors.ingest.pipeline import ReadingIn

    rng = random.Random(seed)
    offsets = {pk: rng.uniform(0, interval) for pk in pks}
    setups = {pk: SETUPS[i % len(SETUPS)] for i, pk in enumerate(pks)}
    excursion = {pk for pk in pks if rng.random() < bad}
    end = T0 + minutes * 60
    t = T0
    while t < end:
        out = []
        for pk in pks:
            o = offsets[pk]
            k0 = int((t - T0 - o) // interval) + 1
            k1 = int((t + chunk_s - T0 - o) // interval)
            for k in range(max(k0, 0), k1 + 1):
                rt = T0 + o + k * interval
                if not (t <= rt < t + chunk_s):
                    continue
                _profile, qs, bad_value = setups[pk]
                for i, (q, (mean, noise)) in enumerate(qs.items()):
                    v = mean + rng.gauss(0, noise) if noise else mean
                    if q == "door_open":
                        v = 1.0 if rng.random() < 0.02 else 0.0
                    if i == 0 and pk in excursion and rt > T0 + 60:
                        v = bad_value
                    out.append(ReadingIn(pk, q, rt, float(v), None))
        yield t + chunk_s, out
        t += chunk_s


def run(args, memory_only: bool) -> tuple[int, float, int]:
    from sensors.environment.alarm_service import AlarmService

    pks = run.pks
    clock = [T0]
    svc = AlarmService(clock=lambda: clock[0], name=f"bench-{memory_only}")
    if memory_only:
        svc._write_rows = lambda rows: None  # no state writes; the serialisation is still done

        def no_lock(units, wait=True):  # nor row locks
            for u in units:
                u.version = u.version or 0
            return set(units), set()

        svc._lock = no_lock
    n = events = 0
    elapsed = ticks = 0
    last_tick = time.perf_counter()
    for t_end, chunk in readings(pks, args.minutes, args.interval, args.bad, args.chunk):
        clock[0] = t_end
        start = time.perf_counter()
        with transaction.atomic():
            svc.on_readings(chunk)
        # As in ingest: a tick about every wall-clock second (delays are exact whatever the tick rate).
        if start - last_tick >= 1.0 or args.tick_every_chunk:
            svc.tick(t_end)
            last_tick = start
            ticks += 1
        elapsed += time.perf_counter() - start
        n += len(chunk)
    events = svc.stats["events"]
    return n, elapsed, events


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sensors", type=int, default=2000)
    p.add_argument("--minutes", type=int, default=10)
    p.add_argument("--interval", type=int, default=10, help="report interval of every sensor, seconds")
    p.add_argument("--bad", type=float, default=0.02, help="share of sensors in an excursion")
    p.add_argument("--chunk", type=float, default=10.0,
                   help="simulated seconds per ingest chunk (default 10: about one report per sensor per chunk)")
    p.add_argument("--tick-every-chunk", action="store_true",
                   help="tick after every chunk (default: about once per wall-clock second, as ingest does)")
    args = p.parse_args()
    setup_test_environment()
    # Its own throw-away database, never the test suite's (which may be running beside it).
    if connection.vendor == "sqlite":
        import tempfile

        connection.settings_dict["TEST"]["NAME"] = os.path.join(tempfile.mkdtemp(), "bench.sqlite3")
    else:
        connection.settings_dict["TEST"]["NAME"] = f"bench_alarm_ingest_{os.getpid()}"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        run.pks = enrol(args.sensors, args.interval)
        print(f"database: {connection.vendor}; {args.sensors} sensors, {args.minutes} min, report every "
              f"{args.interval} s, {args.bad:.0%} in excursion, chunks of {args.chunk:g} s")
        for label, memory_only in (("evaluation (no DB writes)", True), ("full service path (DB)", False)):
            from sensors.environment.models import AlarmEvent, EvaluatorState

            n, elapsed, events = run(args, memory_only)
            print(f"{label:28s} {n:9d} readings in {elapsed:6.2f} s = {n / elapsed:9,.0f} readings/s "
                  f"({events} transitions)")
            if memory_only is False:
                print(f"{'':28s} {EvaluatorState.objects.count()} state rows, {AlarmEvent.objects.count()} events stored")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    main()
