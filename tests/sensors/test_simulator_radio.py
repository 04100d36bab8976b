"""The simulator's world loader and radio model: walls, distance, floors, who hears a tag best."""

from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sensors.simulator import RadioParams, SimConfig, Simulator, load_world
from sensors.simulator.radio import RadioModel

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world():
    return load_world(ROOT / "fixtures", ROOT / "floorplans")


@pytest.fixture(scope="module")
def quiet_radio(world):
    """No shadowing: only distance, walls and floors."""
    return RadioModel(world, RadioParams(shadow_sigma_db=0.0), np.random.default_rng(0))


def test_world_counts_and_graph(world):
    assert world.site == "seh"
    assert (len(world.gateways), len(world.tags), len(world.sensors), len(world.floors)) == (147, 460, 44, 3)
    assert len(world.rooms) == 147
    # every room reachable from the main entrance, lifts joining the floors
    for number in world.rooms:
        assert (
            world.route(
                world.room_node["1C-01"],
                world.room_node[number],
                speed=1.2,
                lift_wait_s=30,
                lift_s_per_floor=8,
            )
            is not None
        ), number
    # corridor segments are not walls; the corridor's side walls are
    floor1 = world.floor(1)
    assert not any(x0 == x1 == 20.0 and y0 >= 10 and y1 <= 13 for x0, y0, x1, y1 in floor1.walls)
    assert any(y0 == y1 == 10.0 and x0 <= 20 <= x1 for x0, y0, x1, y1 in floor1.walls)


def rssi(radio, world, level, x, y, z=1.0, p1m=-59.0):
    f = np.array([world.floor_index[level]])
    return radio.mean_rssi(f, np.array([x]), np.array([y]), np.array([z]), np.array([p1m]))[0]


def gw(world, gateway_id):
    return next(i for i, g in enumerate(world.gateways) if g.gateway_id == gateway_id)


def test_rssi_falls_with_distance_along_a_corridor(world, quiet_radio):
    g = gw(world, "gw-1-cor-03")  # (25, 11.5), floor 1
    values = [rssi(quiet_radio, world, 1, 25 + d, 11.5)[g] for d in (1, 2, 4, 8, 16, 32)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    # free-space-like slope: 10 * n dB per decade of distance
    assert values[1] - values[4] == pytest.approx(
        10 * 2.1 * np.log10(np.hypot(16, 1.7) / np.hypot(2, 1.7)), abs=0.01
    )


def test_walls_attenuate(world, quiet_radio):
    g = gw(world, "gw-1-cor-03")  # corridor, (25, 11.5)
    d = float(np.hypot(1.5, 3.5))
    in_corridor = rssi(quiet_radio, world, 1, 25 + d, 11.5)[g]
    behind = rssi(quiet_radio, world, 1, 26.5, 15.0)[
        g
    ]  # the same distance, in 1W-08 behind the corridor wall
    assert in_corridor - behind == pytest.approx(5.0, abs=0.01)  # one wall
    # farther in, through 1W-06's partition too: one more wall on top of the distance
    two_walls = rssi(quiet_radio, world, 1, 28.5, 16.0)[g]
    d2 = float(np.hypot(3.5, 4.5))
    same_distance_open = rssi(quiet_radio, world, 1, 25 + d2, 11.5)[g]
    assert same_distance_open - two_walls == pytest.approx(10.0, abs=0.01)
    p = RadioParams(shadow_sigma_db=0.0)
    assert quiet_radio.walls[g].max() <= p.max_walls


def test_other_floors_are_heard_weakly_or_not_at_all(world, quiet_radio):
    same = rssi(quiet_radio, world, 2, 66.0, 18.0)  # ICU isolation room 2E-12
    above = rssi(quiet_radio, world, 3, 66.0, 18.0)
    g_room = gw(world, "gw-2e-12")
    assert same[g_room] - above[g_room] > 18  # the floor slab plus the longer way
    floor_of = np.array([g.floor for g in world.gateways])
    heard_same = (same >= -95)[floor_of == 2].sum()
    heard_other = (same >= -95)[floor_of != 2].sum()
    assert heard_same > 2 * heard_other
    assert (same[floor_of == 1] < -85).all() and (same[floor_of == 3] < -85).all()


def test_shadowing_is_spatially_consistent(world):
    radio = RadioModel(world, RadioParams(), np.random.default_rng(5))
    a = rssi(radio, world, 3, 22.0, 5.0)
    b = rssi(radio, world, 3, 22.0, 5.0)
    near = rssi(radio, world, 3, 22.1, 5.0)
    assert np.array_equal(a, b)
    assert np.abs(a - near).max() < 1.0  # 10 cm away: nearly the same shadowing


def test_the_rooms_gateway_hears_a_still_tag_best_most_of_the_time(world):
    sim = Simulator(world, SimConfig(seed=11, start_time=1_750_000_000.0, scenarios=["none"]))
    room_of_gateway = {g.gateway_id: g.room for g in world.gateways}
    tag_of_mac = {t.mac: t.tag_id for t in world.tags}
    hits = total = 0
    per_tag_best: dict[str, Counter] = {}
    for _ in range(15):
        batches = sim.step(sim.t + 1)
        truth = sim.tag_positions()
        best: dict[str, tuple[int, str]] = {}
        for gateway_id, advs in batches.items():
            for a in advs:
                if a.address in tag_of_mac and (a.address not in best or a.rssi > best[a.address][0]):
                    best[a.address] = (a.rssi, gateway_id)
        for mac, (_, gateway_id) in best.items():
            p = truth[tag_of_mac[mac]]
            if p.moving:
                continue
            total += 1
            hits += room_of_gateway[gateway_id] == p.room
            per_tag_best.setdefault(mac, Counter())[room_of_gateway[gateway_id] == p.room] += 1
    assert total > 5000
    assert hits / total > 0.7
    # and for most tags the room's gateway wins the majority of their packets
    majority = sum(c[True] > c[False] for c in per_tag_best.values()) / len(per_tag_best)
    assert majority > 0.8
    heard = sum(len(v) for v in batches.values())
    assert 1500 < heard < 10000  # each tag heard by a handful of gateways, not by all
    assert all(-95 <= a.rssi <= -20 for v in batches.values() for a in v)


def test_packet_loss_and_sensitivity(world):
    radio = RadioModel(world, replace(RadioParams(), base_loss=0.1), np.random.default_rng(1))
    strong = radio.received(np.full(20000, -60.0)).mean()
    weak = radio.received(np.full(20000, -94.0)).mean()
    assert strong == pytest.approx(0.9, abs=0.02)
    assert weak < 0.5
    assert not radio.received(np.full(100, -96.0)).any()
