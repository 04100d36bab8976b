"""Mean kinetic temperature (USP <1160>).

    MKT = (dH/R) / -ln( sum(t_i * exp(-dH / (R * T_i))) / sum(t_i) )      (kelvin)

with ``dH/R`` = 10,000 K by default (activation energy 83.144 kJ/mol). MKT is the single temperature
that would cause the same total degradation as the recorded profile; because the Arrhenius term is
convex it weights warm periods more than the arithmetic mean does, so MKT >= the (time-weighted)
mean, with equality only for a constant temperature.

Irregular sampling: ``t_i`` are time weights derived from the sample times. The default ``trapezoid``
method integrates the Arrhenius term linearly between samples (each sample weighs half of each
neighbouring interval); ``hold`` treats each reading as valid until the next one (what a data logger
that records every N minutes implies). Without times all samples weigh the same, which is the plain
USP formula for equal intervals.

Everything is numpy-vectorised; :func:`rolling_mkt` gives the MKT over a trailing window (24 h for
cold storage, 30 days for controlled room temperature) at every sample in O(n log n).
"""

from __future__ import annotations

import math

import numpy as np

KELVIN = 273.15
DEFAULT_DH_R_K = 10_000.0
METHODS = ("trapezoid", "hold")


def _prepare(temps_c, times_s, dh_r_k: float):
    temps = np.asarray(temps_c, dtype=float).ravel()
    if temps.size == 0:
        raise ValueError("mean kinetic temperature of no readings")
    if not np.all(np.isfinite(temps)):
        raise ValueError("temperatures must be finite numbers")
    if np.any(temps <= -KELVIN):
        raise ValueError("temperatures must be above absolute zero")
    if not dh_r_k > 0:
        raise ValueError("dH/R must be positive")
    times = None
    if times_s is not None:
        times = np.asarray(times_s, dtype=float).ravel()
        if times.shape != temps.shape:
            raise ValueError(f"{times.size} times for {temps.size} temperatures")
        if not np.all(np.isfinite(times)):
            raise ValueError("times must be finite numbers")
        if np.any(np.diff(times) < 0):
            raise ValueError("times must be non-decreasing (sort the readings first)")
    return temps, times


