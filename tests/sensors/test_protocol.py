"""The gateway wire protocol: topics, batch/status/config codecs, sequence accounting, sample payloads."""

import json
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.ble import decode
from sensors.protocol import (
    MAX_ADVERTISEMENTS,
    Advertisement,
    Batch,
    GatewayConfig,
    ProtocolError,
    Rejection,
    SequenceTracker,
    Status,
    Topic,
    decode_batch,
    decode_config,
    decode_status,
    encode_batch,
    encode_config,
    encode_status,
    parse_topic,
    subscription,
    topic_for,
)

PAYLOADS = Path(__file__).resolve().parents[2] / "fixtures" / "payloads"
FCD2 = "0000fcd2-0000-1000-8000-00805f9b34fb"
GW = "gw-demo-1"


def envelope(**over):
    body = {"v": 1, "gw": GW, "boot": "b1", "seq": 1, "sent": 1000.0, "t0": 999.0, "adv": []}
    body.update(over)
    return orjson.dumps(body)


def reason(payload, gw=GW) -> str:
    with pytest.raises(ProtocolError) as e:
        decode_batch(payload, gw)
    return e.value.reason


# ------------------------------------------------------------------------------------------ topics


def test_topics():
    assert topic_for("st-mary", GW, "adv") == "hospital/st-mary/gw/gw-demo-1/adv"
    assert parse_topic("hospital/st-mary/gw/gw-demo-1/status") == Topic("st-mary", GW, "status")
    assert parse_topic("hospital/s/gw/g/config").kind == "config"
    for bad in (
        "hospital/st-mary/gw/gw-1",
        "hospital/st-mary/gateway/gw-1/adv",
        "clinic/s/gw/g/adv",
        "hospital/s/gw/g/telemetry",
        "hospital/s/gw//adv",
        "hospital/s t/gw/g/adv",
        "hospital/s/gw/g/adv/extra",
        "hospital/+/gw/g/adv",
    ):
        with pytest.raises(ProtocolError):
            parse_topic(bad)
    with pytest.raises(ProtocolError):
        topic_for("site", "gw#1", "adv")
    assert subscription() == "hospital/+/gw/+/adv"
    assert subscription("status", site="st-mary") == "hospital/st-mary/gw/+/status"
    assert subscription(group="ingest") == "$share/ingest/hospital/+/gw/+/adv"


# ----------------------------------------------------------------------------------------- batches


def test_round_trip():
    advs = [
        Advertisement(1000.25, "cb:b8:33:4c:88:4f", -67, {0x0499: b"\x05\x12"}, {}),
        Advertisement(1000.0, "AA:BB:CC:DD:EE:FF", -80, {}, {FCD2: b"\x40\x02\xca\x09"}),
        Advertisement(
            1001.5,
            "AA:BB:CC:DD:EE:01",
            5,
            {0x004C: b"\x02\x15", 0x0006: b""},
            {"6e400001-b5a3-f393-e0a9-e50e24dcca9e": b"\x01"},
        ),
        Advertisement(1001.0, "AA:BB:CC:DD:EE:02", -127, {}, {}),
    ]
    payload = encode_batch(GW, "boot-7", 42, advs, sent=1002.0)
    b = decode_batch(payload, GW)
    assert isinstance(b, Batch)
    assert (b.version, b.gateway_id, b.boot, b.seq, b.sent, b.t0) == (1, GW, "boot-7", 42, 1002.0, 1000.0)
    assert b.rejected == []
    assert [a.address for a in b.advertisements] == [
        "CB:B8:33:4C:88:4F",
        "AA:BB:CC:DD:EE:FF",
        "AA:BB:CC:DD:EE:01",
        "AA:BB:CC:DD:EE:02",
    ]
    assert [a.t for a in b.advertisements] == [1000.25, 1000.0, 1001.5, 1001.0]
    assert b.advertisements[0].manufacturer_data == {0x0499: b"\x05\x12"}
    assert b.advertisements[1].service_data == {FCD2: b"\x40\x02\xca\x09"}
    assert b.advertisements[2].service_data == {"6e400001-b5a3-f393-e0a9-e50e24dcca9e": b"\x01"}
    assert b.advertisements[2].manufacturer_data == {0x004C: b"\x02\x15", 0x0006: b""}
    # Decoded advertisements go straight into the BLE decoders (bleak shapes).
    a = b.advertisements[1]
    assert decode(a.address, a.manufacturer_data, a.service_data).measurements == {"temperature_c": 25.06}
    # Compact: trailing empty maps left out, company ids and 16-bit UUIDs as short hex keys
    raw = orjson.loads(payload)["adv"]
    assert raw[3] == [1000, "AA:BB:CC:DD:EE:02", -127]
    assert raw[1][4] == {"fcd2": "4002ca09"} and raw[0][3] == {"0499": "0512"}


