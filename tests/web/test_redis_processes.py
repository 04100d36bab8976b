"""More than one web server process on the Redis channel layer: what one process publishes reaches a
browser connected to the other.

Two daphne processes serve the test database with ``REDIS_URL``. A status change posted to process A
(its services layer publishes on commit through A's channel layer) reaches the websocket client
connected to process B, and so does a message published from a third process (this one).
Runs when REDIS_URL is set or Redis answers on 127.0.0.1:6379; fails instead of skipping when
REQUIRE_SERVICES=1 (CI).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
import requests

from hospital import roles
from tests.support import processes
from tests.web.conftest import free_port, wait_for_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def redis_url() -> str:
    from django.conf import settings

    url = settings.REDIS_URL or os.environ.get("REDIS_URL", "")
    if url:
        return url
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.3).close()
        return "redis://127.0.0.1:6379/13"
    except OSError:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("REQUIRE_SERVICES=1 but Redis is not reachable (set REDIS_URL)")
        pytest.skip("Redis is not available (set REDIS_URL or run redis-server on 127.0.0.1:6379)")


def start_daphne(port: int, url: str, database: str, log) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database, "REDIS_URL": url,
           "ALLOWED_HOSTS": "127.0.0.1,localhost", "DB_CONN_MAX_AGE": "0"}
    return subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                             "hospital.asgi:application"], cwd=processes.ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def two_servers(django_db_setup, django_db_blocker, tmp_path_factory):
    """Two daphne processes on the test database and the Redis layer: (redis url, host A, host B)."""
    url = redis_url()
    with django_db_blocker.unblock():
        database = processes.test_database_url()
    ports = [free_port(), free_port()]
    folder = tmp_path_factory.mktemp("daphne")
    logs = [open(folder / f"daphne-{i}.log", "wb") for i in range(2)]  # noqa: SIM115 - closed below
    servers = [start_daphne(port, url, database, log) for port, log in zip(ports, logs, strict=True)]
    try:
        for port, server in zip(ports, servers, strict=True):
            wait_for_port(port, timeout=30, process=server)
        yield url, f"127.0.0.1:{ports[0]}", f"127.0.0.1:{ports[1]}"
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        for log in logs:
            log.close()


def session_of(user) -> str:
    from django.test import Client

    web = Client()
    web.force_login(user)
    return web.cookies["sessionid"].value


def open_ws(host: str, floor_id: int, session: str):
    from websockets.sync.client import connect

    return connect(f"ws://{host}/ws/floors/{floor_id}/", origin=f"http://{host}",
                   additional_headers={"Cookie": f"sessionid={session}"}, open_timeout=10)


def receive(ws, kind: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(ws.recv(timeout=max(0.05, deadline - time.monotonic())))
        if message["type"] == kind:
            return message


def publish_from_here(url: str, floor_id: int, payload: dict) -> None:
    """Straight onto the Redis layer from this (third) process, as the services layer sends it."""
    from asgiref.sync import async_to_sync
    from channels_redis.core import RedisChannelLayer

    layer = RedisChannelLayer(hosts=[url])
    async_to_sync(layer.group_send)(f"floor.{floor_id}", {"type": payload["type"], "text": json.dumps(payload)})


def test_a_message_from_one_process_reaches_a_client_of_the_other(world, user_in_role, two_servers):
    url, a, b = two_servers
    session = session_of(user_in_role(roles.NURSE))
    floor = world["floors"][1]
    pump = world["assets"]["P-NORTH"]

    with open_ws(b, floor.pk, session) as on_b, open_ws(a, floor.pk, session) as on_a:
        assert receive(on_b, "floor.snapshot")["floor"] == floor.pk
        receive(on_a, "floor.snapshot")

        # 1. A status change made through process A.
        http = requests.Session()
        http.cookies.set("sessionid", session)
        assert http.get(f"http://{a}/assets/{pump.pk}/", timeout=10).status_code == 200
        token = http.cookies["csrftoken"]
        http.cookies.set("csrftoken", token)  # production cookies are Secure; this test speaks plain HTTP
        posted = http.post(f"http://{a}/assets/{pump.pk}/status/", timeout=10, allow_redirects=False,
                           data={"status": "needs_cleaning", "csrfmiddlewaretoken": token})
        assert posted.status_code == 302
        update = receive(on_b, "floor.assets")
        assert update["markers"][0]["number"] == "P-NORTH"
        assert update["markers"][0]["status"] == "needs_cleaning"

        # 2. A delta published by a third process straight onto the Redis layer reaches both.
        publish_from_here(url, floor.pk, {
            "type": "floor.markers", "floor": floor.pk, "t": time.time(), "gone": [],
            "markers": [{"tag": pump.tag.pk, "x": 1.0, "y": 2.0, "accuracy_m": 1.0, "room": None, "t": time.time()}]})
        for ws in (on_a, on_b):
            assert receive(ws, "floor.markers")["markers"][0]["x"] == 1.0


def test_an_idle_map_stays_connected_on_redis(world, user_in_role, two_servers):
    url, _, b = two_servers
    session = session_of(user_in_role(roles.NURSE))
    floor = world["floors"][1]
    with open_ws(b, floor.pk, session) as ws:
        receive(ws, "floor.snapshot")
        time.sleep(7)  # a quiet floor: nothing to say for a while
        publish_from_here(url, floor.pk, {"type": "floor.rooms", "floor": floor.pk, "rooms": {}})
        assert receive(ws, "floor.rooms", timeout=5)["floor"] == floor.pk
