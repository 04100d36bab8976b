"""Replay of recorded readings: transitions, summary counts, CSV errors and the command line."""

import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sensors.alarms.mkt import mean_kinetic_temperature
from sensors.alarms.replay import ReplayError, main, read_readings, replay

T0 = 1_700_000_000


def csv_text(rows, header="t,sensor,quantity,value"):
    return header + "\n" + "\n".join(",".join(str(x) for x in r) for r in rows) + "\n"


def fridge_rows(sensor="fridge-1", excursion=(600, 600 + 45 * 60), hot=9.0, end=6000, step=60):
    return [
        (T0 + s, sensor, "temperature_c", hot if excursion[0] <= s < excursion[1] else 5.0)
        for s in range(0, end, step)
    ]


def run(text, profile="vaccine_fridge", **kw):
    out = list(replay(io.StringIO(text), profile, **kw))
    return out[:-1], out[-1]


def test_excursion_longer_than_on_delay(tmp_path):
    transitions, summary = run(csv_text(fridge_rows()))
    assert [(t["t"] - T0, t["rule"], t["from"], t["to"]) for t in transitions] == [
        (2400, "temperature_high", "normal", "active_unacknowledged"),
        (3900, "temperature_high", "active_unacknowledged", "returned_unacknowledged"),
    ]
    assert set(transitions[0]) >= {"t", "sensor", "rule", "from", "to", "priority", "value"}
    assert transitions[0]["priority"] == "medium" and transitions[0]["value"] == 9.0
    assert summary["alarms"] == 1
    assert summary["time_in_alarm_s"] == 1500
    rows = fridge_rows()
    assert summary["mkt_c"] == {
        "fridge-1": pytest.approx(mean_kinetic_temperature([r[3] for r in rows], [r[0] for r in rows]), abs=1e-4)
    }
    json.dumps(summary)  # JSON-able


def test_door_openings_shorter_than_on_delay_give_no_alarm():
    rows = [(T0 + s, "fridge-1", "temperature_c", 11.0 if s % 3600 < 900 else 5.0) for s in range(0, 6 * 3600, 60)]
    transitions, summary = run(csv_text(rows))
    assert transitions == [] and summary["alarms"] == 0 and summary["time_in_alarm_s"] == 0


def test_ack_after_and_realarms_are_not_counted_as_alarms():
    rows = fridge_rows(excursion=(600, 600 + 3 * 3600), end=14000)
    transitions, summary = run(csv_text(rows), ack_after=120)
    seen = [(t["t"] - T0, t["rule"], t["to"], t["reason"]) for t in transitions]
    assert seen == [
        (2400, "temperature_high", "active_unacknowledged", "alarm"),
        (2520, "temperature_high", "active_acknowledged", "acknowledged"),
        (6120, "temperature_high", "active_unacknowledged", "realarm"),
        (6240, "temperature_high", "active_acknowledged", "acknowledged"),
        (7800, "temperature_high_prolonged", "active_unacknowledged", "alarm"),
        (7920, "temperature_high_prolonged", "active_acknowledged", "acknowledged"),
        (9720, "temperature_high_prolonged", "active_unacknowledged", "realarm"),
        (9840, "temperature_high", "active_unacknowledged", "realarm"),
        (9840, "temperature_high_prolonged", "active_acknowledged", "acknowledged"),
        (9960, "temperature_high", "active_acknowledged", "acknowledged"),
        (11640, "temperature_high_prolonged", "active_unacknowledged", "realarm"),
        (11760, "temperature_high_prolonged", "active_acknowledged", "acknowledged"),
        (12000, "temperature_high", "normal", "return"),
        (12000, "temperature_high_prolonged", "normal", "return"),
    ]
    assert summary["alarms"] == 2  # temperature_high and temperature_high_prolonged; 4 re-alarms not counted
    assert summary["realarms"] == 4
    assert summary["time_in_alarm_s"] == 12000 - 2400  # union, not the sum of both alarms
    assert summary["alarm_seconds"] == (12000 - 2400) + (12000 - 7800)


def test_without_ack_the_alarm_ends_returned_unacknowledged_and_open_alarms_count_to_the_end():
    rows = fridge_rows(excursion=(600, 10**9), end=5000)
    transitions, summary = run(csv_text(rows))
    assert [t["to"] for t in transitions] == ["active_unacknowledged"]
    assert summary["still_active"] == 1
    assert summary["time_in_alarm_s"] == rows[-1][0] - (T0 + 2400)


