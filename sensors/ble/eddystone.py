"""Google Eddystone: service data of UUID 0xFEAA. The first byte is the frame type.

- UID  (0x00): tx power at 0 m (int8), namespace (10 bytes), instance (6 bytes), 2 reserved bytes
  that many beacons leave out.
- URL  (0x10): tx power at 0 m (int8), scheme prefix code, compressed URL (0..17 bytes).
- TLM  (0x20): version 0x00 (plain), battery mV (uint16, 0 = not supported), temperature (signed 8.8
  fixed point, 0x8000 = not supported), advertisement count (uint32), uptime in 0.1 s (uint32).
  Version 0x01 is encrypted TLM, which needs the beacon's identity key: reported as an error.
- EID  (0x30): tx power, 8-byte ephemeral id (rotates: useful only to a resolver, not as a key).
All multi-byte values are big endian. Frame types not listed are ignored.
"""

from __future__ import annotations

import struct

from .base import DecodeError, Result

SERVICE_UUID16 = 0xFEAA

_UID = struct.Struct(">b10s6s")
_TLM = struct.Struct(">HhII")
_EID = struct.Struct(">b8s")

_SCHEMES = ("http://www.", "https://www.", "http://", "https://")
_EXPANSIONS = (
    ".com/",
    ".org/",
    ".edu/",
    ".net/",
    ".info/",
    ".biz/",
    ".gov/",
    ".com",
    ".org",
    ".edu",
    ".net",
    ".info",
    ".biz",
    ".gov",
)
# One lookup per byte: expansion text, the printable ASCII character itself, or None (reserved).
_URL_BYTE: tuple[str | None, ...] = tuple(
    _EXPANSIONS[b] if b < len(_EXPANSIONS) else (chr(b) if 0x21 <= b <= 0x7E else None) for b in range(256)
)

# Eddystone: "measure the output at 1 m and add 41 dBm" -> the 1 m reference is tx - 41.
_LOSS_AT_1M_DB = 41


def _uid(data: bytes) -> Result:
    if len(data) < 18:
        raise DecodeError(f"eddystone_uid: payload is {len(data)} bytes, expected 18 or 20")
    tx, namespace, instance = _UID.unpack_from(data, 1)
    identity = {"eddystone_namespace": namespace.hex(), "eddystone_instance": instance.hex()}
    return "eddystone_uid", identity, {"tx_power_dbm": tx, "rssi_1m_dbm": tx - _LOSS_AT_1M_DB}, None


def _url(data: bytes) -> Result:
    if len(data) < 3:
        raise DecodeError(f"eddystone_url: payload is {len(data)} bytes, expected at least 3")
    if len(data) > 20:
        raise DecodeError(f"eddystone_url: payload is {len(data)} bytes, at most 20 allowed")
    scheme = data[2]
    if scheme >= len(_SCHEMES):
        raise DecodeError(f"eddystone_url: unknown URL scheme code 0x{scheme:02x}")
    parts = [_SCHEMES[scheme]]
    for i in range(3, len(data)):
        piece = _URL_BYTE[data[i]]
        if piece is None:
            raise DecodeError(f"eddystone_url: reserved byte 0x{data[i]:02x} in URL at offset {i}")
        parts.append(piece)
    tx = data[1] - 256 if data[1] > 127 else data[1]
    measurements = {"tx_power_dbm": tx, "rssi_1m_dbm": tx - _LOSS_AT_1M_DB}
    return "eddystone_url", {"eddystone_url": "".join(parts)}, measurements, None


def _tlm(data: bytes) -> Result:
    if len(data) < 2:
        raise DecodeError(f"eddystone_tlm: payload is {len(data)} bytes, expected 14")
    if data[1] != 0x00:
        if data[1] == 0x01:
            raise DecodeError("eddystone_tlm: encrypted TLM (version 0x01) is not supported")
        raise DecodeError(f"eddystone_tlm: unknown TLM version 0x{data[1]:02x}")
    if len(data) < 14:
        raise DecodeError(f"eddystone_tlm: payload is {len(data)} bytes, expected 14")
    mv, temp, adv_cnt, sec_cnt = _TLM.unpack_from(data, 2)
    m: dict[str, float | int] = {"adv_count": adv_cnt, "uptime_s": sec_cnt / 10}
    if mv:
        m["battery_v"] = mv / 1000
    if temp != -0x8000:
        m["temperature_c"] = temp / 256
    return "eddystone_tlm", None, m, None


def _eid(data: bytes) -> Result:
    if len(data) < 10:
        raise DecodeError(f"eddystone_eid: payload is {len(data)} bytes, expected 10")
    tx, eid = _EID.unpack_from(data, 1)
    measurements = {"tx_power_dbm": tx, "rssi_1m_dbm": tx - _LOSS_AT_1M_DB}
    return "eddystone_eid", {"eddystone_eid": eid.hex()}, measurements, None


_FRAMES = {0x00: _uid, 0x10: _url, 0x20: _tlm, 0x30: _eid}


def decode(data: bytes, mac: str, bindkey: bytes | None = None) -> Result | None:
    if not data:
        raise DecodeError("eddystone: empty service data")
    frame = _FRAMES.get(data[0])
    if frame is None:
        return None
    return frame(data)
