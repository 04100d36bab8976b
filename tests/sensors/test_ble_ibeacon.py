"""Apple iBeacon in manufacturer data of company 0x004C."""

from sensors.ble import decode

# Apple's AirLocate sample UUID, major 1, minor 2, measured power -59 dBm at 1 m
AIRLOCATE = "0215" + "e2c56db5dffb48d2b060d0f5a71096e0" + "0001" + "0002" + "c5"


def test_ibeacon():
    d = decode("aa:bb:cc:dd:ee:ff", {0x004C: bytes.fromhex(AIRLOCATE)}, {})
    assert d.errors == [] and d.formats == ["ibeacon"]
    assert d.identity == {
        "mac": "AA:BB:CC:DD:EE:FF",
        "ibeacon_uuid": "e2c56db5-dffb-48d2-b060-d0f5a71096e0",
        "ibeacon_major": 1,
        "ibeacon_minor": 2,
        "tag_id": "ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:2",
    }
    assert d.measurements == {"rssi_1m_dbm": -59}


def test_large_major_minor_and_trailing_bytes():
    d = decode("AA:BB:CC:DD:EE:FF", {76: bytes.fromhex(AIRLOCATE[:-10] + "ffff" + "fffe" + "b0" + "00")}, {})
    assert d.identity["ibeacon_major"] == 65535 and d.identity["ibeacon_minor"] == 65534
    assert d.measurements["rssi_1m_dbm"] == -80


def test_other_apple_advertisements_are_not_ibeacons():
    for other in ("1005031c1b2a3b", "12199d1234", "07190100", "", "02"):
        d = decode("AA:BB:CC:DD:EE:FF", {0x004C: bytes.fromhex(other)}, {})
        assert d.formats == [] and d.errors == []


def test_truncated_ibeacon():
    d = decode("AA:BB:CC:DD:EE:FF", {0x004C: bytes.fromhex(AIRLOCATE[:20])}, {})
    assert d.formats == [] and d.errors == ["ibeacon: payload is 10 bytes, expected 23"]
