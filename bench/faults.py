"""Fault drills against real Mosquitto and the configured database (PostgreSQL for the real test).

A stream of numbered gateway batches (each with one sensor reading) flows through a private Mosquitto
(persistent, the shipped throughput settings) into the real `manage.py ingest` process, while:

1. crash:    ingest is killed with SIGKILL mid-stream and restarted;
2. broker:   Mosquitto is stopped for --outage seconds and restarted on the same port. The batches come
             from the gateway agent's own disk queue, publisher and resend handler: it queues what it
             cannot send, drains after reconnecting, and answers ingest's resend requests for batches
             the broker accepted and then dropped (ingest's shared subscription is not restored by
             Mosquitto until ingest resubscribes);
3. database: the database becomes unreachable for --db-outage seconds (ingest talks to it through a
             proxy that this script cuts), then comes back.

Each scenario counts batches published, stored (unique receipts), lost and duplicated readings.
Each also reports the batches ingest asked the gateway for again and got back (``recovered_by_resend``).

4. overload: twice the design load for 60 s with tags and fridges (bench/_overload.py): readings
             lost (must be 0), tag sightings shed (not loss), peak RSS, when the "shedding load"
             status was raised and cleared, how late an alarm raised during the overload was.
The last line is JSON: {"lost": .., "duplicated": .., "scenarios": {...}}.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from _services import ROOT, Mosquitto, database_url, django_with_throwaway_database, free_port  # noqa: I001

SITE = "faults"
RUUVI = bytes.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F")
MAC = "CB:B8:33:4C:88:4F"


class CuttableProxy:
    """TCP proxy to the database; ``cut()`` drops every connection and refuses new ones until ``heal()``."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.port = free_port()
        self.up = True
        self.conns: list[socket.socket] = []
        self.server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            client, _ = self.server.accept()
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.conns += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a, b):
        try:
            while self.up:
                ready, _, _ = select.select([a, b], [], [], 0.5)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except OSError:
            return
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self):
        self.up = False
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conns = []

    def heal(self):
        self.up = True


class BenchGateway:
    """Gateway gw-f1 as the agent runs it (sensors.gateway: DiskQueue with retention, Publisher,
    ResendHandler), fed with the drill's numbered batches instead of a radio."""

    def __init__(self, url: str, directory: Path, boot: str):
        from sensors.gateway.publisher import Publisher
        from sensors.gateway.queue import DiskQueue
        from sensors.gateway.resend import ResendHandler
        from sensors.mqtt.client import parse_mqtt_url

        self.boot, self.next_seq = boot, 0
        self.queue = DiskQueue(directory / f"gateway-{boot}.sqlite3", retain_s=900, retain_max_bytes=16 << 20)
        self.resends = ResendHandler(
            lambda gw, b, first, last: [(r.seq, r.payload if r.acked is not None else None)
                                        for r in self.queue.held(b, first, last)],
            lambda gw: (self.boot, self.next_seq) if gw == "gw-f1" else None,
            lambda gw, batches, boot: self.publisher.resend([p for _, p in batches]),
        )
        # Reconnects as fast as ingest does (the agent's default backoff goes up to 60 s): the worst case
        # for batches arriving at the restarted broker before ingest has resubscribed.
        self.publisher = Publisher(parse_mqtt_url(url), gateway_id="gw-f1", site=SITE, boot=boot, queue=self.queue,
                                   software="faults-bench", on_resend=lambda p: self.resends.handle("gw-f1", p),
                                   reconnect_min_s=0.5, reconnect_max_s=2.0)
        self.publisher.start()

    def send(self, seq: int, payload: bytes) -> None:
        self.publisher.enqueue(self.boot, seq, payload)
        self.next_seq = seq + 1

    def stop(self) -> dict:
        self.publisher.stop(5.0)
        self.queue.close()
        return {k: v for k, v in self.resends.info().items() if k != "resend_error"}


def batch(seq: int, boot: str, t: float) -> bytes:
    from sensors.protocol import Advertisement, encode_batch

    payload = bytearray(RUUVI)
    payload[16:18] = (seq % 65535).to_bytes(2, "big")
    return encode_batch("gw-f1", boot, seq, [Advertisement(t, MAC, -70, {0x0499: bytes(payload)}, {})])


