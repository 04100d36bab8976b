"""What every format module shares: the error type and the decoder calling convention.

A format decoder is a plain function::

    def decode(data: bytes, mac: str, bindkey: bytes | None) -> Result | None

``data`` is the manufacturer data after the company id, or the service data after the UUID, exactly as
bleak hands them over. It returns ``None`` when the bytes are not its format (an Apple advertisement
that is not an iBeacon, an unknown Ruuvi data format): that is not an error. It raises
:class:`DecodeError` with a message that names the format ("ruuvi_v5: payload is 12 bytes, expected
24") when the bytes claim to be its format but are invalid. The registry turns that into an entry in
``Decoded.errors``; nothing ever escapes ``decode()``.

A :data:`Result` is ``(format_name, identity_or_None, measurements, error_or_None)``: the error slot
is for a partial decode (BTHome stops at an unknown object id but keeps the objects before it).
"""

from __future__ import annotations

from typing import TypeAlias

Result: TypeAlias = tuple[str, "dict[str, object] | None", "dict[str, float | int]", "str | None"]


class DecodeError(ValueError):
    """The advertisement claims to be a known format but its bytes are invalid."""


def mac_from_bytes(b: bytes) -> str:
    """Six bytes in transmission order (most significant first) as ``AA:BB:CC:DD:EE:FF``."""
    return b.hex(":").upper()