def time_weights(times_s, method: str = "trapezoid") -> np.ndarray:
    """Weight (seconds) of each sample; all ones if the samples span no time at all."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}")
    t = np.asarray(times_s, dtype=float).ravel()
    n = t.size
    if n < 2 or t[-1] == t[0]:
        return np.ones(n)
    d = np.diff(t)
    w = np.zeros(n)
    if method == "trapezoid":
        w[:-1] += d / 2
        w[1:] += d / 2
    else:
        w[:-1] = d
    return w


def _mkt_from(exp_terms_sum: np.ndarray | float, weight_sum, dh_r_k: float, ref: float):
    """MKT in Celsius from sum(w * exp(-a/T - ref)) and sum(w); ``ref`` (the largest -a/T) was taken out
    of the exponent so exp() stays well inside the floating-point range."""
    return dh_r_k / -(np.log(exp_terms_sum / weight_sum) + ref) - KELVIN


def mean_kinetic_temperature(temps_c, times_s=None, *, weights=None, dh_r_k: float = DEFAULT_DH_R_K,
                             method: str = "trapezoid") -> float:
    """MKT in degrees Celsius of ``temps_c`` sampled at ``times_s`` (Unix seconds, non-decreasing).

    ``weights`` gives the USP ``t_i`` directly instead (e.g. hours each reading stands for).
    """
    temps, times = _prepare(temps_c, times_s, dh_r_k)
    if weights is not None:
        w = np.asarray(weights, dtype=float).ravel()
        if w.shape != temps.shape or np.any(w < 0) or not w.sum() > 0:
            raise ValueError("weights must be non-negative, one per temperature, not all zero")
    elif times is not None:
        w = time_weights(times, method)
    else:
        w = np.ones(temps.size)
    x = -dh_r_k / (temps + KELVIN)
    ref = float(x.max())
    return float(_mkt_from(np.sum(w * np.exp(x - ref)), w.sum(), dh_r_k, ref))


mkt = mean_kinetic_temperature


def time_weighted_mean(temps_c, times_s=None, *, method: str = "trapezoid") -> float:
    """The arithmetic mean with the same weights MKT uses (MKT is never below it)."""
    temps, times = _prepare(temps_c, times_s, DEFAULT_DH_R_K)
    w = time_weights(times, method) if times is not None else np.ones(temps.size)
    return float(np.sum(w * temps) / w.sum())


def rolling_mkt(times_s, temps_c, window_s: float, *, dh_r_k: float = DEFAULT_DH_R_K,
                method: str = "trapezoid") -> np.ndarray:
    """MKT (Celsius) at every sample over the samples within the trailing ``window_s``
    (``t_i - window_s <= t_j <= t_i``). Each value equals :func:`mean_kinetic_temperature` of that
    subset with the same method; a window holding a single sample gives that sample's temperature."""
    if not window_s > 0:
        raise ValueError("window_s must be positive")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}")
    temps, times = _prepare(temps_c, times_s, dh_r_k)
    if times is None:
        raise ValueError("rolling MKT needs the sample times")
    x = -dh_r_k / (temps + KELVIN)
    ref = float(x.max())
    e = np.exp(x - ref)
    dt = np.diff(times)
    contrib = dt * ((e[:-1] + e[1:]) / 2 if method == "trapezoid" else e[:-1])
    # Window sums are differences of prefix sums; extended precision (where the platform has it)
    # keeps the cancellation small when a warm spell early in a long series dwarfs a cold window.
    csum = np.concatenate(([0.0], np.cumsum(contrib, dtype=np.longdouble)))
    start = np.searchsorted(times, times - window_s, side="left")
    idx = np.arange(times.size)
    span = times - times[start]
    total = (csum[idx] - csum[start]).astype(float)
    out = temps.copy()
    ok = span > 0
    if np.any(ok):
        out[ok] = _mkt_from(total[ok], span[ok], dh_r_k, ref)
    return out


class MKTAccumulator:
    """Streaming MKT of one sensor over everything added so far (trapezoid weights), in O(1) memory.

    Useful for live per-period figures; for windows use :func:`rolling_mkt` on stored readings.
    """

    __slots__ = ("dh_r_k", "_sum", "_span", "_t", "_e", "_first", "_n")

    def __init__(self, dh_r_k: float = DEFAULT_DH_R_K):
        self.dh_r_k = dh_r_k
        self._sum = 0.0
        self._span = 0.0
        self._t: float | None = None
        self._e = 0.0
        self._first: float | None = None
        self._n = 0

    def add(self, t: float, temp_c: float) -> None:
        if temp_c <= -KELVIN or not math.isfinite(temp_c):
            raise ValueError(f"bad temperature {temp_c!r}")
        e = math.exp(-self.dh_r_k / (temp_c + KELVIN))
        if self._t is not None:
            if t < self._t:
                raise ValueError("readings must be added in time order")
            dt = t - self._t
            self._sum += dt * (self._e + e) / 2
            self._span += dt
        else:
            self._first = temp_c
        self._t, self._e = t, e
        self._n += 1

    @property
    def count(self) -> int:
        return self._n

    @property
    def value(self) -> float | None:
        """MKT in Celsius, or None before the first reading."""
        if self._n == 0:
            return None
        if self._span <= 0:
            return self._first if self._n == 1 else -self.dh_r_k / math.log(self._e) - KELVIN
        return self.dh_r_k / -math.log(self._sum / self._span) - KELVIN

    def to_dict(self) -> dict:
        return {"dh_r_k": self.dh_r_k, "sum": self._sum, "span": self._span, "t": self._t, "e": self._e,
                "first": self._first, "n": self._n}

    @classmethod
    def from_dict(cls, d: dict) -> MKTAccumulator:
        a = cls(d["dh_r_k"])
        a._sum, a._span, a._t, a._e, a._first, a._n = d["sum"], d["span"], d["t"], d["e"], d["first"], d["n"]
        return a
