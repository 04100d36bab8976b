"""manage.py alarm_replay: the live state machine over a CSV, one JSON line per transition, then a summary."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command


@pytest.fixture
def readings_csv(tmp_path):
    path = tmp_path / "fridge.csv"
    lines = ["t,sensor,quantity,value"]
    for i in range(240):  # one reading a minute; 9 C for 3 hours in the middle
        lines.append(f"{1_700_000_000 + i * 60},fridge-1,temperature_c,{9.0 if 20 <= i < 200 else 5.0}")
    path.write_text("\n".join(lines) + "\n")
    return path


def run(*args) -> list[dict]:
    out = io.StringIO()
    call_command("alarm_replay", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_alarm_replay_prints_transitions_then_the_summary(readings_csv):
    lines = run("--profile", "vaccine_fridge", "--readings", str(readings_csv), "--ack-after", "120")
    *transitions, summary = lines
    assert transitions
    for t in transitions:
        assert {"t", "sensor", "rule", "from", "to", "priority", "value"} <= set(t)
    first = transitions[0]
    assert (first["sensor"], first["rule"], first["from"], first["to"]) == (
        "fridge-1", "temperature_high", "normal", "active_unacknowledged")
    assert first["t"] == 1_700_000_000 + 20 * 60 + 1800  # the 30-min on-delay
    assert any(t["to"] == "active_acknowledged" for t in transitions)  # --ack-after
    assert summary["alarms"] == 2 and summary["time_in_alarm_s"] > 0
    assert set(summary["mkt_c"]) == {"fridge-1"} and 5.0 < summary["mkt_c"]["fridge-1"] < 9.0


def test_alarm_replay_lists_profiles_and_rejects_bad_input(readings_csv, tmp_path):
    slugs = {p["slug"] for p in run("--list-profiles")}
    assert {"vaccine_fridge", "isolation_room_negative", "waiting_area"} <= slugs
    with pytest.raises(CommandError, match="unknown profile"):
        run("--profile", "nope", "--readings", str(readings_csv))
    bad = tmp_path / "bad.csv"
    bad.write_text("t,sensor,quantity,value\n1,a,temperature_c,abc\n")
    with pytest.raises(CommandError, match="line 2"):
        run("--profile", "vaccine_fridge", "--readings", str(bad))
