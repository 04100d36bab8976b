"""BTHome v2, plain and encrypted, against the examples published on bthome.io."""

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from sensors.ble import decode

MAC = "54:48:E6:8F:80:A5"
KEY = "231d39c1d7cc1ab1aee224cd096db932"
UUID = "0000fcd2-0000-1000-8000-00805f9b34fb"


def bthome(hexdata: str, bindkey=None, address=MAC):
    return decode(address, {}, {UUID: bytes.fromhex(hexdata)}, bindkey)


def test_plain_temperature_and_humidity():
    d = bthome("4002ca0903bf13")
    assert d.errors == [] and d.formats == ["bthome_v2"]
    assert d.measurements == {"temperature_c": 25.06, "humidity_pct": 50.55}
    assert d.identity["tag_id"] == f"mac:{MAC}"


@pytest.mark.parametrize(
    "obj, name, value",
    [
        ("0009", "packet_id", 9),
        ("0161", "battery_pct", 97),
        ("02ca09", "temperature_c", 25.06),
        ("03bf13", "humidity_pct", 50.55),
        ("04138a01", "pressure_pa", 100883),  # 1008.83 hPa
        ("05138a14", "illuminance_lx", 13460.67),
        ("08ca06", "dewpoint_c", 17.38),
        ("0960", "count", 96),
        ("0a138a14", "energy_kwh", 1346.067),
        ("0b021b00", "power_w", 69.14),
        ("0c020c", "battery_v", 3.074),
        ("0d120c", "pm25_ugm3", 3090),
        ("0e021c", "pm10_ugm3", 7170),
        ("1101", "door_open", 1),
        ("12e204", "co2_ppm", 1250),
        ("133301", "tvoc_ugm3", 307),
        ("14020c", "moisture_pct", 30.74),
        ("1a00", "door_open", 0),
        ("2101", "motion", 1),
        ("2201", "moving", 1),
        ("2d01", "window_open", 1),
        ("2e23", "humidity_pct", 35),
        ("3a01", "button_event", 1),
        ("3d0960", "count", 24585),
        ("3e2a2c0960", "count", 1611213866),
        ("434e34", "current_a", 13.39),
        ("451101", "temperature_c", 27.3),
        ("4a020c", "voltage_v", 307.4),
        ("4d12138a14", "energy_kwh", 344593.17),
        ("5736", "temperature_c", 54),
        ("581b", "temperature_c", 9.45),
        ("59ea", "count", -22),
        ("5aeaea", "count", -5398),
        ("5bea0234ea", "count", -365690134),
        ("5d02ea", "current_a", -5.63),
    ],
)
def test_spec_object_examples(obj, name, value):
    d = bthome("40" + obj)
    assert d.errors == []
    assert d.measurements == {name: pytest.approx(value)}


def test_skipped_objects_still_advance_correctly():
    # mass (0x06), text (0x53, length-prefixed), raw (0x54), firmware (0xf1) are parsed but not reported
    d = bthome("40" + "065e1f" + "530c48656c6c6f20576f726c6421" + "5402abcd" + "f100010204" + "02ca09")
    assert d.errors == [] and d.measurements == {"temperature_c": 25.06}


def test_repeated_objects_get_numbered_names():
    d = bthome("40" + "02ca09" + "02b80b" + "02e803")
    assert d.measurements == {"temperature_c": 25.06, "temperature_c_2": 30.0, "temperature_c_3": 10.0}


def test_mac_included_flag():
    d = bthome("42b2188d38c1a404138a01")
    assert d.identity["payload_mac"] == "A4:C1:38:8D:18:B2"
    assert d.measurements == {"pressure_pa": 100883}


def test_unknown_object_keeps_what_came_before():
    d = bthome("4002ca09ff01")
    assert d.formats == ["bthome_v2"]
    assert d.measurements == {"temperature_c": 25.06}
    assert d.errors == ["bthome_v2: unknown object id 0xff at offset 3 (rest of payload skipped)"]


def test_truncated_object():
    d = bthome("4002ca")
    assert d.formats == [] and d.measurements == {}
    assert d.errors == ["bthome_v2: object 0x02 at offset 0 needs 2 bytes, 1 left"]


