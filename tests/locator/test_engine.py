"""Positioning engine core: path loss, aggregation, multilateration, fallbacks, tracking, Engine."""

import numpy as np
import pytest

from locator.engine import Engine, EngineConfig, GatewayModel, distance_to_rssi, multilat, rssi_to_distance
from locator.engine.aggregate import TagIndex, aggregate_arrays
from locator.engine.tracking import Tracker

SQUARE = np.array([[0, 0, 2.5], [10, 0, 2.5], [10, 10, 2.5], [0, 10, 2.5], [5, -3, 2.5], [-3, 5, 2.5]], float)


def gateways(xyz=SQUARE, floor=None, ref=-59.0, n=2.5):
    return GatewayModel.build([f"g{i}" for i in range(len(xyz))], xyz, floor, ref_power=ref, exponent=n)


def readings(gw: GatewayModel, xy, h=1.2, rows=None, offset=0.0):
    rows = np.arange(len(gw)) if rows is None else np.asarray(rows)
    d = np.linalg.norm(gw.xyz[rows] - np.r_[xy, h], axis=1)
    return rows, distance_to_rssi(d, gw.ref_power[rows], gw.exponent[rows]) + offset


def problem(gw: GatewayModel, rows_list, rssi_list, cfg, K=None):
    K = K or max(len(r) for r in rows_list)
    T = len(rows_list)
    gwk = np.zeros((T, K), dtype=int)
    rs = np.zeros((T, K))
    mask = np.zeros((T, K), bool)
    for t, (r, s) in enumerate(zip(rows_list, rssi_list, strict=True)):
        gwk[t, : len(r)], rs[t, : len(r)], mask[t, : len(r)] = r, s, True
    lo = np.tile(gw.xyz[:, :2].min(0) - 3, (T, 1))
    hi = np.tile(gw.xyz[:, :2].max(0) + 3, (T, 1))
    return multilat.Problem(gxy=gw.xyz[gwk, :2], dz=gw.xyz[gwk, 2] - cfg.tag_height_m, rssi=rs,
                            ref_power=gw.ref_power[gwk], exponent=gw.exponent[gwk], mask=mask,
                            offset0=np.zeros(T), lo=lo, hi=hi)


# --- path loss ---------------------------------------------------------------------------------------


def test_path_loss_round_trip_and_reference_points():
    assert distance_to_rssi(1.0, -59.0, 2.0) == pytest.approx(-59.0)
    assert distance_to_rssi(10.0, -59.0, 2.0) == pytest.approx(-79.0)  # 10 n dB per decade
    assert distance_to_rssi(10.0, -59.0, 3.0) == pytest.approx(-89.0)
    d = np.array([0.5, 1.0, 3.7, 12.0, 40.0])
    assert rssi_to_distance(distance_to_rssi(d, -62.0, 2.7), -62.0, 2.7) == pytest.approx(d)
    assert rssi_to_distance(-20.0, -59.0, 2.0, min_range=0.3) == pytest.approx(0.3)  # clamped


# --- aggregation -------------------------------------------------------------------------------------


def test_trimmed_mean_aggregation_per_pair():
    # tag 0 at gateway 1: ten readings with one wild value; tag 1 at gateway 0: two readings
    t = np.arange(12.0)
    gw = np.r_[np.ones(10, int), 0, 0]
    tag = np.r_[np.zeros(10, int), 1, 1]
    rssi = np.r_[np.full(9, -70.0), -20.0, -60.0, -64.0]
    agg = aggregate_arrays(t, gw, tag, rssi, n_gateways=2, trim_fraction=0.2)
    got = {(int(a), int(b)): (r, c) for a, b, r, c in zip(agg.tag, agg.gw, agg.rssi, agg.count, strict=True)}
    assert got[(0, 1)][0] == pytest.approx(-70.0)  # the -20 dBm outlier is trimmed
    assert got[(0, 1)][1] == 10
    assert got[(1, 0)][0] == pytest.approx(-62.0)


def test_tag_index_is_stable():
    ti = TagIndex()
    a = ti.encode(np.array(["b", "a", "b"], dtype=object))
    b = ti.encode(np.array(["c", "a"], dtype=object))
    assert a[0] == a[2] and a[1] == b[1] and len(ti) == 3
    assert ti.ids(b).tolist() == ["c", "a"]


# --- multilateration ---------------------------------------------------------------------------------


