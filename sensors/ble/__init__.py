"""BLE advertisement decoders (pure Python, no Django): iBeacon, Eddystone UID/URL/TLM/EID, Ruuvi
data formats 3/5/6/E1 and BTHome v2 (plain and encrypted), behind one registry.

    from sensors.ble import decode
    d = decode("AA:BB:CC:DD:EE:FF", {0x0499: raw}, {})
    d.formats, d.identity["tag_id"], d.measurements["temperature_c"], d.errors

Measurement names and units: :mod:`sensors.ble.vocabulary`. Field-engineer CLI: ``python -m sensors.ble``.
"""

from .base import DecodeError
from .registry import Decoded, decode, service_uuid16, tag_id_for
from .vocabulary import IDENTITY_KEYS, VOCABULARY

__all__ = ["Decoded", "DecodeError", "IDENTITY_KEYS", "VOCABULARY", "decode", "service_uuid16", "tag_id_for"]
