"""Start a private Mosquitto for a test: its own port, config, password and ACL files.

Used where a test must change the broker's configuration (ACLs, TLS) or stop it (outages); tests
that only need a broker use the shared one from MQTT_URL.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mosquitto_binary() -> str:
    path = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if path is None:
        import os

        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("mosquitto is not installed but REQUIRE_SERVICES=1")
        pytest.skip("mosquitto is not installed")
    return path


class PrivateMosquitto:
    def __init__(self, directory: Path, extra_config: str = "", port: int | None = None):
        self.directory = directory
        self.port = port or free_port()
        self.extra_config = extra_config
        self.process: subprocess.Popen | None = None

    def start(self) -> PrivateMosquitto:
        conf = self.directory / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nset_tcp_nodelay true\nmax_queued_messages 100000\n"
            f"persistence false\nuser {getpass.getuser()}\n{self.extra_config}\n"
        )
        self.process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"mosquitto exited: {self.process.stderr.read().decode()}") from None
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
