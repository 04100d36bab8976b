"""MQTT plumbing shared by ingest, the simulator and the gateway agent (no Django imports)."""

from .client import MqttEndpoint, make_client, parse_mqtt_url

__all__ = ["MqttEndpoint", "make_client", "parse_mqtt_url"]
