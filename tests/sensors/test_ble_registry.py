"""The registry: one decode() for every format, tag ids, input shapes and the vocabulary."""

from sensors.ble import VOCABULARY, Decoded, decode, service_uuid16, tag_id_for
from sensors.ble.vocabulary import IDENTITY_KEYS

RUUVI5 = bytes.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F")
IBEACON = bytes.fromhex("0215e2c56db5dffb48d2b060d0f5a71096e000010002c5")


def test_tag_id_for():
    assert tag_id_for({"mac": "AA:BB:CC:DD:EE:FF"}) == "mac:AA:BB:CC:DD:EE:FF"
    assert (
        tag_id_for(
            {
                "mac": "X",
                "ibeacon_uuid": "E2C56DB5-DFFB-48D2-B060-D0F5A71096E0",
                "ibeacon_major": 7,
                "ibeacon_minor": 9,
            }
        )
        == "ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:7:9"
    )
    assert (
        tag_id_for(
            {"mac": "X", "eddystone_namespace": "EDD1EBEAC04E5DEFA017", "eddystone_instance": "0000000000AB"}
        )
        == "eddystone:edd1ebeac04e5defa017:0000000000ab"
    )
    # iBeacon wins over Eddystone when a tag advertises both in one advertisement
    assert tag_id_for(
        {
            "ibeacon_uuid": "u",
            "ibeacon_major": 1,
            "ibeacon_minor": 2,
            "eddystone_namespace": "n",
            "eddystone_instance": "i",
        }
    ).startswith("ibeacon:")


def test_decoded_shape_and_mac_normalisation():
    d = decode("cb-b8-33-4c-88-4f", {0x0499: RUUVI5}, None)
    assert isinstance(d, Decoded)
    assert d.address == "CB:B8:33:4C:88:4F" and d.identity["mac"] == "CB:B8:33:4C:88:4F"
    assert d.tag_id == "mac:CB:B8:33:4C:88:4F"
    assert d.as_dict() == {
        "address": d.address,
        "formats": ["ruuvi_v5"],
        "identity": d.identity,
        "measurements": d.measurements,
        "errors": [],
    }


def test_several_formats_in_one_advertisement():
    d = decode(
        "AA:BB:CC:DD:EE:FF",
        {0x004C: IBEACON, 0x0499: RUUVI5},
        {"0000fcd2-0000-1000-8000-00805f9b34fb": bytes.fromhex("400161")},
    )
    assert d.formats == ["ibeacon", "ruuvi_v5", "bthome_v2"]
    assert d.identity["tag_id"].startswith("ibeacon:")
    assert d.measurements["battery_pct"] == 97 and d.measurements["temperature_c"] == 24.3


def test_unknown_formats_are_silently_skipped():
    d = decode(
        "AA:BB:CC:DD:EE:FF",
        {0x0006: b"\x01\x09\x20", 0xFFFF: b""},
        {"0000180f-0000-1000-8000-00805f9b34fb": b"\x64", "6e400001-b5a3-f393-e0a9-e50e24dcca9e": b"x"},
    )
    assert d.formats == [] and d.errors == [] and d.measurements == {}
    assert d.identity == {"mac": "AA:BB:CC:DD:EE:FF", "tag_id": "mac:AA:BB:CC:DD:EE:FF"}


def test_one_bad_part_does_not_hide_a_good_one():
    d = decode("AA:BB:CC:DD:EE:FF", {0x0499: RUUVI5[:12], 0x004C: IBEACON}, {})
    assert d.formats == ["ibeacon"]
    assert d.errors == ["ruuvi_v5: payload is 12 bytes, expected 24"]


def test_wrong_input_types_give_errors_not_exceptions():
    assert decode("AA:BB:CC:DD:EE:FF", {0x0499: "0512"}, {}).errors == ["ruuvi: data must be bytes, not str"]
    assert decode("AA:BB:CC:DD:EE:FF", {0x0499: bytearray(RUUVI5)}, {}).formats == ["ruuvi_v5"]
    assert decode("AA:BB:CC:DD:EE:FF", [1, 2], {}).errors  # type: ignore[arg-type]
    assert decode(None, None, None).identity["tag_id"] == "mac:None"  # type: ignore[arg-type]
    assert decode("AA:BB:CC:DD:EE:FF", {}, {}, bindkey=12345).errors  # type: ignore[arg-type]


def test_service_uuid16():
    assert service_uuid16("0000fcd2-0000-1000-8000-00805f9b34fb") == 0xFCD2
    assert service_uuid16("0000FEAA-0000-1000-8000-00805F9B34FB") == 0xFEAA
    assert service_uuid16("fcd2") == service_uuid16("0xFCD2") == service_uuid16(0xFCD2) == 0xFCD2
    assert service_uuid16("6e400001-b5a3-f393-e0a9-e50e24dcca9e") == -1
    assert service_uuid16("zzzz") == -1 and service_uuid16(70000) == -1 and service_uuid16(True) == -1


def test_every_reported_name_is_in_the_vocabulary():
    samples = [
        decode("AA:BB:CC:DD:EE:FF", {0x0499: RUUVI5, 0x004C: IBEACON}, {}),
        decode("AA:BB:CC:DD:EE:FF", {0x0499: bytes.fromhex("03291A1ECE1EFC18F94202CA0B53")}, {}),
        decode(
            "AA:BB:CC:DD:EE:FF",
            {
                0x0499: bytes.fromhex(
                    "E1170C5668C79E0065007004BD11CA00C90A0213E0ACFFFFFFDECDEE10FFFFFFFFFFCBB8334C884F"
                )
            },
            {},
        ),
        decode("AA:BB:CC:DD:EE:FF", {0x0499: bytes.fromhex("06170C5668C79E007000C90501D9FFCD004C884F")}, {}),
        decode("AA:BB:CC:DD:EE:FF", {}, {"feaa": bytes.fromhex("20000bb8178000000064000003e8")}),
        decode("AA:BB:CC:DD:EE:FF", {}, {"feaa": bytes.fromhex("00eeedd1ebeac04e5defa0170102030405ab")}),
        decode(
            "AA:BB:CC:DD:EE:FF",
            {},
            {
                "fcd2": bytes.fromhex(
                    "40"
                    "0009"
                    "0161"
                    "02ca09"
                    "03bf13"
                    "04138a01"
                    "05138a14"
                    "0c020c"
                    "0d120c"
                    "0e021c"
                    "1101"
                    "12e204"
                    "133301"
                    "1501"
                    "2101"
                    "2201"
                    "2301"
                    "2d01"
                    "3a01"
                    "434e34"
                    "4a020c"
                    "4d12138a14"
                )
            },
        ),
    ]
    for d in samples:
        assert d.errors == [] and d.formats
        for name in d.measurements:
            assert name in VOCABULARY, name
        for key in d.identity:
            assert key in IDENTITY_KEYS, key
    for term in VOCABULARY.values():
        assert term.unit and term.description
