"""Advertisement encoders: the inverse of the decoders in ``sensors/ble/``.

Each function returns what bleak would hand a gateway: manufacturer data (company id -> bytes after it)
or service data (128-bit UUID string -> bytes after it). The layouts follow the same specifications the
decoders implement, and the tests decode every encoder's output back through
``sensors.ble.registry.decode``.
"""

from __future__ import annotations

import struct
import uuid as _uuid

from cryptography.hazmat.primitives.ciphers.aead import AESCCM

APPLE = 0x004C
RUUVI = 0x0499
BTHOME_UUID = "0000fcd2-0000-1000-8000-00805f9b34fb"

_IBEACON = struct.Struct(">BB16sHHb")
_RUUVI_V5 = struct.Struct(">BhHHhhhHBH6s")


def ibeacon(uuid: str, major: int, minor: int, measured_power: int) -> dict[int, bytes]:
    """Apple iBeacon: 0x02 0x15, proximity UUID, major, minor (big endian), measured power at 1 m."""
    return {APPLE: _IBEACON.pack(0x02, 0x15, _uuid.UUID(uuid).bytes, major, minor, measured_power)}


def _clip(v: int, lo: int, hi: int) -> int:
    return lo if v < lo else hi if v > hi else v


def ruuvi_v5(
    mac: str,
    *,
    temperature_c: float | None,
    humidity_pct: float | None,
    pressure_pa: float | None,
    acceleration_mg: tuple[int, int, int] | None = (0, 0, 1000),
    battery_v: float | None = 3.0,
    tx_power_dbm: int | None = 4,
    movement_counter: int | None = 0,
    measurement_sequence: int | None = 0,
) -> dict[int, bytes]:
    """RuuviTag data format 5 (RAWv2, 24 bytes). ``None`` encodes the format's "not available" value."""
    t = -0x8000 if temperature_c is None else _clip(round(temperature_c / 0.005), -32767, 32767)
    h = 0xFFFF if humidity_pct is None else _clip(round(humidity_pct / 0.0025), 0, 40000)
    p = 0xFFFF if pressure_pa is None else _clip(round(pressure_pa) - 50000, 0, 0xFFFE)
    ax, ay, az = (
        (-0x8000,) * 3 if acceleration_mg is None else (_clip(int(a), -32767, 32767) for a in acceleration_mg)
    )
    mv = 0x7FF if battery_v is None else _clip(round(battery_v * 1000) - 1600, 0, 0x7FE)
    tx = 0x1F if tx_power_dbm is None else _clip((tx_power_dbm + 40) // 2, 0, 0x1E)
    mc = 0xFF if movement_counter is None else movement_counter & 0xFF
    seq = 0xFFFF if measurement_sequence is None else measurement_sequence % 0xFFFF
    macb = bytes.fromhex(mac.replace(":", ""))
    return {RUUVI: _RUUVI_V5.pack(0x05, t, h, p, ax, ay, az, (mv << 5) | tx, mc, seq, macb)}


# BTHome v2 objects the simulator sends: name -> (object id, struct format, factor). Objects go out in
# ascending id order, as the BTHome specification asks.
BTHOME_OBJECTS: dict[str, tuple[int, str, float]] = {
    "packet_id": (0x00, "<B", 1),
    "battery_pct": (0x01, "<B", 1),
    "temperature_c": (0x02, "<h", 100),
    "humidity_pct": (0x03, "<H", 100),
    "pm25_ugm3": (0x0D, "<H", 1),
    "co2_ppm": (0x12, "<H", 1),
    "door_open": (0x1A, "<B", 1),
    # BTHome has no differential-pressure object: a signed 16-bit "count" in 0.01 Pa, which the server
    # maps with the sensor's measurement_map {"count": {"quantity": "differential_pressure_pa", "scale": 0.01}}
    "differential_pressure_pa": (0x5A, "<h", 100),
}
_LIMITS = {"<B": (0, 255), "<h": (-32768, 32767), "<H": (0, 65535)}


def bthome_quantize(name: str, value: float) -> float:
    """The value a decoder will see after encoding ``value`` as object ``name`` (for tests/truth)."""
    _, fmt, factor = BTHOME_OBJECTS[name]
    lo, hi = _LIMITS[fmt]
    return _clip(round(value * factor), lo, hi) / factor


def bthome_objects(values: dict[str, float]) -> bytes:
    out = bytearray()
    for name, (oid, fmt, factor) in sorted(
        ((n, BTHOME_OBJECTS[n]) for n in values if n in BTHOME_OBJECTS), key=lambda kv: kv[1][0]
    ):
        lo, hi = _LIMITS[fmt]
        out.append(oid)
        out += struct.pack(fmt, _clip(round(values[name] * factor), lo, hi))
    return bytes(out)


_CIPHERS: dict[bytes, AESCCM] = {}


def bthome_v2(
    mac: str,
    values: dict[str, float],
    *,
    bindkey: bytes | str | None = None,
    counter: int = 0,
    trigger: bool = False,
) -> dict[str, bytes]:
    """BTHome v2 service data (UUID 0xFCD2). With ``bindkey`` the objects are AES-CCM encrypted:
    nonce = MAC + UUID (d2 fc) + device info byte + counter (uint32 LE); payload = ciphertext, counter,
    4-byte MIC. ``counter`` must grow with every new measurement (the receiver uses it against replays).
    ``trigger``: sets the "trigger based" bit (an event such as a door opening, not a timed report)."""
    info = 0x40 | (0x04 if trigger else 0)
    objects = bthome_objects(values)
    if bindkey:
        key = bytes.fromhex(bindkey) if isinstance(bindkey, str) else bindkey
        info |= 0x01
        cipher = _CIPHERS.get(key)
        if cipher is None:
            cipher = _CIPHERS[key] = AESCCM(key, tag_length=4)
        ctr = struct.pack("<I", counter & 0xFFFFFFFF)
        nonce = bytes.fromhex(mac.replace(":", "")) + b"\xd2\xfc" + bytes([info]) + ctr
        sealed = cipher.encrypt(nonce, objects, None)
        return {BTHOME_UUID: bytes([info]) + sealed[:-4] + ctr + sealed[-4:]}
    return {BTHOME_UUID: bytes([info]) + objects}
