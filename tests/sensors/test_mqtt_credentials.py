"""Per-gateway credentials and ACLs, checked against a real Mosquitto."""

import threading
import time

import paho.mqtt.client as mqtt
import pytest
from django.core.management import call_command
from paho.mqtt.enums import CallbackAPIVersion

from sensors.mqtt.credentials import hash_password, verify_password
from tests.support.mosquitto import PrivateMosquitto


def test_hash_round_trip_and_rejects_wrong_password():
    encoded = hash_password("s3cret-pass")
    assert encoded.startswith("$7$101$")
    assert verify_password("s3cret-pass", encoded)
    assert not verify_password("wrong", encoded)


def connect(port, user, password, client_id):
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, password)
    result = {}
    connected = threading.Event()

    def on_connect(c, userdata, flags, reason_code, properties):
        result["rc"] = reason_code
        connected.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert connected.wait(5)
    return client, result["rc"]


@pytest.mark.django_db
def test_gateway_can_publish_only_under_its_own_topic(tmp_path, gateway_factory, capsys):
    own = gateway_factory("gw-a")
    gateway_factory("gw-b")
    call_command("mqtt_credentials", "set-password", "gw-a", "--password", "pw-of-gateway-a")
    call_command("mqtt_credentials", "set-password", "gw-b", "--password", "pw-of-gateway-b")
    call_command("mqtt_credentials", "write", "--out", str(tmp_path), "--service", "ingest=ingest:ingest-pw")
    acl = (tmp_path / "acl").read_text()
    assert "user gw-a" in acl and f"topic write hospital/{own.site.code}/gw/gw-a/adv" in acl

    broker = PrivateMosquitto(
        tmp_path, f"allow_anonymous false\npassword_file {tmp_path / 'passwd'}\nacl_file {tmp_path / 'acl'}"
    ).start()
    try:
        received = []
        ingest, rc = connect(broker.port, "ingest", "ingest-pw", "ingest")
        assert rc == 0
        ingest.on_message = lambda c, u, m: received.append(m.topic)
        ingest.subscribe("hospital/+/gw/+/adv", qos=1)
        gw_a, rc = connect(broker.port, "gw-a", "pw-of-gateway-a", "gw-a")
        assert rc == 0
        site = own.site.code
        time.sleep(0.3)
        gw_a.publish(f"hospital/{site}/gw/gw-a/adv", b"own", qos=1).wait_for_publish(5)
        gw_a.publish(f"hospital/{site}/gw/gw-b/adv", b"spoofed", qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not received:
            time.sleep(0.05)
        time.sleep(0.3)
        assert received == [f"hospital/{site}/gw/gw-a/adv"]

        # resend requests: ingest may ask any gateway; a gateway reads only its own (and cannot ask)
        asked = []
        gw_a.on_message = lambda c, u, m: asked.append((m.topic, m.payload))
        gw_a.subscribe("hospital/+/gw/+/resend", qos=1)
        time.sleep(0.3)
        for gateway in ("gw-a", "gw-b"):
            ingest.publish(f"hospital/{site}/gw/{gateway}/resend", f"to {gateway}".encode(), qos=1).wait_for_publish(5)
        gw_a.publish(f"hospital/{site}/gw/gw-a/resend", b"from the gateway", qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not asked:
            time.sleep(0.05)
        time.sleep(0.3)
        assert asked == [(f"hospital/{site}/gw/gw-a/resend", b"to gw-a")]

        _, rc = connect(broker.port, "gw-a", "wrong-password", "gw-a-bad")
        assert rc != 0  # bad password refused
        for client in (ingest, gw_a):
            client.loop_stop()
            client.disconnect()
    finally:
        broker.stop()


@pytest.mark.django_db
def test_set_password_names_unknown_gateways():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="unknown gateway"):
        call_command("mqtt_credentials", "set-password", "gw-nope")
