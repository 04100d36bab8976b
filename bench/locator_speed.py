"""Throughput of the positioning engine in batch: fixes per second on one core.

Builds a synthetic hospital (default 2 floors of 100 x 60 m, a gateway every ~8 m), puts
``--tags`` tags at random positions, makes each heard by its 5-8 nearest same-floor gateways
(log-distance model with 4 dB noise, two readings per gateway in the window) and times:

* ``solve``: the whole ``Engine.solve`` (aggregation, floors, multilateration, tracking) after
  the sightings were ingested; repeated to include a warm tracker;
* ``multilat``: the vectorised multilateration core alone;
* ``with_map``: ``Engine.solve`` for ``--map-tags`` tags on floors surveyed every 1 m (radio map of
  0.2 m cells; fingerprinting scores a 20 x 20 m window around each multilateration fix).
* ``with_plan_map``: ``Engine.solve`` for ``--map-tags`` tags with the maps predicted from a floor
  plan (rooms of 4 x 8 m tiling the floors, 0.5 m cells, room probabilities included), as live
  ingest uses where rooms are drawn and nobody surveyed; and the time to build those maps.

Last line: JSON with fixes/s figures and the median error of the synthetic fixes.

    .venv/bin/python bench/locator_speed.py [--tags 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the requirement says
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shapely.geometry import box  # noqa: E402

from locator.engine import (  # noqa: E402
    Engine,
    EngineConfig,
    GatewayModel,
    Survey,
    build_radio_maps,
    multilat,
    plan_radio_maps,
)
from locator.engine.gateways import distance_to_rssi  # noqa: E402


def hospital(floors: int = 2, width: float = 100.0, depth: float = 60.0, spacing: float = 8.0):
    xs = np.arange(spacing / 2, width, spacing)
    ys = np.arange(spacing / 2, depth, spacing)
    gx, gy = np.meshgrid(xs, ys)
    n = gx.size
    ids, xyz, fl = [], [], []
    for f in range(floors):
        ids += [f"gw-{f}-{i}" for i in range(n)]
        xyz.append(np.c_[gx.ravel(), gy.ravel(), np.full(n, 2.6)])
        fl += [f] * n
    return GatewayModel.build(ids, np.vstack(xyz), fl, ref_power=-59.0, exponent=2.5)


def place_tags(gws: GatewayModel, n_tags: int, rng):
    floors = rng.integers(0, len(gws.floors), n_tags)
    lo, hi = gws.xyz[:, :2].min(0), gws.xyz[:, :2].max(0)
    return rng.uniform(lo, hi, (n_tags, 2)), floors


def sightings(gws: GatewayModel, pos, floors, rng, t0: float, per_gw: int = 2, noise_db: float = 4.0):
    """Each tag heard by its 5-8 nearest gateways on its floor, ``per_gw`` readings in 1.5 s."""
    k = rng.integers(5, 9, len(pos))
    T, G = [], []
    for f in range(len(gws.floors)):
        rows = np.flatnonzero(gws.floor_idx == f)
        sel = np.flatnonzero(floors == f)
        d = np.linalg.norm(pos[sel, None, :] - gws.xyz[None, rows, :2], axis=2)
        near = np.argsort(d, axis=1)[:, :8]
        for j in range(8):
            ok = j < k[sel]
            T.append(sel[ok])
            G.append(rows[near[ok, j]])
    tag = np.repeat(np.concatenate(T), per_gw)
    gw = np.repeat(np.concatenate(G), per_gw)
    d3 = np.sqrt(((pos[tag] - gws.xyz[gw, :2]) ** 2).sum(1) + (gws.xyz[gw, 2] - 1.2) ** 2)
    rssi = distance_to_rssi(d3, gws.ref_power[gw], gws.exponent[gw]) + rng.normal(0, noise_db, len(tag))
    t = t0 + rng.uniform(0, 1.5, len(tag))
    return t, gw, tag, rssi


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tags", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--map-tags", type=int, default=2000)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(7)
    gws = hospital()
    cfg = EngineConfig()
    engine = Engine(gws, cfg)
    names = np.array([f"tag-{i:06d}" for i in range(args.tags)], dtype=object)
    pos, floors = place_tags(gws, args.tags, rng)
    solve_s, ingest_s, errs, n_sight, n_fix = [], 0.0, [], 0, 0
    now = 1_700_000_000.0
    for _ in range(args.repeat):
        pos = pos + rng.normal(0, 0.3, pos.shape)  # tags move a little between windows
        t, gw, tag, rssi = sightings(gws, pos, floors, rng, now - 1.5)
        a = time.perf_counter()
        engine.ingest(t, gw, names[tag], rssi)
        ingest_s += time.perf_counter() - a
        n_sight += len(t)
        a = time.perf_counter()
        fb = engine.solve(now)
        solve_s.append(time.perf_counter() - a)
        n_fix = len(fb)
        idx = np.array([int(s[4:]) for s in fb.tag_ids.tolist()])
        errs.append(np.hypot(fb.x - pos[idx, 0], fb.y - pos[idx, 1]))
        now += 2.0  # the next window holds only the new sightings

    # the multilateration core alone, on a fresh window
    t, gw, tag, rssi = sightings(gws, pos, floors, rng, now - 1.5)
    engine.ingest(t, gw, names[tag], rssi)
    prob = engine.prepare(now).problem
    a = time.perf_counter()
    sol = multilat.solve(prob, cfg)
    core_s = time.perf_counter() - a
    # with a survey radio map on every floor
    grid = np.stack(np.meshgrid(np.arange(0.5, 100, 1.0), np.arange(0.5, 60, 1.0)), -1).reshape(-1, 2)
    sv_gw, sv_rssi, sv_xyz, sv_floor = [], [], [], []
    for f in range(len(gws.floors)):
        t_, g_, k_, r_ = sightings(gws, grid, np.full(len(grid), f), rng, 0.0, per_gw=1)
        sv_gw.append(g_)
        sv_rssi.append(r_)
        sv_xyz.append(np.c_[grid[k_], np.full(len(k_), 1.2)])
        sv_floor.append(np.full(len(k_), gws.floors[f], dtype=object))
    survey = Survey(np.concatenate(sv_gw), np.concatenate(sv_rssi), np.vstack(sv_xyz), np.concatenate(sv_floor))
    a = time.perf_counter()
    maps = build_radio_maps(gws, survey, cfg)
    build_s = time.perf_counter() - a
    meng = Engine(gws, cfg, radio_maps=maps)
    mpos, mfl = pos[: args.map_tags], floors[: args.map_tags]
    t, gw, tag, rssi = sightings(gws, mpos, mfl, rng, now - 1.5)
    meng.ingest(t, gw, names[tag], rssi)
    a = time.perf_counter()
    mfb = meng.solve(now)
    map_s = time.perf_counter() - a
    midx = np.array([int(s[4:]) for s in mfb.tag_ids.tolist()])
    merr = np.hypot(mfb.x - mpos[midx, 0], mfb.y - mpos[midx, 1])

    # with floor-plan maps (no survey): rooms of 4 x 8 m over every floor
    rooms = [(f"{f}-{i}-{j}", gws.floors[f], box(i, j, i + 4.0, j + 8.0), False)
             for f in range(len(gws.floors)) for i in range(0, 100, 4) for j in range(0, 60, 8)]
    a = time.perf_counter()
    pmaps = plan_radio_maps(gws, rooms, cfg)
    plan_build_s = time.perf_counter() - a
    peng = Engine(gws, cfg, radio_maps=pmaps)
    peng.ingest(t, gw, names[tag], rssi)
    a = time.perf_counter()
    pfb = peng.solve(now)
    plan_s = time.perf_counter() - a

    e = np.concatenate(errs)
    med = float(np.median(solve_s))
    out = {
        "tags": args.tags, "gateways": len(gws), "fixes_per_solve": n_fix,
        "solve_fixes_per_s": round(n_fix / med), "multilat_fixes_per_s": round(len(sol.xy) / core_s),
        "ingest_sightings_per_s": round(n_sight / ingest_s), "solve_seconds": [round(s, 3) for s in solve_s],
        "median_error_m": round(float(np.median(e)), 2), "p90_error_m": round(float(np.percentile(e, 90)), 2),
        "with_map_fixes_per_s": round(len(mfb) / map_s), "with_map_tags": len(mfb),
        "radio_map_cells": int(sum(len(m.cells) for m in maps.values())), "radio_map_build_s": round(build_s, 2),
        "with_map_median_error_m": round(float(np.median(merr)), 2),
        "with_plan_map_fixes_per_s": round(len(pfb) / plan_s), "plan_map_build_s": round(plan_build_s, 2),
    }
    print(f"{n_fix} fixes per solve; full solve {med:.3f} s (median of {len(solve_s)}); "
          f"multilateration core {core_s:.3f} s; synthetic error median {out['median_error_m']} m; "
          f"with radio maps: {len(mfb)} fixes in {map_s:.3f} s")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
