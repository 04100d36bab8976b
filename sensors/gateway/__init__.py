"""The room-gateway agent: BLE scanning with bleak, filtering, batching, a bounded on-disk queue and
MQTT publishing (QoS 1, TLS, per-gateway credentials, retained status with a last will).

Runs on a small Linux box in a ceiling, so nothing here imports Django; it needs only bleak,
paho-mqtt and orjson (``pip install '.[gateway]'``). Modules:

- ``config``: settings from a TOML file and command-line flags;
- ``scanner``: bleak's (BLEDevice, AdvertisementData) -> protocol Advertisement; passive/active scanning;
- ``batcher``: closes a batch every ``batch_interval_ms`` or at ``max_batch`` advertisements;
- ``queue``: the bounded SQLite queue of encoded batches (drop oldest, counted);
- ``publisher``: MQTT connection, acknowledged delivery from the queue, status and config topics;
- ``agent``: wiring; ``__main__``: the ``hospital-gateway`` command.

The operator's guide is docs/gateway.md.
"""

from __future__ import annotations

__all__ = ["__version__", "SOFTWARE"]


def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("hospital-tracking")
    except (ImportError, PackageNotFoundError):
        return "0.1.0"  # running from a source checkout that was not pip-installed


__version__ = _version()
SOFTWARE = f"hospital-gateway {__version__}"
