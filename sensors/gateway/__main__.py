"""``hospital-gateway`` / ``python -m sensors.gateway``: run the room-gateway agent.

    hospital-gateway --config /etc/hospital/gateway.toml
    hospital-gateway --gateway-id gw-2e-11 --site main --mqtt-url 'mqtts://gw-2e-11@broker:8883?ca=/etc/hospital/ca.pem' \\
        --mqtt-password-file /etc/hospital/gateway.password --state-dir /var/lib/hospital-gateway

Flags override the config file. SIGTERM or SIGINT: the current batch is flushed into the on-disk queue,
queued batches get ``shutdown_grace_s`` to be delivered, the offline status is published, exit 0.
Exit status 2: bad configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sqlite3
import sys
from typing import Any

import orjson

from . import SOFTWARE
from .config import SCAN_MODES, ConfigError, Settings, build_settings, read_toml

DEFAULT_CONFIG = "/etc/hospital/gateway.toml"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hospital-gateway",
        description="BLE room-gateway agent: scans advertisements with bleak and publishes them in batches "
        "over MQTT (QoS 1), with an on-disk queue for broker outages. See docs/gateway.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help=f"TOML config file (default: {DEFAULT_CONFIG} if it exists, or $HOSPITAL_GATEWAY_CONFIG)",
    )
    p.add_argument("--gateway-id", help="this gateway's id, also its MQTT user name (e.g. gw-2e-11)")
    p.add_argument("--site", help="site code, the second topic level (hospital/<site>/gw/<id>/...)")
    p.add_argument(
        "--mqtt-url",
        help="mqtt://[user[:password]@]host[:port] or mqtts://...?ca=FILE&cert=FILE&key=FILE "
        "(default: $MQTT_URL, else mqtt://127.0.0.1:1883)",
    )
    p.add_argument("--mqtt-password-file", metavar="FILE", help="read the MQTT password from this file")
    p.add_argument(
        "--state-dir",
        metavar="DIR",
        help="directory for the queue and cached config (default /var/lib/hospital-gateway)",
    )
    p.add_argument(
        "--scan-mode",
        choices=SCAN_MODES,
        help="auto: passive where possible, else active; off: MQTT only (to test a broker setup)",
    )
    p.add_argument("--adapter", help="Bluetooth adapter, e.g. hci0")
    p.add_argument(
        "--batch-interval-ms", type=int, help="publish at least this often (20..60000, default 1000)"
    )
    p.add_argument(
        "--max-batch", type=int, help="publish early at this many advertisements (1..5000, default 500)"
    )
    p.add_argument("--queue-max-bytes", type=int, help="disk queue bound in payload bytes (default 64 MiB)")
    p.add_argument("--queue-max-batches", type=int, help="disk queue bound in batches (default 100000)")
    p.add_argument("--drain-rate", type=float, help="batches per second at most (default 50)")
    p.add_argument("--min-rssi", type=int, help="filter: drop weaker advertisements (dBm)")
    for name, what in (
        ("mac", "address AA:BB:CC:DD:EE:FF"),
        ("company-id", "company id in hex, e.g. 0499"),
        ("service-uuid", "16-bit service-data UUID in hex, e.g. fcd2"),
        ("ibeacon-uuid", "iBeacon proximity UUID"),
        ("eddystone-namespace", "Eddystone-UID namespace (20 hex digits)"),
    ):
        p.add_argument(
            f"--filter-{name}",
            action="append",
            metavar="VALUE",
            help=f"filter: forward this {what} (repeatable; replaces the file's list)",
        )
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="default INFO")
    p.add_argument(
        "--print-config", action="store_true", help="print the effective settings (no password) and exit"
    )
    p.add_argument("--version", action="version", version=SOFTWARE)
    return p


def settings_from_args(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = args.config or env.get("HOSPITAL_GATEWAY_CONFIG")
    if path is None and os.path.exists(DEFAULT_CONFIG):
        path = DEFAULT_CONFIG
    if path:
        values.update(read_toml(path))
    if "mqtt_url" not in values and env.get("MQTT_URL"):
        values["mqtt_url"] = env["MQTT_URL"]
    for name in (
        "gateway_id",
        "site",
        "mqtt_url",
        "mqtt_password_file",
        "state_dir",
        "scan_mode",
        "adapter",
        "batch_interval_ms",
        "max_batch",
        "queue_max_bytes",
        "queue_max_batches",
        "drain_rate",
        "log_level",
    ):
        v = getattr(args, name)
        if v is not None:
            values[name] = v
    filters = dict(values.get("filters") or {})
    if args.min_rssi is not None:
        filters["min_rssi"] = args.min_rssi
    for key in ("mac", "company_id", "service_uuid", "ibeacon_uuid", "eddystone_namespace"):
        v = getattr(args, f"filter_{key}")
        if v is not None:
            filters[f"{key}s" if key != "mac" else "macs"] = v
    values["filters"] = filters
    return build_settings(values)


async def _serve(agent) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, agent.request_stop)
        except (NotImplementedError, RuntimeError):  # Windows: SIGINT still raises KeyboardInterrupt
            pass
    await agent.run()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ConfigError as e:
        print(f"hospital-gateway: configuration error: {e}", file=sys.stderr)
        return 2
    if args.print_config:
        sys.stdout.write(
            orjson.dumps(settings.redacted(), option=orjson.OPT_INDENT_2, default=str).decode() + "\n"
        )
        return 0
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        # journald adds its own timestamps; keep the line short
        format="%(levelname)s %(name)s: %(message)s"
        if os.environ.get("JOURNAL_STREAM")
        else "%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("bleak").setLevel(logging.WARNING)
    from .agent import Agent  # after logging is configured

    try:
        agent = Agent(settings)
    except ConfigError as e:
        print(f"hospital-gateway: configuration error: {e}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error) as e:
        print(f"hospital-gateway: cannot use the state directory {settings.state_dir}: {e}", file=sys.stderr)
        return 1
    try:
        asyncio.run(_serve(agent))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
