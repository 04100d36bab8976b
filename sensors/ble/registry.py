"""The one entry point for BLE advertisement decoding: :func:`decode`, and the format registry.

Input shapes are exactly what bleak's ``AdvertisementData`` gives: ``manufacturer_data`` maps the
company id to the bytes after it, ``service_data`` maps the full 128-bit UUID string
("0000fcd2-0000-1000-8000-00805f9b34fb") to the bytes after it; 16-bit short forms ("fcd2",
"0xFCD2") and integers are accepted too. Each format lives in its own module and registers here by
company id or 16-bit service UUID; adding a format is one module plus one line below.

``decode()`` never raises: an invalid advertisement of a known format yields an error string in
``Decoded.errors`` naming the format; an unknown format is simply not decoded.

The hot path is kept lean on purpose (ingest decodes ~100,000 advertisements/s per process): dict
dispatch, precompiled ``struct.Struct`` in the format modules, no regular expressions, no logging.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from . import bthome, eddystone, ibeacon, ruuvi
from .base import DecodeError, Result

__all__ = [
    "Decoded",
    "DecodeError",
    "decode",
    "tag_id_for",
    "MANUFACTURER_DECODERS",
    "SERVICE_DECODERS",
    "service_uuid16",
]

Decoder = Callable[[bytes, str, "bytes | None"], "Result | None"]

#: company id -> (name used in error messages, decoder)
MANUFACTURER_DECODERS: dict[int, tuple[str, Decoder]] = {
    ibeacon.COMPANY_ID: ("ibeacon", ibeacon.decode),
    ruuvi.COMPANY_ID: ("ruuvi", ruuvi.decode),
}
#: 16-bit service UUID -> (name used in error messages, decoder)
SERVICE_DECODERS: dict[int, tuple[str, Decoder]] = {
    eddystone.SERVICE_UUID16: ("eddystone", eddystone.decode),
    bthome.SERVICE_UUID16: ("bthome_v2", bthome.decode),
}

_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"


@dataclass(slots=True)
class Decoded:
    """Everything one advertisement told us.

    ``formats``: the formats decoded, in order ("ibeacon", "ruuvi_v5", "bthome_v2"...).
    ``identity``: always ``mac`` and ``tag_id``; plus format identifiers (see vocabulary.IDENTITY_KEYS).
    ``measurements``: canonical names from vocabulary.VOCABULARY -> numbers.
    ``errors``: one message per advertisement part that claimed a known format but was invalid.
    """

    address: str
    formats: list[str] = field(default_factory=list)
    identity: dict[str, object] = field(default_factory=dict)
    measurements: dict[str, float | int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def tag_id(self) -> str:
        return self.identity["tag_id"]  # type: ignore[return-value]

    def as_dict(self) -> dict[str, object]:
        return {
            "address": self.address,
            "formats": self.formats,
            "identity": self.identity,
            "measurements": self.measurements,
            "errors": self.errors,
        }


def tag_id_for(identity: Mapping[str, object]) -> str:
    """The canonical key of a tag, the one the locator stores sightings under.

    ``ibeacon:<uuid lower case>:<major>:<minor>`` if the advertisement is an iBeacon, else
    ``eddystone:<namespace hex>:<instance hex>`` for Eddystone-UID, else ``mac:<AA:BB:CC:DD:EE:FF>``.
    """
    uuid = identity.get("ibeacon_uuid")
    if uuid is not None:
        return f"ibeacon:{str(uuid).lower()}:{identity.get('ibeacon_major')}:{identity.get('ibeacon_minor')}"
    ns = identity.get("eddystone_namespace")
    if ns is not None:
        return f"eddystone:{str(ns).lower()}:{str(identity.get('eddystone_instance')).lower()}"
    return f"mac:{identity.get('mac')}"


# Service UUID key -> 16-bit value (or -1 when not a Bluetooth-SIG 16-bit UUID). Bounded cache: real
# traffic uses a handful of distinct keys, but a hostile gateway could send many.
_UUID_CACHE: dict[object, int] = {}
_UUID_CACHE_MAX = 4096


def service_uuid16(key: object) -> int:
    """16-bit value of a service-data key (full SIG-base UUID, "fcd2", "0xFCD2" or int); -1 if none."""
    v = _UUID_CACHE.get(key)
    if v is not None:
        return v
    v = -1
    if isinstance(key, int) and not isinstance(key, bool):
        v = key if 0 <= key <= 0xFFFF else -1
    elif isinstance(key, str):
        s = key.strip().lower()
        if s.startswith("0x"):
            s = s[2:]
        if len(s) == 36 and s.startswith("0000") and s.endswith(_BASE_SUFFIX):
            s = s[4:8]
        if 1 <= len(s) <= 4 and all(c in "0123456789abcdef" for c in s):
            v = int(s, 16)
    if len(_UUID_CACHE) >= _UUID_CACHE_MAX:
        _UUID_CACHE.clear()
    _UUID_CACHE[key] = v
    return v


def _bindkey_bytes(bindkey: object) -> bytes | None:
    if bindkey is None or isinstance(bindkey, bytes):
        return bindkey
    if isinstance(bindkey, bytearray | memoryview):
        return bytes(bindkey)
    if isinstance(bindkey, str):
        try:
            return bytes.fromhex(bindkey)
        except ValueError:
            raise DecodeError("bthome_v2: bind key is not hex") from None
    raise DecodeError(f"bind key must be bytes or hex text, not {type(bindkey).__name__}")


def _run(name: str, fn: Decoder, data: object, mac: str, bindkey: bytes | None, out: Decoded) -> None:
    if not isinstance(data, bytes):
        if isinstance(data, bytearray | memoryview):
            data = bytes(data)
        else:
            out.errors.append(f"{name}: data must be bytes, not {type(data).__name__}")
            return
    try:
        r = fn(data, mac, bindkey)
    except DecodeError as e:
        out.errors.append(str(e))
        return
    except Exception as e:  # a decoder bug must not take ingest down; report it like bad data
        out.errors.append(f"{name}: internal decoder error {type(e).__name__}: {e}")
        return
    if r is None:
        return
    fmt, ident, meas, err = r
    out.formats.append(fmt)
    if ident:
        out.identity.update(ident)
    out.measurements.update(meas)
    if err is not None:
        out.errors.append(err)


def _normal_mac(address: object) -> str:
    if not isinstance(address, str):
        return str(address)
    if len(address) == 17:
        return address.upper().replace("-", ":")
    return address.upper()


def decode(
    address: str,
    manufacturer_data: Mapping[int, bytes] | None,
    service_data: Mapping[str, bytes] | None,
    bindkey: bytes | str | None = None,
) -> Decoded:
    """Decode one advertisement. Never raises.

    ``bindkey``: the 16-byte BTHome bind key of this device (bytes or 32 hex digits), if it has one.
    """
    mac = _normal_mac(address)
    out = Decoded(mac, [], {"mac": mac}, {}, [])
    try:
        key = _bindkey_bytes(bindkey)
    except DecodeError as e:
        out.errors.append(str(e))
        key = None
    try:
        if manufacturer_data:
            for cid, data in manufacturer_data.items():
                entry = MANUFACTURER_DECODERS.get(cid)
                if entry is not None:
                    _run(entry[0], entry[1], data, mac, key, out)
        if service_data:
            for uuid, data in service_data.items():
                entry = SERVICE_DECODERS.get(service_uuid16(uuid))
                if entry is not None:
                    _run(entry[0], entry[1], data, mac, key, out)
    except Exception as e:  # e.g. a mapping that is not a mapping: still never raise
        out.errors.append(f"decode: bad input {type(e).__name__}: {e}")
    out.identity["tag_id"] = tag_id_for(out.identity)
    return out
