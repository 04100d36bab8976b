"""Replay of CSV files through the engine, metrics, and input validation."""

import json

import numpy as np
import pandas as pd
import pytest

from locator.engine import EngineConfig, distance_to_rssi
from locator.engine.replay import (
    FIX_COLUMNS,
    ReplayInputError,
    evaluate,
    load_inputs,
    replay,
    solve_times,
    write_fixes,
)

GW = pd.DataFrame({"gateway_id": ["a", "b", "c", "d", "e", "f"],
                   "x": [0.0, 12.0, 12.0, 0.0, 6.0, 6.0], "y": [0.0, 0.0, 9.0, 9.0, 0.0, 9.0],
                   "z": [2.5, 2.5, 2.6, 2.4, 2.8, 2.5], "floor": [0] * 6})
REF = np.array([-52.0, -57.0, -61.0, -55.0, -50.0, -58.0])
EXP = np.array([2.2, 2.5, 2.9, 2.0, 2.4, 2.7])


def radio(xy, rng, noise=3.0, h=1.2, ref=REF, exp=EXP):
    """RSSI of all six gateways at points ``xy`` (n, 2): (n, 6)."""
    g = GW[["x", "y", "z"]].to_numpy()
    d = np.sqrt(((xy[:, None, :] - g[None, :, :2]) ** 2).sum(-1) + (g[None, :, 2] - h) ** 2)
    return distance_to_rssi(d, ref, exp) + rng.normal(0, noise, d.shape)


def walk(t):
    """A loop around the room at about 0.6 m/s."""
    return np.c_[6 + 4 * np.cos(t / 8.0), 4.5 + 3 * np.sin(t / 8.0)]


def sightings_for(t, xy, rng, tag="tag-1", **world):
    r = radio(xy, rng, **world)
    rows = [(ti, GW.gateway_id[k], tag, r[i, k]) for i, ti in enumerate(t) for k in range(6)]
    return pd.DataFrame(rows, columns=["t", "gateway_id", "tag_id", "rssi"])


@pytest.fixture(scope="module")
def synthetic():
    rng = np.random.default_rng(0)
    t0 = 1_700_000_000.0
    t = t0 + np.arange(0, 90, 0.5)
    s = sightings_for(t, walk(t - t0), rng).sample(frac=1.0, random_state=1)  # any order
    tt = t0 + np.arange(0, 90, 1.0)
    txy = walk(tt - t0)
    truth = pd.DataFrame({"t": tt, "tag_id": "tag-1", "x": txy[:, 0], "y": txy[:, 1], "z": 1.2})
    grid = np.stack(np.meshgrid(np.arange(0.5, 11.6, 0.5), np.arange(0.5, 8.6, 0.5)), -1).reshape(-1, 2)
    ts = t0 - 1000 + np.arange(len(grid)) * 1.0
    sv = sightings_for(ts, grid, rng, tag="survey")
    sv["x"] = np.repeat(grid[:, 0], 6)
    sv["y"] = np.repeat(grid[:, 1], 6)
    sv["z"] = 1.2
    return s, truth, sv


def test_replay_without_survey_gives_small_error(synthetic):
    """Gateways close to the default model (+-3 dB), a tag 4 dB stronger than assumed."""
    _, truth, _ = synthetic
    rng = np.random.default_rng(5)
    t = truth["t"].to_numpy()[0] + np.arange(0, 90, 0.5)
    world = dict(ref=-55.0 + rng.uniform(-3, 3, 6), exp=2.5)
    s = sightings_for(t, walk(t - t[0]), rng, **world)
    fixes, m = replay(GW, s, truth_df=truth)
    assert list(fixes.columns[:7]) == FIX_COLUMNS
    assert m["fixes"] == len(fixes) > 150
    assert m["n_evaluated"] > 150
    assert m["median_m"] < 1.3 and m["p90_m"] < 2.2  # +-3 dB gateway bias alone is ~1 m of range error
    assert set(fixes["floor"]) == {0}
    json.dumps(m)  # serialisable as is


