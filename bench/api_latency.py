"""Asset search latency under concurrent load: p50/p95/p99 of ``/find/results.json`` with 50 connections.

The demo hospital (3 floors, 476 assets, every tagged unit placed in a room) is loaded into a throw-away
database (PostgreSQL from DATABASE_URL; default ``postgres://postgres@127.0.0.1:5432/hospital`` as in
CI, SQLite only with ``--sqlite``) and served as in production (DEBUG off): gunicorn with the shipped
``deploy/web/gunicorn.conf.py`` for plain HTTP, Redis as the shared cache (REDIS_URL, or the local Redis
when it answers), the topology of docs/deploy.md; ``--server daphne`` serves it as ``manage.py demo``
does. A logged-in nurse searches ("infusion pump from 3W-12", "wheelchair from 1C-01", asset numbers,
...) with rotating queries; ``--path /api/assets/`` asks the REST API the same with ``near``. wrk
(``apt-get install wrk``) or, without it, a small asyncio HTTP/1.1 keep-alive client drives the load.
Besides latency it reports the CPU per request of the web processes, of the PostgreSQL backends serving
them, of the load generator and of the whole machine (others' work included). Target: p95 < 100 ms.
The last line of output is JSON.

    python bench/api_latency.py [--connections 50] [--duration 15] [--server gunicorn|daphne]
                                [--path /find/results.json] [--rate R ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUERIES = [
    ("infusion pump", "3W-12"), ("wheelchair", "1C-01"), ("defibrillator", "2E-05"), ("syringe pump", "3E-10"),
    ("patient monitor", "2W-03"), ("ventilator", "2E-12"), ("ecg", "1E-11"), ("bed", "3W-05"),
    ("bladder scanner", "3E-02"), ("ultrasound", "1W-06"), ("SEH-INF-0001", ""), ("pump", "1C-01"),
]
TARGET_P95_MS = 100.0
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
GUNICORN_CONF = ROOT / "deploy" / "web" / "gunicorn.conf.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TICK = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads) so far; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def descendants(pid: int) -> list[int]:
    """``pid`` and every process under it (gunicorn's master and workers)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += [c for c, parent in parents.items() if parent == p]
    return found


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (every core, every process: others' work included)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / TICK  # minus idle and iowait


class CpuMeter:
    """CPU used during the load by the web server's processes, the PostgreSQL backends serving the bench
    database (persistent connections: the same backends throughout), the load generator, and the machine."""

    def __init__(self, server_pids: list[int], database: str):
        self.server_pids, self.database = server_pids, database

    def _backends(self) -> list[int]:
        from django.db import connection

        if connection.vendor != "postgresql":
            return []
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                           [self.database])
            return [r[0] for r in cursor.fetchall()]

    def __enter__(self):
        self.servers = [p for s in self.server_pids for p in descendants(s)]
        self.backends = self._backends()
        self.start = {p: process_cpu_s(p) for p in self.servers + self.backends}
        self.children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.machine, self.wall = machine_busy_s(), time.monotonic()
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.wall
        self.machine = machine_busy_s() - self.machine
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.client = (children.ru_utime - self.children.ru_utime) + (children.ru_stime - self.children.ru_stime)
        self.server = sum(process_cpu_s(p) - self.start[p] for p in self.servers)
        self.database_cpu = sum(max(0.0, process_cpu_s(p) - self.start[p]) for p in self.backends)

    def per_request_ms(self, requests: int) -> dict:
        n = max(requests, 1)
        return {"cpu_ms_per_request": {"web": round(self.server / n * 1000, 3),
                                       # None: connections per request (daphne), backends come and go
                                       "postgres": round(self.database_cpu / n * 1000, 3) if self.backends else None,
                                       "load_generator": round(self.client / n * 1000, 3),
                                       "machine": round(self.machine / n * 1000, 3)},
                "machine_busy_pct": round(100 * self.machine / (self.wall * os.cpu_count()), 1)}


def postgres_reachable(url: str) -> bool:
    return reachable(url)


def reachable(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=1).close()
        return True
    except OSError:
        return False


def throwaway_database():
    """Set Django up on a fresh, migrated database beside the configured one; returns (teardown, url)."""
    import django

    django.setup()
    from django.db import connection

    old_name = connection.settings_dict["NAME"]
    test = connection.settings_dict.setdefault("TEST", {})
    if connection.vendor == "sqlite":
        test["NAME"] = str(ROOT / "var" / "bench-api-latency.sqlite3")
    else:
        test["NAME"] = f"bench_api_latency_{old_name}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    d = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{d['NAME']}"
    else:
        auth = d["USER"] + (f":{d['PASSWORD']}" if d.get("PASSWORD") else "")
        url = f"postgres://{auth}@{d['HOST'] or '127.0.0.1'}:{d['PORT'] or 5432}/{d['NAME']}"

    def teardown():
        connection.creation.destroy_test_db(old_name, verbosity=0)

    return teardown, url


def place_equipment() -> int:
    """Without the simulator: every tagged unit at its fixture room, spread over the room."""
    from django.conf import settings
    from django.utils import timezone

    from hospital.facility.models import Room
    from locator.models import CurrentLocation, Tag

    items = json.loads((settings.FIXTURE_DIR / "demo" / "assets.json").read_text(encoding="utf-8"))["items"]
    initial = {i["asset_number"]: i.get("initial_room") for i in items}
    rooms = {r.number: r for r in Room.objects.all()}
    now, rows, used = timezone.now(), [], {}
    for tag in Tag.objects.filter(asset__isnull=False).select_related("asset"):
        room = rooms.get(initial.get(tag.asset.asset_number) or "")
        if room is None:
            continue
        k = used[room.number] = used.get(room.number, -1) + 1
        xs, ys = [p[0] for p in room.polygon], [p[1] for p in room.polygon]
        x = min(xs) + 0.8 + (k % 4) * 1.1
        y = max(ys) - 0.8 - (k // 4 % 4) * 1.1
        rows.append(CurrentLocation(tag=tag, floor_id=room.floor_id, room=room, x=min(x, max(xs) - 0.3),
                                    y=max(y, min(ys) + 0.3), accuracy_m=2.0, method="multilateration",
                                    fixed_at=now, last_seen_at=now))
    CurrentLocation.objects.bulk_create(rows)
    return len(rows)


def paths(base_path: str) -> list[str]:
    """The rotating searches: the find page's JSON (``q``, ``from`` room number, ``available``) or, for a
    path under ``/api/``, the asset API's (``q``, ``near`` room id, ``status``), as integrations ask."""
    from urllib.parse import urlencode

    from hospital.facility.models import Room

    api = base_path.startswith("/api/")
    room_ids = dict(Room.objects.values_list("number", "id"))
    out = []
    for q, origin in QUERIES:
        if api:
            params = {"q": q, "status": "available", **({"near": room_ids[origin]} if origin else {})}
        else:
            params = {"q": q, "available": "1", **({"from": origin} if origin else {})}
        out.append(f"{base_path}?{urlencode(params)}")
    return out


def run_wrk(base_url: str, request_paths: list[str], cookie: str, connections: int, duration: int,
            threads: int) -> dict:
    script = Path(tempfile.mkdtemp(prefix="bench-wrk-")) / "search.lua"
    lua_paths = ",\n".join(json.dumps(p) for p in request_paths)
    script.write_text(f"""
local paths = {{ {lua_paths} }}
local counter = 0
wrk.headers["Cookie"] = {json.dumps(cookie)}
wrk.headers["Accept"] = "application/json"
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d %.3f %.3f %.3f %.3f\\n", summary.requests,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write,
    summary.errors.timeout, summary.duration, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
""")
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
                          "-s", str(script), base_url], capture_output=True, text=True, check=True).stdout
    m = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)", out)
    if not m:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    requests, status_errors, socket_errors, timeouts, duration_us = map(int, m.groups()[:5])
    p50, p95, p99, worst = map(float, m.groups()[5:])
    return {"tool": "wrk", "requests": requests, "errors": status_errors + socket_errors + timeouts,
            "rps": round(requests / (duration_us / 1e6), 1), "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
            "max_ms": worst}


