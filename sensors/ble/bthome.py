"""BTHome v2: service data of UUID 0xFCD2, plain or AES-CCM encrypted (bthome.io, "BTHome format"
and "Encryption").

Layout: one device-information byte (bit 0 encrypted, bit 1 MAC included, bit 2 trigger based,
bits 5-7 version = 2), then the 6-byte MAC reversed if bit 1 is set, then the objects. Each object is
an object id followed by a fixed number of little-endian bytes (text 0x53 and raw 0x54 carry a length
byte). An object id we do not know has an unknown length, so decoding stops there with an error and
keeps what came before it.

Encrypted payloads: objects ciphertext, then counter (uint32 LE), then a 4-byte MIC. AES-CCM with the
device's 16-byte bind key; nonce = MAC (6, display order) + UUID (d2 fc) + device info byte + counter.
A device with a bind key that suddenly sends plain data is not trusted (possible spoofing).
"""

from __future__ import annotations

import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from .base import DecodeError, Result, mac_from_bytes

SERVICE_UUID16 = 0xFCD2
FORMAT = "bthome_v2"
_UUID_LE = b"\xd2\xfc"

_U8, _S8 = struct.Struct("<B").unpack_from, struct.Struct("<b").unpack_from
_U16, _S16 = struct.Struct("<H").unpack_from, struct.Struct("<h").unpack_from
_U32, _S32 = struct.Struct("<I").unpack_from, struct.Struct("<i").unpack_from


def _u24(data: bytes, i: int) -> tuple[int]:
    return (data[i] | data[i + 1] << 8 | data[i + 2] << 16,)


def _s24(data: bytes, i: int) -> tuple[int]:
    v = data[i] | data[i + 1] << 8 | data[i + 2] << 16
    return (v - 0x1000000 if v & 0x800000 else v,)


_READERS = {
    (1, False): _U8,
    (1, True): _S8,
    (2, False): _U16,
    (2, True): _S16,
    (3, False): _u24,
    (3, True): _s24,
    (4, False): _U32,
    (4, True): _S32,
}

