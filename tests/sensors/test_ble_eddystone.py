"""Eddystone UID, URL, TLM and EID frames (examples from Google's Eddystone specification)."""

import pytest

from sensors.ble import decode

MAC = "C0:FF:EE:00:00:01"
NAMESPACE = "edd1ebeac04e5defa017"  # the example namespace used throughout Google's Eddystone docs


def eddystone(hexdata: str, key="0000feaa-0000-1000-8000-00805f9b34fb"):
    return decode(MAC, {}, {key: bytes.fromhex(hexdata)})


@pytest.mark.parametrize("rfu", ["", "0000"])
def test_uid(rfu):
    d = eddystone("00ee" + NAMESPACE + "0102030405ab" + rfu)
    assert d.errors == [] and d.formats == ["eddystone_uid"]
    assert d.identity["eddystone_namespace"] == NAMESPACE
    assert d.identity["eddystone_instance"] == "0102030405ab"
    assert d.identity["tag_id"] == f"eddystone:{NAMESPACE}:0102030405ab"
    # spec: 0xEE is -18 dBm at 0 m; 41 dB of loss over the first metre
    assert d.measurements == {"tx_power_dbm": -18, "rssi_1m_dbm": -59}


@pytest.mark.parametrize("key", ["feaa", "FEAA", "0xFEAA", "0000FEAA-0000-1000-8000-00805F9B34FB", 0xFEAA])
def test_service_uuid_key_forms(key):
    assert decode(MAC, None, {key: bytes.fromhex("00ee" + NAMESPACE + "0102030405ab")}).formats == [
        "eddystone_uid"
    ]


def test_uid_truncated():
    d = eddystone("00ee" + NAMESPACE)
    assert d.formats == [] and d.errors == ["eddystone_uid: payload is 12 bytes, expected 18 or 20"]


def test_url_spec_examples():
    d = eddystone("1012" + "03" + b"goo.gl/S6zT6P".hex())
    assert d.errors == []
    assert d.identity["eddystone_url"] == "https://goo.gl/S6zT6P"
    assert d.measurements["tx_power_dbm"] == 18  # spec: 0x12 is +18 dBm
    d = eddystone("10ee" + "00" + b"hospital".hex() + "07")
    assert d.identity["eddystone_url"] == "http://www.hospital.com"
    d = eddystone("10ee" + "02" + b"example".hex() + "00" + b"ward7".hex())
    assert d.identity["eddystone_url"] == "http://example.com/ward7"
    assert d.identity["tag_id"] == f"mac:{MAC}"  # a URL is content, not an identity of the tag


def test_url_errors():
    assert eddystone("10ee04" + b"x".hex()).errors == ["eddystone_url: unknown URL scheme code 0x04"]
    assert eddystone("10ee03" + "0e").errors == ["eddystone_url: reserved byte 0x0e in URL at offset 3"]
    assert eddystone("10ee03" + "41" * 18).errors == [
        "eddystone_url: payload is 21 bytes, at most 20 allowed"
    ]
    assert eddystone("10ee").errors == ["eddystone_url: payload is 2 bytes, expected at least 3"]


def test_tlm():
    # 3000 mV, 23.5 C (8.8 fixed point 0x1780), 100 advertisements, 1000 x 0.1 s
    d = eddystone("2000" + "0bb8" + "1780" + "00000064" + "000003e8")
    assert d.errors == [] and d.formats == ["eddystone_tlm"]
    assert d.measurements == {"battery_v": 3.0, "temperature_c": 23.5, "adv_count": 100, "uptime_s": 100.0}
    assert eddystone("2000" + "0000" + "ff80" + "00000000" + "00000000").measurements["temperature_c"] == -0.5


def test_tlm_not_supported_values_are_omitted():
    d = eddystone("2000" + "0000" + "8000" + "00000001" + "00000002")
    assert d.measurements == {"adv_count": 1, "uptime_s": 0.2}


def test_tlm_errors():
    assert eddystone("2001" + "00" * 16).errors == [
        "eddystone_tlm: encrypted TLM (version 0x01) is not supported"
    ]
    assert eddystone("2007" + "00" * 12).errors == ["eddystone_tlm: unknown TLM version 0x07"]
    assert eddystone("20000bb8").errors == ["eddystone_tlm: payload is 4 bytes, expected 14"]


def test_eid():
    d = eddystone("30ee" + "0011223344556677")
    assert d.formats == ["eddystone_eid"] and d.identity["eddystone_eid"] == "0011223344556677"


def test_unknown_frame_is_ignored_and_empty_is_an_error():
    assert eddystone("40" + "00" * 10).formats == [] and eddystone("40").errors == []
    assert eddystone("").errors == ["eddystone: empty service data"]


def test_uid_and_tlm_from_the_same_beacon_in_one_advertisement():
    d = decode(MAC, {}, {"feaa": bytes.fromhex("00ee" + NAMESPACE + "0102030405ab")})
    t = decode(MAC, {}, {"feaa": bytes.fromhex("2000" + "0bb8" + "1780" + "00000064" + "000003e8")})
    assert d.identity["tag_id"].startswith("eddystone:") and t.identity["tag_id"] == f"mac:{MAC}"
