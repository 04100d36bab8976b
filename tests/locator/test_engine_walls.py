"""Floor-plan radio maps: walls from room outlines, predicted RSSI behind walls, room evidence.

The floor in these tests (labelled test geometry): two 3 m wide rooms side by side along a corridor,
like the storerooms of the demo hospital's wards.

    y=10  +-----+-----+
          |  A  |  B  |      A: x 0-3, B: x 3-6, each with a gateway at its centre
    y=4   +-----+-----+
          |  corridor | C1 (x 0-3) and C2 (x 3-6): one corridor cut in two segments
    y=0   +-----------+
"""

import numpy as np
import pytest
from shapely.geometry import box

from locator.engine import Engine, EngineConfig, GatewayModel, RoomTracker, distance_to_rssi, plan_radio_maps
from locator.engine.walls import count_crossings, wall_segments

ROOMS = [("A", 1, box(0, 4, 3, 10), False), ("B", 1, box(3, 4, 6, 10), False),
         ("C1", 1, box(0, 0, 3, 4), True), ("C2", 1, box(3, 0, 6, 4), True)]
GATEWAYS = {"gw-a": (1.5, 7.0), "gw-b": (4.5, 7.0), "gw-c1": (1.5, 2.0), "gw-c2": (4.5, 2.0)}


def model() -> GatewayModel:
    return GatewayModel.build(list(GATEWAYS), np.array([[x, y, 2.7] for x, y in GATEWAYS.values()]),
                              floor=[1] * len(GATEWAYS))


def walls():
    return wall_segments((poly, corridor) for _, _, poly, corridor in ROOMS)


def test_shared_walls_count_once_and_the_line_between_corridor_segments_is_open():
    segs = walls()
    # the wall between A and B (x = 3, y 4..10) is there once
    assert sum(1 for s in segs if s[0] == s[2] == 3.0 and min(s[1], s[3]) >= 4.0) == 1
    # the line between the corridor segments (x = 3, y 0..4) is not a wall
    assert not [s for s in segs if s[0] == s[2] == 3.0 and max(s[1], s[3]) <= 4.0]


def test_crossings_count_the_walls_on_the_straight_line():
    segs = walls()
    points = np.array([[2.5, 7.0],   # same room as the gateway
                       [4.5, 7.0],   # next room: through the A|B wall
                       [2.5, 2.0],   # corridor below: through A's corridor wall
                       [4.5, 2.0],   # corridor, other segment: through the A|B wall and B's corridor wall
                       [1.5, 12.0]])  # outside the building: through A's back wall
    assert count_crossings((1.5, 7.0), points, segs).tolist() == [0, 1, 1, 2, 1]
    assert count_crossings((1.5, 2.0), np.array([[4.5, 2.0]]), segs).tolist() == [0]  # open corridor


def test_plan_map_expects_a_weaker_signal_behind_a_wall_and_labels_rooms():
    cfg = EngineConfig()
    maps = plan_radio_maps(model(), ROOMS, cfg)
    rm = maps[1]
    assert set(rm.room_keys) == {"A", "B", "C1", "C2"}
    ga = rm.column[0]
    # two cells 1.5 m from gw-a: one in A, one in B (behind the wall)
    same = np.argmin(((rm.cells - (1.5, 8.5)) ** 2).sum(1))
    behind = np.argmin(((rm.cells - (3.25, 7.75)) ** 2).sum(1))
    assert rm.room_keys[rm.cell_room[same]] == "A" and rm.room_keys[rm.cell_room[behind]] == "B"
    d_same = np.hypot(*(rm.cells[same] - (1.5, 7.0)))
    d_behind = np.hypot(*(rm.cells[behind] - (1.5, 7.0)))
    free_space_gap = 10 * 2.5 * np.log10(np.hypot(d_behind, 1.5) / np.hypot(d_same, 1.5))
    assert rm.mu[ga, same] - rm.mu[ga, behind] == pytest.approx(free_space_gap + cfg.wall_loss_db, abs=0.01)
    # no cells outside the rooms
    assert (rm.cells[:, 0] > 0).all() and (rm.cells[:, 0] < 6).all() and (rm.cells[:, 1] < 10).all()


def simulated_rssi(x, y, rng, n=8, wall_db=4.0):
    """Readings of a tag at (x, y) from the wall-aware model with noise (labelled test data)."""
    segs = walls()
    out = []
    for gw, (gx, gy) in GATEWAYS.items():
        d = np.sqrt((gx - x) ** 2 + (gy - y) ** 2 + 1.5**2)
        mean = distance_to_rssi(d, -59.0, 2.5) - wall_db * count_crossings((gx, gy), np.array([[x, y]]), segs)[0]
        out += [(gw, mean + rng.normal(0, 3.0)) for _ in range(n)]
    return out


