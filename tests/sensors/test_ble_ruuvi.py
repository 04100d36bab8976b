"""Ruuvi data formats 3, 5, 6 and E1 against the test vectors of Ruuvi's published specification."""

import pytest

from sensors.ble import decode

MAC = "CB:B8:33:4C:88:4F"


def ruuvi(hexdata: str):
    return decode(MAC, {0x0499: bytes.fromhex(hexdata)}, {})


def check(d, fmt, expected):
    assert d.errors == []
    assert d.formats == [fmt]
    assert set(d.measurements) == set(expected), set(d.measurements) ^ set(expected)
    for k, v in expected.items():
        assert d.measurements[k] == pytest.approx(v, abs=1e-9), k


# ---- data format 5 (RAWv2)


def test_v5_valid():
    d = ruuvi("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F")
    check(
        d,
        "ruuvi_v5",
        {
            "temperature_c": 24.3,
            "pressure_pa": 100044,
            "humidity_pct": 53.49,
            "acceleration_x_g": 0.004,
            "acceleration_y_g": -0.004,
            "acceleration_z_g": 1.036,
            "acceleration_g": 1.036,
            "tx_power_dbm": 4,
            "battery_v": 2.977,
            "movement_counter": 66,
            "measurement_sequence": 205,
        },
    )
    assert d.identity["payload_mac"] == "CB:B8:33:4C:88:4F"
    assert d.identity["tag_id"] == "mac:CB:B8:33:4C:88:4F"
    assert d.measurements["temperature_c"] == 24.3  # exact, not 24.300000000000001


def test_v5_maximum():
    d = ruuvi("057FFFFFFEFFFE7FFF7FFF7FFFFFDEFEFFFECBB8334C884F")
    check(
        d,
        "ruuvi_v5",
        {
            "temperature_c": 163.835,
            "pressure_pa": 115534,
            "humidity_pct": 163.835,
            "acceleration_x_g": 32.767,
            "acceleration_y_g": 32.767,
            "acceleration_z_g": 32.767,
            "acceleration_g": 56.754,
            "tx_power_dbm": 20,
            "battery_v": 3.646,
            "movement_counter": 254,
            "measurement_sequence": 65534,
        },
    )


def test_v5_minimum():
    d = ruuvi("058001000000008001800180010000000000CBB8334C884F")
    check(
        d,
        "ruuvi_v5",
        {
            "temperature_c": -163.835,
            "pressure_pa": 50000,
            "humidity_pct": 0.0,
            "acceleration_x_g": -32.767,
            "acceleration_y_g": -32.767,
            "acceleration_z_g": -32.767,
            "acceleration_g": 56.754,
            "tx_power_dbm": -40,
            "battery_v": 1.6,
            "movement_counter": 0,
            "measurement_sequence": 0,
        },
    )


def test_v5_invalid_values_are_omitted_not_reported():
    d = ruuvi("058000FFFFFFFF800080008000FFFFFFFFFFFFFFFFFFFFFF")
    check(d, "ruuvi_v5", {})
    assert "payload_mac" not in d.identity


def test_v5_truncated_is_an_error_not_an_exception():
    d = ruuvi("0512FC5394C37C0004FFFC04")
    assert d.formats == [] and d.measurements == {}
    assert d.errors == ["ruuvi_v5: payload is 12 bytes, expected 24"]


# ---- data format 3 (RAWv1)


def test_v3_valid():
    check(
        ruuvi("03291A1ECE1EFC18F94202CA0B53"),
        "ruuvi_v3",
        {
            "temperature_c": 26.3,
            "pressure_pa": 102766,
            "humidity_pct": 20.5,
            "acceleration_x_g": -1.0,
            "acceleration_y_g": -1.726,
            "acceleration_z_g": 0.714,
            "acceleration_g": 2.119,
            "battery_v": 2.899,
        },
    )


def test_v3_maximum():
    check(
        ruuvi("03FF7F63FFFF7FFF7FFF7FFFFFFF"),
        "ruuvi_v3",
        {
            "temperature_c": 127.99,
            "pressure_pa": 115535,
            "humidity_pct": 127.5,
            "acceleration_x_g": 32.767,
            "acceleration_y_g": 32.767,
            "acceleration_z_g": 32.767,
            "acceleration_g": 56.754,
            "battery_v": 65.535,
        },
    )


def test_v3_minimum():
    check(
        ruuvi("0300FF6300008001800180010000"),
        "ruuvi_v3",
        {
            "temperature_c": -127.99,
            "pressure_pa": 50000,
            "humidity_pct": 0.0,
            "acceleration_x_g": -32.767,
            "acceleration_y_g": -32.767,
            "acceleration_z_g": -32.767,
            "acceleration_g": 56.754,
            "battery_v": 0.0,
        },
    )


def test_v3_spec_temperature_examples():
    # 0x8145 = -1.69 C, 0x0145 = +1.69 C
    assert ruuvi("03008145C37C000000000000OBB8".replace("O", "0")).measurements["temperature_c"] == -1.69
    assert ruuvi("030001450000000000000000 0BB8".replace(" ", "")).measurements["temperature_c"] == 1.69


def test_v3_truncated_and_bad_fraction():
    assert ruuvi("03291A1E").errors == ["ruuvi_v3: payload is 4 bytes, expected 14"]
    assert "fraction" in ruuvi("03291A64CE1EFC18F94202CA0B53").errors[0]


# ---- data format 6 (Ruuvi Air, Bluetooth 4); XX (reserved) filled with FF


