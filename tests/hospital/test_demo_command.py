"""The main job: `manage.py demo` starts the whole product on the embedded defaults and stops cleanly."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.mosquitto import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_demo_serves_the_hospital_with_data_flowing_and_stops_on_ctrl_c(tmp_path):
    port, mqtt_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "MQTT_URL", "REDIS_URL",
                                                             "DJANGO_SETTINGS_MODULE", "SECRET_KEY"}}
    env.update(DEBUG="1", VAR_DIR=str(tmp_path), EMBEDDED_MQTT_PORT=str(mqtt_port))
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        demo = subprocess.Popen([sys.executable, "manage.py", "demo", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline and status != 200:
            try:
                status = urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).status
            except OSError:
                time.sleep(1)
        assert status == 200, log.read_text()[-3000:]
        text = log.read_text()
        assert "nurse" in text and "demo-nurse" in text  # the logins are printed
        assert f"127.0.0.1:{mqtt_port}" in text  # the embedded broker, not Mosquitto's port

        import sqlite3

        db = sqlite3.connect(tmp_path / "hospital.sqlite3")
        deadline = time.monotonic() + 60
        located = readings = 0
        while time.monotonic() < deadline and (located < 100 or readings == 0):
            time.sleep(2)  # tags are placed from the first batches; the first fridge reports a few seconds later
            located = db.execute("select count(*) from locator_currentlocation").fetchone()[0]
            readings = db.execute("select count(*) from sensors_reading").fetchone()[0]
        counters = dict(db.execute("select name, value from sensors_ingestcounter").fetchall())
        assert located >= 100, ("the simulator's tags never reached the map through MQTT and ingest", counters)
        assert readings > 0, ("no sensor reading stored", counters, log.read_text()[-3000:])
        db.close()
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(60)
        except subprocess.TimeoutExpired:
            demo.kill()
            raise
    assert demo.returncode == 0, log.read_text()[-3000:]
    assert "Stopped cleanly" in log.read_text()