def test_a_tag_by_the_wall_of_a_narrow_room_is_placed_in_that_room_by_its_radio_evidence():
    rng = np.random.default_rng(1)
    m = model()
    cfg = EngineConfig()
    engine = Engine(m, cfg, radio_maps=plan_radio_maps(m, ROOMS, cfg))
    tracker = RoomTracker([(k, f, p) for k, f, p, _ in ROOMS])
    x, y = 2.6, 7.0  # 0.4 m inside A from the A|B wall
    t = 1_800_000_000.0
    rooms = []
    for k in range(40):
        gw, rssi = zip(*simulated_rssi(x, y, rng, n=2), strict=True)
        engine.ingest_ids(np.full(len(gw), t + k), list(gw), np.array(["tag"] * len(gw), dtype=object), np.array(rssi))
        fixes = engine.solve(t + k + 0.5)
        assert fixes.room_probs is not None and abs(sum(fixes.room_probs[0].values()) - 1) < 0.02
        room, _ = tracker.update(["tag"], fixes.floor, fixes.x, fixes.y, t + k + 0.5, room_probs=fixes.room_probs)
        rooms.append(room[0])
    assert rooms[10:].count("A") == len(rooms[10:])


def test_room_evidence_needs_a_clear_lead_and_the_dwell_before_a_change():
    tracker = RoomTracker([(k, f, p) for k, f, p, _ in ROOMS], dwell_s=5.0, evidence_tau_s=5.0, evidence_margin=3.0)
    t = 0.0
    for _ in range(10):
        t += 1
        room, _ = tracker.update(["tag"], [1], [1.5], [7.0], t, room_probs=[{"A": 0.9, "B": 0.1}])
    assert room[0] == "A"
    # one window that favours B strongly does not move the tag ...
    room, changes = tracker.update(["tag"], [1], [4.5], [7.0], t + 1, room_probs=[{"A": 0.01, "B": 0.99}])
    assert room[0] == "A" and not changes
    # ... nor does an even split, however long
    for k in range(30):
        room, changes = tracker.update(["tag"], [1], [3.0], [7.0], t + 2 + k, room_probs=[{"A": 0.45, "B": 0.55}])
        assert room[0] == "A" and not changes
    # sustained evidence for B does, after the lead builds up and the dwell passes
    t += 40
    seen = []
    for k in range(15):
        room, changes = tracker.update(["tag"], [1], [4.5], [7.0], t + k, room_probs=[{"A": 0.05, "B": 0.95}])
        seen.append(room[0])
        if changes:
            assert changes[0].old_room == "A" and changes[0].new_room == "B"
    assert seen[0] == "A" and seen[-1] == "B"
    assert 5 <= seen.index("B") <= 10  # lead (a couple of windows) + dwell (5 s)


def test_markers_are_drawn_inside_the_room_they_are_listed_in():
    tracker = RoomTracker([(k, f, p) for k, f, p, _ in ROOMS])
    x, y = tracker.place_inside(["A", "B", None], [3.4, 4.0, 50.0], [7.0, 7.0, 50.0])
    assert 0 < x[0] <= 2.7 + 1e-9 and y[0] == pytest.approx(7.0)  # moved into A, 0.3 m from the wall
    assert (x[1], y[1]) == (4.0, 7.0)  # already inside B
    assert (x[2], y[2]) == (50.0, 50.0)  # no room: left alone


def test_online_calibration_moves_the_plan_map_with_the_gateways_parameters():
    m = model()
    cfg = EngineConfig()
    engine = Engine(m, cfg, radio_maps=plan_radio_maps(m, ROOMS, cfg))
    rm = engine.radio_maps[0]
    before = rm.mu.copy()
    engine.set_gateway_params(ref_power=m.ref_power + np.array([5.0, 0.0, 0.0, 0.0]))
    assert np.allclose(rm.mu[rm.column[0]] - before[rm.column[0]], 5.0)  # gw-a louder everywhere ...
    assert np.allclose(rm.mu[rm.column[1]], before[rm.column[1]])  # ... the others unchanged
    assert np.allclose(rm._mu32()[rm.column[0]], rm.mu[rm.column[0]], atol=1e-3)  # no stale cache