def start_ingest(url: str, db_url: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": db_url}
    return subprocess.Popen([sys.executable, "manage.py", "ingest", "--mqtt-url", url, "--site", SITE,
                             "--client-id", "faults-ingest"], cwd=ROOT, env=env, stdout=open(log, "ab"),
                            stderr=subprocess.STDOUT)


def count(boot: str) -> tuple[int, int, int]:
    from django.db import close_old_connections

    from sensors.models import BatchReceipt, Reading

    close_old_connections()
    receipts = BatchReceipt.objects.filter(boot=boot, lost=False).count()
    readings = Reading.objects.filter(quantity="temperature_c", token__isnull=False)
    return receipts, readings.count(), readings.values("token").distinct().count()


def scenario(name: str, broker: Mosquitto, db_url: str, n: int, rate: float, fault, log: Path) -> dict:
    from sensors.models import Reading

    Reading.objects.all().delete()
    from sensors.models import IngestCounter

    IngestCounter.objects.filter(name__startswith="resend.").delete()
    boot = f"{name}-{uuid.uuid4().hex[:4]}"
    start = log.stat().st_size
    ingest = start_ingest(broker.url, db_url, log)
    deadline = time.time() + 60  # subscribed before the first batch: a gateway's first batch counts no loss
    while time.time() < deadline and "connected to" not in log.read_bytes()[start:].decode(errors="replace"):
        time.sleep(0.2)
    time.sleep(1)
    gateway = BenchGateway(broker.url, broker.dir, boot)
    t0 = time.time()
    notes = {}
    for seq in range(n):
        gateway.send(seq, batch(seq, boot, t0 + seq))
        if seq == n // 3:
            ingest = fault(ingest, notes) or ingest
        time.sleep(1.0 / rate)
    deadline = time.time() + 180
    while time.time() < deadline and count(boot)[0] < n:
        time.sleep(1)
    time.sleep(2)  # let the resend planner close its gaps and flush its counters
    receipts, readings, distinct = count(boot)
    from sensors.models import BatchReceipt

    stored = set(BatchReceipt.objects.filter(boot=boot, lost=False).values_list("seq", flat=True))
    missing = [q for q in range(n) if q not in stored]
    if missing:
        notes["missing_seq"] = f"{missing[0]}..{missing[-1]} ({len(missing)})"
    ingest.send_signal(signal.SIGTERM)
    ingest.wait(60)
    gateway_side = gateway.stop()
    resend = dict(IngestCounter.objects.filter(name__startswith="resend.").values_list("name", "value"))
    result = {"published": n, "stored": receipts, "lost": n - receipts, "duplicated": readings - distinct,
              "seconds": round(time.time() - t0, 1),
              "recovered_by_resend": resend.get("resend.recovered", 0),
              "resend_requests": resend.get("resend.requests", 0), "gateway": gateway_side, **notes}
    print(f"{name}: {result}", flush=True)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=600)
    parser.add_argument("--rate", type=float, default=20.0, help="Batches per second.")
    parser.add_argument("--outage", type=float, default=60.0, help="Broker outage, seconds.")
    parser.add_argument("--ingest-late", type=float, default=3.0,
                        help="Broker scenario: ingest is held (SIGSTOP) this long after the broker restarts, so "
                        "the gateway reconnects first (0: let them race).")
    parser.add_argument("--db-outage", type=float, default=30.0, help="Database outage, seconds.")
    parser.add_argument("--only", nargs="+", default=["crash", "broker", "database", "overload"],
                        help="Scenarios to run.")
    parser.add_argument("--overload-tags", type=int, default=20_000, help="Tags of the overload drill.")
    parser.add_argument("--overload-load", type=float, default=2.0, help="Multiple of the design load.")
    parser.add_argument("--overload-seconds", type=float, default=60.0, help="Length of the overload.")
    parser.add_argument("--publishers", type=int, default=2, help="Publisher processes of the overload drill.")
    parser.add_argument("--overload-sensors-on", choices=["env", "adv"], default="env",
                        help="Overload drill: fridges in batches of their own on .../env (protocol 2a), or inside "
                        "the tag batches on .../adv (gateways without 2a).")
    args = parser.parse_args(argv)
    teardown = django_with_throwaway_database()
    try:
        return run(args)
    finally:
        from django.db import connections

        connections.close_all()
        teardown()


