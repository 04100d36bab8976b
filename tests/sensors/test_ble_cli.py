"""The field-engineer CLI, run as a real subprocess: python -m sensors.ble."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(stdin: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sensors.ble", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_valid_invalid_and_blank_lines_keep_going():
    lines = [
        json.dumps(
            {
                "address": "cb:b8:33:4c:88:4f",
                "rssi": -60,
                "manufacturer_data": {"0x0499": "0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F"},
            }
        ),
        "{this is not json",
        "",
        json.dumps(
            {
                "address": "54:48:E6:8F:80:A5",
                "service_data": {"0xFCD2": "41e445f3c9962b332211006c7c4519"},
                "bindkey": "231d39c1d7cc1ab1aee224cd096db932",
            }
        ),
        json.dumps({"address": "AA:BB:CC:DD:EE:FF", "manufacturer_data": {"0x0499": 12}}),
        json.dumps(["not", "an", "object"]),
        json.dumps(
            {
                "address": "AA:BB:CC:DD:EE:FF",
                "service_data": {
                    "0000feaa-0000-1000-8000-00805f9b34fb": "00eeedd1ebeac04e5defa0170102030405ab"
                },
            }
        ),
        json.dumps({"address": "AA:BB:CC:DD:EE:FF", "manufacturer_data": {"0x0499": "0512"}}),
    ]
    proc = run_cli("\n".join(lines) + "\n", "--summary")
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == 7  # the blank line is skipped, nothing else is
    for o in out:
        assert set(o) == {"address", "formats", "identity", "measurements", "errors"}
    assert out[0]["formats"] == ["ruuvi_v5"] and out[0]["measurements"]["temperature_c"] == 24.3
    assert out[0]["address"] == "CB:B8:33:4C:88:4F"
    assert out[1]["errors"][0].startswith("line 2: not valid JSON")
    assert out[2]["measurements"] == {
        "encryption_counter": 1122867,
        "temperature_c": 25.06,
        "humidity_pct": 50.55,
    }
    assert out[3]["errors"] == ["line 5: manufacturer_data[0x0499] must be a hex string, not int"]
    assert out[3]["address"] == "AA:BB:CC:DD:EE:FF"
    assert out[4]["errors"] == ["line 6: expected a JSON object, got list"]
    assert out[5]["identity"]["tag_id"] == "eddystone:edd1ebeac04e5defa017:0102030405ab"
    assert out[6]["errors"] == ["ruuvi_v5: payload is 2 bytes, expected 24"]
    assert "4 decoded, 3 rejected" in proc.stderr


def test_bindkey_option_and_wrong_key():
    line = json.dumps(
        {"address": "54:48:E6:8F:80:A5", "service_data": {"0xfcd2": "41e445f3c9962b332211006c7c4519"}}
    )
    good = run_cli(line + "\n", "--bindkey", "54:48:e6:8f:80:a5=231d39c1d7cc1ab1aee224cd096db932")
    assert json.loads(good.stdout)["measurements"]["temperature_c"] == 25.06
    missing = json.loads(run_cli(line + "\n").stdout)
    assert missing["errors"] == ["bthome_v2: encrypted payload but no bind key for 54:48:E6:8F:80:A5"]
    bad = run_cli(line + "\n", "--bindkey", "54:48:E6:8F:80:A5=" + "00" * 16)
    assert json.loads(bad.stdout)["errors"] == ["bthome_v2: MIC check failed (wrong bind key?)"]


def test_bad_keys_and_bindkey_in_line():
    lines = [
        json.dumps({"address": "AA:BB:CC:DD:EE:FF", "manufacturer_data": {"0xZZ": "00"}}),
        json.dumps({"address": "AA:BB:CC:DD:EE:FF", "service_data": {"0xfcd2": "40"}, "bindkey": "abcd"}),
        json.dumps({"address": "AA:BB:CC:DD:EE:FF", "rssi": "loud"}),
        json.dumps({"manufacturer_data": {}}),
    ]
    out = [json.loads(x) for x in run_cli("\n".join(lines)).stdout.splitlines()]
    assert "not 0x-prefixed hex or decimal" in out[0]["errors"][0]
    assert "bindkey must be 16 bytes" in out[1]["errors"][0]
    assert out[2]["errors"] == ["line 3: rssi must be an integer"]
    assert out[3]["errors"] == ["line 4: address must be a non-empty string"]


def test_help():
    proc = run_cli("", "--help")
    assert proc.returncode == 0 and "stdin" in proc.stdout and "--bindkey" in proc.stdout
