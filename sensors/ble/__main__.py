"""Field-engineer CLI: decode BLE advertisements given as JSON lines.

    python -m sensors.ble < adverts.jsonl

Each input line is one advertisement::

    {"address": "AA:BB:CC:DD:EE:FF", "rssi": -60,
     "manufacturer_data": {"0x0499": "<hex>"}, "service_data": {"0xFCD2": "<hex>"},
     "bindkey": "<32 hex digits, only for encrypted BTHome>"}

Keys of manufacturer_data are company ids, keys of service_data are 16-bit UUIDs, both as hex with a
0x prefix (or plain decimal digits); service_data also takes a full 128-bit UUID. Values are the hex
of the bytes after the company id / UUID, exactly what bleak reports. Either map may be absent.

One JSON line is written per input line: {"address", "formats", "identity", "measurements",
"errors"}. A line that is not valid JSON or has wrong types gives an output line whose errors name the
line number and the problem; the tool never stops early. Blank lines are skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import TextIO

from .registry import decode


class _BadLine(ValueError):
    pass


def _hexbytes(what: str, value: object) -> bytes:
    if not isinstance(value, str):
        raise _BadLine(f"{what} must be a hex string, not {type(value).__name__}")
    s = value.strip()
    if s[:2].lower() == "0x":
        s = s[2:]
    try:
        b = bytes.fromhex(s)
    except ValueError:
        raise _BadLine(f"{what} is not valid hex: {value!r}") from None
    if len(b) * 2 != len(s):
        raise _BadLine(f"{what} is not valid hex: {value!r}")
    return b


def _key_int(what: str, key: str) -> int:
    k = key.strip().lower()
    try:
        v = int(k[2:], 16) if k.startswith("0x") else int(k, 10)
    except ValueError:
        raise _BadLine(f"{what} key {key!r} is not 0x-prefixed hex or decimal") from None
    if not 0 <= v <= 0xFFFF:
        raise _BadLine(f"{what} key {key!r} is out of range 0..0xFFFF")
    return v


def _map(obj: dict, name: str) -> dict:
    value = obj.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _BadLine(f"{name} must be an object, not {type(value).__name__}")
    return value


def parse_line(obj: object) -> tuple[str, dict[int, bytes], dict[str, bytes], bytes | None]:
    """Turn one parsed JSON input object into decode() arguments; raises _BadLine."""
    if not isinstance(obj, dict):
        raise _BadLine(f"expected a JSON object, got {type(obj).__name__}")
    address = obj.get("address")
    if not isinstance(address, str) or not address:
        raise _BadLine("address must be a non-empty string")
    mfr = {
        _key_int("manufacturer_data", k): _hexbytes(f"manufacturer_data[{k}]", v)
        for k, v in _map(obj, "manufacturer_data").items()
    }
    svc: dict[str, bytes] = {}
    for k, v in _map(obj, "service_data").items():
        data = _hexbytes(f"service_data[{k}]", v)
        if len(k) == 36:
            svc[k.lower()] = data
        else:
            svc[f"0000{_key_int('service_data', k):04x}-0000-1000-8000-00805f9b34fb"] = data
    bindkey = obj.get("bindkey")
    key = None
    if bindkey is not None:
        key = _hexbytes("bindkey", bindkey)
        if len(key) != 16:
            raise _BadLine(f"bindkey must be 16 bytes (32 hex digits), got {len(key)} bytes")
    rssi = obj.get("rssi")
    if rssi is not None and (not isinstance(rssi, int) or isinstance(rssi, bool)):
        raise _BadLine("rssi must be an integer")
    return address, mfr, svc, key


def run(lines: Iterable[str], out: TextIO, keys: dict[str, bytes] | None = None) -> tuple[int, int]:
    """Decode every line; returns (lines decoded, lines rejected)."""
    ok = bad = 0
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        obj: object = None
        try:
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise _BadLine(f"not valid JSON: {e}") from None
            address, mfr, svc, key = parse_line(obj)
        except _BadLine as e:
            bad += 1
            echo = obj.get("address") if isinstance(obj, dict) else None
            result = {
                "address": echo if isinstance(echo, str) else None,
                "formats": [],
                "identity": {},
                "measurements": {},
                "errors": [f"line {lineno}: {e}"],
            }
        else:
            ok += 1
            if key is None and keys:
                key = keys.get(address.upper())
            result = decode(address, mfr, svc, key).as_dict()
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
        out.flush()
    return ok, bad


def _keyarg(text: str) -> tuple[str, bytes]:
    mac, sep, hexkey = text.partition("=")
    try:
        key = bytes.fromhex(hexkey)
    except ValueError:
        key = b""
    if not sep or len(key) != 16:
        raise argparse.ArgumentTypeError("expected MAC=32-hex-digit-key")
    return mac.strip().upper(), key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sensors.ble",
        description="Decode BLE advertisements (iBeacon, Eddystone, Ruuvi, BTHome v2) from JSON lines on "
        "stdin; write one JSON result line per input line to stdout.",
        epilog='Input line: {"address": "AA:BB:CC:DD:EE:FF", "rssi": -60, "manufacturer_data": '
        '{"0x0499": "05..."}, "service_data": {"0xFCD2": "40..."}, "bindkey": "<hex>"}. '
        "Bad lines give a result line whose errors name the line number; the tool never stops early.",
    )
    parser.add_argument(
        "--bindkey",
        action="append",
        default=[],
        type=_keyarg,
        metavar="MAC=HEX",
        help="BTHome bind key for a device (repeatable); a bindkey in the line wins",
    )
    parser.add_argument("--summary", action="store_true", help="print a count of good/bad lines to stderr")
    args = parser.parse_args(argv)
    ok, bad = run(sys.stdin, sys.stdout, dict(args.bindkey))
    if args.summary:
        print(f"{ok} decoded, {bad} rejected", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
