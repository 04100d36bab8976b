"""Agent settings: defaults, a TOML config file (``--config /etc/hospital/gateway.toml``) and command-line
flags, in that order of increasing precedence. Validation happens here, once, with messages that name
the offending key, so a mistyped file stops the service at start instead of misbehaving later.

Filters and batch settings use the same rules as the server's retained ``config`` topic (they are
validated by ``sensors.protocol.decode_config``); a server config, once received, replaces them.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from sensors.mqtt.client import MqttEndpoint, parse_mqtt_url
from sensors.protocol import GatewayConfig, ProtocolError, decode_config, encode_config, topic_for

SCAN_MODES = ("auto", "passive", "active", "off")
FILTER_KEYS = ("min_rssi", "macs", "company_ids", "service_uuids", "ibeacon_uuids", "eddystone_namespaces")

# Flat setting name -> (TOML table, key in that table). Top-level keys use table "".
_TOML_KEYS: dict[str, tuple[str, str]] = {
    "gateway_id": ("", "gateway_id"),
    "site": ("", "site"),
    "state_dir": ("", "state_dir"),
    "status_interval_s": ("", "status_interval_s"),
    "shutdown_grace_s": ("", "shutdown_grace_s"),
    "log_level": ("", "log_level"),
    "mqtt_url": ("mqtt", "url"),
    "mqtt_password_file": ("mqtt", "password_file"),
    "keepalive_s": ("mqtt", "keepalive_s"),
    "reconnect_min_s": ("mqtt", "reconnect_min_s"),
    "reconnect_max_s": ("mqtt", "reconnect_max_s"),
    "scan_mode": ("scanner", "mode"),
    "adapter": ("scanner", "adapter"),
    "scanner_retry_s": ("scanner", "retry_s"),
    "batch_interval_ms": ("batch", "interval_ms"),
    "max_batch": ("batch", "max_batch"),
    "env_topic": ("batch", "env_topic"),
    "queue_max_bytes": ("queue", "max_bytes"),
    "queue_max_batches": ("queue", "max_batches"),
    "drain_rate": ("queue", "drain_rate"),
    "max_inflight": ("queue", "max_inflight"),
    "retain_s": ("queue", "retain_s"),
    "retain_max_bytes": ("queue", "retain_max_bytes"),
    "resend_rate": ("queue", "resend_rate"),
}


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Everything the agent needs. ``initial`` holds the local filters and batch settings."""

    gateway_id: str
    site: str
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_password_file: Path | None = None  # overrides a password in the URL (keep secrets out of URLs)
    state_dir: Path = Path("/var/lib/hospital-gateway")
    scan_mode: str = "auto"  # auto: passive where the platform allows, else active
    adapter: str | None = None  # BlueZ adapter, e.g. "hci0"
    scanner_retry_s: float = 30.0  # retry a scanner that failed to start (adapter missing, bluetoothd down)
    initial: GatewayConfig = field(default_factory=GatewayConfig)
    queue_max_bytes: int = 64 * 1024 * 1024
    queue_max_batches: int = 100_000
    drain_rate: float = 50.0  # batches per second at most, also after an outage
    max_inflight: int = 20  # published, not yet acknowledged batches
    # delivered batches are kept this long / within this size so the server can ask for them again
    # (protocol §7a); 0 turns resends off
    retain_s: float = 900.0
    retain_max_bytes: int = 16 * 1024 * 1024
    resend_rate: float = 2.0  # resend requests answered per second at most (a burst of 10)
    keepalive_s: int = 30
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    status_interval_s: float = 60.0
    shutdown_grace_s: float = 2.0  # on SIGTERM, time to deliver what is queued before exiting
    log_level: str = "INFO"
    # Sensor advertisements (Ruuvi, BTHome) in batches of their own on .../env (protocol §2a), so the
    # server takes them ahead of a backlog of tag batches. Turn on once the server speaks §2a: an older
    # one does not subscribe to .../env, and the broker would drop those batches unseen.
    env_topic: bool = False

    def __post_init__(self) -> None:
        try:
            topic_for(self.site, self.gateway_id, "adv")
        except ProtocolError as e:
            raise ConfigError(e.reason) from None
        if self.scan_mode not in SCAN_MODES:
            raise ConfigError(f"scanner mode must be one of {', '.join(SCAN_MODES)}, got {self.scan_mode!r}")
        checks = [
            ("queue.max_bytes", self.queue_max_bytes >= 1024 * 1024, "at least 1048576 (1 MiB, one batch)"),
            ("queue.max_batches", self.queue_max_batches >= 1, "at least 1"),
            ("queue.drain_rate", self.drain_rate > 0, "a positive number of batches per second"),
            ("queue.max_inflight", 1 <= self.max_inflight <= 1000, "1..1000"),
            ("queue.retain_s", 0 <= self.retain_s <= 7 * 86400, "0..604800 seconds (0: no resends)"),
            ("queue.retain_max_bytes", 0 <= self.retain_max_bytes <= self.queue_max_bytes,
             "0..queue.max_bytes (0: no resends)"),
            ("queue.resend_rate", self.resend_rate > 0, "a positive number of requests per second"),
            ("mqtt.keepalive_s", 5 <= self.keepalive_s <= 3600, "5..3600"),
            (
                "mqtt.reconnect_min_s",
                0 < self.reconnect_min_s <= self.reconnect_max_s,
                "positive and at most reconnect_max_s",
            ),
            ("status_interval_s", self.status_interval_s >= 1, "at least 1"),
            ("shutdown_grace_s", self.shutdown_grace_s >= 0, "0 or more"),
            ("scanner.retry_s", self.scanner_retry_s >= 1, "at least 1"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(f"{name} must be {expected}")
        self.endpoint()  # validates the URL and reads the password file

    def endpoint(self) -> MqttEndpoint:
        try:
            ep = parse_mqtt_url(self.mqtt_url)
        except ValueError as e:
            raise ConfigError(f"mqtt.url: {e}") from None
        if self.mqtt_password_file is not None:
            path = Path(os.path.expandvars(str(self.mqtt_password_file)))
            try:
                password = path.read_text().strip()
            except OSError as e:
                raise ConfigError(f"mqtt.password_file: cannot read {path}: {e.strerror}") from None
            ep = dataclasses.replace(ep, password=password)
        if ep.password and not ep.username:
            raise ConfigError("mqtt.url: a password needs a user name (the gateway id)")
        for name in ("ca_file", "cert_file", "key_file"):
            value = getattr(ep, name)
            if value and not Path(value).is_file():
                raise ConfigError(f"mqtt.url: {name.split('_')[0]} file {value} does not exist")
        return ep

    def redacted(self) -> dict[str, Any]:
        """The effective settings for ``--print-config`` (no password)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "initial"}
        out["mqtt_url"] = self.endpoint().redacted()
        out["state_dir"] = str(self.state_dir)
        if self.mqtt_password_file is not None:
            out["mqtt_password_file"] = str(self.mqtt_password_file)
        out["initial_config"] = orjson.loads(encode_config(self.initial))
        return out


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a config file into flat setting names (see ``_TOML_KEYS``) plus a ``filters`` dict."""
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as e:
        raise ConfigError(f"config file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path}: {e}") from None
    known_tables = {t for t, _ in _TOML_KEYS.values() if t} | {"filters"}
    flat: dict[str, Any] = {}
    for name, (table, key) in _TOML_KEYS.items():
        section = doc.get(table, {}) if table else doc
        if isinstance(section, dict) and key in section:
            flat[name] = section[key]
    for key, value in doc.items():
        if isinstance(value, dict):
            if key not in known_tables:
                raise ConfigError(f"config file {path}: unknown table [{key}]")
            known = {k for t, k in _TOML_KEYS.values() if t == key} | (
                set(FILTER_KEYS) if key == "filters" else set()
            )
            unknown = set(value) - known
            if unknown:
                raise ConfigError(
                    f"config file {path}: unknown key(s) in [{key}]: {', '.join(sorted(unknown))}"
                )
        elif key not in {k for t, k in _TOML_KEYS.values() if not t}:
            raise ConfigError(f"config file {path}: unknown top-level key {key!r}")
    if "filters" in doc:
        flat["filters"] = doc["filters"]
    return flat


def initial_config(batch_interval_ms: int, max_batch: int, filters: dict[str, Any]) -> GatewayConfig:
    """Local filters and batch settings, validated exactly like a server config."""
    try:
        return decode_config(
            orjson.dumps(
                {"v": 1, "batch_interval_ms": batch_interval_ms, "max_batch": max_batch, "filters": filters}
            )
        )
    except ProtocolError as e:
        raise ConfigError(e.reason.replace("config ", "", 1)) from None
    except TypeError as e:
        raise ConfigError(f"filters: {e}") from None


_TYPES: dict[str, type | tuple[type, ...]] = {
    "gateway_id": str,
    "site": str,
    "mqtt_url": str,
    "mqtt_password_file": str,
    "state_dir": str,
    "scan_mode": str,
    "adapter": str,
    "log_level": str,
    "batch_interval_ms": int,
    "max_batch": int,
    "queue_max_bytes": int,
    "queue_max_batches": int,
    "max_inflight": int,
    "retain_max_bytes": int,
    "retain_s": (int, float),
    "resend_rate": (int, float),
    "keepalive_s": int,
    "drain_rate": (int, float),
    "reconnect_min_s": (int, float),
    "reconnect_max_s": (int, float),
    "status_interval_s": (int, float),
    "shutdown_grace_s": (int, float),
    "scanner_retry_s": (int, float),
    "env_topic": bool,
}


def build_settings(values: dict[str, Any]) -> Settings:
    """Settings from flat names (file values overlaid with flags). Raises ConfigError."""
    values = {k: v for k, v in values.items() if v is not None}
    for name, expected in _TYPES.items():
        v = values.get(name)
        if v is not None and (not isinstance(v, expected) or (isinstance(v, bool) and expected is not bool)):
            where = _TOML_KEYS.get(name, ("", name))
            key = f"{where[0]}.{where[1]}" if where[0] else where[1]
            raise ConfigError(f"{key} has the wrong type ({type(v).__name__})")
    for required in ("gateway_id", "site"):
        if not values.get(required):
            raise ConfigError(f"{required} is required (config file or --{required.replace('_', '-')})")
    filters = dict(values.pop("filters", None) or {})
    if not isinstance(filters, dict):
        raise ConfigError("[filters] must be a table")
    initial = initial_config(values.pop("batch_interval_ms", 1000), values.pop("max_batch", 500), filters)
    kwargs: dict[str, Any] = {k: v for k, v in values.items() if k in _TYPES}
    for path_key in ("state_dir", "mqtt_password_file"):
        if path_key in kwargs:
            kwargs[path_key] = Path(kwargs[path_key])
    for float_key in (
        "drain_rate",
        "retain_s",
        "resend_rate",
        "reconnect_min_s",
        "reconnect_max_s",
        "status_interval_s",
        "shutdown_grace_s",
        "scanner_retry_s",
    ):
        if float_key in kwargs:
            kwargs[float_key] = float(kwargs[float_key])
    return Settings(initial=initial, **kwargs)
