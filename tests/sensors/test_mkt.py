"""Mean kinetic temperature (USP <1160>)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.alarms.mkt import (
    MKTAccumulator,
    mean_kinetic_temperature,
    rolling_mkt,
    time_weighted_mean,
    time_weights,
)


def test_hand_computed_two_readings():
    # 20 C and 30 C for equal times, dH/R = 10,000 K:
    #   10000 / 293.15 = 34.112229      exp(-34.112229) = 1.531959e-15
    #   10000 / 303.15 = 32.986970      exp(-32.986970) = 4.719988e-15
    #   mean = 3.125974e-15             -ln(mean) = 33.399056
    #   MKT = 10000 / 33.399056 = 299.4099 K = 26.2599 C   (the arithmetic mean is 25 C)
    assert mean_kinetic_temperature([20.0, 30.0]) == pytest.approx(26.2599, abs=1e-4)
    assert mean_kinetic_temperature([20.0, 30.0], [0, 3600]) == pytest.approx(26.2599, abs=1e-4)


def test_hand_computed_irregular_sampling():
    # Readings 20, 30, 25 C at 0 h, 2 h, 3 h. Trapezoid time weights: 1 h, 1.5 h, 0.5 h.
    a = 10_000.0
    terms = 1.0 * math.exp(-a / 293.15) + 1.5 * math.exp(-a / 303.15) + 0.5 * math.exp(-a / 298.15)
    expected = a / -math.log(terms / 3.0) - 273.15
    got = mean_kinetic_temperature([20.0, 30.0, 25.0], [0, 7200, 10800])
    assert got == pytest.approx(expected, abs=1e-9)
    assert got == pytest.approx(26.8090, abs=1e-4)
    assert list(time_weights([0, 7200, 10800])) == [3600.0, 5400.0, 1800.0]
    # "hold": each reading valid until the next: 2 h, 1 h, 0 h.
    assert list(time_weights([0, 7200, 10800], "hold")) == [7200.0, 3600.0, 0.0]
    assert mean_kinetic_temperature([20.0, 30.0, 25.0], [0, 7200, 10800], method="hold") == pytest.approx(
        mean_kinetic_temperature([20.0, 30.0], weights=[2, 1]), abs=1e-12
    )


def test_usp_weights_directly_and_activation_energy():
    # The USP form: t_i are the hours each temperature lasted.
    assert mean_kinetic_temperature([25.0, 35.0], weights=[20, 4]) == pytest.approx(
        10_000 / -math.log((20 * math.exp(-10_000 / 298.15) + 4 * math.exp(-10_000 / 308.15)) / 24) - 273.15
    )
    # A larger dH/R weights the warm period more.
    assert mean_kinetic_temperature([20, 30], dh_r_k=12_000) > mean_kinetic_temperature([20, 30], dh_r_k=8_000)


def test_cold_chain_values_stay_finite():
    assert -80.0 < mean_kinetic_temperature([-80.0, -79.0, -81.0]) < -79.8
    assert math.isfinite(mean_kinetic_temperature([-90.0, 40.0]))


temps_st = st.lists(st.floats(min_value=-90, max_value=60, allow_nan=False), min_size=1, max_size=60)


@st.composite
def series(draw, min_gap=0.0, spread=None):
    """Readings at irregular times; ``spread`` keeps them within +-spread C of one level (a real unit)."""
    if spread is None:
        temps = draw(temps_st)
    else:
        level = draw(st.floats(min_value=-85, max_value=45))
        temps = draw(st.lists(st.floats(min_value=level - spread, max_value=level + spread), min_size=1, max_size=60))
    gaps = draw(st.lists(st.floats(min_value=min_gap, max_value=7200), min_size=len(temps), max_size=len(temps)))
    times = np.cumsum(gaps) + 1_700_000_000.0
    return temps, times


@settings(max_examples=200, deadline=None)
@given(series(), st.sampled_from(["trapezoid", "hold"]))
def test_mkt_is_at_least_the_arithmetic_mean(s, method):
    temps, times = s
    m = mean_kinetic_temperature(temps, times, method=method)
    assert m >= time_weighted_mean(temps, times, method=method) - 1e-9
    assert min(temps) - 1e-9 <= m <= max(temps) + 1e-9
    assert mean_kinetic_temperature(temps) >= float(np.mean(temps)) - 1e-9


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=-90, max_value=60), series())
def test_constant_temperature_gives_that_temperature(c, s):
    _temps, times = s
    assert mean_kinetic_temperature([c] * len(times), times) == pytest.approx(c, abs=1e-9)
    assert np.allclose(rolling_mkt(times, [c] * len(times), 86400), c, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(series(min_gap=1.0, spread=15.0), st.floats(min_value=60, max_value=20_000),
       st.sampled_from(["trapezoid", "hold"]))
def test_rolling_mkt_equals_mkt_of_each_window(s, window, method):
    temps, times = s
    got = rolling_mkt(times, temps, window, method=method)
    for i in range(len(temps)):
        sel = (times >= times[i] - window) & (np.arange(len(times)) <= i)
        sub_t, sub_v = times[sel], np.asarray(temps)[sel]
        want = temps[i] if sub_t[-1] == sub_t[0] else mean_kinetic_temperature(sub_v, sub_t, method=method)
        assert got[i] == pytest.approx(want, abs=1e-6)


def test_rolling_24h_over_a_month_and_accumulator():
    rng = np.random.default_rng(3)
    times = np.arange(0, 30 * 86400, 900.0) + rng.uniform(0, 300, 30 * 96)
    times.sort()
    temps = 22 + 3 * np.sin(times / 86400 * 2 * np.pi) + rng.normal(0, 0.3, times.size)
    daily = rolling_mkt(times, temps, 86400)
    assert daily.shape == temps.shape
    assert rolling_mkt(times, temps, 40 * 86400)[-1] == pytest.approx(mean_kinetic_temperature(temps, times))
    acc = MKTAccumulator()
    for t, v in zip(times, temps, strict=True):
        acc.add(float(t), float(v))
    assert acc.value == pytest.approx(mean_kinetic_temperature(temps, times), abs=1e-9)
    assert MKTAccumulator.from_dict(acc.to_dict()).value == acc.value
    assert MKTAccumulator().value is None


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="no readings"):
        mean_kinetic_temperature([])
    with pytest.raises(ValueError, match="non-decreasing"):
        mean_kinetic_temperature([1, 2], [10, 5])
    with pytest.raises(ValueError, match="absolute zero"):
        mean_kinetic_temperature([-300.0])
    with pytest.raises(ValueError, match="finite"):
        mean_kinetic_temperature([float("nan")])
    with pytest.raises(ValueError, match="times for"):
        mean_kinetic_temperature([1, 2], [1])
