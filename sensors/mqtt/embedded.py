"""The embedded MQTT broker (amqtt, in-process) for the demo and a laptop with no servers.

It listens on ``EMBEDDED_MQTT_PORT`` (11883 by default) so it never fights a real Mosquitto for
1883, on loopback only, and wants a user name (any) from every client. It speaks MQTT 3.1.1 only, so ingest subscribes without a shared subscription here.
Production uses Mosquitto (see deploy/mosquitto/).
"""

from __future__ import annotations

import asyncio
import logging
import threading

log = logging.getLogger(__name__)


class EmbeddedBroker:
    def __init__(self, host: str = "127.0.0.1", port: int = 11883):
        self.host, self.port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="embedded-mqtt", daemon=True)

    def start(self, timeout: float = 15.0) -> None:
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"embedded MQTT broker did not start on {self.host}:{self.port} in {timeout}s")
        if self._error:
            raise RuntimeError(f"embedded MQTT broker failed on {self.host}:{self.port}: {self._error}") from self._error
        log.info("embedded MQTT broker (amqtt) listening on %s:%s", self.host, self.port)

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)

    def _run(self) -> None:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}", "max_connections": 500}},
            # Any user name is accepted (no password check: loopback only). A user name is required
            # because amqtt keeps the persistent sessions ingest relies on only for named clients.
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False}},
        }

        async def main():
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            broker = Broker(config)
            try:
                await broker.start()
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                self._error = exc
                self._ready.set()
                return
            self._ready.set()
            await self._stop.wait()
            await broker.shutdown()

        asyncio.run(main())