def test_wrong_version():
    d = bthome("2002ca09")
    assert d.formats == []
    assert d.errors == ["bthome_v2: device info byte 0x20 says BTHome version 1, expected 2"]


def test_empty_service_data():
    assert bthome("").errors == ["bthome_v2: empty service data"]


# ---- encryption: the bthome.io example (key 231d..., MAC 54:48:E6:8F:80:A5, counter 0x00112233,
#      plaintext 02ca09 03bf13 -> ciphertext e445f3c9962b, MIC 6c7c4519)

ENCRYPTED = "41e445f3c9962b332211006c7c4519"


def test_encrypted_with_the_right_key():
    for key in (KEY, bytes.fromhex(KEY), KEY.upper()):
        d = bthome(ENCRYPTED, key)
        assert d.errors == [] and d.formats == ["bthome_v2"]
        assert d.measurements == {
            "temperature_c": 25.06,
            "humidity_pct": 50.55,
            "encryption_counter": 1122867,
        }


def test_encrypted_with_a_wrong_key():
    d = bthome(ENCRYPTED, "00" * 16)
    assert d.formats == [] and d.measurements == {}
    assert d.errors == ["bthome_v2: MIC check failed (wrong bind key?)"]


def test_encrypted_without_a_key():
    d = bthome(ENCRYPTED)
    assert d.errors == [f"bthome_v2: encrypted payload but no bind key for {MAC}"]
    assert d.measurements == {}


def test_encrypted_from_another_address_fails_the_mic():
    # The MAC is part of the nonce: a replay from another address does not authenticate.
    assert bthome(ENCRYPTED, KEY, address="54:48:E6:8F:80:A6").errors == [
        "bthome_v2: MIC check failed (wrong bind key?)"
    ]


def test_encrypted_with_mac_in_payload_needs_no_usable_address():
    d = bthome("43a5808fe64854f196c06ffb4900112233f08ecbde", KEY, address="not-a-mac")
    assert d.errors == []
    assert d.measurements["temperature_c"] == 25.06 and d.measurements["humidity_pct"] == 50.55
    assert d.identity["payload_mac"] == MAC


def test_encrypted_without_mac_and_unusable_address():
    d = bthome(ENCRYPTED, KEY, address="6F1A2B3C-0000-4000-8000-00000000ABCD")
    assert d.errors and "not a MAC" in d.errors[0]


def test_plain_payload_from_a_device_with_a_key_is_not_trusted():
    d = bthome("4002ca0903bf13", KEY)
    assert d.measurements == {}
    assert "possible spoofing" in d.errors[0]


def test_bad_bind_keys():
    assert "16" in bthome(ENCRYPTED, "abcd").errors[0]
    assert bthome(ENCRYPTED, "not hex at all").errors[0] == "bthome_v2: bind key is not hex"


def test_encrypted_too_short_and_tampered():
    assert "need at least 8" in bthome("41e445f3", KEY).errors[0]
    tampered = ENCRYPTED[:4] + ("0" if ENCRYPTED[4] != "0" else "1") + ENCRYPTED[5:]
    assert bthome(tampered, KEY).errors == ["bthome_v2: MIC check failed (wrong bind key?)"]


def _encrypt(key: bytes, mac: str, info: int, counter: int, plain: bytes) -> bytes:
    nonce = bytes.fromhex(mac.replace(":", "")) + b"\xd2\xfc" + bytes([info]) + counter.to_bytes(4, "little")
    sealed = AESCCM(key, tag_length=4).encrypt(nonce, plain, None)
    return bytes([info]) + sealed[:-4] + counter.to_bytes(4, "little") + sealed[-4:]


def test_encrypt_then_decode_roundtrip():
    key = os.urandom(16)
    for counter in (0, 1, 0xFFFFFFFF, 123456):
        payload = _encrypt(key, MAC, 0x45, counter, bytes.fromhex("0064" + "2201" + "0c020c"))
        d = decode(MAC, None, {"fcd2": payload}, key)
        assert d.errors == []
        assert d.measurements == {
            "packet_id": 100,
            "moving": 1,
            "battery_v": 3.074,
            "encryption_counter": counter,
        }
