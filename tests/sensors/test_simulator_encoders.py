"""The simulator's advertisement encoders decode back to the same values through sensors.ble."""

import json
from pathlib import Path

import pytest

from sensors.ble.registry import decode
from sensors.simulator import encoders
from sensors.simulator.encoders import BTHOME_UUID

ROOT = Path(__file__).resolve().parents[2]
SENSORS = {s["sensor_id"]: s for s in json.loads((ROOT / "fixtures/demo/sensors.json").read_text())["items"]}
TAGS = json.loads((ROOT / "fixtures/demo/tags.json").read_text())["items"]


def test_ibeacon_round_trip_for_every_demo_tag():
    for tag in TAGS:
        d = decode(
            tag["mac"], encoders.ibeacon(tag["uuid"], tag["major"], tag["minor"], tag["tx_power_dbm"]), None
        )
        assert d.errors == []
        assert d.formats == ["ibeacon"]
        assert d.tag_id == tag["tag_id"]
        assert d.measurements == {"rssi_1m_dbm": tag["tx_power_dbm"]}


@pytest.mark.parametrize(
    "temp, hum, pres, volts",
    [
        (4.567, 45.3, 101234, 2.95),
        (-80.25, 0.0, 50000, 1.6),
        (24.3, 53.49, 100044, 3.646),
        (0.0, 100.0, 115534, 3.0),
    ],
)
def test_ruuvi_v5_round_trip(temp, hum, pres, volts):
    mac = "EA:8D:8A:38:CB:B2"
    mfr = encoders.ruuvi_v5(
        mac,
        temperature_c=temp,
        humidity_pct=hum,
        pressure_pa=pres,
        acceleration_mg=(-12, 7, 1003),
        battery_v=volts,
        tx_power_dbm=4,
        movement_counter=300,
        measurement_sequence=65534 + 3,
    )
    d = decode(mac, mfr, None)
    assert d.errors == [] and d.formats == ["ruuvi_v5"]
    m = d.measurements
    assert m["temperature_c"] == pytest.approx(round(temp / 0.005) * 0.005)
    assert abs(m["temperature_c"] - temp) <= 0.0025 + 1e-9
    assert m["humidity_pct"] == pytest.approx(hum, abs=0.00125)
    assert m["pressure_pa"] == pres
    assert m["battery_v"] == pytest.approx(volts)
    assert m["tx_power_dbm"] == 4
    assert m["movement_counter"] == 300 & 0xFF
    assert m["measurement_sequence"] == (65534 + 3) % 0xFFFF
    assert (m["acceleration_x_g"], m["acceleration_y_g"], m["acceleration_z_g"]) == (-0.012, 0.007, 1.003)
    assert d.identity["payload_mac"] == mac


def test_ruuvi_v5_not_available_values_are_left_out():
    mac = "EA:8D:8A:38:CB:B2"
    mfr = encoders.ruuvi_v5(
        mac,
        temperature_c=None,
        humidity_pct=None,
        pressure_pa=None,
        acceleration_mg=None,
        battery_v=None,
        tx_power_dbm=None,
        movement_counter=None,
        measurement_sequence=None,
    )
    assert decode(mac, mfr, None).measurements == {}


def test_bthome_plain_round_trip_with_pressure_count_and_packet_id():
    mac = "54:48:E6:8F:80:A5"
    values = {
        "packet_id": 17,
        "battery_pct": 87,
        "temperature_c": 21.37,
        "humidity_pct": 45.12,
        "pm25_ugm3": 9,
        "co2_ppm": 1534,
        "door_open": 1,
        "differential_pressure_pa": -7.93,
    }
    d = decode(mac, None, encoders.bthome_v2(mac, values))
    assert d.errors == [] and d.formats == ["bthome_v2"]
    m = d.measurements
    assert m["packet_id"] == 17 and m["battery_pct"] == 87 and m["door_open"] == 1
    assert m["temperature_c"] == 21.37 and m["humidity_pct"] == 45.12
    assert m["pm25_ugm3"] == 9 and m["co2_ppm"] == 1534
    # BTHome 0x5A: signed 16-bit count in 0.01 Pa (the server scales it with the sensor's measurement_map)
    assert m["count"] == -793
    assert m["count"] * 0.01 == pytest.approx(-7.93)


@pytest.mark.parametrize("pa", [-8.0, -2.49, 0.0, 10.25, 327.67, -327.68])
def test_bthome_differential_pressure_range(pa):
    mac = "54:48:E6:8F:80:A5"
    m = decode(mac, None, encoders.bthome_v2(mac, {"differential_pressure_pa": pa})).measurements
    assert m["count"] / 100 == pytest.approx(pa)
    assert encoders.bthome_quantize("differential_pressure_pa", pa) == pytest.approx(pa)


def test_bthome_encrypted_round_trip_with_the_fixture_bind_key_and_growing_counter():
    sensor = next(s for s in SENSORS.values() if s["bindkey"])
    mac, key = sensor["mac"], sensor["bindkey"]
    seen = []
    for counter in (1, 2, 0xFFFFFFFF):
        svc = encoders.bthome_v2(
            mac, {"temperature_c": 4.56, "door_open": 0, "battery_pct": 73}, bindkey=key, counter=counter
        )
        d = decode(mac, None, svc, bindkey=key)
        assert d.errors == []
        assert d.measurements == {
            "encryption_counter": counter,
            "battery_pct": 73,
            "temperature_c": 4.56,
            "door_open": 0,
        }
        seen.append(svc[BTHOME_UUID])
    assert len(set(seen)) == 3  # a new counter gives a new ciphertext
    wrong = decode(
        mac, None, encoders.bthome_v2(mac, {"temperature_c": 4.5}, bindkey="00" * 16, counter=3), bindkey=key
    )
    assert wrong.measurements == {} and "MIC check failed" in wrong.errors[0]
    plain_from_keyed = decode(mac, None, encoders.bthome_v2(mac, {"temperature_c": 4.5}), bindkey=key)
    assert plain_from_keyed.errors  # a keyed device sending plain data is not trusted


def test_bthome_trigger_bit_and_pressure_monitor_payload():
    mac = "DC:39:81:1B:A4:82"
    svc = encoders.bthome_v2(mac, {"door_open": 1}, trigger=True)
    assert svc[BTHOME_UUID][0] == 0x44  # version 2, trigger based
    assert decode(mac, None, svc).measurements == {"door_open": 1}
