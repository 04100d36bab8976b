"""Failure model: Weibull time-between-failures per asset type, fitted by maximum likelihood on repair
history with right censoring, and the conditional failure risk before the next service.

Pure numpy/scipy/pandas; never imports Django.

Time unit. Everything here is unit-agnostic: durations may be calendar days or usage hours, as long as
the fit and the ages given to :func:`failure_risk` use the same unit. :func:`failure_intervals` builds
day-based intervals from dated events, or usage-hour intervals when given the daily usage history.

Model. For an asset type, the time T between consecutive failures (or from commissioning to the first
failure) is Weibull(shape k, scale lam): S(t) = exp(-(t/lam)**k). Repairs are taken to restore the asset
"as good as new" (a renewal process), so every interval of every asset of the type is one observation:
failed intervals end in a failure, the current interval (since the last failure or commissioning, up to
today) is right-censored.

Fit. The censored log-likelihood with r failures is

    l(k, lam) = sum_failed [log k - k log lam + (k - 1) log t_i] - sum_all (t_i / lam)**k

For fixed k the scale has a closed form, lam**k = sum_all t_i**k / r, which leaves a one-dimensional,
unimodal profile likelihood in k, maximised with ``scipy.optimize.minimize_scalar`` on log k. Durations
are divided by their maximum first so that t**k cannot overflow for large k. The estimate agrees with
``scipy.stats.weibull_min.fit(scipy.stats.CensoredData(...), floc=0)`` (checked in the tests) and is
about a hundred times faster.

Few failures. With fewer than ``min_failures`` failures the shape is not identifiable; the fit falls back
and says so (``flagged=True``):
- ``prior_shape`` given (per type: the pooled shape, below): the shape is taken from it and only the
  scale is estimated, method ``"prior_shape"`` (``"pooled_shape"`` from :func:`fit_weibull_by_type`);
- otherwise the exponential (k = 1, constant hazard), method ``"exponential"``;
- no failure at all: the scale uses half a pseudo-failure, lam**k = sum t**k / 0.5 (the MLE would be
  infinite: "never fails"), method ``"no_failures"``. This errs towards a small, non-zero risk.
:func:`fit_weibull_by_type` pools the shape across types (a stratified MLE: one common shape, one scale
per type, over every type with at least one failure) and uses it as the prior for the sparse types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

SHAPE_BOUNDS = (0.05, 20.0)
PSEUDO_FAILURES = 0.5


@dataclass(frozen=True)
class WeibullFit:
    """A fitted Weibull time-between-failures model (durations in the unit of the data)."""

    shape: float
    scale: float
    n_failures: int
    n_censored: int
    method: str  # "mle" | "prior_shape" | "pooled_shape" | "exponential" | "no_failures" | "no_data"
    flagged: bool = False  # True when not a full two-parameter MLE: read the method
    loglik: float = float("nan")

    def cumulative_hazard(self, t):
        """H(t) = (t / scale) ** shape, elementwise; t < 0 counts as 0."""
        t = np.maximum(np.asarray(t, dtype=float), 0.0)
        return (t / self.scale) ** self.shape

    def survival(self, t):
        """S(t) = P(T > t)."""
        return np.exp(-self.cumulative_hazard(t))

    def conditional_failure(self, age_now, age_due):
        """P(failure before age_due | survived to age_now) = 1 - S(age_due) / S(age_now)."""
        dh = self.cumulative_hazard(age_due) - self.cumulative_hazard(age_now)
        return -np.expm1(-np.maximum(dh, 0.0))

    def mean(self) -> float:
        """Mean time between failures, scale * Gamma(1 + 1/shape)."""
        from scipy.special import gamma

        return float(self.scale * gamma(1.0 + 1.0 / self.shape))

    def as_dict(self) -> dict:
        return asdict(self)


def _clean(durations, failed) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(durations, dtype=float).ravel()
    f = np.asarray(failed, dtype=bool).ravel()
    if t.shape != f.shape:
        raise ValueError(f"durations ({t.size}) and failed ({f.size}) differ in length")
    keep = np.isfinite(t) & (t >= 0)
    t, f = t[keep], f[keep]
    if t.size and (t <= 0).any():
        # A failure on the day of the previous repair: half the smallest positive duration, so the log
        # stays finite and the interval still counts as very short.
        pos = t[t > 0]
        t = np.where(t > 0, t, 0.5 * (pos.min() if pos.size else 1.0))
    return t, f


def _scale_given_shape(t: np.ndarray, k: float, r: float) -> float:
    tmax = t.max()
    return float(tmax * (np.sum((t / tmax) ** k) / r) ** (1.0 / k))


def _loglik(t: np.ndarray, f: np.ndarray, k: float, lam: float) -> float:
    z = (t / lam) ** k
    lf = np.log(k) - k * np.log(lam) + (k - 1.0) * np.log(t[f])
    return float(lf.sum() - z.sum())


def fit_weibull(
    durations,
    failed,
    *,
    min_failures: int = 5,
    prior_shape: float | None = None,
    prior_method: str = "prior_shape",
) -> WeibullFit:
    """Fit a Weibull by censored maximum likelihood.

    Parameters
    ----------
    durations : array-like of float, shape (m,)
        Interval lengths (days or usage hours), >= 0. NaN and negative entries are dropped; zeros are
        replaced by half the smallest positive duration.
    failed : array-like of bool, shape (m,)
        True if the interval ended in a failure, False if right-censored (still running, or ended by
        something other than a failure, e.g. retirement).
    min_failures : int
        Below this many failures the shape is not estimated (see the module docstring).
    prior_shape : float, optional
        Shape to use when there are too few failures (e.g. the pooled shape of related types).
    prior_method : str
        Method label used when ``prior_shape`` is applied.

    Returns
    -------
    WeibullFit
    """
    t, f = _clean(durations, failed)
    r = int(f.sum())
    n_cens = int(t.size - r)
    if t.size == 0:
        return WeibullFit(float(prior_shape or 1.0), float("nan"), 0, 0, "no_data", True)
    if r >= max(min_failures, 2) and np.unique(t[f]).size >= 2:
        tmax = t.max()
        u = t / tmax
        sum_log_f = float(np.log(u[f]).sum())

        def neg_profile(logk: float) -> float:
            k = np.exp(logk)
            s = float(np.sum(u**k))
            return -(r * logk + (k - 1.0) * sum_log_f - r * np.log(s / r) - r)

        res = minimize_scalar(
            neg_profile,
            bounds=(np.log(SHAPE_BOUNDS[0]), np.log(SHAPE_BOUNDS[1])),
            method="bounded",
            options={"xatol": 1e-7},
        )
        k = float(np.exp(res.x))
        lam = _scale_given_shape(t, k, r)
        return WeibullFit(k, lam, r, n_cens, "mle", False, _loglik(t, f, k, lam))
    if prior_shape is not None and np.isfinite(prior_shape):
        k, method = float(prior_shape), prior_method
    else:
        k, method = 1.0, "exponential"
    if r == 0:
        method = "no_failures"
    lam = _scale_given_shape(t, k, max(r, PSEUDO_FAILURES))
    return WeibullFit(k, lam, r, n_cens, method, True, _loglik(t, f, k, lam))


def pooled_shape(durations, failed, groups) -> float:
    """Common Weibull shape across groups, each group with its own scale (stratified MLE).

    Only groups with at least one failure carry information about the shape. Returns NaN when fewer
    than two distinct failure durations exist overall.
    """
    t, f = np.asarray(durations, dtype=float), np.asarray(failed, dtype=bool)
    g = np.asarray(groups)
    keep = np.isfinite(t) & (t > 0)
    t, f, g = t[keep], f[keep], g[keep]
    codes, _ = pd.factorize(g)
    if codes.size == 0:
        return float("nan")
    ng = codes.max() + 1
    r = np.bincount(codes, weights=f.astype(float), minlength=ng)
    use = r[codes] > 0
    t, f, codes = t[use], f[use], codes[use]
    if f.sum() < 2 or np.unique(t[f]).size < 2:
        return float("nan")
    tmax = np.zeros(ng)
    np.maximum.at(tmax, codes, t)
    u = t / tmax[codes]
    sum_log_f = float(np.log(u[f]).sum())
    rg = r[r > 0]
    present = r > 0

    def neg_profile(logk: float) -> float:
        k = np.exp(logk)
        s = np.bincount(codes, weights=u**k, minlength=ng)[present]
        return -(rg.sum() * logk + (k - 1.0) * sum_log_f - float(np.sum(rg * np.log(s / rg))) - rg.sum())

    res = minimize_scalar(
        neg_profile,
        bounds=(np.log(SHAPE_BOUNDS[0]), np.log(SHAPE_BOUNDS[1])),
        method="bounded",
        options={"xatol": 1e-7},
    )
    return float(np.exp(res.x))


FIT_COLUMNS = ["shape", "scale", "n_failures", "n_censored", "method", "flagged", "loglik"]


def fit_weibull_by_type(intervals: pd.DataFrame, *, min_failures: int = 5) -> pd.DataFrame:
    """Fit one Weibull per asset type, with a pooled shape for types with too few failures.

    Parameters
    ----------
    intervals : DataFrame with columns
        ``asset_type`` (hashable), ``duration`` (float, days or hours, >= 0), ``failed`` (bool).
        One row per interval, as built by :func:`failure_intervals`.
    min_failures : int
        Types with fewer failures take the pooled shape (method ``"pooled_shape"``, flagged); if the
        pooled shape itself cannot be estimated they fall back to the exponential.

    Returns
    -------
    DataFrame indexed by ``asset_type`` with columns
        ``shape`` float, ``scale`` float, ``n_failures`` int, ``n_censored`` int, ``method`` str,
        ``flagged`` bool, ``loglik`` float.
    """
    df = intervals[["asset_type", "duration", "failed"]]
    k_pool = pooled_shape(df["duration"].to_numpy(), df["failed"].to_numpy(bool), df["asset_type"].to_numpy())
    rows = {}
    # One iteration per asset TYPE (tens), never per asset.
    for typ, grp in df.groupby("asset_type", sort=True, observed=True):
        fit = fit_weibull(
            grp["duration"].to_numpy(float),
            grp["failed"].to_numpy(bool),
            min_failures=min_failures,
            prior_shape=k_pool if np.isfinite(k_pool) else None,
            prior_method="pooled_shape",
        )
        rows[typ] = [getattr(fit, c) for c in FIT_COLUMNS]
    out = pd.DataFrame.from_dict(rows, orient="index", columns=FIT_COLUMNS)
    out.index.name = "asset_type"
    return out.astype({"n_failures": "int64", "n_censored": "int64", "flagged": "bool"})


def _fits_frame(fits) -> pd.DataFrame:
    if isinstance(fits, pd.DataFrame):
        return fits
    if isinstance(fits, Mapping):
        out = pd.DataFrame.from_dict(
            {k: [getattr(v, c) for c in FIT_COLUMNS] for k, v in fits.items()},
            orient="index",
            columns=FIT_COLUMNS,
        )
        out.index.name = "asset_type"
        return out
    raise TypeError("fits must be a DataFrame from fit_weibull_by_type or a mapping type -> WeibullFit")


RISK_COLUMNS = [
    "asset_id",
    "asset_type",
    "age_now",
    "age_due",
    "survival_now",
    "survival_due",
    "risk",
    "method",
    "flagged",
]


def failure_risk(assets: pd.DataFrame, fits) -> pd.DataFrame:
    """Probability that each asset fails before its next service, given that it works now.

    risk = 1 - S(age_due) / S(age_now) = 1 - exp(-(H(age_due) - H(age_now))), H(t) = (t/scale)**shape.

    Parameters
    ----------
    assets : DataFrame with columns
        ``asset_id``; ``asset_type`` (key into ``fits``); ``age_now`` (float >= 0: time since the last
        failure, or since commissioning if none, in the unit of the fit); ``age_due`` (float: the age at
        the predicted due date, e.g. ``age_now + days_to_due`` for a day-based fit or
        ``age_now + hours_to_due`` for an hour-based one; values below ``age_now`` give risk 0).
    fits : DataFrame from :func:`fit_weibull_by_type`, or a mapping asset_type -> :class:`WeibullFit`.

    Returns
    -------
    DataFrame, one row per input row, same order, columns
        ``asset_id``, ``asset_type``, ``age_now``, ``age_due``, ``survival_now`` (S(age_now)),
        ``survival_due`` (S(age_due)), ``risk`` (float in [0, 1]; NaN when the type has no fit or an age
        is missing), ``method`` (the fit's method, ``"no_fit"`` for unknown types), ``flagged`` (bool: the
        fit is a fallback, or there is no fit).
    """
    fr = _fits_frame(fits)
    typ = assets["asset_type"]
    pos = fr.index.get_indexer(typ)
    ok = pos >= 0
    k = np.where(ok, fr["shape"].to_numpy(float)[pos], np.nan)
    lam = np.where(ok, fr["scale"].to_numpy(float)[pos], np.nan)
    a0 = assets["age_now"].to_numpy(float)
    a1 = assets["age_due"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        h0 = (np.maximum(a0, 0.0) / lam) ** k
        h1 = (np.maximum(np.maximum(a1, a0), 0.0) / lam) ** k
        risk = -np.expm1(-(h1 - h0))
    method = np.where(ok, fr["method"].to_numpy(object)[pos], "no_fit")
    flagged = np.where(ok, fr["flagged"].to_numpy(bool)[pos], True)
    return pd.DataFrame(
        {
            "asset_id": assets["asset_id"].to_numpy(),
            "asset_type": typ.to_numpy(),
            "age_now": a0,
            "age_due": a1,
            "survival_now": np.exp(-h0),
            "survival_due": np.exp(-h1),
            "risk": np.clip(risk, 0.0, 1.0),
            "method": method,
            "flagged": flagged.astype(bool),
        }
    )


INTERVAL_COLUMNS = ["asset_id", "asset_type", "start", "end", "duration", "failed"]


def failure_intervals(
    failures: pd.DataFrame,
    assets: pd.DataFrame,
    today,
    *,
    usage=None,
) -> pd.DataFrame:
    """Turn repair history into Weibull observations: one interval per failure, one censored per asset.

    Parameters
    ----------
    failures : DataFrame with columns ``asset_id``, ``date`` (date-like: the day the failure was found,
        i.e. a corrective repair, not a preventive service). Events before commissioning or on/after
        ``today`` are ignored.
    assets : DataFrame with columns ``asset_id``, ``asset_type``, ``commissioned`` (date-like). Assets
        commissioned on/after ``today`` are ignored.
    today : date-like
    usage : optional daily usage (anything :func:`hospital.maintenance.forecast.usage_matrix` accepts).
        If given, durations are the usage hours between the two dates (start day included, end day
        excluded); intervals starting before the usage history are dropped (their hours are unknown).
        Otherwise durations are calendar days.

    Returns
    -------
    DataFrame with columns ``asset_id``, ``asset_type``, ``start`` (datetime64), ``end`` (datetime64),
    ``duration`` (float days or hours), ``failed`` (bool: False for the censored current interval, whose
    duration is the asset's current age for :func:`failure_risk`). Sorted by asset and start.
    """
    today = pd.Timestamp(today).normalize()
    a = assets[["asset_id", "asset_type", "commissioned"]].copy()
    a["commissioned"] = pd.to_datetime(a["commissioned"]).dt.normalize()
    a = a[a["commissioned"] < today]
    f = failures[["asset_id", "date"]].copy()
    f["date"] = pd.to_datetime(f["date"]).dt.normalize()
    f = f.merge(a[["asset_id", "commissioned"]], on="asset_id", how="inner")
    f = f[(f["date"] >= f["commissioned"]) & (f["date"] < today)]
    ev = pd.concat(
        [
            pd.DataFrame(
                {"asset_id": a["asset_id"].to_numpy(), "start": a["commissioned"].to_numpy(), "kind": 0}
            ),
            pd.DataFrame({"asset_id": f["asset_id"].to_numpy(), "start": f["date"].to_numpy(), "kind": 1}),
        ],
        ignore_index=True,
    )
    ev = ev.sort_values(["asset_id", "start", "kind"], kind="stable", ignore_index=True)
    nxt = ev.groupby("asset_id", sort=False)["start"].shift(-1)
    failed = nxt.notna().to_numpy()
    end = nxt.fillna(today)
    out = pd.DataFrame(
        {
            "asset_id": ev["asset_id"].to_numpy(),
            "start": ev["start"].to_numpy(),
            "end": end.to_numpy(),
            "failed": failed,
        }
    )
    out = out.merge(a[["asset_id", "asset_type"]], on="asset_id", how="left")
    if usage is None:
        out["duration"] = (out["end"] - out["start"]).dt.days.astype(float)
    else:
        from .forecast import usage_matrix

        um = usage_matrix(usage, today)
        cs = um.cumulative()
        row = um.asset_ids.get_indexer(out["asset_id"])
        s = _day_index(out["start"], um.start)
        e = _day_index(out["end"], um.start)
        ok = (row >= 0) & (s >= 0)
        dur = np.full(len(out), np.nan)
        r, s_, e_ = row[ok], np.clip(s[ok], 0, um.n_days), np.clip(e[ok], 0, um.n_days)
        dur[ok] = cs[r, e_] - cs[r, s_]
        out["duration"] = dur
        out = out[np.isfinite(out["duration"].to_numpy())]
    return out[INTERVAL_COLUMNS].reset_index(drop=True)


def _day_index(dates: pd.Series, start: pd.Timestamp) -> np.ndarray:
    d = pd.to_datetime(dates).to_numpy().astype("datetime64[D]").astype(np.int64)
    return d - np.datetime64(start.date(), "D").astype(np.int64)
