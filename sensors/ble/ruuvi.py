"""Ruuvi sensors: manufacturer data of company 0x0499 (Ruuvi Innovations). Byte 0 is the data format.

Implemented from Ruuvi's public specification (docs.ruuvi.com, "Bluetooth advertisements"), tested
with its published test vectors:

- 3 (RAWv1, RuuviTag, 14 bytes): humidity 0.5 %/bit, temperature as sign-magnitude integer part plus
  hundredths, pressure Pa - 50000, acceleration mG, battery mV. The format has no "not available"
  values.
- 5 (RAWv2, RuuviTag, 24 bytes): temperature 0.005 °C, humidity 0.0025 %, pressure Pa - 50000,
  acceleration mG, battery (11 bit, mV above 1600) + tx power (5 bit, 2 dBm steps above -40),
  movement counter, measurement sequence, MAC. "Not available" is the largest unsigned / smallest
  signed value and is left out.
- 6 (Ruuvi Air, Bluetooth 4 compatible, 20 bytes): temperature, humidity, pressure as in 5,
  PM2.5 0.1 µg/m³, CO2 ppm, VOC and NOx indexes (9 bit, lowest bit in the flags byte), logarithmic
  luminosity, 8-bit sequence, flags (bit 0 = calibration in progress), 3 low bytes of the MAC.
- E1 (Ruuvi Air extended, Bluetooth 5, 40 bytes): as 6 plus PM1.0/4.0/10, 24-bit luminosity in
  0.01 lx, 24-bit sequence and the full MAC.
Other data formats (4 = Eddystone URL, 8 = encrypted, C5...) are ignored.
"""

from __future__ import annotations

import math
import struct

from .base import DecodeError, Result, mac_from_bytes

COMPANY_ID = 0x0499

_V3 = struct.Struct(">BBBHhhhH")  # humidity, temp int, temp frac, pressure, ax, ay, az, battery
_V5 = struct.Struct(">hHHhhhHBH6s")  # temp, hum, pres, ax, ay, az, power, movement, seq, mac
_V6 = struct.Struct(">hHHHHBBBxBB3s")  # temp, hum, pres, pm25, co2, voc, nox, lum, seq, flags, mac3
_E1 = struct.Struct(">hHHHHHHHBB3s3x3sB5x6s")  # temp, hum, pres, pm1, pm25, pm4, pm10, co2, voc, nox,
#                                                lum24, seq24, flags, mac

_NO_MAC = b"\xff" * 6
_LUX_DELTA = math.log(65536) / 254  # format 6 logarithmic luminosity


def _magnitude(m: dict, x: int, y: int, z: int) -> None:
    m["acceleration_x_g"] = x / 1000
    m["acceleration_y_g"] = y / 1000
    m["acceleration_z_g"] = z / 1000
    m["acceleration_g"] = round(math.sqrt(x * x + y * y + z * z) / 1000, 3)


def _v3(data: bytes) -> Result:
    if len(data) < 14:
        raise DecodeError(f"ruuvi_v3: payload is {len(data)} bytes, expected 14")
    hum, t_int, t_frac, pres, ax, ay, az, mv = _V3.unpack_from(data, 1)
    if t_frac > 99:
        raise DecodeError(f"ruuvi_v3: temperature fraction {t_frac} is not 0..99")
    t = ((t_int & 0x7F) * 100 + t_frac) / 100
    m: dict[str, float | int] = {
        "temperature_c": -t if t_int & 0x80 else t,
        "humidity_pct": hum / 2,
        "pressure_pa": pres + 50000,
        "battery_v": mv / 1000,
    }
    _magnitude(m, ax, ay, az)
    return "ruuvi_v3", None, m, None