def run(args) -> int:
    import tempfile

    from hospital.facility.models import Building, Floor, Room, Site
    from sensors.models import Gateway, Sensor

    site = Site.objects.create(code=SITE, name="Fault drills (synthetic)")
    floor = Floor.objects.create(building=Building.objects.create(site=site, code="b", name="B"), level=1,
                                 name="L1", elevation_m=0, metres_per_unit=1)
    room = Room.objects.create(floor=floor, number="1-01", room_type="pharmacy", polygon=[[0, 0], [5, 0], [5, 4], [0, 4]])
    Gateway.objects.create(gateway_id="gw-f1", site=site, floor=floor, room=room, x=1, y=1)
    Sensor.objects.create(sensor_id="f-fridge", name="Drill fridge", mac_address=MAC, ble_format="ruuvi_v5",
                          room=room, profile="vaccine_fridge")
    db_url = database_url()
    log = ROOT / "var" / "bench-faults.log"
    log.write_text("")
    # persistent, autosaved every second: the broker outage restarts it with its sessions
    broker = Mosquitto(user="faults", persistent=True, autosave_s=1,
                       directory=Path(tempfile.mkdtemp(prefix="faults-mosquitto-")))
    broker.start()
    results = {}
    try:
        def crash(ingest, notes):
            ingest.send_signal(signal.SIGKILL)
            ingest.wait(10)
            notes["killed"] = "SIGKILL mid-stream"
            return start_ingest(broker.url, db_url, log)

        if "crash" in args.only:
            results["crash"] = scenario("crash", broker, db_url, args.batches, args.rate, crash, log)

        def broker_outage(ingest, notes):
            # In the background: the gateway keeps making batches through the outage (queued on disk).
            def outage():
                broker.stop()
                time.sleep(args.outage)
                if args.ingest_late:  # the gateway is back first: what it drains meanwhile is dropped
                    ingest.send_signal(signal.SIGSTOP)
                broker.start()
                if args.ingest_late:
                    time.sleep(args.ingest_late)
                    ingest.send_signal(signal.SIGCONT)

            threading.Thread(target=outage, daemon=True).start()
            notes["broker_down_s"] = args.outage
            notes["ingest_late_s"] = args.ingest_late

        if "broker" in args.only:
            results["broker"] = scenario("broker", broker, db_url, args.batches, args.rate, broker_outage, log)

        from django.db import connection

        s = connection.settings_dict
        if "database" not in args.only:
            pass
        elif s["ENGINE"].endswith("postgresql"):
            proxy = CuttableProxy(s["HOST"] or "127.0.0.1", int(s["PORT"] or 5432))
            proxied = db_url.replace(f":{s['PORT'] or 5432}/", f":{proxy.port}/")

            def db_outage(ingest, notes):
                proxy.cut()
                time.sleep(args.db_outage)
                proxy.heal()
                notes["database_down_s"] = args.db_outage

            results["database"] = scenario("database", broker, proxied, args.batches, args.rate, db_outage, log)
        else:
            results["database"] = {"skipped": "needs PostgreSQL (DATABASE_URL)"}
        if "overload" in args.only:
            from _overload import run_overload

            results["overload"] = run_overload(args.overload_tags, args.overload_load, args.overload_seconds,
                                               args.publishers, log, sensor_topic=args.overload_sensors_on)
            print(f"overload: { {k: v for k, v in results['overload'].items() if k != 'timeline'} }", flush=True)
    finally:
        broker.stop()
    lost = sum(r.get("lost", 0) for r in results.values())
    duplicated = sum(r.get("duplicated", 0) for r in results.values())
    print(json.dumps({"lost": lost, "duplicated": duplicated, "scenarios": results}))
    return 0 if lost == duplicated == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