def test_iso_times_unsorted_input_and_several_sensors():
    def iso(s):
        return datetime.fromtimestamp(T0 + s, UTC).isoformat().replace("+00:00", "Z")

    rows = [(iso(s), "a", "temperature_c", 9.0 if 600 <= s < 3300 else 5.0) for s in range(0, 6000, 60)]
    rows += [(T0 + s, "b", "temperature_c", 4.0) for s in range(0, 6000, 60)]
    rows += [(T0 + s, "b", "door_open", "closed") for s in range(0, 6000, 600)]
    rows.reverse()
    transitions, summary = run(csv_text(rows))
    assert [(t["sensor"], t["t"] - T0, t["to"]) for t in transitions] == [
        ("a", 2400, "active_unacknowledged"), ("a", 3900, "returned_unacknowledged"),
    ]
    assert set(summary["mkt_c"]) == {"a", "b"} and summary["mkt_c"]["b"] == pytest.approx(4.0)
    assert summary["sensors"] == 2 and summary["readings"] == len(rows)


def test_silent_sensor_raises_offline_alarm_in_replay():
    rows = [(T0 + s, "f", "temperature_c", 5.0) for s in list(range(0, 3600, 60)) + list(range(7200, 9000, 60))]
    transitions, summary = run(csv_text(rows))
    offline = [t for t in transitions if t["rule"] == "sensor_offline"]
    assert [t["to"] for t in offline] == ["active_unacknowledged", "returned_unacknowledged"]
    assert 3540 + 180 < offline[0]["t"] - T0 <= 3540 + 180 + 60  # within one replay tick of 3 intervals
    assert offline[1]["t"] - T0 == 7200
    assert run(csv_text(rows), interval_s=0)[1]["alarms"] == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("t,sensor,quantity,value\n1,a,temperature_c,abc\n", "line 2: value 'abc' is not a number"),
        ("t,sensor,quantity,value\n1,a,temperature_c,5\n2,a,temp,5\n", "line 3: unknown quantity 'temp'"),
        ("t,sensor,quantity,value\n1,a,temperature_c,5,9\n", "line 2: expected 4 fields, got 5"),
        ("t,sensor,quantity,value\n\nyesterday,a,temperature_c,5\n",
         "line 3: time 'yesterday' is neither Unix seconds nor ISO 8601"),
        ("time,sensor,quantity,value\n", "line 1: header must be t,sensor,quantity,value (missing t"),
        ("t,sensor,quantity,value\n1,,temperature_c,5\n", "line 2: empty sensor"),
        ("t,sensor,quantity,value\n1,a,temperature_c,inf\n", "line 2: value 'inf' is not a finite number"),
        ("", "line 1: empty input"),
    ],
)
def test_bad_csv_names_line_and_problem(text, message):
    with pytest.raises(ReplayError) as exc:
        read_readings(io.StringIO(text))
    assert str(exc.value).startswith(message)


def test_unknown_profile_and_missing_file(tmp_path):
    with pytest.raises(ReplayError, match="unknown profile 'nope'; known: .*vaccine_fridge"):
        list(replay(io.StringIO(csv_text([])), "nope"))
    with pytest.raises(ReplayError, match="cannot read"):
        list(replay(tmp_path / "missing.csv", "vaccine_fridge"))


def test_command_line(tmp_path):
    f = tmp_path / "r.csv"
    f.write_text(csv_text(fridge_rows()))
    out, err = io.StringIO(), io.StringIO()
    assert main(["--profile", "vaccine_fridge", "--readings", str(f), "--ack-after", "60"], out, err) == 0
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert lines[-1]["alarms"] == 1 and lines[1]["to"] == "active_acknowledged"

    out = io.StringIO()
    assert main(["--list-profiles"], out, err) == 0
    listed = [json.loads(x) for x in out.getvalue().splitlines()]
    assert "vaccine_fridge" in {p["slug"] for p in listed}
    assert "vaccine_refrigerator" in next(p for p in listed if p["slug"] == "vaccine_fridge")["equipment_types"]

    bad = tmp_path / "bad.csv"
    bad.write_text("t,sensor,quantity,value\n1,a,temperature_c,x\n")
    err = io.StringIO()
    assert main(["--profile", "vaccine_fridge", "--readings", str(bad)], io.StringIO(), err) == 2
    assert err.getvalue() == "error: line 2: value 'x' is not a number\n"
    err = io.StringIO()
    assert main(["--readings", str(f)], io.StringIO(), err) == 2
    assert "--profile and --readings are required" in err.getvalue()


def test_python_dash_m_without_django(tmp_path):
    f = tmp_path / "r.csv"
    f.write_text(csv_text(fridge_rows()))
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run(
        [sys.executable, "-m", "sensors.alarms.replay", "--profile", "vaccine_fridge", "--readings", str(f)],
        cwd=root, capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["alarms"] == 1
