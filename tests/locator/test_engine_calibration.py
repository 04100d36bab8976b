"""Calibration: survey fit, radio map fingerprinting, bounded online refinement."""

import numpy as np
import pytest

from locator.engine import (
    Engine,
    EngineConfig,
    GatewayModel,
    OnlineCalibrator,
    Survey,
    build_radio_maps,
    distance_to_rssi,
    fit_path_loss,
    fit_survey,
)

XYZ = np.array([[0, 0, 2.5], [12, 0, 2.6], [12, 9, 2.4], [0, 9, 2.5], [6, 4.5, 2.8]], float)
TRUE_REF = np.array([-48.0, -55.0, -62.0, -51.0, -66.0])
TRUE_EXP = np.array([2.0, 2.6, 3.1, 1.8, 3.6])


def gateways(ref=-59.0, n=2.5):
    return GatewayModel.build([f"g{i}" for i in range(len(XYZ))], XYZ, None, ref_power=ref, exponent=n)


def survey_readings(rng, n_points=300, noise=3.0, ref=TRUE_REF, exp=TRUE_EXP, h=1.3):
    pts = rng.uniform([0.5, 0.5], [11.5, 8.5], (n_points, 2))
    xyz = np.c_[pts, np.full(n_points, h)]
    gw = np.tile(np.arange(len(XYZ)), n_points)
    pos = np.repeat(xyz, len(XYZ), axis=0)
    d = np.linalg.norm(XYZ[gw] - pos, axis=1)
    rssi = distance_to_rssi(d, ref[gw], exp[gw]) + rng.normal(0, noise, len(gw))
    return gw, rssi, pos


def test_survey_fit_recovers_known_parameters_and_reports_quality():
    rng = np.random.default_rng(0)
    gw, rssi, pos = survey_readings(rng)
    g = gateways()
    fitted, report = fit_survey(g, Survey.from_arrays(g, gw, rssi, pos))
    assert fitted.ref_power == pytest.approx(TRUE_REF, abs=1.5)
    assert fitted.exponent == pytest.approx(TRUE_EXP, abs=0.15)
    assert g.ref_power == pytest.approx(np.full(5, -59.0))  # the input model is not modified
    for f in report:
        assert f.n == 300 and f.status == "fitted"
        assert 2.5 < f.rmse_db < 3.6  # the 3 dB noise
        assert 0.5 < f.r2 <= 1.0
    assert [f.gateway_id for f in report] == [f"g{i}" for i in range(5)]


def test_survey_fit_is_robust_to_outliers():
    rng = np.random.default_rng(1)
    gw, rssi, pos = survey_readings(rng)
    bad = rng.random(len(rssi)) < 0.1
    rssi[bad] -= 25.0  # 10 % of readings blocked by people
    fitted, _ = fit_path_loss(gateways(), gw, np.linalg.norm(XYZ[gw] - pos, axis=1), rssi)
    assert fitted.ref_power == pytest.approx(TRUE_REF, abs=3.0)
    assert fitted.exponent == pytest.approx(TRUE_EXP, abs=0.35)


def test_thin_survey_shrinks_to_defaults_and_respects_bounds():
    rng = np.random.default_rng(2)
    cfg = EngineConfig()
    # gateway 0: 6 samples that alone say exponent ~6 (impossible); gateway 1: 2 samples
    d0 = np.array([1.0, 2.0, 3.0, 4.0, 6.0, 8.0])
    r0 = -40.0 - 60.0 * np.log10(d0) + rng.normal(0, 1, 6)
    gw = np.r_[np.zeros(6, int), np.ones(2, int)]
    fitted, report = fit_path_loss(gateways(), gw, np.r_[d0, 3.0, 4.0], np.r_[r0, -70.0, -72.0], cfg)
    lo, hi = cfg.exponent_bounds
    assert lo <= fitted.exponent[0] <= hi
    assert cfg.ref_power_bounds[0] <= fitted.ref_power[0] <= cfg.ref_power_bounds[1]
    assert report[0].status == "shrunk" and report[0].n == 6
    assert report[1].status == "default" and fitted.ref_power[1] == -59.0  # too few: untouched
    assert report[2].n == 0 and report[2].status == "default"


