"""Wire protocol between room gateways and the server: topics, batch/status/config codecs, and
sequence accounting. Pure Python (orjson only), no Django: the gateway agent imports it too.

The human-readable specification is docs/protocol.md; this module is its reference implementation.

- ``hospital/<site>/gw/<gateway_id>/adv``: advertisement batches, QoS 1, not retained.
- ``hospital/<site>/gw/<gateway_id>/status``: retained JSON status; the MQTT last will is the same
  JSON with ``"state": "offline"``.
- ``hospital/<site>/gw/<gateway_id>/config``: retained, server to gateway: filters, batch interval.
- ``hospital/<site>/gw/<gateway_id>/resend``: server to gateway, not retained: "publish these batches of
  this boot again" after ingest found a sequence gap (protocol §7a).

Batch payload (v1), one advertisement per positional array (smaller and about 25 % faster to parse
with orjson than one object per advertisement)::

    {"v": 1, "gw": "gw-3-east", "boot": "2f1c9a", "seq": 1042, "sent": 1732240001.25, "t0": 1732240000.31,
     "adv": [[0, "CB:B8:33:4C:88:4F", -67, {"0499": "0512fc..."}, {}],
             [412, "54:48:E6:8F:80:A5", -80, {}, {"fcd2": "41e445..."}],
             [517, "D0:0D:00:00:00:01", -71]]}

``[t_ms, address, rssi, manufacturer_data?, service_data?]``: ``t_ms`` is milliseconds after ``t0``;
manufacturer keys are company ids as hex ("0499"), service keys 16-bit UUIDs as hex ("fcd2") or full
128-bit UUIDs; values are hex of the bytes after the id. Trailing empty maps may be left out.

Decoding validates the envelope (any fault rejects the whole batch with :class:`ProtocolError`) and
each advertisement on its own (a bad one is listed in ``Batch.rejected``, the good ones are still
delivered). Unknown envelope keys and extra trailing array elements are ignored so that newer gateways
can add fields without breaking older servers; a different major version ``v`` is rejected.
"""

from __future__ import annotations

import math
import string
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import orjson

__all__ = [
    "PROTOCOL_VERSION",
    "MAX_PAYLOAD_BYTES",
    "MAX_ADVERTISEMENTS",
    "MAX_DATA_BYTES",
    "MAX_OFFSET_MS",
    "ProtocolError",
    "Advertisement",
    "Rejection",
    "Batch",
    "Topic",
    "Status",
    "GatewayConfig",
    "SeqResult",
    "SequenceTracker",
    "ResendRequest",
    "encode_resend",
    "decode_resend",
    "seq_ranges",
    "topic_for",
    "parse_topic",
    "subscription",
    "encode_batch",
    "decode_batch",
    "encode_status",
    "decode_status",
    "encode_config",
    "decode_config",
]

PROTOCOL_VERSION = 1
TOPIC_ROOT = "hospital"
KINDS = ("adv", "env", "status", "config", "resend")  # env: sensor batches, never behind tag batches (§2a)

MAX_PAYLOAD_BYTES = 1_048_576  # a batch of 5000 full advertisements is about 600 kB
MAX_ADVERTISEMENTS = 5000
MAX_DATA_BYTES = 255  # per manufacturer/service data value (extended advertising maximum)
MAX_MAP_ENTRIES = 16  # manufacturer or service data entries per advertisement
MAX_OFFSET_MS = 3_600_000  # an advertisement is at most one hour after the batch's t0
MAX_ID_LENGTH = 64
RSSI_MIN, RSSI_MAX = -127, 20
MAX_SEQ = 2**63 - 1
MAX_RESEND_RANGES = 32  # ranges per resend request
MAX_RESEND_BATCHES = 4096  # batches per resend request (all ranges together)

_SIG_BASE = "-0000-1000-8000-00805f9b34fb"
_ID_CHARS = frozenset(string.ascii_letters + string.digits + "-_.")
_HEX = frozenset("0123456789abcdefABCDEF")


class ProtocolError(ValueError):
    """A payload or topic that does not follow the protocol; ``reason`` says what is wrong."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Reject(Exception):
    """One advertisement in a batch is invalid (internal; becomes a Rejection)."""


def _show(value: object) -> str:
    """A short, bounded rendering of an offending value for error messages (payloads are hostile)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    r = repr(value)
    return r if len(r) <= 40 else r[:36] + "...'"


# --------------------------------------------------------------------------------------------- topics


class Topic(NamedTuple):
    site: str
    gateway_id: str
    kind: str  # "adv" | "status" | "config"


