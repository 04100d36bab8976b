"""Replay recorded sightings through the live engine, and score the fixes against ground truth.

CSV shapes (headers; rows in any order; ``t`` in Unix seconds):

* gateways: ``gateway_id,x,y,z[,floor]`` (``z`` = height above its floor; floor defaults to 0)
* sightings: ``t,gateway_id,tag_id,rssi``
* survey: ``t,gateway_id,tag_id,rssi,x,y[,z][,floor]`` (readings at known positions)
* truth: ``t,tag_id,x,y[,z]`` (linearly interpolated between rows)

``load_inputs`` reads and validates files and raises ``ReplayInputError`` naming the file, line and
column of the first problem; ``replay`` runs the same ``Engine`` the live ingest runs, stepping
through time, and returns the fixes (``t,tag_id,x,y,z,floor,accuracy_m`` plus confidence, gateway
count and method) and the metrics. Pure pandas/numpy: the Django command is a thin wrapper.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from .calibration import Survey, build_radio_maps, fit_survey, fits_table
from .config import EngineConfig
from .engine import Engine
from .gateways import GatewayModel

FIX_COLUMNS = ["t", "tag_id", "x", "y", "z", "floor", "accuracy_m"]
EXTRA_COLUMNS = ["confidence", "n_gateways", "method"]

SCHEMAS = {
    # kind: (required columns, optional columns, numeric columns)
    "gateways": (["gateway_id", "x", "y", "z"], ["floor", "ref_power", "exponent"],
                 ["x", "y", "z", "ref_power", "exponent"]),
    "sightings": (["t", "gateway_id", "tag_id", "rssi"], [], ["t", "rssi"]),
    "survey": (["t", "gateway_id", "tag_id", "rssi", "x", "y"], ["z", "floor"], ["t", "rssi", "x", "y", "z"]),
    "truth": (["t", "tag_id", "x", "y"], ["z"], ["t", "x", "y", "z"]),
}
RSSI_RANGE = (-130.0, 20.0)


class ReplayInputError(ValueError):
    """Bad input: ``file``, ``line`` (1 = header) and ``column`` say where."""

    def __init__(self, file: str, line: int, column: str | None, message: str):
        self.file, self.line, self.column, self.message = file, line, column, message
        where = f"{file}, line {line}" + (f", column '{column}'" if column else "")
        super().__init__(f"{where}: {message}")


def read_csv_checked(path, kind: str, name: str | None = None, gateway_ids=None) -> pd.DataFrame:
    """Read one CSV of ``kind`` (see ``SCHEMAS``) and validate it; ``name`` labels errors."""
    name = name or str(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise ReplayInputError(name, 0, None, "file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ReplayInputError(name, 1, None, f"not a readable CSV file ({exc})") from None
    return validate_frame(df, kind, name, gateway_ids)


def validate_frame(df: pd.DataFrame, kind: str, name: str | None = None, gateway_ids=None) -> pd.DataFrame:
    """Check and type a frame of ``kind``; row ``i`` (0-based position) is reported as line ``i + 2``.

    ``gateway_ids``: known gateway ids; sightings/survey rows naming another gateway are an error.
    Returns a copy with numeric columns as floats and id columns as strings.
    """
    name = name or kind
    required, optional, numeric = SCHEMAS[kind]
    df = df.copy()
    df.columns = [str(c).strip() for c in df.columns]
    for c in required:
        if c not in df.columns:
            raise ReplayInputError(name, 1, c, f"missing column (expected columns: {', '.join(required)})")
    for c in required + optional:
        if c not in df.columns:
            continue
        raw = df[c]
        text = raw.astype(str).str.strip() if raw.dtype == object or str(raw.dtype) == "str" else None
        if text is not None:
            empty = (text == "") | raw.isna().to_numpy()
        else:
            empty = raw.isna().to_numpy()
        if c in required and np.any(empty):
            i = int(np.flatnonzero(np.asarray(empty))[0])
            raise ReplayInputError(name, i + 2, c, "empty value")
        if c in numeric:
            vals = pd.to_numeric(text if text is not None else raw, errors="coerce").astype(float)
            bad = ~np.isfinite(vals.to_numpy()) & ~np.asarray(empty)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ReplayInputError(name, i + 2, c, f"not a number: {str(raw.iloc[i])!r}")
            df[c] = vals
        else:
            df[c] = text if text is not None else raw.astype(str)
    if "rssi" in df.columns:
        out = ((df["rssi"] < RSSI_RANGE[0]) | (df["rssi"] > RSSI_RANGE[1])).to_numpy()
        if out.any():
            i = int(np.flatnonzero(out)[0])
            raise ReplayInputError(name, i + 2, "rssi", f"RSSI {df['rssi'].iloc[i]} dBm outside "
                                   f"{RSSI_RANGE[0]:g}..{RSSI_RANGE[1]:g}")
    if kind == "gateways":
        dup = df["gateway_id"].duplicated().to_numpy()
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise ReplayInputError(name, i + 2, "gateway_id", f"duplicate gateway id {df['gateway_id'].iloc[i]!r}")
        if len(df) == 0:
            raise ReplayInputError(name, 2, None, "no gateways")
        if "floor" not in df.columns:
            df["floor"] = 0
        else:
            fl = pd.to_numeric(df["floor"], errors="coerce")
            if fl.notna().all() and (fl == fl.round()).all():
                df["floor"] = fl.astype(int)
    if gateway_ids is not None and "gateway_id" in df.columns and kind in ("sightings", "survey"):
        unknown = ~df["gateway_id"].isin(set(gateway_ids)).to_numpy()
        if unknown.any():
            i = int(np.flatnonzero(unknown)[0])
            raise ReplayInputError(name, i + 2, "gateway_id",
                                   f"unknown gateway id {df['gateway_id'].iloc[i]!r} (not in the gateways file)")
    return df


def load_inputs(gateways, sightings, survey=None, truth=None) -> dict[str, pd.DataFrame | None]:
    """Read and validate the replay files (paths or buffers); keys as the arguments."""
    g = read_csv_checked(gateways, "gateways")
    ids = g["gateway_id"].tolist()
    return {
        "gateways": g,
        "sightings": read_csv_checked(sightings, "sightings", gateway_ids=ids),
        "survey": None if survey is None else read_csv_checked(survey, "survey", gateway_ids=ids),
        "truth": None if truth is None else read_csv_checked(truth, "truth"),
    }


def solve_times(t: np.ndarray, step_s: float | None = None, min_step_s: float = 0.25) -> np.ndarray:
    """When to solve: every ``step_s`` seconds, or (default) at input timestamps at least
    ``min_step_s`` apart (one fix per input time for data at a few Hz, at most 1/min_step_s per s)."""
    if len(t) == 0:
        return np.zeros(0)
    if step_s:
        return np.arange(t.min(), t.max() + 1e-9, step_s)
    u = np.unique(t)
    keep = [0]
    last = u[0]
    for i in range(1, len(u)):  # over distinct timestamps only
        if u[i] - last >= min_step_s:
            keep.append(i)
            last = u[i]
    if keep[-1] != len(u) - 1:
        keep.append(len(u) - 1)
    return u[keep]


def calibrate(gateways: GatewayModel, survey_df: pd.DataFrame, cfg: EngineConfig):
    """Fit path-loss parameters and build radio maps from a validated survey frame."""
    gw = gateways.index_of(survey_df["gateway_id"].tolist())
    z = survey_df["z"].to_numpy(float) if "z" in survey_df else np.full(len(survey_df), cfg.tag_height_m)
    z = np.where(np.isfinite(z), z, cfg.tag_height_m)
    floor = None
    if "floor" in survey_df:
        fl = survey_df["floor"]
        labels = {str(f): f for f in gateways.floors.tolist()}
        floor = np.array([labels.get(str(v), v) for v in fl.tolist()], dtype=object)
    xyz = np.c_[survey_df["x"].to_numpy(float), survey_df["y"].to_numpy(float), z]
    survey = Survey.from_arrays(gateways, gw, survey_df["rssi"].to_numpy(float), xyz, floor=floor,
                                t=survey_df["t"].to_numpy(float), tag=survey_df["tag_id"].to_numpy())
    fitted, report = fit_survey(gateways, survey, cfg)
    maps = build_radio_maps(fitted, survey, cfg)
    return fitted, report, maps


def replay(gateways_df: pd.DataFrame, sightings_df: pd.DataFrame, survey_df: pd.DataFrame | None = None,
           truth_df: pd.DataFrame | None = None, progress: Callable[[int, int], None] | None = None,
           config: EngineConfig | None = None, step_s: float | None = None,
           min_step_s: float = 0.25) -> tuple[pd.DataFrame, dict]:
    """Run the engine over recorded sightings; returns (fixes, metrics).

    With a survey, gateways are calibrated on it and its radio map is used. ``progress(done,
    total)`` is called about a hundred times. Metrics: ``fixes``, ``median_m``, ``p90_m``,
    ``mean_m``, ``rmse_m`` (horizontal error at each fix's time; None without truth), plus
    ``n_evaluated``, ``coverage`` (share of errors within ``accuracy_m``) and ``calibration``.
    """
    cfg = config or EngineConfig()
    g_df = validate_frame(gateways_df, "gateways")
    ids = g_df["gateway_id"].tolist()
    s_df = validate_frame(sightings_df, "sightings", gateway_ids=ids)
    gateways = GatewayModel.from_dataframe(g_df, ref_power=cfg.default_ref_power_dbm, exponent=cfg.default_exponent)
    report = None
    maps = None
    if survey_df is not None and len(survey_df):
        gateways, report, maps = calibrate(gateways, validate_frame(survey_df, "survey", gateway_ids=ids), cfg)
    engine = Engine(gateways, cfg, radio_maps=maps)

    s_df = s_df.sort_values("t", kind="stable")
    t = s_df["t"].to_numpy(float)
    gw = gateways.index_of(s_df["gateway_id"].tolist())
    tag = s_df["tag_id"].to_numpy(dtype=object)
    rssi = s_df["rssi"].to_numpy(float)
    times = solve_times(t, step_s, min_step_s)
    ends = np.searchsorted(t, times, side="right")
    frames = []
    done = 0
    every = max(1, len(times) // 100)
    for i, (now, end) in enumerate(zip(times.tolist(), ends.tolist(), strict=True)):
        if end > done:
            engine.ingest(t[done:end], gw[done:end], tag[done:end], rssi[done:end])
            done = end
        fb = engine.solve(now)
        if len(fb):
            frames.append(fb.to_dataframe())
        if progress is not None and (i % every == 0 or i == len(times) - 1):
            progress(i + 1, len(times))
    cols = FIX_COLUMNS + EXTRA_COLUMNS
    fixes = pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)
    metrics = evaluate(fixes, None if truth_df is None else validate_frame(truth_df, "truth"))
    if report is not None:
        metrics["calibration"] = [_clean(r) for r in fits_table(report)]
    return fixes, metrics


def horizontal_errors(fixes: pd.DataFrame, truth: pd.DataFrame, max_gap_s: float = 5.0) -> np.ndarray:
    """Horizontal error of each fix against truth interpolated at its time; NaN where there is no
    truth (other tag, outside the truth's time span, or no truth row within ``max_gap_s``)."""
    err = np.full(len(fixes), np.nan)
    ft = fixes["t"].to_numpy(float)
    fx, fy = fixes["x"].to_numpy(float), fixes["y"].to_numpy(float)
    ftag = fixes["tag_id"].astype(str).to_numpy()
    for tag_id, tr in truth.groupby(truth["tag_id"].astype(str), sort=False):
        tr = tr.sort_values("t")
        tt = tr["t"].to_numpy(float)
        sel = np.flatnonzero(ftag == tag_id)
        if len(sel) == 0:
            continue
        q = ft[sel]
        j = np.clip(np.searchsorted(tt, q), 1, len(tt) - 1) if len(tt) > 1 else np.zeros(len(q), dtype=int)
        near = np.minimum(np.abs(q - tt[j - 1]), np.abs(q - tt[j])) if len(tt) > 1 else np.abs(q - tt[0])
        ok = (q >= tt[0] - 1e-9) & (q <= tt[-1] + 1e-9) & (near <= max_gap_s)
        tx = np.interp(q, tt, tr["x"].to_numpy(float))
        ty = np.interp(q, tt, tr["y"].to_numpy(float))
        e = np.hypot(fx[sel] - tx, fy[sel] - ty)
        err[sel] = np.where(ok, e, np.nan)
    return err


def evaluate(fixes: pd.DataFrame, truth: pd.DataFrame | None, max_gap_s: float = 5.0) -> dict:
    m: dict = {"fixes": int(len(fixes)), "median_m": None, "p90_m": None, "mean_m": None, "rmse_m": None,
               "n_evaluated": 0, "coverage": None}
    if truth is None or len(fixes) == 0:
        return m
    err = horizontal_errors(fixes, truth, max_gap_s)
    ok = np.isfinite(err)
    if not ok.any():
        return m
    e = err[ok]
    m.update(median_m=round(float(np.median(e)), 3), p90_m=round(float(np.percentile(e, 90)), 3),
             mean_m=round(float(np.mean(e)), 3), rmse_m=round(float(np.sqrt(np.mean(e**2))), 3),
             n_evaluated=int(ok.sum()),
             coverage=round(float(np.mean(e <= fixes["accuracy_m"].to_numpy(float)[ok])), 3))
    return m


def write_fixes(fixes: pd.DataFrame, path, extra: bool = False) -> None:
    """Write fixes as CSV with the documented header (``extra`` adds confidence, n_gateways, method)."""
    cols = FIX_COLUMNS + (EXTRA_COLUMNS if extra else [])
    fixes[cols].to_csv(path, index=False, float_format="%.3f")


def _clean(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v if not isinstance(v, float) else round(v, 3)
    return out