def test_empty_batch_and_default_t0():
    b = decode_batch(orjson.dumps({"v": 1, "gw": GW, "boot": "b", "seq": 0, "sent": 5.5, "adv": []}), GW)
    assert b.t0 == 5.5 and b.advertisements == [] and b.seq == 0
    assert decode_batch(encode_batch(GW, "b", 0, [], sent=9.0), GW).t0 == 9.0


def test_forward_compatible_extra_fields_are_ignored():
    payload = envelope(
        fw="2.1.0", stats={"dropped": 3}, adv=[[0, "AA:BB:CC:DD:EE:FF", -50, {}, {}, {"future": 1}, "more"]]
    )
    b = decode_batch(payload, GW)
    assert len(b.advertisements) == 1 and b.rejected == []


@pytest.mark.parametrize(
    "payload, expected",
    [
        (b"", "not JSON"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (envelope(v=None), "protocol version"),
        (envelope(v="1"), "protocol version"),
        (envelope(v=2), "unsupported protocol version 2"),
        (envelope(v=0), "unsupported protocol version 0"),
        (envelope(gw=5), "'gw' must be"),
        (envelope(gw="gw-icu-2"), "gateway id mismatch"),
        (envelope(boot=""), "'boot'"),
        (envelope(boot=None), "'boot'"),
        (envelope(boot="x" * 65), "'boot'"),
        (envelope(seq=-1), "'seq' must be 0"),
        (envelope(seq=1.5), "'seq' must be an integer"),
        (envelope(seq=True), "'seq' must be an integer"),
        (envelope(seq="7"), "'seq' must be an integer"),
        (envelope(sent="now"), "'sent'"),
        (envelope(sent=-1), "'sent'"),
        (envelope(t0="x"), "'t0'"),
        (envelope(adv=None), "'adv' must be an array"),
        (envelope(adv={}), "'adv' must be an array"),
        (
            envelope(adv=[[0, "AA:BB:CC:DD:EE:FF", -50]] * (MAX_ADVERTISEMENTS + 1)),
            "too many advertisements: 5001",
        ),
        (b"{" + b" " * (1 << 20) + b"}", "payload is"),
    ],
)
def test_malformed_envelopes(payload, expected):
    assert expected in reason(payload)


def test_payload_types():
    assert "must be bytes" in reason(12345)  # type: ignore[arg-type]
    assert decode_batch(memoryview(envelope()), GW).seq == 1
    assert decode_batch(envelope().decode(), GW).seq == 1


@pytest.mark.parametrize(
    "adv, expected",
    [
        ("not a list", "must be an array"),
        ([0, "AA:BB:CC:DD:EE:FF"], "must be an array"),
        ([-1, "AA:BB:CC:DD:EE:FF", -50], "t_ms must be an integer"),
        ([1.5, "AA:BB:CC:DD:EE:FF", -50], "t_ms must be an integer"),
        ([3_600_001, "AA:BB:CC:DD:EE:FF", -50], "t_ms must be an integer"),
        ([0, "AA:BB:CC:DD:EE:GG", -50], "bad MAC address"),
        ([0, "AA:BB:CC:DD:EE", -50], "bad MAC address"),
        ([0, "AA-BB-CC-DD-EE-FF", -50], "bad MAC address"),
        ([0, "AA:BB:CC:DD:EE: F", -50], "bad MAC address"),
        ([0, 12, -50], "bad MAC address"),
        ([0, "AA:BB:CC:DD:EE:FF", -128], "rssi must be an integer -127..20"),
        ([0, "AA:BB:CC:DD:EE:FF", 21], "rssi"),
        ([0, "AA:BB:CC:DD:EE:FF", "-50"], "rssi"),
        ([0, "AA:BB:CC:DD:EE:FF", -50, []], "manufacturer data must be an object"),
        ([0, "AA:BB:CC:DD:EE:FF", -50, {"0499": "zz"}], "manufacturer data 0499: bad hex"),
        ([0, "AA:BB:CC:DD:EE:FF", -50, {"0499": "abc"}], "bad hex"),
        ([0, "AA:BB:CC:DD:EE:FF", -50, {"0499": "ab cd"}], "bad hex"),
        ([0, "AA:BB:CC:DD:EE:FF", -50, {"0499": 5}], "value must be a hex string"),
        ([0, "AA:BB:CC:DD:EE:FF", -50, {"10000": "00"}], "bad company id"),
        ([0, "AA:BB:CC:DD:EE:FF", -50, {"0499": "00" * 256}], "at most 255 allowed"),
        ([0, "AA:BB:CC:DD:EE:FF", -50, {}, {"fcd2x": "00"}], "bad service UUID"),
        ([0, "AA:BB:CC:DD:EE:FF", -50, {}, {"fcd2": "0"}], "service data fcd2: bad hex"),
        ([0, "AA:BB:CC:DD:EE:FF", -50, {}, "fcd2"], "service data must be an object"),
        ([0, "AA:BB:CC:DD:EE:FF", -50, {f"{i:04x}": "" for i in range(17)}], "at most 16 allowed"),
    ],
)
def test_bad_advertisement_is_rejected_alone(adv, expected):
    good = [0, "AA:BB:CC:DD:EE:FF", -50, {"0499": "05"}]
    b = decode_batch(envelope(adv=[good, adv, good]), GW)
    assert len(b.advertisements) == 2
    assert len(b.rejected) == 1 and b.rejected[0].index == 1
    assert expected in b.rejected[0].reason, b.rejected[0].reason
    assert isinstance(b.rejected[0], Rejection)


def test_null_maps_and_lowercase_mac():
    b = decode_batch(envelope(adv=[[0, "aa:bb:cc:dd:ee:ff", -50, None, None]]), GW)
    assert b.advertisements[0].address == "AA:BB:CC:DD:EE:FF"
    assert b.advertisements[0].manufacturer_data == {} and b.advertisements[0].service_data == {}


def test_encode_rejects_what_the_server_would_reject():
    a = Advertisement(0.0, "AA:BB:CC:DD:EE:FF", -50, {}, {})
    for kwargs in ({"gateway_id": "gw/1"}, {"boot": ""}, {"seq": -1}, {"seq": True}):
        args = {"gateway_id": GW, "boot": "b", "seq": 1, "advertisements": [a]} | kwargs
        with pytest.raises(ProtocolError):
            encode_batch(**args)
    with pytest.raises(ProtocolError, match="too many"):
        encode_batch(GW, "b", 1, [a] * (MAX_ADVERTISEMENTS + 1))
    with pytest.raises(ProtocolError, match="spans more than"):
        encode_batch(GW, "b", 1, [a, a._replace(t=4000.0)])


# ------------------------------------------------------------------------------- sample payloads


def load(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def test_sample_good_batch():
    b = decode_batch(load("batch-good.json"), GW)
    assert len(b.advertisements) == 7 and b.rejected == [] and b.seq == 1042
    decoded = [
        decode(
            a.address,
            a.manufacturer_data,
            a.service_data,
            "231d39c1d7cc1ab1aee224cd096db932" if a.address == "54:48:E6:8F:80:A5" else None,
        )
        for a in b.advertisements
    ]
    assert [d.formats for d in decoded] == [
        ["ruuvi_v5"],
        ["ibeacon"],
        ["bthome_v2"],
        ["eddystone_uid"],
        ["eddystone_tlm"],
        ["ruuvi_e1"],
        [],
    ]
    assert all(d.errors == [] for d in decoded)
    assert decoded[1].tag_id == "ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:2"
    assert decoded[2].measurements["temperature_c"] == 25.06


def test_sample_batch_with_bad_advertisements():
    b = decode_batch(load("batch-bad-advertisement.json"), GW)
    assert [a.address for a in b.advertisements] == ["CB:B8:33:4C:88:4F", "F1:A1:12:34:56:78"]
    assert [r.index for r in b.rejected] == [1, 2, 3]
    assert "bad MAC" in b.rejected[0].reason and "rssi" in b.rejected[1].reason
    assert "bad hex" in b.rejected[2].reason


def test_sample_malformed_and_spoofed_batches():
    assert "'seq' must be 0" in reason(load("batch-malformed.json"))
    assert "gateway id mismatch" in reason(load("batch-spoofed.json"))
    assert decode_batch(load("batch-spoofed.json"), "gw-icu-2").gateway_id == "gw-icu-2"
    for p in PAYLOADS.glob("*.json"):
        json.loads(p.read_text())  # all sample files are valid JSON


# ---------------------------------------------------------------------------------- property tests


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decode_batch_raises_only_protocol_error_on_bytes(data):
    try:
        decode_batch(data, GW)
    except ProtocolError:
        pass


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=6), children, max_size=6)
    ),
    max_leaves=30,
)
adv_like = st.lists(
    st.one_of(
        json_values,
        st.tuples(
            st.integers(-5, 4_000_000),
            st.sampled_from(["AA:BB:CC:DD:EE:FF", "aa:bb", "", "ZZ:BB:CC:DD:EE:FF"]),
            st.integers(-300, 300),
            json_values,
            json_values,
        ).map(list),
        st.tuples(
            st.integers(0, 100),
            st.just("AA:BB:CC:DD:EE:FF"),
            st.integers(-127, 20),
            st.dictionaries(
                st.text("0123456789abcdefg", max_size=5), st.text("0123456789abcdef ", max_size=8), max_size=3
            ),
            st.dictionaries(
                st.sampled_from(["fcd2", "feaa", "x", FCD2]),
                st.text("0123456789abcdef", max_size=8),
                max_size=3,
            ),
        ).map(list),
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(
    v=st.sampled_from([1, 1, 1, 2, "1", None]),
    gw=st.sampled_from([GW, GW, "other", 3]),
    boot=st.one_of(st.just("b"), json_values),
    seq=st.one_of(st.integers(-3, 2**64), json_values),
    sent=st.one_of(st.floats(allow_nan=False), json_values),
    adv=st.one_of(adv_like, json_values),
    extra=st.dictionaries(st.text(max_size=5), json_values, max_size=3),
)
def test_decode_batch_raises_only_protocol_error_on_json(v, gw, boot, seq, sent, adv, extra):
    body = dict(extra)
    body.update({"v": v, "gw": gw, "boot": boot, "seq": seq, "sent": sent, "adv": adv})
    try:
        payload = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return
    try:
        b = decode_batch(payload, GW)
    except ProtocolError:
        return
    assert len(b.advertisements) + len(b.rejected) == len(adv)
    for a in b.advertisements:
        assert -127 <= a.rssi <= 20 and len(a.address) == 17
        assert all(isinstance(k, int) and isinstance(x, bytes) for k, x in a.manufacturer_data.items())
        assert all(isinstance(k, str) and len(k) == 36 for k in a.service_data)


# ------------------------------------------------------------------------------------ status


def test_status_round_trip_and_last_will():
    s = decode_status(
        encode_status(GW, "online", "boot-7", ts=10.0, software="agent 1.2", uptime_s=5, queue=0), GW
    )
    assert s == Status("online", GW, "boot-7", 10.0, "agent 1.2", {"uptime_s": 5, "queue": 0})
    will = decode_status(encode_status(GW, "offline", "boot-7", reason="last-will"), GW)
    assert will.state == "offline" and will.info == {"reason": "last-will"}
    assert decode_status(b"offline", GW).state == "offline"
    assert decode_status(b" ONLINE\n").state == "online"
    for bad in (
        b"{",
        b"[]",
        b'{"state": "sleeping"}',
        b'{"v": 2, "state": "online"}',
        b'{"state": "online", "ts": "x"}',
        b'{"state": "online", "boot": 1}',
    ):
        with pytest.raises(ProtocolError):
            decode_status(bad, GW)
    with pytest.raises(ProtocolError, match="mismatch"):
        decode_status(encode_status("gw-icu-2", "online", "b"), GW)
    with pytest.raises(ProtocolError):
        encode_status(GW, "asleep", "b")


# ------------------------------------------------------------------------------------ config


def test_config_round_trip_and_defaults():
    c = GatewayConfig(
        batch_interval_ms=500,
        max_batch=200,
        min_rssi=-95,
        macs=frozenset({"AA:BB:CC:DD:EE:FF"}),
        company_ids=frozenset({0x0499}),
        service_uuids=frozenset({0xFCD2}),
        ibeacon_uuids=frozenset({"e2c56db5dffb48d2b060d0f5a71096e0"}),
        eddystone_namespaces=frozenset({"edd1ebeac04e5defa017"}),
    )
    assert decode_config(encode_config(c)) == c
    assert decode_config(b'{"v": 1}') == GatewayConfig()
    d = decode_config(
        b'{"v": 1, "future": true, "filters": {"ibeacon_uuids": ["E2C56DB5-DFFB-48D2-B060-D0F5A71096E0"],'
        b' "service_uuids": ["0xFEAA", "0000fcd2-0000-1000-8000-00805f9b34fb"],'
        b' "macs": ["aa:bb:cc:dd:ee:ff"]}}'
    )
    assert d.ibeacon_uuids == {"e2c56db5dffb48d2b060d0f5a71096e0"}
    assert d.service_uuids == {0xFEAA, 0xFCD2} and d.macs == {"AA:BB:CC:DD:EE:FF"}


@pytest.mark.parametrize(
    "payload",
    [
        b"nope",
        b"[]",
        b'{"v": 2}',
        b'{"batch_interval_ms": 1000}',
        b'{"v": 1, "batch_interval_ms": 5}',
        b'{"v": 1, "max_batch": 0}',
        b'{"v": 1, "max_batch": 5001}',
        b'{"v": 1, "filters": []}',
        b'{"v": 1, "filters": {"min_rssi": -200}}',
        b'{"v": 1, "filters": {"macs": ["nope"]}}',
        b'{"v": 1, "filters": {"company_ids": ["12345"]}}',
        b'{"v": 1, "filters": {"ibeacon_uuids": ["abc"]}}',
        b'{"v": 1, "filters": {"service_uuids": ["6e400001-b5a3-f393-e0a9-e50e24dcca9e"]}}',
        b'{"v": 1, "filters": {"eddystone_namespaces": [1]}}',
    ],
)
def test_bad_configs(payload):
    with pytest.raises(ProtocolError):
        decode_config(payload)


def test_config_filter():
    ibeacon = bytes.fromhex("0215e2c56db5dffb48d2b060d0f5a71096e000010002c5")
    uid = bytes.fromhex("00eeedd1ebeac04e5defa0170102030405ab")
    everything = GatewayConfig(min_rssi=-90)
    assert everything.accepts("AA:BB:CC:DD:EE:FF", -50, {}, {})
    assert not everything.accepts("AA:BB:CC:DD:EE:FF", -91, {}, {})
    c = GatewayConfig(
        company_ids=frozenset({0x0499}),
        service_uuids=frozenset({0xFCD2}),
        ibeacon_uuids=frozenset({"e2c56db5dffb48d2b060d0f5a71096e0"}),
        eddystone_namespaces=frozenset({"edd1ebeac04e5defa017"}),
        macs=frozenset({"11:22:33:44:55:66"}),
    )
    assert c.accepts("AA:BB:CC:DD:EE:FF", -50, {0x0499: b"\x05"}, {})
    assert c.accepts("AA:BB:CC:DD:EE:FF", -50, {0x004C: ibeacon}, {})
    assert not c.accepts("AA:BB:CC:DD:EE:FF", -50, {0x004C: ibeacon[:5]}, {})
    assert c.accepts("AA:BB:CC:DD:EE:FF", -50, {}, {FCD2: b"\x40"})
    assert c.accepts("AA:BB:CC:DD:EE:FF", -50, {}, {"feaa": uid})
    assert not c.accepts("AA:BB:CC:DD:EE:FF", -50, {}, {"feaa": b"\x20\x00"})  # TLM has no namespace
    assert c.accepts("11:22:33:44:55:66", -50, {}, {"feaa": b"\x20\x00"})
    assert not c.accepts("AA:BB:CC:DD:EE:FF", -50, {0x0006: b"x"}, {"180f": b"d", "weird key": b""})


# ----------------------------------------------------------------------------- sequence tracker


def test_sequence_new_duplicate_gap_late():
    t = SequenceTracker()
    assert t.observe(GW, "b1", 10).status == "first"  # no loss counted before the first batch we see
    assert t.observe(GW, "b1", 11).status == "new"
    dup = t.observe(GW, "b1", 11)
    assert dup.status == "duplicate" and not dup.deliver
    gap = t.observe(GW, "b1", 15)
    assert gap == ("gap", 3) and gap.deliver and t.lost == 3
    late = t.observe(GW, "b1", 13)
    assert late.status == "late" and late.deliver and t.lost == 2
    assert t.observe(GW, "b1", 13).status == "duplicate"
    assert t.observe(GW, "b1", 10).status == "duplicate"
    assert t.stats() == {
        "gateways": 1,
        "received": 4,
        "lost": 2,
        "duplicates": 3,
        "late": 1,
        "stale": 0,
        "reboots": 0,
    }
    assert t.per_gateway[GW]["lost"] == 2


def test_sequence_reboot_restarts_and_counts_lost_first_batches():
    t = SequenceTracker()
    t.observe(GW, "b1", 500)
    r = t.observe(GW, "b2", 0)
    assert r == ("reboot", 0) and t.reboots == 1 and t.lost == 0
    assert t.observe(GW, "b2", 1).status == "new"
    r = t.observe(GW, "b3", 2)  # batches 0 and 1 of boot b3 never arrived
    assert r == ("reboot", 2) and t.lost == 2
    assert t.observe(GW, "b3", 0).status == "late" and t.lost == 1
    # a redelivered batch of an earlier boot is still recognised
    assert t.observe(GW, "b1", 500).status == "duplicate"
    assert t.observe(GW, "b1", 501).status == "new"


def test_sequence_gateways_are_independent():
    t = SequenceTracker()
    t.observe("gw-a", "b", 1)
    t.observe("gw-b", "b", 1)
    assert t.observe("gw-a", "b", 2).status == "new"
    assert t.observe("gw-b", "b", 1).status == "duplicate"


def test_sequence_memory_is_bounded():
    t = SequenceTracker(window=100, max_gateways=10, boots_per_gateway=2)
    t.observe(GW, "b1", 0)
    r = t.observe(GW, "b1", 1_000_000)  # a huge jump is counted exactly but only `window` seqs are kept
    assert r == ("gap", 999_999) and t.lost == 999_999
    st_ = t._gw[GW]["b1"]
    assert len(st_.missing) <= 100 and len(st_.order) <= 100
    assert t.observe(GW, "b1", 999_950).status == "late"
    assert t.observe(GW, "b1", 5).status == "stale"
    for i in range(50):
        t.observe(GW, "b1", 1_000_001 + 2 * i)  # many small gaps: still bounded
    assert len(st_.missing) <= 100 and len(st_.order) <= 100
    for i in range(25):
        t.observe(f"gw-{i}", "b", 0)
    assert t.stats()["gateways"] == 10 and len(t.per_gateway) == 10
    for b in ("b2", "b3", "b4"):
        t.observe("gw-24", b, 0)
    assert len(t._gw["gw-24"]) == 2


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["g1", "g2"]), st.sampled_from(["a", "b"]), st.integers(0, 40)), max_size=80
    )
)
def test_sequence_accounting_invariants(events):
    t = SequenceTracker(window=16)
    delivered = set()
    for gw, boot, seq in events:
        r = t.observe(gw, boot, seq)
        if r.deliver:
            assert (gw, boot, seq) not in delivered  # never deliver the same batch twice
            delivered.add((gw, boot, seq))
        else:
            assert r.status in ("duplicate", "stale")
    assert t.received == len(delivered)
    assert t.lost >= 0