# object id -> (canonical name or None to skip, length, signed, divisor, multiplier).
# value = raw / divisor (exact for decimal factors) or raw * multiplier when the factor is not 1/n.
_SPEC: dict[int, tuple[str | None, int, bool, int, float]] = {
    0x00: ("packet_id", 1, False, 1, 1),
    0x01: ("battery_pct", 1, False, 1, 1),
    0x02: ("temperature_c", 2, True, 100, 1),
    0x03: ("humidity_pct", 2, False, 100, 1),
    0x04: ("pressure_pa", 3, False, 1, 1),  # 0.01 hPa = 1 Pa
    0x05: ("illuminance_lx", 3, False, 100, 1),
    0x06: (None, 2, False, 1, 1),  # mass kg
    0x07: (None, 2, False, 1, 1),  # mass lb
    0x08: ("dewpoint_c", 2, True, 100, 1),
    0x09: ("count", 1, False, 1, 1),
    0x0A: ("energy_kwh", 3, False, 1000, 1),
    0x0B: ("power_w", 3, False, 100, 1),
    0x0C: ("battery_v", 2, False, 1000, 1),  # "voltage", 0.001 V: battery voltage in practice
    0x0D: ("pm25_ugm3", 2, False, 1, 1),
    0x0E: ("pm10_ugm3", 2, False, 1, 1),
    0x0F: (None, 1, False, 1, 1),  # generic boolean
    0x10: (None, 1, False, 1, 1),  # power on/off
    0x11: ("door_open", 1, False, 1, 1),  # opening
    0x12: ("co2_ppm", 2, False, 1, 1),
    0x13: ("tvoc_ugm3", 2, False, 1, 1),
    0x14: ("moisture_pct", 2, False, 100, 1),
    0x15: ("battery_low", 1, False, 1, 1),
    0x16: (None, 1, False, 1, 1),  # battery charging
    0x17: (None, 1, False, 1, 1),  # carbon monoxide detected
    0x18: (None, 1, False, 1, 1),  # cold
    0x19: (None, 1, False, 1, 1),  # connectivity
    0x1A: ("door_open", 1, False, 1, 1),
    0x1B: (None, 1, False, 1, 1),  # garage door
    0x1C: (None, 1, False, 1, 1),  # gas
    0x1D: (None, 1, False, 1, 1),  # heat
    0x1E: (None, 1, False, 1, 1),  # light
    0x1F: (None, 1, False, 1, 1),  # lock
    0x20: (None, 1, False, 1, 1),  # moisture (wet)
    0x21: ("motion", 1, False, 1, 1),
    0x22: ("moving", 1, False, 1, 1),
    0x23: ("occupancy", 1, False, 1, 1),
    0x24: (None, 1, False, 1, 1),  # plug
    0x25: (None, 1, False, 1, 1),  # presence
    0x26: (None, 1, False, 1, 1),  # problem
    0x27: (None, 1, False, 1, 1),  # running
    0x28: (None, 1, False, 1, 1),  # safety
    0x29: (None, 1, False, 1, 1),  # smoke
    0x2A: (None, 1, False, 1, 1),  # sound
    0x2B: (None, 1, False, 1, 1),  # tamper
    0x2C: (None, 1, False, 1, 1),  # vibration
    0x2D: ("window_open", 1, False, 1, 1),
    0x2E: ("humidity_pct", 1, False, 1, 1),
    0x2F: ("moisture_pct", 1, False, 1, 1),
    0x3A: ("button_event", 1, False, 1, 1),
    0x3C: (None, 2, False, 1, 1),  # dimmer event
    0x3D: ("count", 2, False, 1, 1),
    0x3E: ("count", 4, False, 1, 1),
    0x3F: (None, 2, True, 10, 1),  # rotation
    0x40: (None, 2, False, 1, 1),  # distance mm
    0x41: (None, 2, False, 10, 1),  # distance m
    0x42: (None, 3, False, 1000, 1),  # duration s
    0x43: ("current_a", 2, False, 1000, 1),
    0x44: (None, 2, False, 100, 1),  # speed
    0x45: ("temperature_c", 2, True, 10, 1),
    0x46: ("uv_index", 1, False, 10, 1),
    0x47: (None, 2, False, 10, 1),  # volume l
    0x48: (None, 2, False, 1, 1),  # volume ml
    0x49: (None, 2, False, 1000, 1),  # volume flow rate
    0x4A: ("voltage_v", 2, False, 10, 1),
    0x4B: (None, 3, False, 1000, 1),  # gas m3
    0x4C: (None, 4, False, 1000, 1),  # gas m3
    0x4D: ("energy_kwh", 4, False, 1000, 1),
    0x4E: (None, 4, False, 1000, 1),  # volume l
    0x4F: (None, 4, False, 1000, 1),  # water l
    0x50: (None, 4, False, 1, 1),  # timestamp
    0x51: (None, 2, False, 1000, 1),  # acceleration m/s2
    0x52: (None, 2, False, 1000, 1),  # gyroscope
    0x55: (None, 4, False, 1000, 1),  # volume storage
    0x56: (None, 2, False, 1, 1),  # conductivity
    0x57: ("temperature_c", 1, True, 1, 1),
    0x58: ("temperature_c", 1, True, 1, 0.35),
    0x59: ("count", 1, True, 1, 1),
    0x5A: ("count", 2, True, 1, 1),
    0x5B: ("count", 4, True, 1, 1),
    0x5C: ("power_w", 4, True, 100, 1),
    0x5D: ("current_a", 2, True, 1000, 1),
    0x5E: (None, 2, False, 100, 1),  # direction
    0x5F: (None, 2, False, 10, 1),  # precipitation
    0x60: (None, 1, False, 1, 1),  # channel
    0x61: (None, 2, False, 1, 1),  # rotational speed
    0x62: (None, 4, True, 1000000, 1),  # speed
    0x63: (None, 4, True, 1000000, 1),  # acceleration
    0x64: (None, 1, False, 1, 1),  # light level
    0xF0: (None, 2, False, 1, 1),  # device type id
    0xF1: (None, 4, False, 1, 1),  # firmware version (4 bytes)
    0xF2: (None, 3, False, 1, 1),  # firmware version (3 bytes)
}
_VARIABLE = frozenset((0x53, 0x54))  # text, raw: length byte + bytes

