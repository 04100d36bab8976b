"""Equipment movement: inside the building, along corridors, between floors by lift; mostly still."""

from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Point

from sensors.simulator import MovementParams, load_world
from sensors.simulator.movement import MovementModel

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_750_000_000.0


@pytest.fixture(scope="module")
def world():
    return load_world(ROOT / "fixtures", ROOT / "floorplans")


_TREES = {}


def covering_rooms(world, level, x, y):
    """Rooms of the floor whose polygon covers the point (on a shared wall: both)."""
    key = (id(world), level)
    if key not in _TREES:
        rooms = world.floor(level).rooms
        _TREES[key] = (rooms, shapely.STRtree([r.polygon.buffer(1e-6) for r in rooms]))
    rooms, tree = _TREES[key]
    return [rooms[i] for i in sorted(tree.query(Point(x, y), predicate="intersects"))]


@pytest.fixture(scope="module")
def busy_run(world):
    """An hour of a very busy hospital (every dwell 100x shorter), sampled every second."""
    model = MovementModel(world, world.tags, MovementParams(activity=100.0), np.random.default_rng(7), T0)
    samples = []  # (t, agent, level, x, y)
    events = []
    for k in range(1, 1801):
        t = T0 + k
        active, evs = model.advance(t)
        events += evs
        for i in active:
            samples.append((t, i, *model.position(i, t)[:3]))
    return model, samples, events


def test_positions_always_inside_a_room_of_their_floor(world, busy_run):
    _, samples, _ = busy_run
    assert len(samples) > 2000
    for t, i, level, x, y in samples:
        assert covering_rooms(world, level, x, y), (t, i, level, x, y)


def test_trips_use_corridors_and_change_floor_only_in_a_lift(world, busy_run):
    model, samples, events = busy_run
    starts = [e for e in events if e[1] == "trip_start"]
    ends = [e for e in events if e[1] == "trip_end"]
    assert len(starts) > 100 and len(ends) > 100
    last: dict[int, tuple] = {}
    corridor_seen = floor_changes = 0
    for t, i, level, x, y in samples:
        types = {r.room_type for r in covering_rooms(world, level, x, y)}
        corridor_seen += "corridor" in types
        prev = last.get(i)
        if prev is not None and prev[0] == t - 1 and prev[1] != level:
            floor_changes += 1
            assert "stairs_lift" in types
            before = {r.room_type for r in covering_rooms(world, prev[1], prev[2], prev[3])}
            assert "stairs_lift" in before
            assert "lift" in covering_rooms(world, level, x, y)[0].name.lower()
        if prev is not None and prev[0] == t - 1 and prev[1] == level:
            # walking speed, never teleporting
            assert np.hypot(x - prev[2], y - prev[3]) <= 1.9
        last[i] = (t, level, x, y)
    assert corridor_seen > len(samples) / 4
    assert floor_changes > 0


def test_trips_follow_the_hospital_workflow(world, busy_run):
    model, _, events = busy_run
    purposes = {e[3].split(": ", 1)[1] for e in events if e[1] == "trip_start"}
    assert {"fetched for use", "sent for cleaning", "cleaned, returned to store"} <= purposes
    for e in events:
        if e[1] != "trip_start":
            continue
        dst = e[3].split(" -> ")[1].split(":")[0]
        kind = world.rooms[dst].room_type
        if e[3].endswith("sent for cleaning"):
            assert kind == "soiled_utility"
        elif e[3].endswith("returned to store"):
            assert kind in ("equipment_storage", "clean_utility")
        elif e[3].endswith("fetched for use"):
            assert kind not in ("corridor", "stairs_lift", "soiled_utility", "equipment_storage")
    # out-of-service and missing equipment never moves, reference tags never move
    fixed = [a for a in model.agents if a.state == "fixed"]
    assert fixed and all(a.trip is None and a.next_t == float("inf") for a in fixed)


def test_most_assets_are_still_at_any_time(world):
    model = MovementModel(world, world.tags, MovementParams(), np.random.default_rng(3), T0)
    moving = []
    trips = 0
    for k in range(1, 1201):
        active, events = model.advance(T0 + k)
        moving.append(len(model.moving))
        trips += sum(e[1] == "trip_start" for e in events)
    assert max(moving) < 0.05 * len(world.tags)
    assert trips > 10  # yet the demo shows movement within minutes
    # and the asset positions start in their fixture rooms
    fresh = MovementModel(world, world.tags, MovementParams(), np.random.default_rng(3), T0)
    for agent in fresh.agents:
        if agent.asset:
            assert agent.room == world.assets[agent.asset].room
            assert world.rooms[agent.room].polygon.contains(Point(agent.x, agent.y))


def test_walking_speed_and_lift_timing(world):
    model = MovementModel(
        world, world.tags, MovementParams(walking_speed_sd=0.0), np.random.default_rng(1), T0
    )
    agent = next(a for a in model.agents if a.asset and world.rooms[a.room].floor == 1 and a.state != "fixed")
    trip = model.plan(agent, "3E-12", T0, "test")
    walk = [leg for leg in trip.legs if (leg.x0, leg.y0) != (leg.x1, leg.y1)]
    for leg in walk:
        assert np.hypot(leg.x1 - leg.x0, leg.y1 - leg.y0) / (leg.t1 - leg.t0) == pytest.approx(agent.speed)
    assert agent.speed in (1.2, 0.9)
    floors = [leg.floor for leg in trip.legs]
    assert floors[0] == 1 and floors[-1] == 3 and sorted(set(floors)) == [1, 2, 3]
    assert trip.at(trip.t_end)[0] == 3
    assert world.rooms["3E-12"].polygon.contains(Point(*trip.at(trip.t_end)[1:]))
