"""Decode throughput per BLE format, and of the wire-protocol batch decoder, in one process.

    python bench/decode.py [--seconds 1.0]

Prints one line per format and, as its last line, a JSON object {"<format>": decodes_per_second, ...}.
Target: ingest must decode ~100,000 advertisements/s per process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sensors.ble import decode  # noqa: E402
from sensors.protocol import Advertisement, decode_batch, encode_batch  # noqa: E402

KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
MAC = "54:48:E6:8F:80:A5"
FCD2 = "0000fcd2-0000-1000-8000-00805f9b34fb"
FEAA = "0000feaa-0000-1000-8000-00805f9b34fb"

CASES = {
    "ibeacon": ({0x004C: bytes.fromhex("0215e2c56db5dffb48d2b060d0f5a71096e000010002c5")}, {}, None),
    "eddystone_uid": ({}, {FEAA: bytes.fromhex("00eeedd1ebeac04e5defa0170102030405ab")}, None),
    "eddystone_url": ({}, {FEAA: bytes.fromhex("1012" + "03" + b"goo.gl/S6zT6P".hex())}, None),
    "eddystone_tlm": ({}, {FEAA: bytes.fromhex("20000bb8178000000064000003e8")}, None),
    "ruuvi_v3": ({0x0499: bytes.fromhex("03291A1ECE1EFC18F94202CA0B53")}, {}, None),
    "ruuvi_v5": ({0x0499: bytes.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F")}, {}, None),
    "ruuvi_v6": ({0x0499: bytes.fromhex("06170C5668C79E007000C90501D9FFCD004C884F")}, {}, None),
    "ruuvi_e1": (
        {
            0x0499: bytes.fromhex(
                "E1170C5668C79E0065007004BD11CA00C90A0213E0ACFFFFFFDECDEE10FFFFFFFFFFCBB8334C884F"
            )
        },
        {},
        None,
    ),
    "bthome_v2": ({}, {FCD2: bytes.fromhex("400009016102ca0903bf13")}, None),
    "bthome_v2_encrypted": ({}, {FCD2: bytes.fromhex("41e445f3c9962b332211006c7c4519")}, KEY),
    "unknown": ({0x0006: b"\x01\x09\x20\x02"}, {}, None),
}


def rate(fn, seconds: float) -> float:
    n, batch = 0, 2000
    t0 = time.perf_counter()
    while True:
        for _ in range(batch):
            fn()
        n += batch
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n / dt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement (default 1.0)")
    args = parser.parse_args()
    results: dict[str, int] = {}
    for name, (mfr, svc, key) in CASES.items():
        d = decode(MAC, mfr, svc, key)
        assert not d.errors, (name, d.errors)
        results[name] = round(
            rate(lambda mfr=mfr, svc=svc, key=key: decode(MAC, mfr, svc, key), args.seconds)
        )
        print(f"{name:22s} {results[name]:>10,} decodes/s")

    # Wire protocol: a batch of 50 mixed advertisements, parsed and validated (no BLE decoding) ...
    advs = [
        Advertisement(1000.0 + i / 50, f"C0:FF:EE:00:00:{i:02X}", -60 - i % 30, *CASES[name][:2])
        for i, name in enumerate(list(CASES) * 5)
    ][:50]
    payload = encode_batch("gw-bench", "boot", 1, advs, sent=1001.0)
    per = rate(lambda: decode_batch(payload, "gw-bench"), args.seconds)
    results["protocol_batch50_adv"] = round(per * 50)
    print(f"{'protocol (batch of 50)':22s} {results['protocol_batch50_adv']:>10,} advertisements/s")

    # ... and end to end: batch decode plus BLE decode of every advertisement.
    def both():
        for a in decode_batch(payload, "gw-bench").advertisements:
            decode(a.address, a.manufacturer_data, a.service_data, None)

    results["protocol_plus_ble_adv"] = round(rate(both, args.seconds) * 50)
    print(f"{'protocol + BLE decode':22s} {results['protocol_plus_ble_adv']:>10,} advertisements/s")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
