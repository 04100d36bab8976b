"""Helpers shared by the benchmark scripts: a private Mosquitto with the shipped settings, a
throw-away database, and peak memory."""

from __future__ import annotations

import getpass
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from tests.support.mosquitto import free_port  # noqa: E402  (one helper for tests and benches)


class Mosquitto:
    """Mosquitto with deploy/mosquitto/mosquitto.conf's throughput settings, on a free port.

    ``persistent``: keep sessions and queued messages on disk (autosaved every ``autosave_s``), so the
    broker can be stopped and started again on the same port (``stop()`` / ``start()``), as the fault
    drills do. As a context manager it starts, and stops and removes its directory at the end.
    """

    def __init__(self, user: str = "bench", persistent: bool = False, autosave_s: int = 60,
                 directory: Path | None = None):
        self.port = free_port()
        self.dir = directory or Path(tempfile.mkdtemp(prefix="bench-mosquitto-"))
        self.user = user
        self.proc = None
        keep = (f"persistence true\npersistence_location {self.dir}/\nautosave_interval {autosave_s}\n"
                if persistent else "persistence false\n")
        (self.dir / "mosquitto.conf").write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n{keep}user {getpass.getuser()}\n"
            "set_tcp_nodelay true\nmax_queued_messages 1000000\nmax_queued_bytes 2000000000\n"
            "max_inflight_messages 1000\nmessage_size_limit 1048576\n"
        )

    def start(self):
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([binary, "-c", str(self.dir / "mosquitto.conf")], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"mqtt://{self.user}@127.0.0.1:{self.port}"


def django_with_throwaway_database():
    """Set Django up and create (and migrate) a fresh test database; returns a teardown function."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    if not connection.settings_dict["ENGINE"].endswith("sqlite3"):
        connection.settings_dict["TEST"] = {**connection.settings_dict.get("TEST", {}), "NAME": f"bench_{old_name}"}
    else:
        connection.settings_dict["TEST"] = {**connection.settings_dict.get("TEST", {}),
                                            "NAME": str(ROOT / "var" / "bench.sqlite3")}
    connection.creation.create_test_db(verbosity=0, autoclobber=True)

    def teardown():
        connection.creation.destroy_test_db(old_name, verbosity=0)

    return teardown


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def database_url() -> str:
    """DATABASE_URL of the database Django is using now (the throw-away one)."""
    from tests.support.processes import test_database_url

    return test_database_url()


def vm_hwm_mb(pid: int) -> float:
    """Peak resident memory of another process (Linux), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def wait_until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.2)