@pytest.mark.parametrize("offset_db", [0.0, 6.0])
def test_multilateration_recovers_positions_from_noiseless_rssi(offset_db):
    # a loose prior on the tag's power offset: the noiseless optimum is then the truth
    cfg = EngineConfig(iterations=30, tag_offset_sigma_db=100.0)
    gw = gateways()
    truth = np.array([[2.0, 3.0], [7.5, 8.0], [5.0, 5.0], [9.0, 1.0]])
    rows, rss = zip(*(readings(gw, p, offset=offset_db) for p in truth), strict=True)
    sol = multilat.solve(problem(gw, rows, rss, cfg), cfg)
    err = np.linalg.norm(sol.xy - truth, axis=1)
    assert err.max() < 0.05
    assert (sol.method == multilat.METHOD_MULTILAT).all()
    assert sol.offset == pytest.approx(np.full(4, offset_db), abs=0.2)  # transmit power offset learnt


def test_robust_weights_reject_an_outlier_gateway():
    """The nearest gateway is blocked (25 dB weaker than the model, a body or a door in the way)."""
    xyz = np.vstack([SQUARE, [[5, 13, 2.5], [13, 5, 2.5]]])
    gw = gateways(xyz)
    rng = np.random.default_rng(0)
    robust = EngineConfig()
    plain = robust.with_(robust_loss="huber", huber_k=1e9)  # ordinary least squares
    e_rob, e_lsq = [], []
    for _ in range(30):
        truth = rng.uniform(1, 9, 2)
        rows, rss = readings(gw, truth)
        rss[np.argmin(np.linalg.norm(xyz[:, :2] - truth, axis=1))] -= 25.0
        e_rob.append(np.linalg.norm(multilat.solve(problem(gw, [rows], [rss], robust), robust).xy[0] - truth))
        e_lsq.append(np.linalg.norm(multilat.solve(problem(gw, [rows], [rss], plain), plain).xy[0] - truth))
    assert np.median(e_rob) < 0.65 * np.median(e_lsq)
    assert np.median(e_rob) < 1.2


def test_one_gateway_fallback_is_its_position_with_range_accuracy():
    cfg = EngineConfig()
    gw = gateways()
    rows, rss = readings(gw, [4.0, 0.0], rows=[0])  # 4 m from g0, 1.3 m below it
    sol = multilat.solve(problem(gw, [rows], [rss], cfg), cfg)
    assert sol.method[0] == multilat.METHOD_ONE
    assert sol.xy[0] == pytest.approx([0.0, 0.0])
    acc = cfg.accuracy_scale * np.sqrt(np.trace(sol.cov[0]))
    assert acc == pytest.approx(4.0, rel=0.05)  # the accuracy radius is the estimated range


def test_two_gateway_fallback_lies_on_the_line_weighted_by_ranges():
    cfg = EngineConfig()
    gw = gateways()
    rows, rss = readings(gw, [3.0, 0.0], rows=[0, 1])  # between g0 (0,0) and g1 (10,0)
    sol = multilat.solve(problem(gw, [rows], [rss], cfg), cfg)
    assert sol.method[0] == multilat.METHOD_TWO
    assert sol.xy[0, 1] == pytest.approx(0.0)
    assert sol.xy[0, 0] == pytest.approx(3.0, abs=0.3)


def test_solver_is_vectorised_over_many_tags():
    cfg = EngineConfig()
    gw = gateways()
    rng = np.random.default_rng(0)
    truth = rng.uniform(1, 9, (500, 2))
    rows, rss = zip(*(readings(gw, p) for p in truth), strict=True)
    rss = [r + rng.normal(0, 2.0, len(r)) for r in rss]
    sol = multilat.solve(problem(gw, rows, rss, cfg), cfg)
    err = np.linalg.norm(sol.xy - truth, axis=1)
    assert np.median(err) < 1.0
    assert np.isfinite(sol.cov).all()


# --- tracking ----------------------------------------------------------------------------------------


def test_speed_limit_clamps_a_jump():
    cfg = EngineConfig(max_speed_mps=2.0, jump_slack_m=0.5)
    tr = Tracker(cfg)
    R = np.tile(np.eye(2) * 0.25, (1, 1, 1))
    for k in range(5):
        tr.update([0], float(k), np.array([[0.0, 0.0]]), R)
    xy, _, clamped = tr.update([0], 5.0, np.array([[20.0, 0.0]]), R * 0.01)  # 20 m in 1 s
    assert clamped[0]
    assert np.linalg.norm(xy[0]) <= 2.0 * 1.0 + 0.5 + 1e-9
    assert np.linalg.norm(tr.x[0, 2:]) <= 2.0 + 1e-9


