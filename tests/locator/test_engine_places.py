"""Floor, room and zone helpers: evidence, hysteresis, dwell, enter/leave events."""

import numpy as np
from shapely.geometry import box

from locator.engine import FloorTracker, RoomTracker, ZoneTracker


def vote(tracker, floor_rssi, t, tag=0):
    """One solve for one tag: readings as {floor: [rssi, ...]}."""
    rows, floors, rssi = [], [], []
    for f, values in floor_rssi.items():
        for v in values:
            rows.append(0)
            floors.append(f)
            rssi.append(v)
    votes = tracker.votes(np.array(rows), np.array(floors), np.array(rssi, float), 1)
    cur, changed = tracker.update(np.array([tag]), t, votes)
    return int(cur[0]), bool(changed[0])


def test_floor_ignores_a_single_stray_packet():
    ft = FloorTracker(n_floors=2, tau_s=4.0, margin=0.25, windows=3)
    for t in range(10):
        assert vote(ft, {0: [-60, -65, -70]}, float(t))[0] == 0
    # one window where a gateway upstairs is the strongest (through the stairwell)
    assert vote(ft, {1: [-55], 0: [-66, -70]}, 10.0) == (0, False)
    for t in range(11, 20):
        assert vote(ft, {0: [-60, -65, -70]}, float(t))[0] == 0


def test_floor_follows_a_real_change_after_consecutive_windows():
    ft = FloorTracker(n_floors=3, tau_s=4.0, margin=0.25, windows=3)
    for t in range(10):
        vote(ft, {0: [-60, -65], 2: [-85]}, float(t))
    floors = [vote(ft, {2: [-58, -63, -66], 0: [-88]}, float(t)) for t in range(10, 30)]
    switched_at = next(i for i, (f, _) in enumerate(floors) if f == 2)
    assert 3 <= switched_at <= 10  # not on the first window, but within seconds
    assert floors[switched_at][1] is True
    assert all(f == 2 for f, _ in floors[switched_at:])


def test_floor_of_a_new_tag_is_its_strongest_floor_immediately():
    ft = FloorTracker(n_floors=2)
    assert vote(ft, {1: [-50, -60], 0: [-80]}, 0.0, tag=5) == (1, False)
    assert ft.floor_of([5, 99]).tolist() == [1, -1]


def rooms():
    # two rooms sharing a wall at x = 5 (doorway), a corridor below both, and a room upstairs
    return [("A", 1, box(0, 0, 5, 4)), ("B", 1, box(5, 0, 10, 4)), ("C", 1, box(0, -3, 10, 0)),
            ("A2", 2, [(0, 0), (5, 0), (5, 4), (0, 4)])]


def test_room_hysteresis_near_a_doorway():
    rt = RoomTracker(rooms(), margin_m=0.75, dwell_s=3.0)
    rm, ch = rt.update(["t1"], [1], [2.0], [2.0], 0.0)
    assert rm[0] == "A" and [(c.old_room, c.new_room) for c in ch] == [(None, "A")]
    # standing in the doorway, fixes wobble across the wall: stays in A
    for k, x in enumerate([4.8, 5.3, 4.9, 5.6, 5.2, 4.7, 5.4] * 3):
        rm, ch = rt.update(["t1"], [1], [x], [2.0], 1.0 + k)
        assert rm[0] == "A" and ch == []
    # walks into B: beyond the margin, but only after the dwell time
    rm, ch = rt.update(["t1"], [1], [7.0], [2.0], 30.0)
    assert rm[0] == "A" and ch == []
    rm, ch = rt.update(["t1"], [1], [7.2], [2.0], 31.5)
    assert rm[0] == "A"
    rm, ch = rt.update(["t1"], [1], [7.1], [2.0], 33.1)
    assert rm[0] == "B" and [(c.old_room, c.new_room, c.t) for c in ch] == [("A", "B", 33.1)]


def test_room_brief_excursion_does_not_switch():
    rt = RoomTracker(rooms(), margin_m=0.5, dwell_s=3.0)
    rt.update(["t"], [1], [2.0], [2.0], 0.0)
    rt.update(["t"], [1], [8.0], [2.0], 1.0)  # a jump into B for one fix
    rm, ch = rt.update(["t"], [1], [2.0], [2.0], 2.0)
    rm, ch = rt.update(["t"], [1], [8.0], [2.0], 3.5)  # pending restarts: needs 3 s again
    rm, ch = rt.update(["t"], [1], [8.0], [2.0], 5.0)
    assert rm[0] == "A" and ch == []


def test_rooms_many_tags_and_floors():
    rt = RoomTracker(rooms(), dwell_s=0.0)
    rm, ch = rt.update(["a", "b", "c", "d"], [1, 1, 2, 1], [1.0, 9.0, 1.0, 50.0], [1.0, 1.0, 1.0, 50.0], 0.0)
    assert rm.tolist() == ["A", "B", "A2", None]
    assert rt.room_of("c") == "A2"
    # same place, other floor: the upstairs room is not a candidate downstairs
    rm, _ = rt.update(["c"], [1], [1.0], [-1.0], 1.0)
    assert rm[0] == "C"


def test_zone_enter_and_leave_events():
    zones = [("isolation", 1, box(0, 0, 4, 4)), ("ward", 1, box(0, 0, 10, 10)), ("upstairs", 2, box(0, 0, 4, 4))]
    zt = ZoneTracker(zones, margin_m=0.5)
    ev = zt.update(["pump"], [1], [2.0], [2.0], 0.0)
    assert sorted((e.zone_id, e.kind) for e in ev) == [("isolation", "enter"), ("ward", "enter")]
    assert zt.update(["pump"], [1], [4.3], [2.0], 1.0) == []  # within the margin: still inside
    ev = zt.update(["pump"], [1], [6.0], [2.0], 2.0)
    assert [(e.zone_id, e.kind, e.t) for e in ev] == [("isolation", "leave", 2.0)]
    ev = zt.update(["pump"], [2], [2.0], [2.0], 3.0)  # took the lift
    assert sorted((e.zone_id, e.kind) for e in ev) == [("upstairs", "enter"), ("ward", "leave")]
    assert zt.zones_of("pump") == {"upstairs"}
    assert [(e.zone_id, e.kind) for e in zt.forget("pump", 4.0)] == [("upstairs", "leave")]


def test_zone_dwell_before_enter():
    zt = ZoneTracker([("z", 0, box(0, 0, 1, 1))], dwell_s=2.0)
    assert zt.update(["t"], [0], [0.5], [0.5], 0.0) == []
    assert zt.update(["t"], [0], [0.5], [0.5], 1.0) == []
    ev = zt.update(["t"], [0], [0.5], [0.5], 2.0)
    assert [(e.kind, e.t) for e in ev] == [("enter", 2.0)]
