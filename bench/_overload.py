"""The overload drill of bench/faults.py: more than ingest can take, for a minute.

A hospital-shaped load (bench/ingest.py's world: TAGS tags heard by 5 gateways each once a second, in
batches of about 50) plus SENSORS RuuviTag fridges (one reading a second each, in their gateway's
batch) is offered at ``load`` times the design rate for ``seconds``, then at half the design rate so
ingest can recover. One fridge warms to 10 C during the overload (its temperature_high rule has no
on-delay here, so the alarm is due as soon as the reading is processed).

Counted: batches and sensor readings offered and stored (lost, duplicated), tag sightings shed (the
``sightings.shed`` counter; shed is not loss), ingest's peak RSS, when the "shedding load" status
(IngestStatus, what the alarm console shows) was raised and cleared, and how late the alarm was.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from _services import ROOT, Mosquitto, database_url  # noqa: I001

SITE = "overload"
SENSORS = 100
EXCURSION_C = 10.0
NORMAL_C = 5.0
RUUVI = bytes.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F")


def sensor_mac(i: int) -> str:
    return f"EE:00:00:00:{i // 256:02X}:{i % 256:02X}"


def ruuvi_hex(i: int, seq: int, temp_c: float) -> str:
    p = bytearray(RUUVI)
    p[1:3] = int(round(temp_c / 0.005)).to_bytes(2, "big", signed=True)
    p[16:18] = (seq % 65535).to_bytes(2, "big")
    p[18:24] = bytes.fromhex(sensor_mac(i).replace(":", ""))
    return p.hex()


def setup(n_tags: int):
    """Gateways, tags (bench/ingest.py's world) and SENSORS fridges, one of them the alarm drill."""
    import ingest as ingest_bench

    from hospital.facility.models import Room
    from sensors.environment.models import SensorProfileOverride
    from sensors.models import Gateway, Sensor

    ingest_bench.SITE = SITE
    gws, tags = ingest_bench.world(n_tags)
    rows = ingest_bench.batch_rows(gws, tags, variants=2)
    ingest_bench.setup_database(gws, n_tags)
    floor = Gateway.objects.get(gateway_id=gws[0][0]).floor
    room = Room.objects.create(floor=floor, number="OV-1", room_type="pharmacy",
                               polygon=[[0, 0], [10, 0], [10, 10], [0, 10]])
    Sensor.objects.bulk_create([
        Sensor(sensor_id=f"ov-fridge-{i}", name=f"Overload fridge {i}", mac_address=sensor_mac(i),
               ble_format="ruuvi_v5", room=room, profile="vaccine_fridge") for i in range(SENSORS)])
    drill = Sensor.objects.get(sensor_id="ov-fridge-0")
    # No on-delay for the drill: the alarm is due the moment the warm reading is processed.
    SensorProfileOverride.objects.create(sensor=drill, rules={"temperature_high": {"on_delay_s": 0}})
    return gws, rows


def publisher(url, gws, rows, part, parts, plan, boot, out, sensor_topic="env"):
    """Publish this part's gateways' batches following ``plan`` [(seconds, batches per second of the
    whole fleet)]; ``sent`` is the publish time. Reports what it published and the excursion's time.

    Tag batches are encoded once, before the clock starts (only the envelope is written per batch), so
    the publishers can offer the full design size on the shared box. A gateway's fridges go on
    ``.../env`` in a batch of their own (protocol §2a, numbered apart under their own boot), or with
    ``sensor_topic="adv"`` inside the tag batch as gateways without §2a do."""
    import orjson

    from sensors.mqtt.client import make_client, parse_mqtt_url

    endpoint = parse_mqtt_url(url)
    client = make_client(endpoint, f"overload-pub-{part}-{uuid.uuid4().hex[:4]}")
    client.max_inflight_messages_set(1000)
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    mine = [g for g in range(len(gws)) if g % parts == part]
    sensors_of = {g: [i for i in range(SENSORS) if i % len(gws) == g] for g in mine}
    topics = {g: (f"hospital/{SITE}/gw/{gws[g][0]}/adv", f"hospital/{SITE}/gw/{gws[g][0]}/env")
              for g in mine}
    # The advertisement arrays, encoded once: '...,"adv":[...]}'
    encoded = {g: [orjson.dumps(v) + b"}" for v in rows[g]] for g in mine}
    heads = {g: b'{"v":1,"gw":"%s","boot":"%s","seq":' % (gws[g][0].encode(), boot.encode()) for g in mine}
    seq = dict.fromkeys(mine, 0)
    env_seq = dict.fromkeys(mine, 0)
    sent = readings = env_batches = 0
    excursion_at = None
    start = time.time()
    last = None
    overload_s = plan[0][0] + plan[1][0]
    phases, phase_start = [], start
    for seconds, fleet_rate in plan:
        if phases:
            phases[-1][1] = time.time() - phase_start
        rate = fleet_rate * len(mine) / len(gws)
        phase_start, n = time.time(), 0
        phases.append([0, 0.0])
        while time.time() - phase_start < seconds:
            tick = time.time()
            for g in mine:
                warm = tick - start >= plan[0][0] + plan[1][0] / 3 and tick - start < overload_s
                advs = []
                for i in sensors_of[g]:
                    temp = EXCURSION_C if i == 0 and warm else NORMAL_C
                    if i == 0 and warm and excursion_at is None:
                        excursion_at = time.time()
                    advs.append([950, sensor_mac(i), -70, {"0499": ruuvi_hex(i, seq[g], temp)}])
                    readings += 1
                now = time.time()
                if advs and sensor_topic == "adv":
                    rows_g = rows[g][seq[g] % len(rows[g])]
                    payload = orjson.dumps({"v": 1, "gw": gws[g][0], "boot": boot, "seq": seq[g], "sent": now,
                                            "t0": tick, "adv": rows_g + advs})
                else:
                    payload = b'%s%d,"sent":%.3f,"t0":%.3f,"adv":%s' % (
                        heads[g], seq[g], now, tick, encoded[g][seq[g] % len(encoded[g])])
                    if advs:
                        env = orjson.dumps({"v": 1, "gw": gws[g][0], "boot": boot + "-env", "seq": env_seq[g],
                                            "sent": now, "t0": tick, "adv": advs})
                        client.publish(topics[g][1], env, qos=1)
                        env_seq[g] += 1
                        env_batches += 1
                last = client.publish(topics[g][0], payload, qos=1)
                seq[g] += 1
                sent += 1
                n += 1
                phases[-1][0] += 1
                if n % 200 == 0:
                    last.wait_for_publish(30)  # keep the client's own queue bounded
                    ahead = n / rate - (time.time() - phase_start)
                    if ahead > 0:
                        time.sleep(ahead)
                if time.time() - phase_start >= seconds:
                    break
    phases[-1][1] = time.time() - phase_start
    if last is not None:
        last.wait_for_publish(120)
    client.loop_stop()
    client.disconnect()
    out.put({"batches": sent + env_batches, "readings": readings, "excursion_at": excursion_at,
             "seconds": time.time() - start, "phases": phases, "cpu_s": time.process_time()})


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_backends() -> list[int]:
    """PIDs of the PostgreSQL backends serving this database (ingest's), except our own."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return [pid for (pid,) in cursor.fetchall()]


def rss_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def run_overload(n_tags: int, load: float, seconds: float, publishers: int, log: Path,
                 sensor_topic: str = "env") -> dict:
    from django.db import close_old_connections

    from sensors.environment.models import Alarm
    from sensors.models import BatchReceipt, IngestCounter, IngestStatus, Reading

    gws, rows = setup(n_tags)
    before = dict(IngestCounter.objects.values_list("name", "value"))  # other drills ran in this database
    design = len(gws)  # batches per second at the design load: every gateway once a second
    advs_per_batch = sum(len(v[0]) for v in rows.values()) / len(gws)
    warmup_s, recovery_s = 10.0, 90.0
    plan = [(warmup_s, design * 1.0), (seconds, design * load), (recovery_s, design * 0.5)]
    print(f"overload: {len(gws)} gateways, {n_tags} tags, {SENSORS} sensors, ~{advs_per_batch:.0f} advertisements "
          f"a batch; design {design * advs_per_batch:,.0f} advertisements/s; offering {load}x for {seconds:.0f} s "
          f"after {warmup_s:.0f} s at 1x, then 0.5x for {recovery_s:.0f} s; fridges on .../{sensor_topic}", flush=True)
    # the shipped deploy/mosquitto settings: persistence, autosave every 60 s, large queues
    with Mosquitto(user="overload", persistent=True, autosave_s=60) as broker:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url()}
        profile = ["-m", "cProfile", "-o", os.environ["OVERLOAD_PROFILE"]] if os.environ.get("OVERLOAD_PROFILE") else []
        ingest = subprocess.Popen([sys.executable, *profile, "manage.py", "ingest", "--mqtt-url", broker.url, "--site", SITE,
                                   "--client-id", "overload-ingest"], cwd=ROOT, env=env, stdout=open(log, "ab"),
                                  stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 120
            while b"connected to" not in log.read_bytes():
                if time.time() > deadline or ingest.poll() is not None:
                    raise RuntimeError(f"ingest did not connect; see {log}")
                time.sleep(0.5)
            time.sleep(2)
            boot = f"ov-{uuid.uuid4().hex[:4]}"
            boots = [boot, boot + "-env"]  # tag batches, and the fridges' own sequence on .../env
            ctx = mp.get_context("fork")
            out = ctx.Queue()
            pubs = [ctx.Process(target=publisher, args=(broker.url, gws, rows, p, publishers, plan, boot, out,
                                                        sensor_topic))
                    for p in range(publishers)]
            idle_rss = rss_mb(ingest.pid, "VmRSS")  # connected, registry and locator loaded, nothing received
            backends = database_backends()
            cpu0 = {"ingest": cpu_s(ingest.pid), "mosquitto": cpu_s(broker.proc.pid),
                    "postgres_ingest": sum(cpu_s(b) for b in backends)}
            t0 = time.time()
            for p in pubs:
                p.start()
            timeline, raised_at, cleared_at, alarm_seen, peak_rss = [], None, None, None, 0.0
            fridge_temps = Reading.objects.filter(sensor__sensor_id__startswith="ov-fridge-", quantity="temperature_c")
            readings_behind = 0.0  # how far the newest stored fridge reading lagged the clock, at worst
            published = None
            end = t0 + sum(s for s, _ in plan) + 240
            while time.time() < end:
                time.sleep(1.0)
                close_old_connections()
                now = time.time() - t0
                status = IngestStatus.objects.filter(client_id="overload-ingest").first()
                shedding = bool(status and status.shedding)
                peak_rss = max(peak_rss, rss_mb(ingest.pid, "VmRSS"))
                timeline.append((round(now, 1), shedding, status.keep_one_in if status else 1,
                                 round(status.lag_s, 1) if status else None))
                if shedding and raised_at is None:
                    raised_at = now
                if raised_at is not None and not shedding and cleared_at is None:
                    cleared_at = now
                if published is None and now > 5:
                    newest = fridge_temps.order_by("-t").values_list("t", flat=True).first()
                    if newest is not None:
                        readings_behind = max(readings_behind, time.time() - newest.timestamp())
                if alarm_seen is None and Alarm.objects.filter(key="ov-fridge-0", rule="temperature_high").exclude(
                        state="normal").exists():
                    alarm_seen = time.time()
                if int(now) % 10 == 0:
                    print(f"  t={now:5.0f}s shedding={shedding} keep 1 in {timeline[-1][2]} lag={timeline[-1][3]} s "
                          f"readings behind <= {readings_behind:.1f} s rss={peak_rss:.0f} MB", flush=True)
                if published is None and all(not p.is_alive() for p in pubs):
                    parts = [out.get(timeout=30) for _ in pubs]
                    published = {"batches": sum(p["batches"] for p in parts),
                                 "publisher_cpu_s": sum(p["cpu_s"] for p in parts),
                                 "readings": sum(p["readings"] for p in parts),
                                 "excursion_at": min((p["excursion_at"] for p in parts if p["excursion_at"]),
                                                     default=None),
                                 # advertisements a second actually published in each phase, all publishers
                                 "phase_rates": [round(sum(p["phases"][k][0] for p in parts) * advs_per_batch
                                                       / max(p["phases"][k][1] for p in parts))
                                                 for k in range(len(plan))]}
                if published and BatchReceipt.objects.filter(boot__in=boots, lost=False).count() >= published["batches"] and (
                        cleared_at is not None or raised_at is None):
                    break
            peak_hwm = rss_mb(ingest.pid, "VmHWM")
            busy_s = time.time() - t0
            cpu = {"ingest": cpu_s(ingest.pid) - cpu0["ingest"], "mosquitto": cpu_s(broker.proc.pid) - cpu0["mosquitto"],
                   "postgres_ingest": sum(cpu_s(b) for b in database_backends() if b in backends)
                   - cpu0["postgres_ingest"]}
        finally:
            ingest.send_signal(signal.SIGTERM)
            try:
                ingest.wait(120)
            except subprocess.TimeoutExpired:
                ingest.kill()
    close_old_connections()
    if published is None:
        return {"error": "publishers did not finish", "lost": 0, "duplicated": 0}
    receipts = BatchReceipt.objects.filter(boot__in=boots, lost=False).count()
    offered_sightings = sum(rate * s for (s, _), rate in zip(plan, published["phase_rates"], strict=True))
    cpu["publishers"] = published["publisher_cpu_s"]
    temps = Reading.objects.filter(sensor__sensor_id__startswith="ov-fridge-", quantity="temperature_c")
    stored = temps.count()
    distinct = temps.values("sensor_id", "token").distinct().count()
    counters = {name: value - before.get(name, 0) for name, value in IngestCounter.objects.values_list("name", "value")}
    excursion_at = published["excursion_at"]
    overload_from, overload_to = warmup_s, warmup_s + seconds
    return {
        "did": f"{load}x the design rate for {seconds:.0f} s ({n_tags} tags x 5 gateways + {SENSORS} fridges), "
               f"fridge ov-fridge-0 at {EXCURSION_C} C from a third of the way in",
        "offered_per_s": round(design * load * advs_per_batch),
        "published_per_s": dict(zip(("warmup_1x", "overload", "recovery_0.5x"), published["phase_rates"],
                                    strict=True)),
        "batches_published": published["batches"],
        "batches_stored": receipts,
        "readings_offered": published["readings"],
        "readings_stored": distinct,
        # Not stored when the drill gave up waiting (still queued in Mosquitto, or dropped): counted as lost.
        "lost": (published["batches"] - receipts) + (published["readings"] - distinct),
        "drained": receipts >= published["batches"],
        "duplicated": stored - distinct,
        "sightings": counters.get("sightings", 0),
        "sightings_shed": counters.get("sightings.shed", 0),
        "peak_rss_mb": round(max(peak_rss, peak_hwm), 1),
        "idle_rss_mb": round(idle_rss, 1),
        "overload_window_s": [overload_from, overload_to],
        "shedding_raised_at_s": raised_at,
        "shedding_cleared_at_s": cleared_at,
        "alarm_raised": alarm_seen is not None,
        "alarm_late_s": round(alarm_seen - excursion_at, 1) if alarm_seen and excursion_at else None,
        "readings_behind_max_s": round(readings_behind, 1),
        # CPU seconds per 1,000 tag sightings published, per process (what limits the box)
        "cpu_ms_per_1000_sightings": {k: round(1e6 * v / max(1.0, offered_sightings), 1) for k, v in cpu.items()},
        "cpu_cores_busy": {k: round(v / busy_s, 2) for k, v in cpu.items()},
        "timeline": timeline[::5],
    }