def test_replay_with_survey_calibrates_and_is_better(synthetic):
    s, truth, sv = synthetic
    _, m0 = replay(GW, s, truth_df=truth)
    fixes, m = replay(GW, s, survey_df=sv, truth_df=truth)
    assert m["median_m"] < 0.8 and m["p90_m"] < 1.6
    assert m["median_m"] < m0["median_m"]
    cal = {c["gateway_id"]: c for c in m["calibration"]}
    assert cal["a"]["ref_power_dbm"] == pytest.approx(-52.0, abs=2.0)
    assert cal["c"]["exponent"] == pytest.approx(2.9, abs=0.3)
    assert 0.5 <= m["coverage"] <= 1.0
    assert set(fixes["method"]) <= {"fused", "fingerprint"}
    json.dumps(m)


def test_replay_progress_and_steps(synthetic):
    s, truth, _ = synthetic
    calls = []
    fixes, m = replay(GW, s, truth_df=truth, step_s=1.0, progress=lambda d, n: calls.append((d, n)))
    assert calls[-1][0] == calls[-1][1] and len(calls) <= 102
    assert np.allclose(np.diff(fixes["t"].to_numpy()), 1.0)
    assert solve_times(np.array([0.0, 0.1, 0.2, 0.3, 0.6, 0.61]), None, 0.25).tolist() == [0.0, 0.3, 0.6, 0.61]


def test_metrics_without_truth_are_none(synthetic):
    s, _, _ = synthetic
    fixes, m = replay(GW, s.head(60))
    assert m["fixes"] == len(fixes) > 0
    assert m["median_m"] is None and m["p90_m"] is None and m["mean_m"] is None and m["rmse_m"] is None


def test_truth_is_interpolated_between_rows():
    truth = pd.DataFrame({"t": [0.0, 10.0], "tag_id": ["x", "x"], "x": [0.0, 10.0], "y": [0.0, 0.0]})
    fixes = pd.DataFrame({"t": [5.0, 20.0], "tag_id": ["x", "x"], "x": [5.0, 0.0], "y": [1.0, 0.0],
                          "accuracy_m": [2.0, 2.0]})
    m = evaluate(fixes, truth, max_gap_s=10.0)
    assert m["n_evaluated"] == 1 and m["median_m"] == pytest.approx(1.0)  # t=20 is outside the truth


def test_load_inputs_and_write_fixes_round_trip(tmp_path, synthetic):
    s, truth, sv = synthetic
    paths = {}
    for name, df in {"g": GW, "s": s, "c": sv, "t": truth}.items():
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    inp = load_inputs(paths["g"], paths["s"], paths["c"], paths["t"])
    fixes, m = replay(inp["gateways"], inp["sightings"], inp["survey"], inp["truth"],
                      config=EngineConfig(window_s=2.0))
    assert m["median_m"] < 0.8
    out = tmp_path / "fixes.csv"
    write_fixes(fixes, out)
    back = pd.read_csv(out)
    assert list(back.columns) == FIX_COLUMNS and len(back) == len(fixes)


# --- validation ------------------------------------------------------------------------------------


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


GW_CSV = "gateway_id,x,y,z,floor\na,0,0,2.5,1\nb,10,0,2.5,1\nc,5,8,2.5,1\n"


def error_of(tmp_path, gateways=GW_CSV, sightings=None, survey=None, truth=None) -> ReplayInputError:
    g = write(tmp_path, "G.csv", gateways)
    s = write(tmp_path, "S.csv", sightings or "t,gateway_id,tag_id,rssi\n1,a,t1,-60\n")
    c = write(tmp_path, "C.csv", survey) if survey else None
    t = write(tmp_path, "T.csv", truth) if truth else None
    with pytest.raises(ReplayInputError) as exc:
        load_inputs(g, s, c, t)
    return exc.value