# Compiled table: object id -> (name, length, reader, divisor, multiplier).
_TABLE = {
    oid: (name, n, _READERS[(n, signed)], div, mul) for oid, (name, n, signed, div, mul) in _SPEC.items()
}

_CIPHERS: dict[bytes, AESCCM] = {}
_MAX_CIPHERS = 4096


def _cipher(key: bytes) -> AESCCM:
    c = _CIPHERS.get(key)
    if c is None:
        if len(_CIPHERS) >= _MAX_CIPHERS:
            _CIPHERS.clear()
        c = _CIPHERS[key] = AESCCM(key, tag_length=4)
    return c


def parse_objects(payload: bytes, m: dict[str, float | int]) -> str | None:
    """Decode BTHome objects into ``m``. Returns an error message if decoding had to stop early."""
    i, n = 0, len(payload)
    while i < n:
        oid = payload[i]
        spec = _TABLE.get(oid)
        if spec is None:
            if oid in _VARIABLE:
                if i + 1 >= n:
                    return f"bthome_v2: object 0x{oid:02x} at offset {i} is missing its length byte"
                i += 2 + payload[i + 1]
                if i > n:
                    return f"bthome_v2: object 0x{oid:02x} is truncated"
                continue
            return f"bthome_v2: unknown object id 0x{oid:02x} at offset {i} (rest of payload skipped)"
        name, length, reader, div, mul = spec
        if i + 1 + length > n:
            return f"bthome_v2: object 0x{oid:02x} at offset {i} needs {length} bytes, {n - i - 1} left"
        if name is not None:
            raw = reader(payload, i + 1)[0]
            value = raw / div if div != 1 else (round(raw * mul, 2) if mul != 1 else raw)
            if name in m:
                k = 2
                while f"{name}_{k}" in m:
                    k += 1
                name = f"{name}_{k}"
            m[name] = value
        i += 1 + length
    return None


def _nonce_mac(mac: str) -> bytes:
    if len(mac) == 17:
        try:
            b = bytes.fromhex(mac.replace(":", ""))
        except ValueError:
            b = b""
        if len(b) == 6:
            return b
    raise DecodeError(f"bthome_v2: cannot build the decryption nonce: address {mac!r} is not a MAC")


def decode(data: bytes, mac: str, bindkey: bytes | None = None) -> Result | None:
    if not data:
        raise DecodeError("bthome_v2: empty service data")
    info = data[0]
    version = info >> 5
    if version != 2:
        raise DecodeError(
            f"bthome_v2: device info byte 0x{info:02x} says BTHome version {version}, expected 2"
        )
    identity = None
    pos = 1
    if info & 0x02:
        if len(data) < 7:
            raise DecodeError(f"bthome_v2: MAC flag set but payload is only {len(data)} bytes")
        payload_mac = data[6:0:-1]
        identity = {"payload_mac": mac_from_bytes(payload_mac)}
        pos = 7
    else:
        payload_mac = None
    m: dict[str, float | int] = {}
    if info & 0x01:
        if bindkey is None:
            raise DecodeError(f"bthome_v2: encrypted payload but no bind key for {mac}")
        if len(bindkey) != 16:
            raise DecodeError(f"bthome_v2: bind key for {mac} is {len(bindkey)} bytes, expected 16")
        body = data[pos:]
        if len(body) < 8:
            raise DecodeError(
                f"bthome_v2: encrypted payload is {len(body)} bytes, need at least 8 (counter + MIC)"
            )
        counter = body[-8:-4]
        nonce = (payload_mac or _nonce_mac(mac)) + _UUID_LE + data[0:1] + counter
        try:
            payload = _cipher(bindkey).decrypt(nonce, body[:-8] + body[-4:], None)
        except InvalidTag:
            raise DecodeError("bthome_v2: MIC check failed (wrong bind key?)") from None
        m["encryption_counter"] = int.from_bytes(counter, "little")
    else:
        if bindkey is not None:
            raise DecodeError(
                f"bthome_v2: unencrypted payload from {mac}, which has a bind key "
                "(ignored: possible spoofing)"
            )
        payload = data[pos:]
    err = parse_objects(payload, m)
    if err is not None and not m:
        raise DecodeError(err)
    return FORMAT, identity, m, err