def _check_id(what: str, value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID_LENGTH or not set(value) <= _ID_CHARS:
        raise ProtocolError(
            f"{what} must be 1..{MAX_ID_LENGTH} characters of A-Z a-z 0-9 - _ . (got {_show(value)})"
        )
    return value


def topic_for(site: str, gateway_id: str, kind: str) -> str:
    """``hospital/<site>/gw/<gateway_id>/<kind>``; validates both ids and the kind."""
    if kind not in KINDS:
        raise ProtocolError(f"unknown topic kind {_show(kind)} (expected one of {', '.join(KINDS)})")
    return f"{TOPIC_ROOT}/{_check_id('site', site)}/gw/{_check_id('gateway id', gateway_id)}/{kind}"


_TOPIC_CACHE: dict[str, Topic] = {}


def parse_topic(topic: str) -> Topic:
    """Split ``hospital/<site>/gw/<gateway_id>/<kind>`` into its parts, or raise ProtocolError."""
    t = _TOPIC_CACHE.get(topic)
    if t is not None:
        return t
    if not isinstance(topic, str):
        raise ProtocolError(f"topic must be a string, not {type(topic).__name__}")
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != TOPIC_ROOT or parts[2] != "gw":
        raise ProtocolError(f"topic {_show(topic)} is not {TOPIC_ROOT}/<site>/gw/<gateway_id>/<kind>")
    if parts[4] not in KINDS:
        raise ProtocolError(
            f"topic {_show(topic)}: unknown kind {_show(parts[4])} (expected one of {', '.join(KINDS)})"
        )
    t = Topic(_check_id("site", parts[1]), _check_id("gateway id", parts[3]), parts[4])
    if len(_TOPIC_CACHE) >= 65536:
        _TOPIC_CACHE.clear()
    _TOPIC_CACHE[topic] = t
    return t


def subscription(kind: str = "adv", site: str = "+", group: str | None = None) -> str:
    """Topic filter for a subscriber, e.g. ``$share/ingest/hospital/+/gw/+/adv`` with group="ingest".

    Partition ingest by site with ``site="<site>"`` so one tag's sightings meet in one process.
    """
    if kind not in KINDS:
        raise ProtocolError(f"unknown topic kind {_show(kind)}")
    if site != "+":
        _check_id("site", site)
    f = f"{TOPIC_ROOT}/{site}/gw/+/{kind}"
    return f"$share/{_check_id('share group', group)}/{f}" if group else f


# -------------------------------------------------------------------------------------------- batches


class Advertisement(NamedTuple):
    """One advertisement as heard by a gateway, in bleak's shapes."""

    t: float  # unix seconds when heard
    address: str  # "AA:BB:CC:DD:EE:FF", upper case
    rssi: int  # dBm, -127..20
    manufacturer_data: dict[int, bytes]  # company id -> bytes after the company id
    service_data: dict[str, bytes]  # full 128-bit UUID string (lower case) -> bytes after the UUID


class Rejection(NamedTuple):
    index: int  # position in the batch's "adv" array
    reason: str


@dataclass(slots=True)
class Batch:
    version: int
    gateway_id: str
    boot: str
    seq: int
    sent: float
    t0: float
    advertisements: list[Advertisement] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    skipped: int = 0  # advertisements left out by decode_batch's ``keep`` (ingest shedding load)


_MAC_CACHE: dict[object, str] = {}
_CID_CACHE: dict[object, int] = {}
_UUID_CACHE: dict[object, str] = {}
_CACHE_MAX = 65536


def _mac(a: object) -> str:
    if type(a) is not str or len(a) != 17 or a[2::3] != ":::::":
        raise _Reject(f"bad MAC address {_show(a)} (expected AA:BB:CC:DD:EE:FF)")
    try:
        ok = len(bytes.fromhex(a.replace(":", ""))) == 6
    except ValueError:
        ok = False
    if not ok:
        raise _Reject(f"bad MAC address {_show(a)} (expected AA:BB:CC:DD:EE:FF)")
    m = a.upper()
    if len(_MAC_CACHE) >= _CACHE_MAX:
        _MAC_CACHE.clear()
    _MAC_CACHE[a] = m
    return m


def _cid(k: object) -> int:
    if type(k) is not str or not 1 <= len(k) <= 4 or not set(k) <= _HEX:
        raise _Reject(f"bad company id {_show(k)} (expected 1-4 hex digits)")
    v = int(k, 16)
    if len(_CID_CACHE) >= _CACHE_MAX:
        _CID_CACHE.clear()
    _CID_CACHE[k] = v
    return v


def _uuid(k: object) -> str:
    if type(k) is str:
        if 1 <= len(k) <= 4 and set(k) <= _HEX:
            u = f"0000{int(k, 16):04x}{_SIG_BASE}"
        elif len(k) == 36 and k[8] == k[13] == k[18] == k[23] == "-" and set(k.replace("-", "")) <= _HEX:
            u = k.lower()
        else:
            u = ""
        if u:
            if len(_UUID_CACHE) >= _CACHE_MAX:
                _UUID_CACHE.clear()
            _UUID_CACHE[k] = u
            return u
    raise _Reject(f"bad service UUID {_show(k)} (expected 4 hex digits or a 128-bit UUID)")


def _hex(v: object, what: str) -> bytes:
    if type(v) is not str:
        raise _Reject(f"{what}: value must be a hex string")
    if len(v) > 2 * MAX_DATA_BYTES:
        raise _Reject(f"{what}: {len(v) // 2} bytes, at most {MAX_DATA_BYTES} allowed")
    try:
        b = bytes.fromhex(v)
    except ValueError:
        raise _Reject(f"{what}: bad hex") from None
    if len(b) * 2 != len(v):
        raise _Reject(f"{what}: bad hex")
    return b


def _data_map(m: object, kind: str) -> dict:
    if m is None:
        return {}
    if type(m) is not dict:
        raise _Reject(f"{kind} data must be an object")
    if len(m) > MAX_MAP_ENTRIES:
        raise _Reject(f"{kind} data has {len(m)} entries, at most {MAX_MAP_ENTRIES} allowed")
    out = {}
    if kind == "manufacturer":
        for k, v in m.items():
            cid = _CID_CACHE.get(k)
            out[_cid(k) if cid is None else cid] = _hex(
                v, f"manufacturer data {k if len(k) <= 40 else _show(k)}"
            )
    else:
        for k, v in m.items():
            u = _UUID_CACHE.get(k)
            out[_uuid(k) if u is None else u] = _hex(v, f"service data {k if len(k) <= 40 else _show(k)}")
    return out


def _number(obj: dict, key: str, default: object = None) -> float:
    v = obj.get(key, default)
    if type(v) not in (int, float) or not math.isfinite(v) or v < 0:
        raise ProtocolError(f"'{key}' must be a non-negative number (unix seconds), got {_show(v)}")
    return float(v)


def decode_batch(payload: bytes | bytearray | memoryview | str, topic_gateway_id: str,
                 keep: Callable[[str, float], bool] | None = None, *, stale_before: float | None = None,
                 always: Container[str] = frozenset()) -> Batch:
    """Decode and validate one batch received on ``hospital/<site>/gw/<topic_gateway_id>/adv``.

    Raises ProtocolError if the envelope is malformed (nothing in it can be trusted). Otherwise returns
    the good advertisements plus ``rejected``: (index, reason) for each bad advertisement.
    ``keep(address, t)``, if given, is asked once the address and time are valid; advertisements it
    refuses are only counted (``skipped``), their data is not decoded: ingest under overload.
    A batch ``sent`` before ``stale_before`` keeps only the advertisements of addresses in ``always``
    (upper case); when it holds none, every advertisement is skipped without being validated.
    """
    if isinstance(payload, memoryview):
        payload = payload.tobytes()
    if not isinstance(payload, bytes | bytearray | str):
        raise ProtocolError(f"payload must be bytes, not {type(payload).__name__}")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ProtocolError(f"payload is {len(payload)} bytes, at most {MAX_PAYLOAD_BYTES} allowed")
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as e:
        raise ProtocolError(f"payload is not JSON: {e}") from None
    if type(obj) is not dict:
        raise ProtocolError(f"batch must be a JSON object, got {type(obj).__name__}")
    v = obj.get("v")
    if type(v) is not int:
        raise ProtocolError(f"missing or non-integer protocol version 'v': {_show(v)}")
    if v != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported protocol version {v} (this server speaks {PROTOCOL_VERSION})")
    gw = obj.get("gw")
    if type(gw) is not str:
        raise ProtocolError(f"'gw' must be the gateway id string, got {_show(gw)}")
    if gw != topic_gateway_id:
        raise ProtocolError(
            f"gateway id mismatch: topic says {_show(topic_gateway_id)}, payload says {_show(gw)} "
            "(spoofed or misconfigured gateway)"
        )
    boot = obj.get("boot")
    if type(boot) is not str or not 1 <= len(boot) <= MAX_ID_LENGTH:
        raise ProtocolError(f"'boot' must be a string of 1..{MAX_ID_LENGTH} characters, got {_show(boot)}")
    seq = obj.get("seq")
    if type(seq) is not int:
        raise ProtocolError(f"'seq' must be an integer, got {_show(seq)}")
    if not 0 <= seq <= MAX_SEQ:
        raise ProtocolError(f"'seq' must be 0..2**63-1, got {seq}")
    sent = _number(obj, "sent")
    t0 = _number(obj, "t0", sent)
    advs = obj.get("adv")
    if type(advs) is not list:
        raise ProtocolError(f"'adv' must be an array, got {type(advs).__name__}")
    if len(advs) > MAX_ADVERTISEMENTS:
        raise ProtocolError(f"too many advertisements: {len(advs)} > {MAX_ADVERTISEMENTS}")

    if stale_before is not None and sent < stale_before:
        if not _mentions(advs, always):
            return Batch(v, gw, boot, seq, sent, t0, [], [], len(advs))
        keep = _only(always)
    good: list[Advertisement] = []
    rejected: list[Rejection] = []
    skipped = 0
    macs = _MAC_CACHE
    for i, a in enumerate(advs):
        try:
            if type(a) is not list or len(a) < 3:
                raise _Reject("advertisement must be an array [t_ms, address, rssi, mfr?, svc?]")
            off, addr, rssi = a[0], a[1], a[2]
            if type(off) is not int or not 0 <= off <= MAX_OFFSET_MS:
                raise _Reject(f"t_ms must be an integer 0..{MAX_OFFSET_MS}, got {_show(off)}")
            mac = macs.get(addr) if type(addr) is str else None
            if mac is None:
                mac = _mac(addr)
            if type(rssi) is not int or not RSSI_MIN <= rssi <= RSSI_MAX:
                raise _Reject(f"rssi must be an integer {RSSI_MIN}..{RSSI_MAX}, got {_show(rssi)}")
            if keep is not None and not keep(mac, t0 + off / 1000):
                skipped += 1
                continue
            n = len(a)
            mfr = _data_map(a[3], "manufacturer") if n > 3 else {}
            svc = _data_map(a[4], "service") if n > 4 else {}
        except _Reject as e:
            rejected.append(Rejection(i, str(e)))
            continue
        good.append(Advertisement(t0 + off / 1000, mac, rssi, mfr, svc))
    return Batch(v, gw, boot, seq, sent, t0, good, rejected, skipped)


def _mentions(advs: list, addresses: Container[str]) -> bool:
    """Whether any advertisement's address (any case; malformed ones are ignored) is in ``addresses``."""
    for a in advs:
        if type(a) is list and len(a) > 1 and type(a[1]) is str and a[1].upper() in addresses:
            return True
    return False


def _only(addresses: Container[str]) -> Callable[[str, float], bool]:
    return lambda address, t: address in addresses


def _short_uuid(key: object) -> str:
    if isinstance(key, int) and not isinstance(key, bool):
        if not 0 <= key <= 0xFFFF:
            raise ProtocolError(f"service UUID {key} out of range")
        return f"{key:04x}"
    s = str(key).lower()
    if s.startswith("0x"):
        s = s[2:]
    if len(s) == 36 and s.startswith("0000") and s.endswith(_SIG_BASE):
        return s[4:8]
    if (1 <= len(s) <= 4 and set(s) <= _HEX) or len(s) == 36:
        return s
    raise ProtocolError(f"bad service UUID {_show(key)}")


def encode_batch(
    gateway_id: str,
    boot: str,
    seq: int,
    advertisements: Iterable[Advertisement | tuple],
    *,
    sent: float | None = None,
) -> bytes:
    """Encode a batch. ``advertisements``: Advertisement tuples (t, address, rssi, mfr, svc) with bleak's
    shapes (service data keyed by 128-bit UUID, 16-bit forms and ints also accepted).

    Raises ProtocolError for envelope values the receiver would reject (bad ids, seq, too many
    advertisements, a batch spanning more than MAX_OFFSET_MS), so a gateway finds such bugs locally.
    """
    _check_id("gateway id", gateway_id)
    if not isinstance(boot, str) or not 1 <= len(boot) <= MAX_ID_LENGTH:
        raise ProtocolError(f"boot must be a string of 1..{MAX_ID_LENGTH} characters")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
        raise ProtocolError(f"seq must be an integer 0..2**63-1, got {_show(seq)}")
    advs = list(advertisements)
    if len(advs) > MAX_ADVERTISEMENTS:
        raise ProtocolError(f"too many advertisements: {len(advs)} > {MAX_ADVERTISEMENTS}")
    sent = time.time() if sent is None else float(sent)
    t0 = min((a[0] for a in advs), default=sent)
    rows = []
    for t, address, rssi, mfr, svc in advs:
        off = round((t - t0) * 1000)
        if off > MAX_OFFSET_MS:
            raise ProtocolError(f"batch spans more than {MAX_OFFSET_MS} ms")
        row: list = [off, address.upper(), int(rssi)]
        if mfr or svc:
            row.append({f"{cid:04x}": data.hex() for cid, data in (mfr or {}).items()})
        if svc:
            row.append({_short_uuid(k): data.hex() for k, data in svc.items()})
        rows.append(row)
    return orjson.dumps(
        {
            "v": PROTOCOL_VERSION,
            "gw": gateway_id,
            "boot": boot,
            "seq": seq,
            "sent": sent,
            "t0": t0,
            "adv": rows,
        }
    )


# --------------------------------------------------------------------------------------------- status

STATES = ("online", "offline")


@dataclass(slots=True)
class Status:
    state: str  # "online" | "offline"
    gateway_id: str | None = None
    boot: str | None = None
    ts: float | None = None
    software: str | None = None
    info: dict[str, object] = field(default_factory=dict)  # anything else the gateway reported

    @property
    def acked_seq(self) -> int | None:
        """The highest seq of ``boot`` the broker has acknowledged (§4); None when the gateway does not
        say, or says it in a form this server does not understand (ignored, as unknown keys are)."""
        v = self.info.get("acked_seq")
        return v if type(v) is int and 0 <= v <= MAX_SEQ and self.boot else None


def encode_status(
    gateway_id: str,
    state: str,
    boot: str,
    *,
    ts: float | None = None,
    software: str | None = None,
    **info: object,
) -> bytes:
    """Status JSON for the retained ``.../status`` topic. Use state="offline" (and e.g.
    reason="last-will") to build the MQTT last-will payload at connect time."""
    if state not in STATES:
        raise ProtocolError(f"state must be one of {STATES}, got {_show(state)}")
    _check_id("gateway id", gateway_id)
    body: dict[str, object] = {
        "v": PROTOCOL_VERSION,
        "gw": gateway_id,
        "state": state,
        "boot": boot,
        "ts": time.time() if ts is None else ts,
    }
    if software is not None:
        body["software"] = software
    for k, v in info.items():
        if k not in body:
            body[k] = v
    return orjson.dumps(body)


def decode_status(payload: bytes | str, topic_gateway_id: str | None = None) -> Status:
    """Accepts the JSON status and, for very simple gateways, the bare words ``online``/``offline``."""
    if isinstance(payload, str):
        payload = payload.encode()
    if not isinstance(payload, bytes | bytearray):
        raise ProtocolError("status payload must be bytes")
    if len(payload) > 65536:
        raise ProtocolError("status payload larger than 64 KiB")
    word = bytes(payload).strip().lower()
    if word in (b"online", b"offline"):
        return Status(word.decode(), topic_gateway_id)
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as e:
        raise ProtocolError(f"status is not JSON: {e}") from None
    if type(obj) is not dict:
        raise ProtocolError("status must be a JSON object")
    v = obj.get("v", PROTOCOL_VERSION)
    if v != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported status version {_show(v)}")
    state = obj.get("state")
    if state not in STATES:
        raise ProtocolError(f"status 'state' must be one of {STATES}, got {_show(state)}")
    gw = obj.get("gw", topic_gateway_id)
    if topic_gateway_id is not None and gw != topic_gateway_id:
        raise ProtocolError(
            f"gateway id mismatch: topic says {_show(topic_gateway_id)}, status says {_show(gw)}"
        )
    boot, ts, software = obj.get("boot"), obj.get("ts"), obj.get("software")
    if boot is not None and type(boot) is not str:
        raise ProtocolError("status 'boot' must be a string")
    if ts is not None and (type(ts) not in (int, float) or not math.isfinite(ts)):
        raise ProtocolError("status 'ts' must be a number")
    if software is not None and type(software) is not str:
        raise ProtocolError("status 'software' must be a string")
    info = {k: val for k, val in obj.items() if k not in ("v", "gw", "state", "boot", "ts", "software")}
    return Status(state, gw, boot, None if ts is None else float(ts), software, info)


# --------------------------------------------------------------------------------------------- resend


class ResendRequest(NamedTuple):
    """Server to gateway: publish again the batches ``ranges`` (inclusive (first, last) seq pairs) of
    ``boot``. ``req`` is an optional request id for logs; ``ts`` when the server sent it."""

    gateway_id: str
    boot: str
    ranges: tuple[tuple[int, int], ...]
    req: str | None = None
    ts: float | None = None

    @property
    def batches(self) -> int:
        return sum(last - first + 1 for first, last in self.ranges)


def seq_ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted seqs -> inclusive (first, last) runs: [3, 4, 5, 9] -> [(3, 5), (9, 9)]."""
    out: list[tuple[int, int]] = []
    for s in sorted(set(seqs)):
        if out and s == out[-1][1] + 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


def _check_ranges(ranges: object) -> tuple[tuple[int, int], ...]:
    if type(ranges) not in (list, tuple) or not 1 <= len(ranges) <= MAX_RESEND_RANGES:
        raise ProtocolError(f"resend 'ranges' must be an array of 1..{MAX_RESEND_RANGES} [first, last] pairs")
    out = []
    total = 0
    for r in ranges:
        if type(r) not in (list, tuple) or len(r) != 2 or any(type(x) is not int for x in r):
            raise ProtocolError(f"resend range {_show(r)} is not a [first, last] pair of integers")
        first, last = r
        if not 0 <= first <= last <= MAX_SEQ:
            raise ProtocolError(f"resend range [{first}, {last}] must have 0 <= first <= last <= 2**63-1")
        total += last - first + 1
        if total > MAX_RESEND_BATCHES:
            raise ProtocolError(f"resend request asks for more than {MAX_RESEND_BATCHES} batches")
        out.append((first, last))
    return tuple(out)


def encode_resend(
    gateway_id: str, boot: str, ranges: Iterable[tuple[int, int]], *, req: str | None = None,
    ts: float | None = None,
) -> bytes:
    """A resend request for ``.../resend``; validates like ``decode_resend`` so a server bug shows here."""
    _check_id("gateway id", gateway_id)
    if not isinstance(boot, str) or not 1 <= len(boot) <= MAX_ID_LENGTH:
        raise ProtocolError(f"boot must be a string of 1..{MAX_ID_LENGTH} characters")
    body: dict[str, object] = {
        "v": PROTOCOL_VERSION,
        "gw": gateway_id,
        "boot": boot,
        "ranges": [list(r) for r in _check_ranges(list(ranges))],
        "ts": time.time() if ts is None else ts,
    }
    if req is not None:
        body["req"] = req
    return orjson.dumps(body)


def decode_resend(payload: bytes | str, topic_gateway_id: str) -> ResendRequest:
    """Validate a resend request received on ``.../gw/<topic_gateway_id>/resend`` (ProtocolError)."""
    if isinstance(payload, memoryview):
        payload = payload.tobytes()
    if not isinstance(payload, bytes | bytearray | str):
        raise ProtocolError(f"resend payload must be bytes, not {type(payload).__name__}")
    if len(payload) > 65536:
        raise ProtocolError("resend payload larger than 64 KiB")
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as e:
        raise ProtocolError(f"resend request is not JSON: {e}") from None
    if type(obj) is not dict:
        raise ProtocolError("resend request must be a JSON object")
    v = obj.get("v")
    if v != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported resend version {_show(v)} (this code speaks {PROTOCOL_VERSION})")
    gw = obj.get("gw")
    if gw != topic_gateway_id:
        raise ProtocolError(f"gateway id mismatch: topic says {_show(topic_gateway_id)}, request says {_show(gw)}")
    boot = obj.get("boot")
    if type(boot) is not str or not 1 <= len(boot) <= MAX_ID_LENGTH:
        raise ProtocolError(f"resend 'boot' must be a string of 1..{MAX_ID_LENGTH} characters, got {_show(boot)}")
    req, ts = obj.get("req"), obj.get("ts")
    if req is not None and (type(req) is not str or len(req) > MAX_ID_LENGTH):
        raise ProtocolError(f"resend 'req' must be a string of at most {MAX_ID_LENGTH} characters")
    if ts is not None and (type(ts) not in (int, float) or not math.isfinite(ts)):
        raise ProtocolError("resend 'ts' must be a number")
    return ResendRequest(gw, boot, _check_ranges(obj.get("ranges")), req, None if ts is None else float(ts))


# --------------------------------------------------------------------------------------------- config


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Server-to-gateway configuration (retained on ``.../config``).

    Filtering: an advertisement weaker than ``min_rssi`` is dropped. If every allow-list is empty, all
    other advertisements are forwarded. Otherwise an advertisement is forwarded when it matches ANY list:
    its MAC, a company id in its manufacturer data, a 16-bit service UUID, an iBeacon proximity UUID, or
    an Eddystone-UID namespace. (Eddystone TLM frames carry no namespace: allow "feaa" or the MACs.)
    """

    batch_interval_ms: int = 1000
    max_batch: int = 500
    min_rssi: int = RSSI_MIN
    macs: frozenset[str] = frozenset()  # upper case AA:BB:...
    company_ids: frozenset[int] = frozenset()
    service_uuids: frozenset[int] = frozenset()  # 16-bit
    ibeacon_uuids: frozenset[str] = frozenset()  # 32 lower-case hex digits, no dashes
    eddystone_namespaces: frozenset[str] = frozenset()  # 20 lower-case hex digits

    def accepts(
        self,
        address: str,
        rssi: int,
        manufacturer_data: Mapping[int, bytes] | None,
        service_data: Mapping[object, bytes] | None,
    ) -> bool:
        if rssi < self.min_rssi:
            return False
        if not (
            self.macs
            or self.company_ids
            or self.service_uuids
            or self.ibeacon_uuids
            or self.eddystone_namespaces
        ):
            return True
        if self.macs and address.upper() in self.macs:
            return True
        for cid, data in (manufacturer_data or {}).items():
            if cid in self.company_ids:
                return True
            if (
                cid == 0x004C
                and self.ibeacon_uuids
                and len(data) >= 18
                and data[0] == 0x02
                and data[1] == 0x15
                and data[2:18].hex() in self.ibeacon_uuids
            ):
                return True
        for key, data in (service_data or {}).items():
            try:
                short = _short_uuid(key)
            except ProtocolError:
                continue
            u16 = int(short, 16) if len(short) <= 4 else -1
            if u16 in self.service_uuids:
                return True
            if (
                u16 == 0xFEAA
                and self.eddystone_namespaces
                and len(data) >= 12
                and data[0] == 0x00
                and data[2:12].hex() in self.eddystone_namespaces
            ):
                return True
        return False


def encode_config(config: GatewayConfig) -> bytes:
    filters = {
        "min_rssi": config.min_rssi,
        "macs": sorted(config.macs),
        "company_ids": [f"{c:04x}" for c in sorted(config.company_ids)],
        "service_uuids": [f"{u:04x}" for u in sorted(config.service_uuids)],
        "ibeacon_uuids": sorted(config.ibeacon_uuids),
        "eddystone_namespaces": sorted(config.eddystone_namespaces),
    }
    return orjson.dumps(
        {
            "v": PROTOCOL_VERSION,
            "batch_interval_ms": config.batch_interval_ms,
            "max_batch": config.max_batch,
            "filters": filters,
        }
    )


def _int_in(obj: Mapping, key: str, default: int, lo: int, hi: int) -> int:
    v = obj.get(key, default)
    if type(v) is not int or not lo <= v <= hi:
        raise ProtocolError(f"config '{key}' must be an integer {lo}..{hi}, got {_show(v)}")
    return v


def _str_list(filters: Mapping, key: str, length: int | None, limit: int = 10000) -> list[str]:
    v = filters.get(key, [])
    if type(v) is not list or len(v) > limit:
        raise ProtocolError(f"config filter '{key}' must be an array of at most {limit} strings")
    out = []
    for item in v:
        if type(item) is not str:
            raise ProtocolError(f"config filter '{key}' has a non-string entry {_show(item)}")
        s = item.replace("-", "").lower() if length else item
        if length and (len(s) != length or not set(s) <= _HEX):
            raise ProtocolError(f"config filter '{key}': {_show(item)} is not {length} hex digits")
        out.append(s)
    return out


def decode_config(payload: bytes | str) -> GatewayConfig:
    """Validate a config payload; unknown keys are ignored, a different version is rejected."""
    if isinstance(payload, bytes | bytearray) and len(payload) > MAX_PAYLOAD_BYTES:
        raise ProtocolError("config payload too large")
    try:
        obj = orjson.loads(payload)
    except (orjson.JSONDecodeError, TypeError) as e:
        raise ProtocolError(f"config is not JSON: {e}") from None
    if type(obj) is not dict:
        raise ProtocolError("config must be a JSON object")
    v = obj.get("v")
    if v != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported config version {_show(v)} (this code speaks {PROTOCOL_VERSION})")
    filters = obj.get("filters", {})
    if type(filters) is not dict:
        raise ProtocolError("config 'filters' must be an object")
    macs = []
    for m in _str_list(filters, "macs", None):
        try:
            macs.append(_mac(m))
        except _Reject as e:
            raise ProtocolError(f"config filter 'macs': {e}") from None
    try:
        cids = frozenset(_cid(c) for c in _str_list(filters, "company_ids", None))
    except _Reject as e:
        raise ProtocolError(f"config filter 'company_ids': {e}") from None
    uuids = set()
    for u in _str_list(filters, "service_uuids", None):
        short = _short_uuid(u)
        if len(short) > 4:
            raise ProtocolError(f"config filter 'service_uuids': {_show(u)} is not a 16-bit UUID")
        uuids.add(int(short, 16))
    return GatewayConfig(
        batch_interval_ms=_int_in(obj, "batch_interval_ms", 1000, 20, 60000),
        max_batch=_int_in(obj, "max_batch", 500, 1, MAX_ADVERTISEMENTS),
        min_rssi=_int_in(filters, "min_rssi", RSSI_MIN, RSSI_MIN, RSSI_MAX),
        macs=frozenset(macs),
        company_ids=cids,
        service_uuids=frozenset(uuids),
        ibeacon_uuids=frozenset(_str_list(filters, "ibeacon_uuids", 32)),
        eddystone_namespaces=frozenset(_str_list(filters, "eddystone_namespaces", 20)),
    )


# ----------------------------------------------------------------------------- sequence accounting


class SeqResult(NamedTuple):
    """What one (gateway, boot, seq) means. ``deliver`` is False for duplicates and stale batches."""

    status: str  # "first" | "new" | "gap" | "late" | "reboot" | "duplicate" | "stale"
    missing: int = 0  # batches found missing by this arrival (gap size; for "reboot": seq)

    @property
    def deliver(self) -> bool:
        return self.status not in ("duplicate", "stale")


class _BootState:
    __slots__ = ("last", "missing", "order")

    def __init__(self, seq: int):
        self.last = seq
        self.missing: set[int] = set()  # seqs skipped over, still hoped for
        self.order: deque[int] = deque()  # the same seqs in increasing order, for bounded pruning


class SequenceTracker:
    """De-duplication and exact loss accounting from (gateway, boot, seq). Pure, bounded memory.

    Within one boot, ``seq`` only grows (by one per batch). A jump of N + 1 means N batches are missing
    (counted in ``lost`` at once); if one of them turns up later (MQTT does not promise order across a
    reconnect) it is "late", delivered, and taken off ``lost``. A seq at or below the last one that is
    not missing is a duplicate (QoS 1 redelivery). A seq more than ``window`` behind is "stale": too
    old to tell, dropped. A new boot id means the gateway restarted: the sequence restarts at 0, and a
    first seq of N means N batches of the new boot were lost. The first batch ever seen from a gateway
    counts no loss (the server may simply have started later).

    Memory: at most ``max_gateways`` gateways (least recently seen evicted), ``boots_per_gateway`` boots
    each, and ``window`` missing seqs per boot.
    """

    def __init__(self, window: int = 1024, max_gateways: int = 100_000, boots_per_gateway: int = 4):
        self.window = window
        self.max_gateways = max_gateways
        self.boots_per_gateway = boots_per_gateway
        self._gw: OrderedDict[str, OrderedDict[str, _BootState]] = OrderedDict()
        self.received = 0  # batches delivered
        self.lost = 0  # batches missing now (gaps not filled by late arrivals)
        self.duplicates = 0
        self.late = 0
        self.stale = 0
        self.reboots = 0
        self.per_gateway: dict[str, dict[str, int]] = {}

    def _count(self, gateway: str, key: str, n: int = 1) -> None:
        c = self.per_gateway.get(gateway)
        if c is None:
            c = self.per_gateway[gateway] = {
                "received": 0,
                "lost": 0,
                "duplicates": 0,
                "late": 0,
                "stale": 0,
                "reboots": 0,
            }
        c[key] += n

    def _add_missing(self, st: _BootState, lo: int, hi: int) -> None:
        """Remember seqs lo..hi-1 as missing, keeping only the newest ``window`` of them."""
        lo = max(lo, hi - self.window)
        st.order.extend(range(lo, hi))
        st.missing.update(range(lo, hi))
        floor = hi - self.window
        while st.order and (len(st.order) > self.window or st.order[0] < floor):
            st.missing.discard(st.order.popleft())

    def observe(self, gateway: str, boot: str, seq: int) -> SeqResult:
        boots = self._gw.get(gateway)
        if boots is None:
            if len(self._gw) >= self.max_gateways:
                old, _ = self._gw.popitem(last=False)
                self.per_gateway.pop(old, None)
            boots = self._gw[gateway] = OrderedDict()
            boots[boot] = _BootState(seq)
            self.received += 1
            self._count(gateway, "received")
            return SeqResult("first")
        self._gw.move_to_end(gateway)
        st = boots.get(boot)
        if st is None:  # the gateway restarted: sequence starts again at 0
            if len(boots) >= self.boots_per_gateway:
                boots.popitem(last=False)
            st = boots[boot] = _BootState(seq)
            self._add_missing(st, 0, seq)
            self.reboots += 1
            self.received += 1
            self.lost += seq
            self._count(gateway, "reboots")
            self._count(gateway, "received")
            if seq:
                self._count(gateway, "lost", seq)
            return SeqResult("reboot", seq)
        if seq > st.last:
            gap = seq - st.last - 1
            if gap:
                self._add_missing(st, st.last + 1, seq)
                self.lost += gap
                self._count(gateway, "lost", gap)
            st.last = seq
            self.received += 1
            self._count(gateway, "received")
            return SeqResult("gap", gap) if gap else SeqResult("new")
        if seq in st.missing:
            st.missing.discard(seq)  # stays in st.order; discarded there lazily
            self.lost -= 1
            self.late += 1
            self.received += 1
            self._count(gateway, "lost", -1)
            self._count(gateway, "late")
            self._count(gateway, "received")
            return SeqResult("late")
        if seq < st.last - self.window:
            self.stale += 1
            self._count(gateway, "stale")
            return SeqResult("stale")
        self.duplicates += 1
        self._count(gateway, "duplicates")
        return SeqResult("duplicate")

    def advance(self, gateway: str, boot: str, seq: int) -> SeqResult | None:
        """The gateway says it has published up to ``seq`` of ``boot`` (its status, §4): the seqs after the
        last one seen become missing, as if a batch after them had shown the gap, so a lost tail is found
        without waiting for a later batch. Returns the gap (``missing`` seqs ending at ``seq``), or None
        when nothing is new or the gateway was never seen (no loss assumed, as for a first batch)."""
        boots = self._gw.get(gateway)
        if boots is None:
            return None
        st = boots.get(boot)
        if st is None:  # a boot none of whose batches arrived yet: all of them are missing so far
            if len(boots) >= self.boots_per_gateway:
                boots.popitem(last=False)
            st = boots[boot] = _BootState(-1)
        if seq <= st.last:
            return None
        gap = seq - st.last
        self._add_missing(st, st.last + 1, seq + 1)
        st.last = seq
        self.lost += gap
        self._count(gateway, "lost", gap)
        return SeqResult("gap", gap)

    def missing_in(self, gateway: str, boot: str, first: int, last: int) -> list[int] | None:
        """The seqs first..last of this boot still counted missing (sorted); None if the boot is not
        (or no longer) tracked. Only these can still be delivered ("late"): the rest are duplicates."""
        boots = self._gw.get(gateway)
        st = boots.get(boot) if boots is not None else None
        if st is None:
            return None
        if last - first < len(st.missing):
            return [s for s in range(first, last + 1) if s in st.missing]
        return sorted(s for s in st.missing if first <= s <= last)

    def stats(self) -> dict[str, int]:
        return {
            "gateways": len(self._gw),
            "received": self.received,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "late": self.late,
            "stale": self.stale,
            "reboots": self.reboots,
        }