def test_tracker_restarts_after_timeout_and_smooths_noise():
    cfg = EngineConfig()
    tr = Tracker(cfg)
    rng = np.random.default_rng(1)
    R = np.tile(np.eye(2), (1, 1, 1))
    out = [tr.update([0], float(k), rng.normal([3.0, 4.0], 1.0, (1, 2)), R)[0][0] for k in range(40)]
    assert np.linalg.norm(np.mean(out[20:], axis=0) - [3.0, 4.0]) < 0.5
    assert np.std(np.array(out[20:]), axis=0).max() < 0.8  # smoother than the 1 m noise
    xy, _, _ = tr.update([0], 40.0 + cfg.track_timeout_s + 1, np.array([[50.0, 50.0]]), R)
    assert xy[0] == pytest.approx([50.0, 50.0])  # a stale track restarts instead of being clamped


# --- the engine --------------------------------------------------------------------------------------


def feed(engine, gw, tag, xy, t0, t1, rng, noise=2.0, rate=2.0, rows=None):
    for t in np.arange(t0, t1, 1.0 / rate):
        r, s = readings(gw, xy, rows=rows)
        engine.ingest(t, r, [tag] * len(r), s + rng.normal(0, noise, len(r)))


def test_engine_end_to_end_many_tags():
    gw = gateways()
    eng = Engine(gw, EngineConfig())
    rng = np.random.default_rng(2)
    spots = {"tag-a": [2.0, 2.0], "tag-b": [8.0, 7.0], "tag-c": [5.0, 9.0]}
    for now in np.arange(1.0, 11.0):
        for tag, xy in spots.items():
            feed(eng, gw, tag, xy, now - 1.0, now, rng)
        fb = eng.solve(now)
    assert len(fb) == 3
    for tag, x, y in zip(fb.tag_ids, fb.x, fb.y, strict=True):
        assert np.hypot(x - spots[tag][0], y - spots[tag][1]) < 1.5
    assert ((fb.confidence > 0) & (fb.confidence <= 1)).all()
    assert (fb.accuracy_m >= EngineConfig().min_accuracy_m).all()
    assert set(fb.method) == {"multilateration"}
    assert (fb.n_gateways == 6).all()
    df = fb.to_dataframe()
    assert list(df.columns[:7]) == ["t", "tag_id", "x", "y", "z", "floor", "accuracy_m"]
    # stale tags produce no fixes
    assert len(eng.solve(100.0)) == 0


def test_engine_picks_the_floor_and_uses_only_its_gateways():
    xyz = np.vstack([SQUARE, SQUARE])
    gw = GatewayModel.build([f"g{i}" for i in range(12)], xyz, [1] * 6 + [2] * 6)
    eng = Engine(gw, EngineConfig())
    rng = np.random.default_rng(3)
    for now in np.arange(1.0, 6.0):
        feed(eng, gw, "t", [3.0, 3.0], now - 1.0, now, rng, rows=np.arange(6, 12))  # floor 2, strong
        r, s = readings(gw, [3.0, 3.0], rows=np.arange(6))
        eng.ingest(now - 0.5, r, ["t"] * 6, s - 25.0)  # floor 1 heard through the slab
        fb = eng.solve(now)
    assert fb.floor[0] == 2
    assert np.hypot(fb.x[0] - 3.0, fb.y[0] - 3.0) < 1.5


def test_engine_with_one_and_two_gateways():
    gw = gateways()
    eng = Engine(gw, EngineConfig())
    rng = np.random.default_rng(4)
    feed(eng, gw, "one", [1.0, 0.5], 0.0, 1.0, rng, noise=0.0, rows=[0])
    feed(eng, gw, "two", [4.0, 0.0], 0.0, 1.0, rng, noise=0.0, rows=[0, 1])
    fb = eng.solve(1.0)
    got = {t: i for i, t in enumerate(fb.tag_ids)}
    i1, i2 = got["one"], got["two"]
    assert fb.method[i1] == "one_gateway" and (fb.x[i1], fb.y[i1]) == (0.0, 0.0)
    assert fb.method[i2] == "two_gateways" and abs(fb.x[i2] - 4.0) < 0.5
    rng1 = max(np.hypot(1.0, 0.5), 1.0)  # horizontal range of the one-gateway tag (at least 1 m)
    assert fb.accuracy_m[i1] == pytest.approx(rng1, rel=0.05)
    assert 0 < fb.confidence[i1] <= 0.4 and 0 < fb.confidence[i2] <= 0.7  # fewer gateways, less confidence
