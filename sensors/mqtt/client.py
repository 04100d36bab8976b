"""One place that turns an ``MQTT_URL`` into a configured paho client.

URL forms: ``mqtt://user:pass@host:1883`` (plain), ``mqtts://host:8883?ca=/path/ca.pem&cert=..&key=..``
(TLS, optional client certificate). ``?protocol=3`` forces MQTT 3.1.1 (the embedded amqtt broker
speaks only 3.1.1; Mosquitto speaks 5, which ingest needs for shared subscriptions).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


@dataclass(frozen=True)
class MqttEndpoint:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    protocol: int = 5

    @property
    def is_v5(self) -> bool:
        return self.protocol == 5

    def redacted(self) -> str:
        """The URL without the password, for logs."""
        auth = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{auth}{self.host}:{self.port} (MQTT {'5' if self.is_v5 else '3.1.1'})"


def parse_mqtt_url(url: str, *, default_protocol: int = 5) -> MqttEndpoint:
    parts = urlsplit(url)
    if parts.scheme not in {"mqtt", "mqtts", "tcp", "ssl"}:
        raise ValueError(f"MQTT_URL must start with mqtt:// or mqtts://, got {url!r}")
    tls = parts.scheme in {"mqtts", "ssl"}
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    protocol = int(query.get("protocol", default_protocol))
    if protocol not in (3, 5):
        raise ValueError(f"MQTT_URL protocol must be 3 (3.1.1) or 5, got {protocol}")
    return MqttEndpoint(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (8883 if tls else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
        ca_file=query.get("ca"),
        cert_file=query.get("cert"),
        key_file=query.get("key"),
        protocol=protocol,
    )


def make_client(endpoint: MqttEndpoint, client_id: str, *, clean_start: bool = True) -> mqtt.Client:
    """A paho client set up for ``endpoint``; the caller sets callbacks and connects.

    With ``clean_start=False`` the broker keeps the session (subscriptions and queued QoS 1
    messages) while the client is away, which is what ingest needs to lose nothing on restart.
    """
    if endpoint.is_v5:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    else:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311, clean_session=clean_start
        )
    if endpoint.username:
        client.username_pw_set(endpoint.username, endpoint.password)
    if endpoint.tls:
        client.tls_set(
            ca_certs=endpoint.ca_file,
            certfile=endpoint.cert_file,
            keyfile=endpoint.key_file,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def connect_properties(endpoint: MqttEndpoint, *, session_expiry_s: int):
    """MQTT 5 CONNECT properties asking the broker to keep the session ``session_expiry_s``."""
    if not endpoint.is_v5:
        return None
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = session_expiry_s
    return props
