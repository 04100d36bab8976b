"""The maintenance forecaster: daily use per asset, predicted due dates of maintenance plans with an
uncertainty band, unusual-use flags, and (with :mod:`.weibull`) the failure risk before the next service.

Pure numpy/scipy/pandas: never imports Django. The Django side builds the input frames from the database and
stores or shows the output frames. Every function works on the whole fleet at once with array
operations; the only Python loops run over fixed small ranges (chunks of assets), never over assets.

Conventions shared by every function here
-----------------------------------------
- ``today`` is a date (anything ``pd.Timestamp`` accepts; the time of day is dropped). Usage history
  covers complete days BEFORE today; forecast day 0 is today itself.
- Hours are hours of use per calendar day, in [0, 24].
- Dates in outputs are ``datetime64`` columns, ``NaT`` where unknown.

Usage history (the ``usage`` argument), any of
- long format: a DataFrame with columns ``asset_id`` (hashable), ``date`` (date-like, naive or
  tz-aware: the wall date is used), ``hours`` (float). Several rows for one asset and day are summed
  (the sum is clipped to 24). Rows on/after ``today`` and rows with NaN hours are ignored. A day with no
  row AFTER the asset's first row counts as 0 h (the tracker saw no use); days before the first row are
  unknown (NaN) and excluded from every estimate, so newly commissioned assets are not read as idle.
- dense (wide) format: a DataFrame indexed by asset_id with one column per date (daily, date-like
  labels); NaN means unknown (it is never filled with 0). Columns on/after ``today`` are ignored.
- a :class:`UsageMatrix` (the internal form: a float array assets x days plus the start date).

Model (see docs/maintenance.md for the reasoning and the measured accuracy)
--------------------------------------------------------------------------
expected use on forecast day h (h = 0 is today):

    mu[a, h] = clip(profile[a, weekday(today + h)] * (level[a] + slope[a] * g(h)), 0, 24)
    g(h) = h                            if damping == 1
           damping * (1 - damping**h) / (1 - damping)   otherwise (damped trend)

- ``profile``: multiplicative weekday factors (mean 1 over the week): per weekday, an exponentially
  weighted mean over the last ``profile_weeks`` weeks (half-life ``profile_halflife_weeks``), divided by
  the mean over the seven weekdays. Every weekday has the same age distribution in the window, so a
  trend does not leak into the profile.
- ``slope``: the Theil-Sen slope (median of pairwise slopes; robust to a week in repair or a holiday)
  of the weekly means of the last ``trend_weeks`` full weeks (a weekly mean has no weekday pattern in
  it), shrunk towards 0 by an empirical-Bayes factor: a fleet-wide prior on trends is estimated from
  all assets at once, and an asset's slope keeps weight prior / (prior + its sampling variance). On the
  simulated fleets this cuts the mean due-date error at 60 days from 4.3 to 3.6 days (docs/maintenance.md).
- ``level``: the value of that line at today, the intercept being a winsorised mean of the weekly means
  minus slope * time. With fewer than ``min_weeks`` full weeks: no trend, level = the mean of the
  weekday means.
- uncertainty of the cumulative use over days 0..h: day-to-day noise (residual sd ``sigma`` with lag-1
  autocorrelation ``rho``, AR(1) sum variance) plus the estimation error of level and slope (standard
  errors from the weekly-mean residuals, with their covariance), propagated through the cumulative
  profile sums. Quantiles use the normal approximation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtri

from .weibull import failure_risk

MAX_HOURS = 24.0
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PROFILE_COLUMNS = [f"profile_{d}" for d in WEEKDAYS]

__all__ = [
    "UsageMatrix",
    "usage_matrix",
    "forecast_usage",
    "forecast_daily",
    "predict_due",
    "hours_since",
    "usage_flags",
    "risk_before_due",
    "FORECAST_COLUMNS",
    "DUE_COLUMNS",
    "FLAG_COLUMNS",
    "PROFILE_COLUMNS",
]


# ----------------------------------------------------------------------------------------------------
# Usage history -> dense matrix
# ----------------------------------------------------------------------------------------------------


def _day(value) -> int:
    """Days since 1970-01-01 of a date-like."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return int(np.datetime64(ts.date(), "D").astype(np.int64))


def _days_of(values) -> np.ndarray:
    """Day numbers (int64, since 1970-01-01) of a Series/array of date-likes; NaT -> INT64 min."""
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_localize(None)
    arr = s.to_numpy()
    if not np.issubdtype(arr.dtype, np.datetime64):
        arr = pd.to_datetime(s).to_numpy()
    return arr.astype("datetime64[D]").astype(np.int64)


def _day_floats(values) -> np.ndarray:
    """Like :func:`_days_of` but float with NaN for missing."""
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    if s.isna().all():
        return np.full(len(s), np.nan)
    d = _days_of(s).astype(float)
    d[s.isna().to_numpy()] = np.nan
    return d


def _to_dates(day_numbers: np.ndarray) -> np.ndarray:
    """Float day numbers (NaN = missing) -> datetime64[s] with NaT."""
    out = np.full(day_numbers.shape, np.datetime64("NaT"), dtype="datetime64[s]")
    ok = np.isfinite(day_numbers)
    out[ok] = np.floor(day_numbers[ok]).astype(np.int64).astype("datetime64[D]")
    return out


@dataclass(frozen=True)
class UsageMatrix:
    """Dense daily usage: ``hours[i, j]`` is the use of ``asset_ids[i]`` on day ``start + j``.

    NaN means unknown (before the asset's first record, or missing in a dense input). The last column is
    the day before ``end`` (= today).
    """

    asset_ids: pd.Index
    hours: np.ndarray
    start: pd.Timestamp

    @property
    def n_assets(self) -> int:
        return self.hours.shape[0]

    @property
    def n_days(self) -> int:
        return self.hours.shape[1]

    @property
    def end(self) -> pd.Timestamp:
        """The first day NOT covered (today)."""
        return self.start + pd.Timedelta(days=self.n_days)

    def cumulative(self) -> np.ndarray:
        """(n_assets, n_days + 1): column j = hours used before day ``start + j`` (NaN counted as 0)."""
        cs = np.zeros((self.n_assets, self.n_days + 1))
        np.cumsum(np.nan_to_num(self.hours, nan=0.0), axis=1, out=cs[:, 1:])
        return cs


