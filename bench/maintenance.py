"""Benchmark of the maintenance forecaster on a SIMULATED fleet (hospital/maintenance/fleet_sim.py).

Targets (issue "Maintenance"):
- forecasting 10,000 assets with two years of daily usage (forecast + due-date prediction for the whole
  fleet, from the long-format history the database would give) takes at most 10 s and 1 GB;
- on simulated fleets with known usage rates, the predicted due date of usage-driven plans is within
  3 days median absolute error at a 60-day horizon, against the due date computed from the simulated
  TRUE future usage;
- the Weibull fit recovers the simulated shape parameter within 15 % (with censoring present).

    .venv/bin/python bench/maintenance.py [--assets 10000] [--days 730] [--seed 0]

Timed: only the forecaster's calls (generation is not timed). Peak RSS is the whole process's
(resource.getrusage), generation included, so it is an upper bound for the forecaster's own memory.
The last line of output is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hospital.maintenance.fleet_sim import simulate_fleet, simulate_plans, simulate_repairs  # noqa: E402
from hospital.maintenance.forecast import (  # noqa: E402
    forecast_usage,
    predict_due,
    risk_before_due,
    usage_flags,
)
from hospital.maintenance.weibull import failure_intervals, fit_weibull, fit_weibull_by_type  # noqa: E402

T0 = time.perf_counter()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def step(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s, peak {peak_rss_mb():6.0f} MB] {msg}", flush=True)


def day_index(dates: pd.Series, today: pd.Timestamp) -> np.ndarray:
    return ((dates - today) / pd.Timedelta(days=1)).to_numpy(dtype=float)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=730, help="days of usage history")
    ap.add_argument("--horizon", type=int, default=60, help="due-date horizon scored, days")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    step(f"simulating {args.assets:,} assets x {args.days} days of history (+120 days of hidden future) ...")
    fleet = simulate_fleet(
        args.assets, history_days=args.days, future_days=max(120, args.horizon + 30), seed=args.seed
    )
    today = fleet.today
    usage = fleet.usage_long()
    step(f"long-format history: {len(usage):,} rows ({usage.memory_usage(deep=True).sum() / 2**20:.0f} MB)")

    # Plans whose TRUE usage due date is the last day of the horizon (day index horizon-1), every asset.
    plans, truth = simulate_plans(fleet, args.horizon - 1, seed=args.seed)
    plans["interval_days"] = 3650.0  # a calendar interval far away: these plans are usage-driven

    step("timed: forecast_usage + predict_due for the whole fleet ...")
    t = time.perf_counter()
    fc = forecast_usage(usage, today, args.horizon)
    t_fc = time.perf_counter() - t
    due = predict_due(plans, fc, today)
    forecast_seconds = time.perf_counter() - t
    step(
        f"  forecast_usage {t_fc:.2f} s, predict_due {forecast_seconds - t_fc:.2f} s, "
        f"total {forecast_seconds:.2f} s"
    )

    pred = day_index(due["usage_due"], today)
    err = pred - truth
    # Every plan's truth is inside the simulated future. A plan the forecaster calls "never" (NaT)
    # counts as an infinite error, so it cannot flatter the median.
    assert np.isfinite(truth).all()
    ok = np.isfinite(err)
    n_never = int((~ok).sum())
    abs_err_all = np.where(ok, np.abs(err), np.inf)
    abs_err = np.abs(err[ok])
    lo, hi = day_index(due["due_p10"], today), day_index(due["due_p90"], today)
    coverage = float(np.mean((lo <= truth) & (truth <= hi)))
    assert (due["driver"] == "usage").all()
    # The floor: the same due dates computed from the TRUE expected rates (no estimation error at all).
    h = np.arange(fleet.future.shape[1])
    mu = fleet.rate(h) * fleet.profile[:, (today.weekday() + h) % 7] * (1 - fleet.p_idle)
    rem = (plans["interval_hours"] - plans["hours_since_service"]).to_numpy()
    oracle = (np.cumsum(mu, axis=1) >= rem[:, None]).argmax(axis=1)
    oracle_mae = float(np.median(np.abs(oracle - truth)))
    step(
        f"due date at {args.horizon} days: median |error| {np.median(abs_err_all):.1f} d, mean |error| "
        f"{abs_err.mean():.2f} d, bias {err[ok].mean():+.2f} d, "
        f"P(|error| <= 3 d) {np.mean(abs_err_all <= 3):.2f}, predicted never {n_never}, "
        f"p10-p90 band covers the truth {coverage:.1%}; floor with the true rates: median {oracle_mae:.1f} d"
    )

    # Error by horizon (not timed): true due days spread over 7..90.
    rng = np.random.default_rng(args.seed + 1)
    spread_days = rng.integers(7, 91, fleet.n_assets)
    plans2, truth2 = simulate_plans(fleet, spread_days, seed=args.seed + 1)
    due2 = predict_due(plans2, fc, today)
    err2 = np.abs(day_index(due2["usage_due"], today) - truth2)
    err2[np.isnan(err2) & np.isfinite(truth2)] = np.inf
    by_h = {}
    for a, b in ((7, 30), (30, 60), (60, 91)):
        m = (truth2 >= a) & (truth2 < b)
        by_h[f"{a}-{b - 1}"] = float(np.median(err2[m]))
    step("median |error| by true horizon (days): " + ", ".join(f"{k}: {v:.1f}" for k, v in by_h.items()))

    t = time.perf_counter()
    flags = usage_flags(usage, today)
    flag_seconds = time.perf_counter() - t
    step(
        f"usage_flags {flag_seconds:.2f} s: heavy use {int(flags['heavy_use'].sum())}, "
        f"long idle {int(flags['long_idle'].sum())}"
    )
    del usage

    step("simulating repair histories (renewal process, true Weibull per type) ...")
    assets, failures, truth_w = simulate_repairs(fleet, seed=args.seed)
    t = time.perf_counter()
    intervals = failure_intervals(failures, assets, today)
    fits = fit_weibull_by_type(intervals)
    weibull_seconds = time.perf_counter() - t
    n_cens = int((~intervals["failed"]).sum())
    step(
        f"failure_intervals + fit_weibull_by_type {weibull_seconds:.2f} s: {len(failures):,} failures, "
        f"{n_cens:,} censored intervals ({n_cens / len(intervals):.0%})"
    )
    rel = {}
    for typ, (k_true, lam_true) in truth_w.items():
        f = fits.loc[typ]
        rel[typ] = abs(f["shape"] - k_true) / k_true
        print(
            f"    {typ:16s} shape {f['shape']:.3f} (true {k_true:.2f}, {rel[typ]:+.1%}) "
            f"scale {f['scale']:7.1f} (true {lam_true:.0f}) failures {f['n_failures']:5d} "
            f"censored {f['n_censored']:5d} {f['method']}",
            flush=True,
        )
    weibull_rel = max(rel.values())

    # A small fleet: 300 assets, shape recovery per type degrades gracefully and is flagged when sparse.
    a_s, f_s, _ = simulate_repairs(n_assets=300, seed=args.seed + 5, today=today)
    small = fit_weibull_by_type(failure_intervals(f_s, a_s, today))
    small_rel = {
        typ: abs(small.loc[typ, "shape"] - k) / k for typ, (k, _) in truth_w.items() if typ in small.index
    }
    step("300-asset fleet, shape rel. error: " + ", ".join(f"{k} {v:.0%}" for k, v in small_rel.items()))

    # Cross-check one type against scipy's own censored fit.
    from scipy import stats

    sub = intervals[intervals["asset_type"] == "ventilator"]
    t = time.perf_counter()
    ours = fit_weibull(sub["duration"], sub["failed"])
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    d = sub["duration"].to_numpy(float)
    cd = stats.CensoredData(uncensored=d[sub["failed"].to_numpy()], right=d[~sub["failed"].to_numpy()])
    k_sp, _, lam_sp = stats.weibull_min.fit(cd, floc=0)
    t_sp = time.perf_counter() - t
    step(
        f"ventilator: ours k={ours.shape:.4f} lam={ours.scale:.1f} ({t_ours * 1e3:.1f} ms); "
        f"scipy CensoredData k={k_sp:.4f} lam={lam_sp:.1f} ({t_sp * 1e3:.0f} ms)"
    )

    t = time.perf_counter()
    ages = intervals[~intervals["failed"]].rename(columns={"duration": "age_now"})
    risk = risk_before_due(due, ages, fits)
    risk_seconds = time.perf_counter() - t
    step(
        f"risk_before_due {risk_seconds:.2f} s: median risk {risk['risk'].median():.3f}, "
        f"p95 {risk['risk'].quantile(0.95):.3f}"
    )

    rss = peak_rss_mb()
    result = {
        "assets": args.assets,
        "history_days": args.days,
        "forecast_seconds": round(forecast_seconds, 3),
        "forecast_usage_seconds": round(t_fc, 3),
        "predict_due_seconds": round(forecast_seconds - t_fc, 3),
        "peak_rss_mb": round(rss, 1),
        "due_mae_days": float(np.median(abs_err_all)),
        "due_predicted_never": n_never,
        "due_mean_abs_error_days": round(float(abs_err.mean()), 3),
        "due_bias_days": round(float(err[ok].mean()), 3),
        "due_band_coverage": round(coverage, 3),
        "due_oracle_mae_days": oracle_mae,
        "due_mae_by_horizon": by_h,
        "weibull_shape_rel_error": round(float(weibull_rel), 4),
        "weibull_shape_rel_error_by_type": {k: round(float(v), 4) for k, v in rel.items()},
        "weibull_seconds": round(weibull_seconds, 3),
        "usage_flags_seconds": round(flag_seconds, 3),
        "risk_seconds": round(risk_seconds, 3),
        "targets_met": {
            "forecast_seconds<=10": bool(forecast_seconds <= 10),
            "peak_rss_mb<=1024": bool(rss <= 1024),
            "due_mae_days<=3": bool(np.median(abs_err_all) <= 3),
            "weibull_shape_rel_error<=0.15": bool(weibull_rel <= 0.15),
        },
        "data": "simulated (hospital/maintenance/fleet_sim.py)",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