def _v5(data: bytes) -> Result:
    if len(data) < 24:
        raise DecodeError(f"ruuvi_v5: payload is {len(data)} bytes, expected 24")
    t, hum, pres, ax, ay, az, power, movement, seq, mac = _V5.unpack_from(data, 1)
    m: dict[str, float | int] = {}
    if t != -0x8000:
        m["temperature_c"] = t / 200
    if hum != 0xFFFF:
        m["humidity_pct"] = hum / 400
    if pres != 0xFFFF:
        m["pressure_pa"] = pres + 50000
    if ax != -0x8000 and ay != -0x8000 and az != -0x8000:
        _magnitude(m, ax, ay, az)
    mv = power >> 5
    if mv != 0x7FF:
        m["battery_v"] = (mv + 1600) / 1000
    tx = power & 0x1F
    if tx != 0x1F:
        m["tx_power_dbm"] = tx * 2 - 40
    if movement != 0xFF:
        m["movement_counter"] = movement
    if seq != 0xFFFF:
        m["measurement_sequence"] = seq
    identity = None if mac == _NO_MAC else {"payload_mac": mac_from_bytes(mac)}
    return "ruuvi_v5", identity, m, None


def _air_common(
    m: dict, t: int, hum: int, pres: int, pm25: int, co2: int, voc: int, nox: int, flags: int
) -> None:
    if t != -0x8000:
        m["temperature_c"] = t / 200
    if hum != 0xFFFF:
        m["humidity_pct"] = hum / 400
    if pres != 0xFFFF:
        m["pressure_pa"] = pres + 50000
    if pm25 != 0xFFFF:
        m["pm25_ugm3"] = pm25 / 10
    if co2 != 0xFFFF:
        m["co2_ppm"] = co2
    voc = (voc << 1) | ((flags >> 6) & 1)
    if voc != 0x1FF:
        m["voc_index"] = voc
    nox = (nox << 1) | ((flags >> 7) & 1)
    if nox != 0x1FF:
        m["nox_index"] = nox
    m["calibration_in_progress"] = flags & 1


def _v6(data: bytes) -> Result:
    if len(data) < 20:
        raise DecodeError(f"ruuvi_v6: payload is {len(data)} bytes, expected 20")
    t, hum, pres, pm25, co2, voc, nox, lum, seq, flags, _mac3 = _V6.unpack_from(data, 1)
    m: dict[str, float | int] = {}
    _air_common(m, t, hum, pres, pm25, co2, voc, nox, flags)
    if lum != 0xFF:
        m["illuminance_lx"] = round(math.exp(lum * _LUX_DELTA) - 1, 2)
    m["measurement_sequence"] = seq
    return "ruuvi_v6", None, m, None


def _e1(data: bytes) -> Result:
    if len(data) < 40:
        raise DecodeError(f"ruuvi_e1: payload is {len(data)} bytes, expected 40")
    (t, hum, pres, pm1, pm25, pm4, pm10, co2, voc, nox, lum, seq, flags, mac) = _E1.unpack_from(data, 1)
    m: dict[str, float | int] = {}
    _air_common(m, t, hum, pres, pm25, co2, voc, nox, flags)
    if pm1 != 0xFFFF:
        m["pm1_ugm3"] = pm1 / 10
    if pm4 != 0xFFFF:
        m["pm4_ugm3"] = pm4 / 10
    if pm10 != 0xFFFF:
        m["pm10_ugm3"] = pm10 / 10
    lum = int.from_bytes(lum, "big")
    if lum != 0xFFFFFF:
        m["illuminance_lx"] = lum / 100
    seq = int.from_bytes(seq, "big")
    if seq != 0xFFFFFF:
        m["measurement_sequence"] = seq
    identity = None if mac == _NO_MAC else {"payload_mac": mac_from_bytes(mac)}
    return "ruuvi_e1", identity, m, None


_FORMATS = {0x03: _v3, 0x05: _v5, 0x06: _v6, 0xE1: _e1}


def decode(data: bytes, mac: str, bindkey: bytes | None = None) -> Result | None:
    if not data:
        raise DecodeError("ruuvi: empty manufacturer data")
    fmt = _FORMATS.get(data[0])
    if fmt is None:
        return None
    return fmt(data)
