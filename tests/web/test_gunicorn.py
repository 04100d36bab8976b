"""The production web server for plain HTTP: gunicorn with the shipped deploy/web/gunicorn.conf.py serves
a nurse's search, and with Redis a role taken away in another process applies at its next request."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client

from hospital import roles
from tests.support import processes
from tests.web.conftest import build_world, free_port, wait_for_port

CONF = processes.ROOT / "deploy" / "web" / "gunicorn.conf.py"


def test_the_shipped_configuration_loads():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run([sys.executable, "-m", "gunicorn", "--check-config", "-c", str(CONF),
                           "hospital.wsgi:application"], cwd=processes.ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def gunicorn(transactional_db, tmp_path):
    """gunicorn (two workers, as shipped otherwise) on the test database: its base URL."""
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": processes.test_database_url(),
           "ALLOWED_HOSTS": "127.0.0.1", "WEB_WORKERS": "2"}
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(CONF), "--bind", f"127.0.0.1:{port}",
                               "hospital.wsgi:application"], cwd=processes.ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=30, process=server)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_gunicorn_serves_the_search_and_a_lost_role_applies_in_every_worker(gunicorn, user_in_role):
    world = build_world()
    nurse = user_in_role(roles.NURSE)
    client = Client()
    client.force_login(nurse)
    cookie = {"sessionid": client.cookies["sessionid"].value}
    url = f"{gunicorn}/find/results.json?q=infusion+pump&from=1S-01&available=1"
    with requests.Session() as http:
        for _ in range(4):  # keep-alive: one connection; new connections may reach the other worker
            body = http.get(url, cookies=cookie, timeout=60).json()  # the first waits for a worker to boot
            assert [r["number"] for r in body["results"]][:2] == ["P-NORTH", "P-BEHIND-WALL"]
    assert requests.get(f"{gunicorn}/find/results.json?q=pump", timeout=10, allow_redirects=False).status_code == 302
    assert world["assets"]["P-NORTH"].pk == body["results"][0]["asset"]
    if not settings.REDIS_URL:
        return  # each process has its own cache: another process's change shows only after MAX_AGE_S
    nurse.groups.remove(Group.objects.get(name=roles.NURSE))
    for _ in range(4):  # whichever worker answers
        with requests.Session() as http:
            assert http.get(url, cookies=cookie, timeout=60).status_code == 403
