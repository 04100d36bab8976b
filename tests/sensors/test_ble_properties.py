"""Property-based: decode() never raises, whatever bytes arrive, for every format."""

from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.ble import VOCABULARY, decode

KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
MAC = "54:48:E6:8F:80:A5"

# Prefixes steer random data into each decoder's interesting branches.
PREFIXES = {
    ("m", 0x004C): [b"", b"\x02\x15"],
    ("m", 0x0499): [b"", b"\x03", b"\x05", b"\x06", b"\xe1"],
    ("s", "0000feaa-0000-1000-8000-00805f9b34fb"): [b"", b"\x00", b"\x10", b"\x20\x00", b"\x20\x01", b"\x30"],
    ("s", "0000fcd2-0000-1000-8000-00805f9b34fb"): [
        b"",
        b"\x40",
        b"\x41",
        b"\x42",
        b"\x43",
        b"\x44",
        b"\x45",
    ],
}
CASES = [(where, key, prefix) for (where, key), ps in PREFIXES.items() for prefix in ps]


def _check(d):
    assert isinstance(d.errors, list) and all(isinstance(e, str) for e in d.errors)
    assert "tag_id" in d.identity
    for name, value in d.measurements.items():
        base = name.rsplit("_", 1)[0] if name[-1].isdigit() and name[-2] == "_" else name
        assert base in VOCABULARY, name
        assert isinstance(value, int | float)
    for e in d.errors:
        assert "internal decoder error" not in e, e


@settings(max_examples=300, deadline=None)
@given(
    case=st.sampled_from(CASES),
    tail=st.binary(max_size=64),
    bindkey=st.sampled_from([None, KEY, b"\x00" * 16, b"short", "zz", "00" * 16]),
    address=st.sampled_from([MAC, "not-a-mac", "", "AA-BB-CC-DD-EE-FF"]),
)
def test_decode_never_raises_on_arbitrary_bytes(case, tail, bindkey, address):
    where, key, prefix = case
    data = prefix + tail
    if where == "m":
        d = decode(address, {key: data}, {}, bindkey)
    else:
        d = decode(address, {}, {key: data}, bindkey)
    _check(d)


@settings(max_examples=200, deadline=None)
@given(
    mfr=st.dictionaries(st.integers(0, 0xFFFF), st.binary(max_size=40), max_size=4),
    svc=st.dictionaries(
        st.sampled_from(["feaa", "fcd2", "0xFCD2", "181a", "x"]), st.binary(max_size=40), max_size=3
    ),
)
def test_decode_never_raises_on_arbitrary_maps(mfr, svc):
    _check(decode(MAC, mfr, svc))