def usage_matrix(usage, today, *, history_days: int | None = None) -> UsageMatrix:
    """Build the dense (assets x days) matrix of complete days before ``today`` from any usage input.

    ``history_days`` keeps only the last that many days (the result always ends the day before today).
    Long-format rows are summed per asset and day (a 7.3 M-row frame converts in well under a second).
    """
    t = _day(today)
    if isinstance(usage, UsageMatrix):
        s0 = _day(usage.start)
        lo = s0 if history_days is None else max(s0, t - history_days)
        lo = min(lo, t)
        n_days = t - lo
        out = np.full((usage.n_assets, n_days), np.nan)
        src_lo, src_hi = lo - s0, min(t - s0, usage.n_days)
        if src_hi > src_lo:
            out[:, : src_hi - src_lo] = usage.hours[:, src_lo:src_hi]
        return UsageMatrix(usage.asset_ids, out, _ts(lo))
    if not isinstance(usage, pd.DataFrame):
        raise TypeError(
            "usage must be a long DataFrame (asset_id, date, hours), a wide DataFrame or a UsageMatrix"
        )
    if {"asset_id", "date", "hours"} <= set(usage.columns):
        return _from_long(usage, t, history_days)
    return _from_wide(usage, t, history_days)


def _ts(day_number: int) -> pd.Timestamp:
    return pd.Timestamp(np.datetime64(int(day_number), "D"))


def _from_long(df: pd.DataFrame, t: int, history_days: int | None) -> UsageMatrix:
    codes, uniques = pd.factorize(df["asset_id"], sort=True)
    day = _days_of(df["date"])
    hrs = df["hours"].to_numpy(dtype=float)
    valid = (codes >= 0) & (day < t) & np.isfinite(hrs)
    n = len(uniques)
    first = np.full(n, t, dtype=np.int64)
    np.minimum.at(first, codes[valid], day[valid])
    start = int(first.min()) if n else t
    if history_days is not None:
        start = max(start, t - int(history_days))
    n_days = t - start
    keep = valid & (day >= start)
    flat = codes[keep].astype(np.int64) * n_days + (day[keep] - start)
    hours = (
        np.bincount(flat, weights=hrs[keep], minlength=n * n_days)
        .reshape(n, n_days)
        .astype(float, copy=False)
    )
    del flat, keep, valid
    np.clip(hours, 0.0, MAX_HOURS, out=hours)
    # Unknown before the first record; after it, a day without a row is a day without use.
    hours[np.arange(n_days)[None, :] < (first - start)[:, None]] = np.nan
    return UsageMatrix(pd.Index(uniques, name="asset_id"), hours, _ts(start))


def _from_wide(df: pd.DataFrame, t: int, history_days: int | None) -> UsageMatrix:
    day = _days_of(pd.Series(pd.to_datetime(df.columns)))
    keep = day < t
    if history_days is not None:
        keep &= day >= t - int(history_days)
    vals = df.to_numpy(dtype=float)[:, keep]
    day = day[keep]
    start = int(day.min()) if day.size else t
    out = np.full((len(df), t - start), np.nan)
    out[:, day - start] = vals
    np.clip(out, 0.0, MAX_HOURS, out=out)
    return UsageMatrix(pd.Index(df.index, name="asset_id"), out, _ts(start))


def _tail(y: np.ndarray, days: int) -> np.ndarray:
    """Last ``days`` columns, left-padded with NaN when the history is shorter."""
    n, d = y.shape
    if d >= days:
        return y[:, d - days :]
    out = np.full((n, days), np.nan)
    out[:, days - d :] = y
    return out


def _robust_mean(a: np.ndarray, k: float = 2.5) -> np.ndarray:
    """Row means after clipping each row at median +- k * 1.4826 * MAD (NaN ignored).

    Nearly as efficient as the mean on clean data, and a week in repair or a holiday week cannot drag
    it far."""
    med = _row_nanmedian(a)
    mad = 1.4826 * _row_nanmedian(np.abs(a - med[:, None]))
    lo = (med - k * mad)[:, None]
    hi = (med + k * mad)[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.clip(a, lo, hi), axis=1)