def test_validation_missing_column_names_file_line_and_column(tmp_path):
    e = error_of(tmp_path, sightings="t,gateway_id,tag_id\n1,a,t1\n")
    assert (e.file.endswith("S.csv"), e.line, e.column) == (True, 1, "rssi")
    assert "S.csv, line 1, column 'rssi': missing column" in str(e)


def test_validation_non_numeric_rssi(tmp_path):
    e = error_of(tmp_path, sightings="t,gateway_id,tag_id,rssi\n1,a,t1,-60\n2,b,t1,-61\n3,c,t1,loud\n")
    assert (e.line, e.column) == (4, "rssi") and "'loud'" in str(e) and "S.csv" in str(e)


def test_validation_unknown_gateway_in_sightings(tmp_path):
    e = error_of(tmp_path, sightings="t,gateway_id,tag_id,rssi\n1,a,t1,-60\n2,zz,t1,-61\n")
    assert (e.line, e.column) == (3, "gateway_id") and "'zz'" in str(e)


def test_validation_other_problems(tmp_path):
    e = error_of(tmp_path, gateways="gateway_id,x,y,z\na,0,0,2\na,1,1,2\n")
    assert (e.file.endswith("G.csv"), e.line, e.column) == (True, 3, "gateway_id") and "duplicate" in str(e)
    e = error_of(tmp_path, gateways="gateway_id,x,y,z\na,0,,2\n")
    assert (e.line, e.column) == (2, "y") and "empty" in str(e)
    e = error_of(tmp_path, sightings="t,gateway_id,tag_id,rssi\n1,a,t1,-60\n1,a,t1,45\n")
    assert (e.line, e.column) == (3, "rssi") and "outside" in str(e)
    e = error_of(tmp_path, survey="t,gateway_id,tag_id,rssi,x,y,z\n1,a,s,-60,1,one,1.2\n")
    assert (e.file.endswith("C.csv"), e.line, e.column) == (True, 2, "y")
    e = error_of(tmp_path, truth="t,tag_id,x\n1,t1,3\n")
    assert (e.file.endswith("T.csv"), e.line, e.column) == (True, 1, "y")
    with pytest.raises(ReplayInputError, match="file not found"):
        load_inputs(tmp_path / "nope.csv", tmp_path / "S.csv")


def test_replay_validates_frames_too():
    s = pd.DataFrame({"t": [1.0], "gateway_id": ["nope"], "tag_id": ["t"], "rssi": [-60.0]})
    with pytest.raises(ReplayInputError, match="sightings, line 2, column 'gateway_id'"):
        replay(GW, s)


def test_replay_two_floors_follows_the_tag_upstairs():
    """Same layout on floors 1 and 2; readings through the slab are 20 dB weaker."""
    g2 = pd.concat([GW.assign(floor=1), GW.assign(floor=2, gateway_id=GW.gateway_id + "2")], ignore_index=True)
    rng = np.random.default_rng(9)
    t0 = 1_700_000_000.0
    t = t0 + np.arange(0, 60, 0.5)
    xy = walk(t - t0)
    upstairs = t - t0 >= 30
    r = radio(xy, rng)
    rows = []
    for i, ti in enumerate(t):
        for k in range(6):
            own, other = (GW.gateway_id[k] + "2", GW.gateway_id[k]) if upstairs[i] else (GW.gateway_id[k],
                                                                                          GW.gateway_id[k] + "2")
            rows.append((ti, own, "t", r[i, k]))
            if k % 2 == 0:
                rows.append((ti, other, "t", r[i, k] - 20.0))
    fixes, _ = replay(g2, pd.DataFrame(rows, columns=["t", "gateway_id", "tag_id", "rssi"]))
    ft = fixes["t"].to_numpy() - t0
    assert set(fixes.loc[ft < 29, "floor"]) == {1}
    assert set(fixes.loc[ft > 36, "floor"]) == {2}