def test_radio_map_locates_where_the_model_cannot():
    """The real building has a wall the log-distance model knows nothing about; the survey does."""
    rng = np.random.default_rng(3)
    cfg = EngineConfig()

    def world(pts):  # per-gateway models, and gateway 2 is 15 dB weaker on the left half (a wall)
        gw = np.tile(np.arange(5), len(pts))
        pos = np.repeat(np.c_[pts, np.full(len(pts), 1.2)], 5, axis=0)
        d = np.linalg.norm(XYZ[gw] - pos, axis=1)
        r = distance_to_rssi(d, TRUE_REF[gw], TRUE_EXP[gw]) - np.where((gw == 2) & (pos[:, 0] < 6), 15.0, 0.0)
        return gw, r, pos

    grid = np.stack(np.meshgrid(np.arange(0.5, 11.6, 0.25), np.arange(0.5, 8.6, 0.25)), -1).reshape(-1, 2)
    gw, r, pos = world(grid)
    g = gateways()
    sv = Survey.from_arrays(g, gw, r + rng.normal(0, 2.0, len(r)), pos)
    fitted, _ = fit_survey(g, sv)
    maps = build_radio_maps(fitted, sv, cfg)
    assert set(maps) == {0}
    test_pts = rng.uniform([1, 1], [11, 8], (40, 2))
    tgw, tr, _ = world(test_pts)
    K = 5
    rows = tgw.reshape(-1, K)
    rs = (tr + rng.normal(0, 2.0, len(tr))).reshape(-1, K)
    xy, cov, n_in = maps[0].locate(rows, rs, np.ones_like(rows, bool), sigma_db=cfg.fp_sigma_db)
    err = np.linalg.norm(xy - test_pts, axis=1)
    assert (n_in == 5).all()
    assert np.median(err) < 1.2  # single readings with 2 dB noise, no averaging
    assert np.isfinite(cov).all()
    # big maps score only a window around a centre (here the truth +- 1 m): same answers nearby
    near = test_pts + rng.uniform(-1, 1, test_pts.shape)
    wxy, wcov, _ = maps[0].locate(rows, rs, np.ones_like(rows, bool), sigma_db=cfg.fp_sigma_db, center=near,
                                  window_m=3.0)
    assert maps[0].candidates(near, 3.0).shape == (40, 31 * 31)
    assert np.median(np.linalg.norm(wxy - test_pts, axis=1)) < 1.2
    assert np.isfinite(wcov).all()

    # the engine with the survey (fit + map) beats the fit alone, and the defaults by far
    def run(model, maps):
        eng = Engine(model, cfg, radio_maps=maps)
        for i in range(len(test_pts)):
            eng.ingest(0.5, rows[i], [f"t{i}"] * K, rs[i])
        fb = eng.solve(1.0)
        order = np.argsort([int(s[1:]) for s in fb.tag_ids])
        return np.median(np.hypot(fb.x[order] - test_pts[:, 0], fb.y[order] - test_pts[:, 1])), fb

    e_map, fb = run(fitted, maps)
    e_fit, _ = run(fitted, None)
    e_none, _ = run(g, None)
    assert e_map < e_fit < 0.5 * e_none
    assert set(fb.method) <= {"fingerprint", "fused"}


def test_online_calibrator_steps_are_bounded_and_converge():
    g = gateways()
    cal = OnlineCalibrator(g, max_step_db=1.0, max_step_exponent=0.05, half_life_s=1e9)
    rng = np.random.default_rng(4)
    # reference tags say gateway 0 really is -49 dBm at 1 m (10 dB stronger), exponent 2.5
    d = rng.uniform(1.0, 12.0, 400)
    cal.add(np.zeros(400, int), d, distance_to_rssi(d, -49.0, 2.5) + rng.normal(0, 2, 400), t=0.0)
    model, props = cal.apply()
    p = props[0]
    assert p.target_ref_power > -56.0  # the evidence points far (shrunk toward the current value) ...
    assert p.change[0] == pytest.approx(1.0)  # ... but one step moves 1 dB
    assert abs(p.change[1]) <= 0.05 + 1e-12
    assert model.ref_power[0] == pytest.approx(-58.0)
    assert all(q.change == (0.0, 0.0) for q in props[1:])  # no evidence, no change
    for _ in range(30):
        model, props = cal.apply()
    assert model.ref_power[0] == pytest.approx(-49.0, abs=1.0)
    assert 2.2 < model.exponent[0] < 2.8


def test_online_calibrator_never_leaves_the_bounds():
    cfg = EngineConfig()
    g = gateways()
    cal = OnlineCalibrator(g, cfg, max_step_db=5.0, max_step_exponent=1.0)
    d = np.linspace(1, 10, 200)
    for k in range(40):  # absurd evidence: -20 dBm at 1 m, exponent 8
        cal.add(np.full(200, 3), d, -20.0 - 80.0 * np.log10(d), t=float(k))
        model, _ = cal.apply()
    assert cfg.ref_power_bounds[0] <= model.ref_power[3] <= cfg.ref_power_bounds[1]
    assert cfg.exponent_bounds[0] <= model.exponent[3] <= cfg.exponent_bounds[1]


def test_online_calibrator_reference_tags_and_gateway_pairs():
    g = gateways()
    cal = OnlineCalibrator(g, min_samples=5)
    tag = np.array([3.0, 3.0, 1.2])
    rows = np.arange(5)
    d = np.linalg.norm(XYZ - tag, axis=1)
    for k in range(10):
        cal.add_reference(rows, tag, distance_to_rssi(d, -55.0, 2.5), t=float(k))
    cal.add_gateway_pair([0, 1], [1, 0], [-85.0, -85.0], tx_offset_db=4.0, t=10.0)
    props = cal.propose()
    assert all(p.n_eff >= 5 for p in props)
    assert all(p.proposed_ref_power > p.current_ref_power for p in props)  # all hear it stronger