def test_v6_valid():
    d = ruuvi("06170C5668C79E007000C90501D9FFCD004C884F")
    check(
        d,
        "ruuvi_v6",
        {
            "temperature_c": 29.5,
            "pressure_pa": 101102,
            "humidity_pct": 55.3,
            "pm25_ugm3": 11.2,
            "co2_ppm": 201,
            "voc_index": 10,
            "nox_index": 2,
            "illuminance_lx": 13026.67,
            "measurement_sequence": 205,
            "calibration_in_progress": 0,
        },
    )


def test_v6_maximum():
    check(
        ruuvi("067FFF9C40FFFE27109C40FAFAFEFFFF074C8F4F"),
        "ruuvi_v6",
        {
            "temperature_c": 163.835,
            "pressure_pa": 115534,
            "humidity_pct": 100.0,
            "pm25_ugm3": 1000.0,
            "co2_ppm": 40000,
            "voc_index": 500,
            "nox_index": 500,
            "illuminance_lx": 65535.0,
            "measurement_sequence": 255,
            "calibration_in_progress": 1,
        },
    )


def test_v6_minimum():
    check(
        ruuvi("0680010000000000000000000000FF00004C884F"),
        "ruuvi_v6",
        {
            "temperature_c": -163.835,
            "pressure_pa": 50000,
            "humidity_pct": 0.0,
            "pm25_ugm3": 0.0,
            "co2_ppm": 0,
            "voc_index": 0,
            "nox_index": 0,
            "illuminance_lx": 0.0,
            "measurement_sequence": 0,
            "calibration_in_progress": 0,
        },
    )


def test_v6_invalid_values():
    check(
        ruuvi("068000FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"),
        "ruuvi_v6",
        {"measurement_sequence": 255, "calibration_in_progress": 1},
    )


def test_v6_luminosity_examples():
    # The spec's example table pairs 244.06 lx with code 0x80, but its own formula (and the valid-data
    # vector, 0xD9 -> 13026.67 lx) gives 244.06 lx for 0x7E and 266.43 lx for 0x80.
    for code, lux in ((0x00, 0), (0x01, 0.04), (0x10, 1.01), (0x7E, 244.06), (0x80, 266.43), (0xFE, 65535.0)):
        raw = f"06170C5668C79E007000C90501{code:02X}FFCD004C884F"
        assert ruuvi(raw).measurements["illuminance_lx"] == pytest.approx(lux, abs=0.005)


# ---- data format E1 (Ruuvi Air, Bluetooth 5 extended); XX (reserved) filled with FF


def test_e1_valid():
    d = ruuvi("E1170C5668C79E0065007004BD11CA00C90A0213E0ACFFFFFFDECDEE10FFFFFFFFFFCBB8334C884F")
    # The spec's table says "calibration in progress: True" for this vector, but its flags byte is 0x10
    # (bit 0 clear); we follow the bits, as the maximum-values vector (0x3F -> True) does.
    check(
        d,
        "ruuvi_e1",
        {
            "temperature_c": 29.5,
            "pressure_pa": 101102,
            "humidity_pct": 55.3,
            "pm1_ugm3": 10.1,
            "pm25_ugm3": 11.2,
            "pm4_ugm3": 121.3,
            "pm10_ugm3": 455.4,
            "co2_ppm": 201,
            "voc_index": 20,
            "nox_index": 4,
            "illuminance_lx": 13027.0,
            "measurement_sequence": 14601710,
            "calibration_in_progress": 0,
        },
    )
    assert d.identity["payload_mac"] == "CB:B8:33:4C:88:4F"


def test_e1_maximum():
    check(
        ruuvi("E17FFF9C40FFFE27102710271027109C40FAFADC28F0FFFFFFFFFFFE3FFFFFFFFFFFCBB8334C884F"),
        "ruuvi_e1",
        {
            "temperature_c": 163.835,
            "pressure_pa": 115534,
            "humidity_pct": 100.0,
            "pm1_ugm3": 1000.0,
            "pm25_ugm3": 1000.0,
            "pm4_ugm3": 1000.0,
            "pm10_ugm3": 1000.0,
            "co2_ppm": 40000,
            "voc_index": 500,
            "nox_index": 500,
            "illuminance_lx": 144284.0,
            "measurement_sequence": 16777214,
            "calibration_in_progress": 1,
        },
    )


def test_e1_minimum():
    check(
        ruuvi("E1800100000000000000000000000000000000000000FFFFFF00000000FFFFFFFFFFCBB8334C884F"),
        "ruuvi_e1",
        {
            "temperature_c": -163.835,
            "pressure_pa": 50000,
            "humidity_pct": 0.0,
            "pm1_ugm3": 0.0,
            "pm25_ugm3": 0.0,
            "pm4_ugm3": 0.0,
            "pm10_ugm3": 0.0,
            "co2_ppm": 0,
            "voc_index": 0,
            "nox_index": 0,
            "illuminance_lx": 0.0,
            "measurement_sequence": 0,
            "calibration_in_progress": 0,
        },
    )


def test_e1_invalid_values():
    d = ruuvi("E1" + "8000" + "FF" * 37)
    check(d, "ruuvi_e1", {"calibration_in_progress": 1})
    assert "payload_mac" not in d.identity


def test_e1_truncated():
    assert ruuvi("E1170C").errors == ["ruuvi_e1: payload is 3 bytes, expected 40"]


def test_unknown_ruuvi_formats_are_ignored_without_error():
    for fmt in ("04", "08", "C5", "FF"):
        d = ruuvi(fmt + "00" * 23)
        assert d.formats == [] and d.errors == [] and d.measurements == {}