async def _asyncio_load(host: str, port: int, request_paths, cookie, connections, duration, rate=None) -> dict:
    """Keep-alive HTTP/1.1 load. Closed loop (``rate`` None: each connection sends its next request as soon
    as the answer arrives) or open loop (``rate`` requests/s in total, evenly spread over the connections;
    latency is counted from the scheduled send time, so a slow answer cannot hide the queue behind it)."""
    latencies, errors, statuses = [], 0, {}
    stop = time.monotonic() + duration
    interval = connections / rate if rate else 0.0

    async def worker(i: int):
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        k = i
        due = time.perf_counter() + (interval * i / connections if interval else 0.0)
        while time.monotonic() < stop:
            path = request_paths[k % len(request_paths)]
            k += connections
            if interval:
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                started = due
                due += interval
            else:
                started = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
                         f"Accept: application/json\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
            await reader.readexactly(length)
            if re.search(rb"(?i)\r\nconnection: close", head):  # a server without keep-alive (gunicorn sync)
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                errors += 1
                statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    elapsed = time.monotonic() - started
    q = statistics.quantiles(latencies, n=100)
    if statuses:
        print(f"  error statuses: {statuses}", file=sys.stderr)
    return {"tool": "asyncio", "requests": len(latencies), "errors": errors, "rps": round(len(latencies) / elapsed, 1),
            "p50_ms": round(q[49], 3), "p95_ms": round(q[94], 3), "p99_ms": round(q[98], 3),
            "max_ms": round(max(latencies), 3)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--duration", type=int, default=15, help="seconds of load")
    p.add_argument("--threads", type=int, default=4, help="wrk threads")
    p.add_argument("--servers", type=int, default=1, help="with --server daphne: processes (requests spread over them)")
    p.add_argument("--path", default="/find/results.json", help="the search endpoint to load")
    p.add_argument("--server", choices=("gunicorn", "daphne"), default="gunicorn",
                   help="gunicorn: the production topology for plain HTTP (docs/deploy.md); daphne: as `manage.py demo`")
    p.add_argument("--workers", type=int, default=0, help="gunicorn processes (default: the shipped configuration's)")
    p.add_argument("--threads-per-worker", type=int, default=0, help="gunicorn threads per process (default: shipped)")
    p.add_argument("--sqlite", action="store_true", help="use a SQLite file instead of PostgreSQL")
    p.add_argument("--no-wrk", action="store_true", help="use the built-in asyncio client even if wrk is installed")
    p.add_argument("--rate", type=float, action="append", default=[],
                   help="also measure open-loop at this many requests/s over the same connections (repeatable)")
    args = p.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    if args.sqlite:
        os.environ.pop("DATABASE_URL", None)
    else:
        os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hospital")
        if not postgres_reachable(os.environ["DATABASE_URL"]):
            print(f"PostgreSQL is not reachable at {os.environ['DATABASE_URL']}; use --sqlite to measure on SQLite",
                  file=sys.stderr)
            return 2
    teardown, db_url = throwaway_database()
    servers = []
    try:
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client

        t0 = time.perf_counter()
        call_command("load_demo", verbosity=0)
        placed = place_equipment()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # as autovacuum would have by now on a live database
                cursor.execute("ANALYZE")
        request_paths = paths(args.path)
        print(f"demo hospital loaded on {connection.vendor} in {time.perf_counter() - t0:.1f} s; {placed} units placed")
        web = Client()
        from django.contrib.auth import get_user_model

        web.force_login(get_user_model().objects.get(username="nurse"))
        cookie = f"sessionid={web.cookies['sessionid'].value}"
        connection.close()

        # One listening socket shared by every daphne process (pre-fork, as behind a load balancer): the
        # kernel hands each new connection to one of them.
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1024)
        listener.set_inheritable(True)
        port = listener.getsockname()[1]
        # DB_CONN_MAX_AGE=0: under ASGI every request runs its sync code in a thread of its own, so persistent
        # (per-thread) connections pile up until PostgreSQL refuses more clients (see docs/web.md).
        redis_url = os.environ.get("REDIS_URL") or (LOCAL_REDIS if reachable(LOCAL_REDIS) else "")
        if not redis_url:
            print("no Redis: each web process keeps its own cache (not the production topology)", file=sys.stderr)
        env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": redis_url, "ALLOWED_HOSTS": "127.0.0.1,localhost", "LOG_LEVEL": "WARNING",
               "DB_CONN_MAX_AGE": os.environ.get("DB_CONN_MAX_AGE", "0")}
        log_path = ROOT / "var" / "bench-api-latency-server.log"
        log = open(log_path, "wb")  # noqa: SIM115 - closed with the servers
        if args.server == "gunicorn":  # the production topology for plain HTTP (docs/deploy.md)
            env.pop("DB_CONN_MAX_AGE")  # the shipped configuration sets it
            if args.workers:
                env["WEB_WORKERS"] = str(args.workers)
            if args.threads_per_worker:
                env["WEB_THREADS"] = str(args.threads_per_worker)
            servers.append(subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF),
                                             "--bind", f"fd://{listener.fileno()}", "--log-level", "warning",
                                             "hospital.wsgi:application"], cwd=ROOT, env=env,
                                            pass_fds=(listener.fileno(),), stdout=log, stderr=subprocess.STDOUT))
        for _ in range(args.servers if args.server == "daphne" else 0):
            servers.append(subprocess.Popen([sys.executable, "-m", "daphne", "-v", "0", "--fd", str(listener.fileno()),
                                             "hospital.asgi:application"], cwd=ROOT, env=env, pass_fds=(listener.fileno(),),
                                            stdout=log, stderr=subprocess.STDOUT))
        import requests

        deadline = time.monotonic() + 40
        while True:  # every process answers (it has set Django up) before the load starts
            try:
                ok = all(requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok for _ in range(4 * args.servers))
                if ok:
                    time.sleep(1.0 + args.servers)
                    break
            except requests.RequestException:
                pass
            if any(s.poll() is not None for s in servers) or time.monotonic() > deadline:
                raise RuntimeError("daphne did not start")
            time.sleep(0.2)

        for _ in range(args.servers):  # warm up the processes (graph cache, connections) and check the answers
            for path in request_paths:
                with requests.Session() as fresh:  # a new connection: possibly another process
                    fresh.get(f"http://127.0.0.1:{port}{path}", headers={"Cookie": cookie}, timeout=10).raise_for_status()
        sample = requests.get(f"http://127.0.0.1:{port}{request_paths[0]}", headers={"Cookie": cookie}).json()
        if "results" in sample and "method" in sample:
            first = sample["results"][0] if sample["results"] else {}
            print(f"check: {sample['query']!r} from {sample['from']}: {sample['total']} units, nearest "
                  f"{first.get('number')} in {first.get('room')} ({first.get('distance_m')} m, {sample['method']}); "
                  f"server-side search {sample['elapsed_ms']} ms")
        else:
            first = sample["results"][0] if sample["results"] else {}
            print(f"check: {request_paths[0]}: {sample['count']} units, nearest {first.get('asset_number')} "
                  f"({first.get('distance_m')} m)")
        use_wrk = shutil.which("wrk") and not args.no_wrk
        with CpuMeter([s.pid for s in servers], db_url.rsplit("/", 1)[1]) as cpu:
            if use_wrk:
                result = run_wrk(f"http://127.0.0.1:{port}", request_paths, cookie, args.connections, args.duration,
                                 args.threads)
            else:
                result = asyncio.run(_asyncio_load("127.0.0.1", port, request_paths, cookie, args.connections,
                                                   args.duration))
        result.update(cpu.per_request_ms(result["requests"]))
        print(f"CPU per request (ms): {result['cpu_ms_per_request']}; machine busy {result['machine_busy_pct']} %")
        single = asyncio.run(_asyncio_load("127.0.0.1", port, request_paths, cookie, 1, 3))
        print(f"one connection at a time: {single['rps']}/s, p50 {single['p50_ms']:.1f} ms, "
              f"p95 {single['p95_ms']:.1f} ms (service time with no queue)")
        open_loop = []
        for rate in args.rate:
            r = asyncio.run(_asyncio_load("127.0.0.1", port, request_paths, cookie, args.connections, args.duration,
                                          rate=rate))
            open_loop.append({"rate": rate, **{k: r[k] for k in ("requests", "errors", "rps", "p50_ms", "p95_ms",
                                                                 "p99_ms", "max_ms")}})
            print(f"open loop, {args.connections} connections sharing {rate:g} requests/s: p50 {r['p50_ms']:.1f} ms, "
                  f"p95 {r['p95_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, errors {r['errors']}")
        load = os.getloadavg()[0]
        if args.server == "gunicorn":
            server = (f"gunicorn ({env.get('WEB_WORKERS') or 'shipped'} workers x "
                      f"{env.get('WEB_THREADS') or 'shipped'} threads, {GUNICORN_CONF.relative_to(ROOT)})")
        else:
            server = f"{args.servers} daphne process(es)"
        summary = {"bench": "api_latency", "path": args.path, "database": connection.vendor, "server": server,
                   "shared_cache": "redis" if redis_url else "none",
                   "connections": args.connections, "duration_s": args.duration,
                   "cpus": os.cpu_count(), "load_average_1m": round(load, 2), **result,
                   "single_connection_p50_ms": single["p50_ms"], "single_connection_p95_ms": single["p95_ms"],
                   "open_loop": open_loop, "target_p95_ms": TARGET_P95_MS,
                   "ok": result["p95_ms"] < TARGET_P95_MS and result["errors"] == 0}
        print(f"closed loop, {args.connections} connections, {args.duration} s on {server}, "
              f"{connection.vendor}, {result['tool']}: {result['requests']} requests ({result['rps']}/s), "
              f"errors {result['errors']}; {os.cpu_count()} CPUs, load average {load:.1f}")
        print(f"latency ms: p50 {result['p50_ms']:.1f}  p95 {result['p95_ms']:.1f}  p99 {result['p99_ms']:.1f}  "
              f"max {result['max_ms']:.1f}  (target p95 < {TARGET_P95_MS:.0f})")
        print(json.dumps(summary))
        return 0 if summary["ok"] else 1
    finally:
        for server in servers:
            server.terminate()
        if servers:
            print(f"server log: {log_path}")
        for server in servers:
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        teardown()


if __name__ == "__main__":
    sys.exit(main())
