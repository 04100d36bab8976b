"""Random fuzzing of the wire-protocol batch decoder and every BLE advertisement decoder.

    python bench/fuzz.py [--seconds 60] [--seed N]

Feeds mutated valid inputs (bit flips, truncation, splicing, random fields) and pure noise to
``sensors.protocol.decode_batch`` and ``sensors.ble.decode`` until the time is up. A crash is any
exception other than ProtocolError out of decode_batch, any exception out of decode(), or a decoder
"internal decoder error". Prints counts of inputs, rejections by reason, crashes (with examples), and
as its last line a JSON object {"inputs": .., "rejected": .., "crashes": ..}. Exit status 1 on crashes.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import sys
import time
import traceback

import orjson

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sensors.ble import decode  # noqa: E402
from sensors.protocol import Advertisement, ProtocolError, decode_batch, encode_batch  # noqa: E402

KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
MAC = "54:48:E6:8F:80:A5"
GW = "gw-fuzz"

# Valid seeds: (where, key, hex) with where "m" = manufacturer data, "s" = service data.
SEEDS = [
    ("m", 0x004C, "0215e2c56db5dffb48d2b060d0f5a71096e000010002c5"),
    ("m", 0x004C, "1005031c1b2a3b"),
    ("m", 0x0499, "03291A1ECE1EFC18F94202CA0B53"),
    ("m", 0x0499, "0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F"),
    ("m", 0x0499, "058000FFFFFFFF800080008000FFFFFFFFFFFFFFFFFFFFFF"),
    ("m", 0x0499, "06170C5668C79E007000C90501D9FFCD004C884F"),
    ("m", 0x0499, "E1170C5668C79E0065007004BD11CA00C90A0213E0ACFFFFFFDECDEE10FFFFFFFFFFCBB8334C884F"),
    ("s", "feaa", "00eeedd1ebeac04e5defa0170102030405ab"),
    ("s", "feaa", "1012" + "03" + b"goo.gl/S6zT6P".hex()),
    ("s", "feaa", "20000bb8178000000064000003e8"),
    ("s", "feaa", "30ee0011223344556677"),
    ("s", "fcd2", "4002ca0903bf13"),
    ("s", "fcd2", "42b2188d38c1a404138a01"),
    ("s", "fcd2", "44530c48656c6c6f20576f726c6421"),
    ("s", "fcd2", "41e445f3c9962b332211006c7c4519"),
    ("s", "fcd2", "43a5808fe64854f196c06ffb4900112233f08ecbde"),
]
FORMAT_KEYS = [("m", 0x004C), ("m", 0x0499), ("s", "feaa"), ("s", "fcd2")]


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        if op == 0 and b:  # flip bits
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and b:  # random byte
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 2:  # truncate
            del b[rng.randrange(len(b) + 1) :]
        elif op == 3:  # extend
            b += os.urandom(rng.randrange(1, 16))
        elif op == 4 and b:  # delete a slice
            i = rng.randrange(len(b))
            del b[i : i + rng.randrange(1, 8)]
        else:  # interesting values
            i = rng.randrange(len(b) + 1)
            b[i:i] = rng.choice([b"\x00", b"\xff", b"\x7f", b"\x80", b"\xff\xff", b"\x80\x00"])
    return bytes(b)


def ble_input(rng: random.Random):
    r = rng.random()
    if r < 0.6:
        where, key, hexdata = rng.choice(SEEDS)
        data = mutate(rng, bytes.fromhex(hexdata))
    else:
        where, key = rng.choice(FORMAT_KEYS)
        data = os.urandom(rng.randrange(0, 48))
    bindkey = rng.choice([None, None, KEY, os.urandom(16), b"short"])
    address = rng.choice([MAC, MAC, "not-a-mac", "AA:BB:CC:DD:EE:FF"])
    if where == "m":
        return address, {key: data}, {}, bindkey
    return address, {}, {key: data}, bindkey


def _valid_batch(rng: random.Random) -> bytes:
    advs = []
    for i in range(rng.randrange(0, 30)):
        where, key, hexdata = rng.choice(SEEDS)
        data = bytes.fromhex(hexdata)
        mfr, svc = (
            ({key: data}, {}) if where == "m" else ({}, {f"0000{key}-0000-1000-8000-00805f9b34fb": data})
        )
        advs.append(Advertisement(1000 + i / 10, f"C0:FF:EE:00:00:{i:02X}", rng.randint(-127, 20), mfr, svc))
    return encode_batch(GW, "boot", rng.randrange(10**6), advs, sent=1010.0)


def _junk(rng: random.Random, depth: int = 0):
    choices = [
        None,
        True,
        False,
        rng.randint(-(2**40), 2**40),
        rng.random() * 1e6,
        "AA:BB:CC:DD:EE:FF",
        "x" * rng.randrange(10),
        "0499",
        "fcd2",
        "zz",
    ]
    if depth < 3:
        choices += [
            [_junk(rng, depth + 1) for _ in range(rng.randrange(5))],
            {
                rng.choice(["v", "gw", "boot", "seq", "sent", "adv", "0499", "fcd2", "t0"]): _junk(
                    rng, depth + 1
                )
                for _ in range(rng.randrange(5))
            },
        ]
    return rng.choice(choices)


def batch_input(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.35:  # byte-level mutation of a valid batch
        return mutate(rng, _valid_batch(rng))
    if r < 0.75:  # structurally valid, one field replaced by junk
        obj = orjson.loads(_valid_batch(rng))
        if obj["adv"] and rng.random() < 0.6:
            adv = obj["adv"][rng.randrange(len(obj["adv"]))]
            i = rng.randrange(len(adv) + 1)
            if i < len(adv):
                adv[i] = _junk(rng)
            else:
                adv.append(_junk(rng))
        else:
            obj[rng.choice(["v", "gw", "boot", "seq", "sent", "t0", "adv", "extra"])] = _junk(rng)
        return orjson.dumps(obj)
    if r < 0.9:
        return orjson.dumps(_junk(rng))
    return os.urandom(rng.randrange(0, 200))


_NORMALISE = [
    (re.compile(r"'[^']*'|\"[^\"]*\""), "'…'"),
    (re.compile(r"([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}"), "MAC"),
    (re.compile(r"0x[0-9a-fA-F]+"), "0x…"),
    (re.compile(r"\b-?\d+(\.\d+)?\b"), "N"),
    (re.compile(r"\b(None|True|False|an object|an array)\b"), "…"),
]


def bucket(reason: str) -> str:
    """Group reasons that differ only in values: the text before ': ' details, values replaced."""
    if reason.startswith("payload is not JSON"):
        return "payload is not JSON"
    for rx, repl in _NORMALISE:
        reason = rx.sub(repl, reason)
    return reason.split(", got")[0][:90]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to fuzz (default 60)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    print(f"fuzzing for {args.seconds:g} s, seed {seed}")

    counts = collections.Counter()
    reasons: collections.Counter[str] = collections.Counter()
    crashes: list[str] = []
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        for _ in range(200):
            if rng.random() < 0.5:
                counts["batch_inputs"] += 1
                payload = batch_input(rng)
                try:
                    b = decode_batch(payload, GW)
                except ProtocolError as e:
                    counts["batch_rejected"] += 1
                    reasons["batch: " + bucket(e.reason)] += 1
                    continue
                except Exception:
                    crashes.append(f"decode_batch({payload[:200]!r}): {traceback.format_exc(limit=3)}")
                    continue
                counts["batch_accepted"] += 1
                counts["adv_rejected"] += len(b.rejected)
                for r in b.rejected:
                    reasons["advertisement: " + bucket(r.reason)] += 1
                for a in b.advertisements:  # everything delivered must decode without crashing
                    d = decode(a.address, a.manufacturer_data, a.service_data, None)
                    if any("internal decoder error" in e for e in d.errors):
                        crashes.append(f"decode({a!r}): {d.errors}")
            else:
                counts["ble_inputs"] += 1
                args_ = ble_input(rng)
                try:
                    d = decode(*args_)
                except Exception:
                    crashes.append(f"decode{args_!r}: {traceback.format_exc(limit=3)}")
                    continue
                if any("internal decoder error" in e for e in d.errors):
                    crashes.append(f"decode{args_!r}: {d.errors}")
                elif d.errors:
                    counts["ble_rejected"] += 1
                    for e in d.errors:
                        reasons["ble: " + bucket(e)] += 1
                else:
                    counts["ble_decoded" if d.formats else "ble_not_a_known_format"] += 1

    inputs = counts["batch_inputs"] + counts["ble_inputs"]
    rejected = counts["batch_rejected"] + counts["adv_rejected"] + counts["ble_rejected"]
    for k in sorted(counts):
        print(f"{k:26s} {counts[k]:>10,}")
    print(f"rejections by reason ({len(reasons)} kinds):")
    for reason, n in reasons.most_common(60):
        print(f"  {n:>9,}  {reason}")
    if len(reasons) > 60:
        print(f"  ... and {len(reasons) - 60} rarer kinds")
    print(f"crashes: {len(crashes)}")
    for c in crashes[:10]:
        print("  " + c.replace("\n", "\n  "))
    print(json.dumps({"inputs": inputs, "rejected": rejected, "crashes": len(crashes), "seed": seed}))
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
