"""Accuracy of the positioning engine on real BLE data (Kolakowski 2021, a furnished flat).

Converts the dataset into the replay CSV shapes in a temporary directory, runs
``locator.engine.replay`` on them exactly as ``manage.py locate_replay`` would, and prints:

* the test robot run, calibrated on the survey walk (path-loss fit + radio map + tracking);
* the same run without the survey (defaults only: what an untuned building gets);
* the person walk (no per-sample truth): distance from each fix to the walked route;
* with ``--cv``: the tuning protocol, blocked cross-validation on the calibration walk alone.

Last line: JSON with the metrics of the robot run with survey (other results nested).

    .venv/bin/python bench/locator_accuracy.py [--data DIR] [--cv] [--step 0.5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from locator.engine.config import EngineConfig  # noqa: E402
from locator.engine.replay import horizontal_errors, load_inputs, replay  # noqa: E402

DEFAULT_DATA = "/work/shared/datasets/kolakowski-ble-flat-2021"
TAG_HEIGHT = 1.3  # the robot carries the tag at 1.3 m (dataset README)


def rssi_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith("rssi_")]


def to_sightings(df: pd.DataFrame, tag_id: str) -> pd.DataFrame:
    """Wide rows (ts in ns, rssi_k per anchor k, empty = not heard) -> ``t,gateway_id,tag_id,rssi``."""
    cols = rssi_columns(df)
    long = df[["ts", *cols]].melt(id_vars="ts", var_name="col", value_name="rssi").dropna(subset=["rssi"])
    out = pd.DataFrame({"t": long["ts"].to_numpy(float) / 1e9,
                        "gateway_id": long["col"].str.removeprefix("rssi_").to_numpy(),
                        "tag_id": tag_id, "rssi": long["rssi"].to_numpy(float)})
    return out.sort_values(["t", "gateway_id"], kind="stable").reset_index(drop=True)


def to_survey(df: pd.DataFrame, tag_id: str) -> pd.DataFrame:
    s = to_sightings(df, tag_id)
    pos = pd.DataFrame({"t": df["ts"].to_numpy(float) / 1e9, "x": df["x"].to_numpy(float),
                        "y": df["y"].to_numpy(float)}).drop_duplicates("t")
    s = s.merge(pos, on="t", how="left")
    s["z"] = TAG_HEIGHT
    return s


def to_truth(df: pd.DataFrame, tag_id: str) -> pd.DataFrame:
    return pd.DataFrame({"t": df["ts"].to_numpy(float) / 1e9, "tag_id": tag_id, "x": df["x"].to_numpy(float),
                         "y": df["y"].to_numpy(float), "z": TAG_HEIGHT})


def convert(data: Path, out: Path) -> dict[str, Path]:
    """Write gateways/survey/sightings/truth/walk CSVs into ``out``; returns their paths."""
    anchors = pd.read_csv(data / "anchors.csv")
    cal = pd.read_csv(data / "calibration" / "calibration_df.csv", index_col=0)
    robot = pd.read_csv(data / "tests" / "test_robot_df.csv", index_col=0)
    walk = pd.read_csv(data / "tests" / "test_walk_df.csv", index_col=0)
    paths = {k: out / f"{k}.csv" for k in ("gateways", "survey", "sightings", "truth", "walk")}
    pd.DataFrame({"gateway_id": anchors["id"].astype(str), "x": anchors["x"], "y": anchors["y"],
                  "z": anchors["z"], "floor": 0}).to_csv(paths["gateways"], index=False)
    to_survey(cal, "survey-robot").to_csv(paths["survey"], index=False)
    to_sightings(robot, "robot").to_csv(paths["sightings"], index=False)
    to_truth(robot, "robot").to_csv(paths["truth"], index=False)
    to_sightings(walk, "walker").to_csv(paths["walk"], index=False)
    return paths


def segment_distance(px, py, segs: np.ndarray) -> np.ndarray:
    """Distance of points to the nearest of the segments (x0, y0, x1, y1)."""
    p = np.c_[px, py][:, None, :]
    a, b = segs[None, :, :2], segs[None, :, 2:]
    ab = b - a
    t = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1).min(1)


def summarise(e: np.ndarray) -> dict:
    e = e[np.isfinite(e)]
    return {"n": int(len(e)), "median_m": round(float(np.median(e)), 3),
            "p90_m": round(float(np.percentile(e, 90)), 3), "mean_m": round(float(np.mean(e)), 3),
            "rmse_m": round(float(np.sqrt(np.mean(e**2))), 3)}


def cross_validate(data: Path, cfg: EngineConfig, use_survey: bool = True, block_s: float = 60.0,
                   folds: int = 5, step_s: float | None = None) -> dict:
    """Blocked k-fold on the calibration walk: 60-s blocks, fold f = every 5th block held out.

    The held-out blocks are replayed as sightings with truth; the rest is the survey. This is the
    tuning protocol: the test runs were never used to choose parameters.
    """
    cal = pd.read_csv(data / "calibration" / "calibration_df.csv", index_col=0)
    anchors = pd.read_csv(data / "anchors.csv")
    g = pd.DataFrame({"gateway_id": anchors["id"].astype(str), "x": anchors["x"], "y": anchors["y"],
                      "z": anchors["z"], "floor": 0})
    t = cal["ts"].to_numpy(float) / 1e9
    blk = np.floor((t - t[0]) / block_s).astype(int) % folds
    errs, cov = [], []
    for f in range(folds):
        tr, te = cal[blk != f], cal[blk == f]
        fixes, _ = replay(g, to_sightings(te, "robot"), to_survey(tr, "survey") if use_survey else None,
                          None, config=cfg, step_s=step_s)
        e = horizontal_errors(fixes, to_truth(te, "robot"), max_gap_s=1.0)
        ok = np.isfinite(e)
        errs.append(e[ok])
        cov.append(e[ok] <= fixes["accuracy_m"].to_numpy(float)[ok])
    e = np.concatenate(errs)
    out = summarise(e)
    out["coverage"] = round(float(np.concatenate(cov).mean()), 3)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("KOLAKOWSKI_DATA", DEFAULT_DATA))
    ap.add_argument("--cv", action="store_true", help="also run the blocked CV on the calibration walk")
    ap.add_argument("--step", type=float, default=None,
                    help="solve every STEP seconds (default: at each input timestamp, >= 0.25 s apart)")
    args = ap.parse_args(argv)
    data = Path(args.data)
    cfg = EngineConfig(tag_height_m=TAG_HEIGHT)
    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        p = convert(data, Path(tmp))
        inp = load_inputs(p["gateways"], p["sightings"], p["survey"], p["truth"])
        t0 = time.perf_counter()
        fixes, m = replay(inp["gateways"], inp["sightings"], inp["survey"], inp["truth"], config=cfg,
                          step_s=args.step)
        m["seconds"] = round(time.perf_counter() - t0, 2)
        calib = m.pop("calibration", None)
        print("calibration:", json.dumps(calib))
        print("robot, with survey:", json.dumps(m))
        _, m0 = replay(inp["gateways"], inp["sightings"], None, inp["truth"], config=cfg, step_s=args.step)
        print("robot, without survey (defaults):", json.dumps(m0))

        segs = pd.read_csv(data / "tests" / "path_reference.csv")[["x0", "y0", "x1", "y1"]].to_numpy(float)
        walk = load_inputs(p["gateways"], p["walk"])["sightings"]
        wf, _ = replay(inp["gateways"], walk, inp["survey"], None, config=cfg, step_s=args.step)
        w = summarise(segment_distance(wf["x"].to_numpy(), wf["y"].to_numpy(), segs))
        print("walk, with survey (distance to route):", json.dumps(w))
        wf0, _ = replay(inp["gateways"], walk, None, None, config=cfg, step_s=args.step)
        w0 = summarise(segment_distance(wf0["x"].to_numpy(), wf0["y"].to_numpy(), segs))
        print("walk, without survey (distance to route):", json.dumps(w0))
        result = dict(m, without_survey=m0, walk=w, walk_without_survey=w0)
    if args.cv:
        cv = cross_validate(data, cfg, True, step_s=args.step)
        cv0 = cross_validate(data, cfg, False, step_s=args.step)
        print("calibration-walk blocked CV, with survey:", json.dumps(cv))
        print("calibration-walk blocked CV, without survey:", json.dumps(cv0))
        result["cv"] = cv
        result["cv_without_survey"] = cv0
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