def _row_nanmedian(a: np.ndarray) -> np.ndarray:
    """Median of each row ignoring NaN (NaN for all-NaN rows); much faster than np.nanmedian here."""
    s = np.sort(a, axis=1)  # NaN sort last
    k = np.sum(~np.isnan(a), axis=1)
    lo = np.clip((k - 1) // 2, 0, None)
    hi = np.clip(k // 2, 0, a.shape[1] - 1)
    med = 0.5 * (np.take_along_axis(s, lo[:, None], 1)[:, 0] + np.take_along_axis(s, hi[:, None], 1)[:, 0])
    med[k == 0] = np.nan
    return med


# ----------------------------------------------------------------------------------------------------
# Forecast
# ----------------------------------------------------------------------------------------------------

FORECAST_COLUMNS = [
    "asset_id",
    "origin",
    "method",
    "level",
    "slope",
    "slope_raw",
    "trend_shrink",
    "damping",
    *PROFILE_COLUMNS,
    "sigma",
    "rho",
    "level_se",
    "slope_se",
    "level_slope_cov",
    "n_days",
    "n_weeks",
    "horizon_days",
    "expected_hours",
    "expected_hours_sd",
    "mean_daily",
]


def forecast_usage(
    usage,
    today,
    horizon_days: int = 60,
    *,
    profile_weeks: int = 12,
    profile_halflife_weeks: float = 4.0,
    trend_weeks: int = 26,
    min_weeks: int = 3,
    damping: float = 1.0,
    shrink_trend: bool = True,
    trend_prior_sd: float | None = None,
    intercept: str = "winsorized",
) -> pd.DataFrame:
    """Fit the daily-use model of every asset and summarise the next ``horizon_days`` days.

    Parameters
    ----------
    usage : usage history (long DataFrame ``asset_id, date, hours``; wide DataFrame; or UsageMatrix),
        see the module docstring. Only the last ``7 * max(profile_weeks, trend_weeks)`` days are used.
    today : date-like; forecast day 0.
    horizon_days : int, the horizon of the summary columns ``expected_hours*``; the model itself is
        not limited to it (:func:`predict_due` and :func:`forecast_daily` expand it as far as needed).
    profile_weeks, profile_halflife_weeks : window and exponential half-life of the weekday profile.
    trend_weeks, min_weeks : window of the Theil-Sen trend, and the minimum number of full weeks in it
        for a trend to be fitted.
    damping : per-day damping of the trend (1 = linear, e.g. 0.99 flattens the trend over ~100 days).
    shrink_trend, trend_prior_sd : empirical-Bayes shrinkage of each slope towards 0 with a fleet-wide
        prior (see :func:`_trend_shrinkage`); ``trend_prior_sd`` (relative change per day) fixes the prior
        instead of estimating it from the fleet.
    intercept : how the level at today is taken from the weekly means once the slope is known:
        "winsorized" (default; mean after clipping at median +- 2.5 MAD), "mean" or "median".

    Returns
    -------
    DataFrame, one row per asset (RangeIndex), columns ``FORECAST_COLUMNS``:
        asset_id : as in the input
        origin : datetime64, = today (forecast day 0)
        method : str, "trend" (level + Theil-Sen slope), "level" (too few full weeks: no trend) or
            "no_data" (no observed day in the window: every forecast is NaN)
        level : float h/day, deseasonalised expected use at the origin
        slope : float h/day per day, the trend used (= trend_shrink * slope_raw)
        slope_raw : float h/day per day, the Theil-Sen slope before shrinkage
        trend_shrink : float in [0, 1], the empirical-Bayes shrinkage factor of the slope
        damping : float
        profile_mon ... profile_sun : float, weekday factors, mean 1 (1 everywhere if never used)
        sigma : float h, sd of daily residuals in the trend window
        rho : float in [0, 0.9], lag-1 autocorrelation of the residuals
        level_se, slope_se, level_slope_cov : estimation uncertainty of level and slope
        n_days : int, observed days in the window; n_weeks : int, full weeks used for the trend
        horizon_days : int
        expected_hours : float, expected total use over days 0 .. horizon_days-1
        expected_hours_sd : float, its standard deviation
        mean_daily : float, expected_hours / horizon_days
    """
    today_ts = pd.Timestamp(_ts(_day(today)))
    window = 7 * max(profile_weeks, trend_weeks)
    um = usage_matrix(usage, today_ts, history_days=window)
    p = _fit(
        _tail(um.hours, window),
        today_ts.weekday(),
        profile_weeks,
        profile_halflife_weeks,
        trend_weeks,
        min_weeks,
        shrink_trend=shrink_trend,
        trend_prior_sd=trend_prior_sd,
        intercept=intercept,
    )
    n = um.n_assets
    out = pd.DataFrame(
        {"asset_id": um.asset_ids.to_numpy(), "origin": np.repeat(today_ts.to_datetime64(), n)}
    )
    out["method"] = p.pop("method")
    for c in ("level", "slope", "slope_raw", "trend_shrink"):
        out[c] = p[c]
    out["damping"] = float(damping)
    for i, c in enumerate(PROFILE_COLUMNS):
        out[c] = p["profile"][:, i]
    for c in ("sigma", "rho", "level_se", "slope_se", "level_slope_cov", "n_days", "n_weeks"):
        out[c] = p[c]
    out["horizon_days"] = int(horizon_days)
    h = max(int(horizon_days), 1)
    exp_h = np.full(n, np.nan)
    sd_h = np.full(n, np.nan)
    arrays = _param_arrays(out)
    for lo in range(0, n, 4096):  # bounded memory; a handful of chunks
        sl = slice(lo, min(n, lo + 4096))
        mu, var = _expand({k: v[sl] for k, v in arrays.items()}, h, today_ts.weekday(), 0)
        exp_h[sl] = mu.sum(axis=1)
        sd_h[sl] = np.sqrt(var[:, -1])
    out["expected_hours"] = exp_h
    out["expected_hours_sd"] = sd_h
    out["mean_daily"] = exp_h / h
    return out[FORECAST_COLUMNS]


DEFAULT_TREND_PRIOR_SD = 0.5 / 365.0  # relative change of use per day: +-50 % a year


def _trend_shrinkage(slope, se, level, ok, prior_sd) -> np.ndarray:
    """Posterior-mean factor w in [0, 1] for each slope under a N(0, (tau * level)**2) prior.

    The slope of one asset over a few weeks is mostly noise; extrapolated over 60 days that noise costs
    more than ignoring a real trend. The prior sd tau (a relative change per day, the same for the whole
    fleet) is estimated from the fleet by the method of moments, mean((b/L)**2) - mean((se/L)**2), over
    assets with a fit and a level of at least 0.5 h/day (``prior_sd`` overrides it; fewer than 30 such
    assets -> DEFAULT_TREND_PRIOR_SD).
    """
    lv = np.maximum(np.nan_to_num(level, nan=0.0), 0.1)
    sel = ok & (lv >= 0.5) & np.isfinite(slope) & np.isfinite(se)
    if prior_sd is not None:
        tau2 = float(prior_sd) ** 2
    elif sel.sum() >= 30:
        r2 = (slope[sel] / lv[sel]) ** 2
        s2 = (se[sel] / lv[sel]) ** 2
        tau2 = max(float(np.mean(r2) - np.mean(s2)), 1e-12)
    else:
        tau2 = DEFAULT_TREND_PRIOR_SD**2
    prior = tau2 * lv**2
    with np.errstate(invalid="ignore", divide="ignore"):
        w = prior / (prior + np.nan_to_num(se, nan=np.inf) ** 2)
    return np.where(ok, np.nan_to_num(w, nan=0.0), 0.0)


def _fit(
    y: np.ndarray,
    wd0: int,
    pw: int,
    halflife: float,
    tw: int,
    min_weeks: int,
    *,
    shrink_trend: bool = True,
    trend_prior_sd: float | None = None,
    intercept: str = "winsorized",
) -> dict:
    """The per-asset model from the last 7*max(pw, tw) days ``y`` (the last column is yesterday)."""
    n = y.shape[0]
    # Weekday profile: block column i of each 7-day block is weekday (wd0 + i) % 7, because the window
    # length is a multiple of 7 and ends the day before today.
    pblk = _tail(y, 7 * pw).reshape(n, pw, 7)
    w = 0.5 ** ((pw - 1 - np.arange(pw)) / max(halflife, 1e-9))
    obs = ~np.isnan(pblk)
    num = np.einsum("nwi,w->ni", np.where(obs, pblk, 0.0), w)
    den = np.einsum("nwi,w->ni", obs.astype(float), w)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m = num / den
        mbar = np.nanmean(m, axis=1)
        prof_blk = m / mbar[:, None]
    prof_blk[~np.isfinite(prof_blk)] = 1.0
    prof_blk /= prof_blk.mean(axis=1, keepdims=True)
    profile = np.empty((n, 7))
    profile[:, (wd0 + np.arange(7)) % 7] = prof_blk

    # Trend: Theil-Sen through the weekly means (full weeks only) at week centres x (days from today).
    tblk = _tail(y, 7 * tw).reshape(n, tw, 7)
    wk = tblk.mean(axis=2)
    x = -7.0 * (tw - np.arange(tw)) + 3.0
    i, j = np.triu_indices(tw, 1)
    valid = ~np.isnan(wk)
    nv = valid.sum(axis=1)
    few = nv < max(min_weeks, 2)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        slope_raw = _row_nanmedian((wk[:, j] - wk[:, i]) / (x[j] - x[i]))
        level_raw = _row_nanmedian(wk - slope_raw[:, None] * x)
        # Residual scale of the weekly means around the raw line -> standard error of the slope.
        xv = np.where(valid, x, np.nan)
        xbar = np.nanmean(xv, axis=1)
        sxx = np.nansum((xv - xbar[:, None]) ** 2, axis=1)
        e = wk - (level_raw[:, None] + slope_raw[:, None] * x)
        s2 = np.nansum(e**2, axis=1) / np.maximum(nv - 2, 1)
        se_raw = np.sqrt(s2 / sxx)
    slope_raw[few] = 0.0
    se_raw[few] = 0.0
    # Empirical-Bayes shrinkage of the slope towards 0 (see _trend_shrinkage).
    shrink = _trend_shrinkage(slope_raw, se_raw, mbar, ~few, trend_prior_sd) if shrink_trend else np.ones(n)
    slope = shrink * slope_raw
    slope_var = shrink * se_raw**2
    with np.errstate(invalid="ignore", divide="ignore"):
        level = (
            _robust_mean(wk - slope[:, None] * x)
            if intercept == "winsorized"
            else (
                _row_nanmedian(wk - slope[:, None] * x)
                if intercept == "median"
                else np.nanmean(wk - slope[:, None] * x, axis=1)
            )
        )
        level_se = np.sqrt(s2 / nv + xbar**2 * slope_var)
        cov = -xbar * slope_var
    slope[few] = 0.0
    level[few] = mbar[few]
    method = np.where(np.isnan(mbar), "no_data", np.where(few, "level", "trend"))
    level[np.isnan(mbar)] = np.nan
    slope_se = np.sqrt(slope_var)

    # Daily residuals over the trend window -> sigma and lag-1 autocorrelation.
    days = tblk.reshape(n, 7 * tw)
    t_rel = np.arange(-7 * tw, 0, dtype=float)
    wd_cols = (wd0 + np.arange(7 * tw)) % 7
    fitted = np.clip(profile[:, wd_cols] * (level[:, None] + slope[:, None] * t_rel), 0.0, MAX_HOURS)
    r = days - fitted
    nd = np.sum(~np.isnan(r), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ss = np.nansum(r**2, axis=1)
        sigma = np.sqrt(ss / np.maximum(nd - 2, 1))
        rho = np.nansum(r[:, 1:] * r[:, :-1], axis=1) / ss
    rho = np.clip(np.nan_to_num(rho, nan=0.0), 0.0, 0.9)
    sigma[nd == 0] = np.nan

    # Without a trend fit, only the level's own noise: sd of the mean of nd AR(1) days.
    lr = (1 + rho) / (1 - rho)
    with np.errstate(invalid="ignore", divide="ignore"):
        level_se_few = sigma * np.sqrt(lr / np.maximum(nd, 1))
    level_se = np.where(few, level_se_few, level_se)
    slope_se = np.where(few, 0.0, slope_se)
    cov = np.where(few, 0.0, cov)
    return {
        "slope_raw": slope_raw,
        "trend_shrink": shrink,
        "method": method,
        "level": level,
        "slope": slope,
        "profile": profile,
        "sigma": sigma,
        "rho": rho,
        "level_se": level_se,
        "slope_se": slope_se,
        "level_slope_cov": cov,
        "n_days": nd,
        "n_weeks": nv,
    }


def _param_arrays(fc: pd.DataFrame) -> dict:
    return {
        "level": fc["level"].to_numpy(float),
        "slope": fc["slope"].to_numpy(float),
        "damping": fc["damping"].to_numpy(float),
        "profile": fc[PROFILE_COLUMNS].to_numpy(float),
        "sigma": fc["sigma"].to_numpy(float),
        "rho": fc["rho"].to_numpy(float),
        "level_se": fc["level_se"].to_numpy(float),
        "slope_se": fc["slope_se"].to_numpy(float),
        "cov": fc["level_slope_cov"].to_numpy(float),
    }


def _trend_steps(damping: np.ndarray, h: np.ndarray) -> np.ndarray:
    """g(h) per row: h for damping 1, the damped sum otherwise. Shape (k, H)."""
    phi = damping[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        damped = phi * (1 - phi ** h[None, :]) / (1 - phi)
    return np.where(np.abs(phi - 1.0) < 1e-12, h[None, :].astype(float), damped)


def _expand(p: dict, horizon: int, wd_origin: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Expected daily use (k, H) for days offset .. offset+H-1 after the origin, and the variance (k, H)
    of the cumulative use from day ``offset`` through each day."""
    h = np.arange(offset, offset + horizon)
    g = _trend_steps(p["damping"], h)
    pw = p["profile"][:, (wd_origin + h) % 7]
    mu = np.clip(pw * (p["level"][:, None] + p["slope"][:, None] * g), 0.0, MAX_HOURS)
    s1 = np.cumsum(pw, axis=1)
    s2 = np.cumsum(pw * g, axis=1)
    nd = np.arange(1, horizon + 1, dtype=float)[None, :]
    rho = p["rho"][:, None]
    # Variance of a sum of nd AR(1) terms with unit variance.
    ar = nd * (1 + rho) / (1 - rho) - 2 * rho * (1 - rho**nd) / (1 - rho) ** 2
    var = (
        (p["sigma"][:, None] ** 2) * ar
        + (p["level_se"][:, None] * s1) ** 2
        + (p["slope_se"][:, None] * s2) ** 2
        + 2 * p["cov"][:, None] * s1 * s2
    )
    return mu, np.maximum(var, 0.0)


def forecast_daily(
    usage_forecast: pd.DataFrame, horizon_days: int, *, band: tuple[float, float] = (0.1, 0.9), today=None
) -> pd.DataFrame:
    """Expand a :func:`forecast_usage` frame into a daily forecast.

    Returns a long DataFrame with columns ``asset_id``, ``date`` (datetime64), ``hours`` (expected use),
    ``hours_lo``/``hours_hi`` (the ``band`` quantiles of that day's use, normal approximation, clipped to
    [0, 24]); ``horizon_days`` rows per asset starting at ``today`` (default: the forecast's origin).
    """
    origin, offset = _origin_offset(usage_forecast, today)
    p = _param_arrays(usage_forecast)
    mu, _ = _expand(p, int(horizon_days), origin.weekday(), offset)
    var_day = (p["sigma"] ** 2 + p["level_se"] ** 2)[:, None] + np.zeros_like(mu)
    z_lo, z_hi = ndtri(band[0]), ndtri(band[1])
    sd = np.sqrt(var_day)
    n, hz = mu.shape
    dates = (np.datetime64(origin.date(), "D") + offset + np.arange(hz)).astype("datetime64[s]")
    return pd.DataFrame(
        {
            "asset_id": np.repeat(usage_forecast["asset_id"].to_numpy(), hz),
            "date": np.tile(dates, n),
            "hours": mu.ravel(),
            "hours_lo": np.clip(mu + z_lo * sd, 0, MAX_HOURS).ravel(),
            "hours_hi": np.clip(mu + z_hi * sd, 0, MAX_HOURS).ravel(),
        }
    )


def _origin_offset(fc: pd.DataFrame, today) -> tuple[pd.Timestamp, int]:
    days = np.unique(_days_of(fc["origin"])) if len(fc) else np.array([_day(today or "1970-01-01")])
    if days.size != 1:
        raise ValueError("usage_forecast mixes several origins; forecast the fleet with one call")
    origin = _ts(int(days[0]))
    offset = 0 if today is None else _day(today) - int(days[0])
    if offset < 0:
        raise ValueError(
            f"today ({pd.Timestamp(today).date()}) is before the forecast origin ({origin.date()})"
        )
    return origin, offset


# ----------------------------------------------------------------------------------------------------
# Due dates
# ----------------------------------------------------------------------------------------------------

DUE_COLUMNS = [
    "plan_id",
    "asset_id",
    "calendar_due",
    "usage_due",
    "due",
    "due_p10",
    "due_p90",
    "driver",
    "days_to_due",
    "overdue",
    "hours_since_service",
    "remaining_hours",
    "hours_to_due",
    "usage_due_p10",
    "usage_due_p90",
    "beyond_horizon",
    "has_forecast",
]


def hours_since(usage, asset_ids, since, today) -> np.ndarray:
    """Hours of use of each ``asset_ids[i]`` from day ``since[i]`` (included) to ``today`` (excluded).

    Unknown (NaN) days count as 0. NaN where the asset is not in the history, ``since`` is missing, or
    ``since`` precedes the start of the history (the hours before it are unknown). ``since`` on or after
    today gives 0.
    """
    um = usage if isinstance(usage, UsageMatrix) else usage_matrix(usage, today)
    t = _day(today)
    row = um.asset_ids.get_indexer(pd.Index(asset_ids))
    s = _day_floats(pd.Series(since)) - _day(um.start)
    out = np.full(len(row), np.nan)
    ok = (row >= 0) & np.isfinite(s) & (s >= 0)
    if ok.any():
        end = t - _day(um.start)
        cs = um.cumulative()
        e = min(end, um.n_days)
        si = np.minimum(s[ok].astype(np.int64), e)
        out[ok] = cs[row[ok], e] - cs[row[ok], si]
    return out


def _first_crossing(
    cum: np.ndarray, need: np.ndarray, tail_rate: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """First day index with cum >= need; beyond the matrix, extrapolate at ``tail_rate`` h/day.

    Returns (day index as float, NaN = never; bool beyond-the-matrix)."""
    hit = cum >= need[:, None]
    found = hit.any(axis=1)
    idx = hit.argmax(axis=1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        extra = np.ceil((need - cum[:, -1]) / tail_rate)
    beyond = ~found & np.isfinite(need)
    idx[beyond] = np.where(tail_rate[beyond] > 1e-9, cum.shape[1] - 1 + extra[beyond], np.nan)
    idx[~np.isfinite(need)] = np.nan
    return idx, beyond & np.isfinite(idx)


def _col(df: pd.DataFrame, name: str, default=np.nan) -> pd.Series:
    if name in df.columns:
        return df[name]
    return pd.Series(default, index=df.index)


def predict_due(
    plans: pd.DataFrame,
    usage_forecast: pd.DataFrame,
    today,
    *,
    usage=None,
    band: tuple[float, float] = (0.1, 0.9),
    horizon_days: int = 365,
    chunk: int = 4096,
) -> pd.DataFrame:
    """Predicted due date of each maintenance plan: whichever comes first of calendar and usage.

    Parameters
    ----------
    plans : DataFrame, one row per plan, columns
        ``asset_id`` (required); ``plan_id`` (optional, passed through);
        ``interval_days`` (float, NaN = no calendar interval); ``interval_hours`` (float, NaN = no usage
        interval); ``last_service_date`` (date-like: last completed service, or commissioning when never
        serviced); ``last_planned_date`` (optional date-like: the date that service was planned for);
        ``count_from`` (optional str, "completion" (default) or "planned": whether the next calendar due
        date counts from the completion or from the planned date; "planned" without a planned date falls
        back to completion); ``hours_since_service`` (optional float: usage hours since the last service;
        where missing it is computed from ``usage``, if given, from ``last_service_date`` to today).
    usage_forecast : the frame from :func:`forecast_usage` (one origin, normally = today).
    today : date-like.
    usage : optional usage history, only to fill ``hours_since_service``.
    band : the lower/upper quantiles of the due-date band (default p10/p90).
    horizon_days : days expanded day by day; later crossings are extrapolated at the mean expected use of
        the last 28 expanded days (``beyond_horizon`` = True).

    Returns
    -------
    DataFrame, one row per plan, same order, columns ``DUE_COLUMNS``:
        plan_id : from the input (NaN if absent); asset_id
        calendar_due : datetime64, base date + interval_days (NaT without a calendar interval or base date;
            may lie in the past)
        usage_due : datetime64, the day the expected cumulative use since the last service reaches
            interval_hours (today if already reached; NaT without a usage interval, without
            hours_since_service, without a forecast for the asset, or if the expected use is 0)
        due : datetime64, the earlier of the two (NaT if both are NaT)
        due_p10, due_p90 : datetime64, the band: the earlier of calendar_due and the usage due date at
            the band quantiles (heavier use than expected -> earlier: p10 uses the upper quantile of use)
        driver : str, "calendar", "usage" (strictly earlier) or "none"
        days_to_due : float days from today to due (negative when overdue)
        overdue : bool, due before today or usage interval already used up
        hours_since_service, remaining_hours : float h (interval_hours - hours_since_service)
        hours_to_due : float, expected use from today up to (not including) the due day; with an
            hour-based Weibull fit, age at due = current age in hours + hours_to_due
        usage_due_p10, usage_due_p90 : datetime64, the usage due date's own band
        beyond_horizon : bool, the usage due date was extrapolated past ``horizon_days``
        has_forecast : bool, the asset is in usage_forecast with usable parameters
    """
    t = _day(today)
    n = len(plans)
    fc = usage_forecast
    origin, offset = _origin_offset(fc, today) if len(fc) else (_ts(t), 0)

    # Calendar.
    last = _day_floats(_col(plans, "last_service_date", pd.NaT))
    planned = _day_floats(_col(plans, "last_planned_date", pd.NaT))
    count_from = (
        _col(plans, "count_from", "completion").fillna("completion").astype(str).str.lower().to_numpy()
    )
    base = np.where((count_from == "planned") & np.isfinite(planned), planned, last)
    interval_days = _col(plans, "interval_days").to_numpy(dtype=float)
    cal = base + interval_days - t  # relative days, NaN propagates

    # Usage.
    interval_hours = _col(plans, "interval_hours").to_numpy(dtype=float)
    since = _col(plans, "hours_since_service").to_numpy(dtype=float).copy()
    if usage is not None:
        missing = np.isnan(since) & np.isfinite(interval_hours)
        if missing.any():
            since[missing] = hours_since(
                usage,
                plans["asset_id"].to_numpy()[missing],
                _col(plans, "last_service_date", pd.NaT)[missing],
                today,
            )
    remaining = interval_hours - since

    fc_ids = pd.Index(fc["asset_id"])
    pos = fc_ids.get_indexer(plans["asset_id"]) if len(fc) else np.full(n, -1)
    level = np.append(fc["level"].to_numpy(float), np.nan)  # pos -1 -> the NaN sentinel
    has_fc = (pos >= 0) & np.isfinite(level[pos])

    use_rel = np.full(n, np.nan)
    use_lo = np.full(n, np.nan)
    use_hi = np.full(n, np.nan)
    beyond = np.zeros(n, dtype=bool)
    hours_to = np.full(n, np.nan)
    z_lo, z_hi = ndtri(band[0]), ndtri(band[1])
    arrays = _param_arrays(fc) if len(fc) else {}
    hz = max(int(horizon_days), 28)
    # Rows needing the expansion: a usage interval, or a calendar date to convert into hours.
    expand = np.flatnonzero(has_fc & (np.isfinite(remaining) | np.isfinite(cal)))
    for lo in range(0, expand.size, chunk):
        rows = expand[lo : lo + chunk]
        p = {k: v[pos[rows]] for k, v in arrays.items()}
        mu, var = _expand(p, hz, origin.weekday(), offset)
        cum = np.cumsum(mu, axis=1)
        sd = np.sqrt(var)
        tail = mu[:, -28:].mean(axis=1)
        need = np.maximum(remaining[rows], 0.0)
        # The use of day i is complete at its end: crossing during day i -> due on day i.
        d, b = _first_crossing(cum, need, tail)
        d_lo, _ = _first_crossing(cum + z_hi * sd, need, tail)  # heavier use than expected -> earlier
        d_hi, _ = _first_crossing(cum + z_lo * sd, need, tail)  # lighter use -> later
        zero = need <= 0
        d[zero], d_lo[zero], d_hi[zero] = 0.0, 0.0, 0.0
        use_rel[rows], use_lo[rows], use_hi[rows], beyond[rows] = d, d_lo, d_hi, b & ~zero
        # Expected hours before the due day (for hour-based failure ages).
        due_rel = np.fmin(cal[rows], d)
        k = np.clip(np.nan_to_num(due_rel, nan=-1.0), 0, None).astype(np.int64)
        inside = k < hz
        cum0 = np.concatenate([np.zeros((rows.size, 1)), cum], axis=1)
        h_to = np.where(inside, cum0[np.arange(rows.size), np.minimum(k, hz)], cum[:, -1] + (k - hz) * tail)
        h_to[~np.isfinite(due_rel)] = np.nan
        hours_to[rows] = h_to

    used_up = np.isfinite(remaining) & (remaining <= 0)  # known even without a forecast
    use_rel[used_up], use_lo[used_up], use_hi[used_up] = 0.0, 0.0, 0.0
    due = np.fmin(cal, use_rel)
    due_lo = np.fmin(cal, use_lo)
    due_hi = np.fmin(cal, use_hi)
    driver = np.where(
        np.isnan(due), "none", np.where(np.isnan(use_rel) | (cal <= use_rel), "calendar", "usage")
    )
    overdue = (due < 0) | used_up

    def dates(rel):
        return _to_dates(rel + t)

    plan_id = plans["plan_id"].to_numpy() if "plan_id" in plans.columns else np.full(n, np.nan)
    out = pd.DataFrame(
        {
            "plan_id": plan_id,
            "asset_id": plans["asset_id"].to_numpy(),
            "calendar_due": dates(cal),
            "usage_due": dates(use_rel),
            "due": dates(due),
            "due_p10": dates(due_lo),
            "due_p90": dates(due_hi),
            "driver": driver,
            "days_to_due": np.floor(due),
            "overdue": overdue,
            "hours_since_service": since,
            "remaining_hours": remaining,
            "hours_to_due": hours_to,
            "usage_due_p10": dates(use_lo),
            "usage_due_p90": dates(use_hi),
            "beyond_horizon": beyond,
            "has_forecast": has_fc,
        }
    )
    return out[DUE_COLUMNS]


# ----------------------------------------------------------------------------------------------------
# Unusual use
# ----------------------------------------------------------------------------------------------------

FLAG_COLUMNS = [
    "asset_id",
    "recent_mean",
    "baseline_mean",
    "baseline_sd",
    "heavy_use_z",
    "heavy_use",
    "idle_days",
    "last_used",
    "long_idle",
    "repairs_recent",
    "repeated_repairs",
    "any_flag",
    "reasons",
]


def usage_flags(
    usage,
    today,
    *,
    repairs: pd.DataFrame | None = None,
    recent_days: int = 7,
    baseline_weeks: int = 26,
    min_baseline_weeks: int = 4,
    z_threshold: float = 3.0,
    min_increase_hours: float = 2.0,
    idle_days: int = 14,
    idle_hours: float = 0.05,
    repair_window_days: int = 90,
    repair_count: int = 3,
    lookback_days: int = 365,
) -> pd.DataFrame:
    """Unusual-use flags for every asset.

    - heavy use: the mean of the last ``recent_days`` days against the weekly means of the
      ``baseline_weeks`` weeks before them: z = (recent - mean) / sd, with sd floored at
      max(0.25 h, 10 % of the mean) so a very regular asset does not flag on noise. Flagged when
      z >= ``z_threshold`` AND recent - mean >= ``min_increase_hours`` (a big relative change of a tiny
      use is not "heavy"). Needs ``min_baseline_weeks`` weeks with at least 4 observed days.
    - long idle: the number of days since the last day with more than ``idle_hours`` h of use (unknown
      days count as unused; an asset never used counts its observed days), flagged at >= ``idle_days``.
      Looks back ``lookback_days`` at most.
    - repeated repairs: repairs dated in [today - repair_window_days, today], flagged at >= repair_count.

    Parameters
    ----------
    usage : usage history (see the module docstring).
    repairs : optional DataFrame with columns ``asset_id``, ``date`` (one row per corrective repair).
        Assets that only appear here get NaN use figures and only the repair flag.

    Returns
    -------
    DataFrame, one row per asset, columns ``FLAG_COLUMNS``:
        asset_id; recent_mean, baseline_mean, baseline_sd (h/day, float); heavy_use_z (float);
        heavy_use (bool); idle_days (int); last_used (datetime64, NaT if never used in the lookback);
        long_idle (bool); repairs_recent (int); repeated_repairs (bool); any_flag (bool);
        reasons (str: comma-separated "heavy_use", "long_idle", "repeated_repairs", or "").
    """
    t = _day(today)
    rd = int(recent_days)
    lookback = max(int(lookback_days), 7 * int(baseline_weeks) + rd)
    um = usage_matrix(usage, today, history_days=lookback)
    y = um.hours
    n = um.n_assets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        recent_blk = _tail(y, rd)
        recent = np.where(
            (~np.isnan(recent_blk)).sum(axis=1) >= max(1, (rd + 1) // 2),
            np.nanmean(recent_blk, axis=1),
            np.nan,
        )
        base = _tail(y, rd + 7 * baseline_weeks)[:, : 7 * baseline_weeks].reshape(n, baseline_weeks, 7)
        wmean = np.where((~np.isnan(base)).sum(axis=2) >= 4, np.nanmean(base, axis=2), np.nan)
        nb = (~np.isnan(wmean)).sum(axis=1)
        bmean = np.nanmean(wmean, axis=1)
        bsd = np.nanstd(wmean, axis=1, ddof=1)
    enough = nb >= max(min_baseline_weeks, 2)
    bmean[~enough] = np.nan
    bsd[~enough] = np.nan
    floor = np.maximum(0.25, 0.1 * np.nan_to_num(bmean))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (recent - bmean) / np.maximum(bsd, floor)
    heavy = (z >= z_threshold) & ((recent - bmean) >= min_increase_hours)

    used = np.nan_to_num(y, nan=0.0) > idle_hours
    any_used = used.any(axis=1)
    last_idx = um.n_days - 1 - used[:, ::-1].argmax(axis=1) if um.n_days else np.full(n, -1)
    observed = (~np.isnan(y)).sum(axis=1)
    idle = np.where(any_used, um.n_days - 1 - last_idx, observed).astype(np.int64)
    last_used = _to_dates(np.where(any_used, last_idx + _day(um.start), np.nan).astype(float))
    long_idle = idle >= idle_days

    flags = pd.DataFrame(
        {
            "asset_id": um.asset_ids.to_numpy(),
            "recent_mean": recent,
            "baseline_mean": bmean,
            "baseline_sd": bsd,
            "heavy_use_z": z,
            "heavy_use": heavy,
            "idle_days": idle,
            "last_used": last_used,
            "long_idle": long_idle,
        }
    )
    counts = pd.Series(dtype="int64")
    if repairs is not None and len(repairs):
        d = _days_of(repairs["date"])
        in_win = (d >= t - int(repair_window_days)) & (d <= t)
        counts = pd.Series(1, index=pd.Index(repairs["asset_id"].to_numpy()[in_win])).groupby(level=0).sum()
        extra = counts.index.difference(pd.Index(flags["asset_id"]))
        if len(extra):
            add = pd.DataFrame({"asset_id": extra.to_numpy()})
            add[["heavy_use", "long_idle"]] = False
            add["idle_days"] = 0
            flags = pd.concat([flags, add], ignore_index=True)
            flags = flags.astype({"heavy_use": bool, "long_idle": bool, "idle_days": "int64"})
    flags["repairs_recent"] = (
        counts.reindex(flags["asset_id"].to_numpy()).fillna(0).to_numpy().astype(np.int64)
    )
    flags["repeated_repairs"] = flags["repairs_recent"] >= repair_count
    flags["any_flag"] = flags["heavy_use"] | flags["long_idle"] | flags["repeated_repairs"]
    reasons = np.full(len(flags), "", dtype=object)
    for col in ("heavy_use", "long_idle", "repeated_repairs"):  # three columns, vectorised over assets
        m = flags[col].to_numpy(bool)
        reasons[m] = np.where(reasons[m] == "", col, reasons[m] + "," + col)
    flags["reasons"] = reasons
    return flags[FLAG_COLUMNS]


# ----------------------------------------------------------------------------------------------------
# Failure risk before the next service
# ----------------------------------------------------------------------------------------------------


def risk_before_due(due: pd.DataFrame, ages: pd.DataFrame, fits, *, unit: str = "days") -> pd.DataFrame:
    """Failure risk of each asset before its NEXT service (the earliest due date over its plans).

    Parameters
    ----------
    due : the frame from :func:`predict_due` (uses asset_id, days_to_due, hours_to_due).
    ages : DataFrame with ``asset_id``, ``asset_type``, ``age_now`` (time since the last failure or since
        commissioning, in ``unit``), e.g. the censored rows (``failed == False``) of
        :func:`hospital.maintenance.weibull.failure_intervals` with ``duration`` renamed ``age_now``.
    fits : per-type fits (:func:`hospital.maintenance.weibull.fit_weibull_by_type`), same unit.
    unit : "days" (age_due = age_now + max(days_to_due, 0)) or "hours" (age_due = age_now + hours_to_due).

    Returns
    -------
    The :func:`hospital.maintenance.weibull.failure_risk` frame plus ``due`` (datetime64) and
    ``driver``, one row per asset in ``ages`` (assets without a plan get NaN risk).
    """
    if unit not in ("days", "hours"):
        raise ValueError("unit must be 'days' or 'hours'")
    nxt = due.dropna(subset=["due"]).sort_values("due", kind="stable").drop_duplicates("asset_id")
    nxt = nxt.set_index("asset_id")
    a = ages[["asset_id", "asset_type", "age_now"]].reset_index(drop=True)
    row = nxt.index.get_indexer(a["asset_id"])
    ok = row >= 0
    if unit == "days":
        step = np.maximum(nxt["days_to_due"].to_numpy(float), 0.0)
    else:
        step = nxt["hours_to_due"].to_numpy(float)
    add = np.where(ok, step[np.maximum(row, 0)] if len(nxt) else np.nan, np.nan)
    a["age_due"] = a["age_now"].to_numpy(float) + add
    out = failure_risk(a, fits)
    out["due"] = np.where(
        ok,
        nxt["due"].to_numpy()[np.maximum(row, 0)] if len(nxt) else np.datetime64("NaT"),
        np.datetime64("NaT"),
    ).astype("datetime64[s]")
    out["driver"] = np.where(
        ok, nxt["driver"].to_numpy(object)[np.maximum(row, 0)] if len(nxt) else "none", "none"
    )
    return out
