"""Apple iBeacon: manufacturer data of company 0x004C whose first two bytes are 0x02 0x15.

Layout after the company id (big endian): type 0x02, length 0x15 (21), proximity UUID (16),
major (2), minor (2), measured power (int8: RSSI at 1 m). Apple uses the same company id for many
other advertisement types (Find My, Nearby, AirPods...); those are not iBeacons and are ignored.
"""

from __future__ import annotations

import struct

from .base import DecodeError, Result

COMPANY_ID = 0x004C
FORMAT = "ibeacon"

_BODY = struct.Struct(">16sHHb")  # uuid, major, minor, measured power
_LENGTH = 2 + _BODY.size  # 23


def _uuid_str(b: bytes) -> str:
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def decode(data: bytes, mac: str, bindkey: bytes | None = None) -> Result | None:
    if len(data) < 2 or data[0] != 0x02 or data[1] != 0x15:
        return None  # some other Apple advertisement
    if len(data) < _LENGTH:
        raise DecodeError(f"ibeacon: payload is {len(data)} bytes, expected {_LENGTH}")
    uuid, major, minor, power = _BODY.unpack_from(data, 2)
    identity = {"ibeacon_uuid": _uuid_str(uuid), "ibeacon_major": major, "ibeacon_minor": minor}
    return FORMAT, identity, {"rssi_1m_dbm": power}, None
