"""Ingest throughput on real Mosquitto and the configured database (PostgreSQL for the target).

A load shaped like a large hospital: TAGS tags, each heard by 5 gateways once a second, batches of
about 50 advertisements (so TAGS * 5 / 50 gateways). A publisher process pushes the batches through
a private Mosquitto started with the shipped settings. Two measurements in the same run:

- raw ceiling: a subscriber process with the same MQTT client that only decodes the batches;
- end to end: the real ingest (pipeline + locator, in this process): decoded, routed, persisted,
  positions solved every second.

The last line is JSON: readings_per_s, raw_ceiling_per_s, lost, peak_rss_mb, ...

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hospital python bench/ingest.py [--tags 20000]
    DATABASE_URL=... REDIS_URL=redis://127.0.0.1:6379/0 python bench/ingest.py --processes 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
import uuid

import numpy as np
from _services import ROOT, Mosquitto, database_url, django_with_throwaway_database, vm_hwm_mb, wait_until  # noqa: I001

SITE = "bench"
IBEACON_UUID = "8f0c2a3e-5b7d-4c1e-9a6f-3d2b1c0e4f5a"


def world(n_tags: int, hear: int = 5, per_batch: int = 50, seed: int = 7):
    """Gateways on a 10 m grid over 4 floors; tags scattered; each heard by its `hear` nearest."""
    rng = np.random.default_rng(seed)
    n_gw = max(hear, round(n_tags * hear / per_batch))
    floors = 4
    per_floor = int(np.ceil(n_gw / floors))
    cols = int(np.ceil(np.sqrt(per_floor * 2)))
    gws = []
    for i in range(n_gw):
        f, k = divmod(i, per_floor)
        gws.append((f"gw-{i:05d}", f, 5.0 + 10.0 * (k % cols), 5.0 + 10.0 * (k // cols)))
    gxy = np.array([[g[2], g[3]] for g in gws])
    gfloor = np.array([g[1] for g in gws])
    tag_floor = rng.integers(0, floors, n_tags)
    tags = []
    for t in range(n_tags):
        on_floor = np.flatnonzero(gfloor == tag_floor[t])
        anchor = gxy[rng.choice(on_floor)]
        xy = anchor + rng.uniform(-5, 5, 2)
        d2 = ((gxy[on_floor] - xy) ** 2).sum(1)
        nearest = on_floor[np.argsort(d2)[:hear]]
        d = np.sqrt(d2[np.argsort(d2)[:hear]] + 1.5**2)
        rssi = -59 - 25 * np.log10(np.maximum(d, 0.3))
        tags.append((t, nearest, rssi))
    return gws, tags


def ibeacon_hex(minor: int) -> str:
    major, minor = divmod(minor, 65536)
    return "0215" + uuid.UUID(IBEACON_UUID).hex + f"{major:04x}{minor:04x}c5"


def batch_rows(gws, tags, variants: int = 3, seed: int = 11):
    """Per gateway, `variants` pre-built advertisement arrays (RSSI noise differs between them)."""
    rng = np.random.default_rng(seed)
    heard: dict[int, list] = {i: [] for i in range(len(gws))}
    for t, nearest, rssi in tags:
        for g, r in zip(nearest.tolist(), rssi.tolist(), strict=True):
            heard[g].append((t, r))
    rows = {}
    for g, entries in heard.items():
        rows[g] = [
            [[int(k * 17) % 900, f"C0:00:{(t >> 16) & 255:02X}:{(t >> 8) & 255:02X}:{t & 255:02X}:01",
              int(round(r + rng.normal(0, 3))), {"004c": ibeacon_hex(t)}] for k, (t, r) in enumerate(entries)]
            for _ in range(variants)
        ]
    return rows


def publisher(url: str, gws, rows, seconds: float, rate_batches: float, out: mp.Queue, boot: str):
    import orjson

    from sensors.mqtt.client import make_client, parse_mqtt_url

    endpoint = parse_mqtt_url(url)
    client = make_client(endpoint, f"bench-pub-{uuid.uuid4().hex[:6]}")
    client.max_inflight_messages_set(1000)
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    seq = {g: 0 for g in rows}
    sent = 0
    start = time.time()
    gw_ids = [g[0] for g in gws]
    order = list(rows)
    last = None
    while time.time() - start < seconds:
        tick = time.time()
        for g in order:
            variant = rows[g][seq[g] % len(rows[g])]
            payload = orjson.dumps({"v": 1, "gw": gw_ids[g], "boot": boot, "seq": seq[g], "sent": tick, "t0": tick,
                                    "adv": variant})
            last = client.publish(f"hospital/{SITE}/gw/{gw_ids[g]}/adv", payload, qos=1)
            seq[g] += 1
            sent += 1
            if sent % 500 == 0:
                last.wait_for_publish(30)  # keep the client's queue bounded
                if rate_batches:
                    ahead = sent / rate_batches - (time.time() - start)
                    if ahead > 0:
                        time.sleep(ahead)
            if time.time() - start >= seconds:
                break
    if last is not None:
        last.wait_for_publish(60)
    client.loop_stop()
    client.disconnect()
    out.put({"batches": sent, "seconds": time.time() - start})


def raw_subscriber(url: str, seconds_after_first: float, out: mp.Queue, ready: mp.Event):
    """The ceiling: same broker, same client library, decode every batch and advertisement, nothing else."""
    from sensors.ble import decode
    from sensors.mqtt.client import make_client, parse_mqtt_url
    from sensors.protocol import decode_batch, parse_topic, subscription

    endpoint = parse_mqtt_url(url)
    client = make_client(endpoint, f"bench-raw-{uuid.uuid4().hex[:6]}")
    state = {"advs": 0, "first": None, "last": None}

    def on_message(c, u, msg):
        batch = decode_batch(msg.payload, parse_topic(msg.topic).gateway_id)
        for a in batch.advertisements:
            decode(a.address, a.manufacturer_data, a.service_data)
        now = time.time()
        state["first"] = state["first"] or now
        state["last"] = now
        state["advs"] += len(batch.advertisements)

    client.on_message = on_message
    client.on_connect = lambda c, u, f, rc, p: (c.subscribe(subscription("adv", SITE), qos=1), ready.set())
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    deadline = None
    while True:
        time.sleep(0.2)
        if state["first"] and deadline is None:
            deadline = state["first"] + seconds_after_first
        if deadline and time.time() >= deadline:
            break
    client.loop_stop()
    elapsed = max(1e-9, (state["last"] or time.time()) - (state["first"] or time.time()))
    out.put({"advertisements": state["advs"], "seconds": elapsed, "per_s": state["advs"] / elapsed})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tags", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=30.0, help="Length of each measured phase.")
    parser.add_argument("--load", type=float, default=1.0, help="Offered load as a multiple of the design load.")
    parser.add_argument("--processes", type=int, default=1,
                        help="Ingest processes on one shared subscription (more than one needs PostgreSQL and "
                             "REDIS_URL: one of them computes positions with the others' sightings).")
    args = parser.parse_args(argv)

    teardown = django_with_throwaway_database()
    from django.conf import settings
    from django.db import connection

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"database: {engine} ({connection.settings_dict['NAME']})", flush=True)
    try:
        return run(args, engine)
    finally:
        teardown()


def setup_database(gws, n_tags):
    from hospital.facility.models import Building, Floor, Site
    from locator.models import Tag
    from sensors.models import Gateway

    site = Site.objects.create(code=SITE, name="Benchmark hospital (synthetic)")
    building = Building.objects.create(site=site, code="b", name="B")
    floors = {f: Floor.objects.create(building=building, level=f, name=f"Level {f}", elevation_m=4.0 * f,
                                      metres_per_unit=1.0) for f in sorted({g[1] for g in gws})}
    Gateway.objects.bulk_create([Gateway(gateway_id=g, site=site, floor=floors[f], x=x, y=y, z=2.7)
                                 for g, f, x, y in gws], batch_size=2000)
    Tag.objects.bulk_create([Tag(tag_id=f"ibeacon:{IBEACON_UUID}:{t // 65536}:{t % 65536}", kind="ibeacon")
                             for t in range(n_tags)], batch_size=5000)


def run(args, engine: str) -> int:
    from tqdm import tqdm

    from sensors.models import BatchReceipt

    print(f"building a world of {args.tags} tags…", flush=True)
    gws, tags = world(args.tags)
    rows = batch_rows(gws, tags)
    n_advs_per_round = sum(len(v[0]) for v in rows.values())
    print(f"{len(gws)} gateways, {n_advs_per_round} advertisements per round, "
          f"{n_advs_per_round / len(gws):.0f} per batch", flush=True)
    setup_database(gws, args.tags)
    ctx = mp.get_context("fork")
    results: dict = {"tags": args.tags, "gateways": len(gws), "database": engine}
    with Mosquitto() as broker:
        # 1. raw ceiling
        out, ready = ctx.Queue(), ctx.Event()
        sub = ctx.Process(target=raw_subscriber, args=(broker.url, args.seconds, out, ready))
        sub.start()
        ready.wait(10)
        pub_out = ctx.Queue()
        pub = ctx.Process(target=publisher, args=(broker.url, gws, rows, args.seconds + 5, 0, pub_out, "raw"))
        pub.start()
        raw = out.get(timeout=args.seconds * 4 + 60)
        pub.join()
        sub.join()
        results["raw_ceiling_per_s"] = round(raw["per_s"])
        print(f"raw ceiling: {raw['per_s']:,.0f} advertisements/s decoded", flush=True)

        # 2. end to end: the real `manage.py ingest` process on the same broker and this database
        log_paths = [ROOT / "var" / f"bench-ingest-{i}.log" for i in range(args.processes)]
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url()}
        ingests = [subprocess.Popen(
            [sys.executable, "manage.py", "ingest", "--mqtt-url", broker.url, "--site", SITE, "--client-id",
             f"bench-ingest-{i}"], cwd=ROOT, env=env, stdout=open(path, "wb"), stderr=subprocess.STDOUT)
            for i, path in enumerate(log_paths)]
        try:
            wait_until(lambda: all(b"connected to" in path.read_bytes() for path in log_paths), 60)
            time.sleep(1.0)
            rate = len(gws) * args.load  # the design load: every gateway sends one batch a second
            pub_out = ctx.Queue()
            pub = ctx.Process(target=publisher, args=(broker.url, gws, rows, args.seconds, rate, pub_out, "e2e"))
            pub.start()
            start = time.time()
            stored = lambda: BatchReceipt.objects.filter(boot="e2e", lost=False).count()  # noqa: E731
            with tqdm(total=int(args.seconds), desc="end to end", unit="s") as bar:
                while pub.is_alive():
                    time.sleep(1)
                    bar.update(1)
            published = pub_out.get(timeout=30)["batches"]
            pub_seconds = time.time() - start
            last_count, last_change = -1, time.time()
            while time.time() - last_change < 20:  # drain: until nothing new for 20 s
                count = stored()
                if count >= published:
                    break
                if count != last_count:
                    last_count, last_change = count, time.time()
                time.sleep(0.5)
            elapsed = time.time() - start
            ingest_rss = max(vm_hwm_mb(ingest.pid) for ingest in ingests)
        finally:
            for ingest in ingests:
                ingest.send_signal(signal.SIGTERM)
            for ingest in ingests:
                ingest.wait(60)
    receipts = BatchReceipt.objects.filter(boot="e2e", lost=False).count()
    advertisements = receipts * n_advs_per_round / len(gws)
    results.update({
        "readings_per_s": round(advertisements / elapsed),
        "offered_per_s": round(n_advs_per_round * args.load),
        "batches_published": published,
        "batches_stored": receipts,
        "lost": published - receipts,
        "publish_seconds": round(pub_seconds, 1),
        "drain_seconds": round(elapsed - pub_seconds, 1),
        "processes": args.processes,
        "peak_rss_mb": round(ingest_rss, 1),  # of the largest ingest process
        "ingest_exit_code": max(ingest.returncode for ingest in ingests),
        "positions_solved": True,
    })
    print(json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
