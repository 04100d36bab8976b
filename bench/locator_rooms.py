"""Room accuracy and doorway stability on the simulated demo hospital (no database, no MQTT).

The simulator (sensors/simulator: path loss with walls, shadowing, fading, packet loss) produces the
advertisements the gateways would hear; the same Engine and RoomTracker as live ingest place the tags.

1. Room accuracy: share of fixes, of tags that have been still for at least 5 s, whose room is the
   room the simulator put the tag in (target >= 97 %).
   Rooms come from the floor-plan radio map's room evidence, as live (``--no-plan-map``: from the
   tracked positions only).
2. Doorway: tags standing still within 1 m of a doorway for an hour: room changes per tag-hour
   (target <= 1).

Last line: JSON with room_accuracy, doorway_changes_per_tag_hour and the counts.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from locator.engine import Engine, EngineConfig, GatewayModel, RoomTracker, plan_radio_maps  # noqa: E402
from sensors.simulator import SimConfig, Simulator, load_world  # noqa: E402
from sensors.simulator.movement import MovementParams  # noqa: E402

T0 = 1_800_000_000.0
MARGIN_M, DWELL_S, TAU_S = 1.0, 5.0, 5.0  # RoomTracker defaults, as live; --margin/--dwell/--tau try others
PLAN_MAP, EVIDENCE_MARGIN = True, 5.0
CONFIG: dict = {}  # EngineConfig overrides (--config)


def placement(world):
    gw = world.gateways
    model = GatewayModel.build([g.gateway_id for g in gw], np.array([[g.x, g.y, g.z] for g in gw]),
                               floor=[g.floor for g in gw])
    rooms = [(r.number, r.floor, r.polygon) for r in world.rooms.values()]
    return model, rooms


def build_engine(world, model) -> Engine:
    """The engine as live ingest builds it: with the floor-plan radio maps unless ``--no-plan-map``."""
    cfg = EngineConfig().with_(**CONFIG)
    engine = Engine(model, cfg)
    if PLAN_MAP:
        engine.set_radio_maps(plan_radio_maps(model, [(r.number, r.floor, r.polygon, r.room_type == "corridor")
                                                      for r in world.rooms.values()], cfg))
    return engine


def run(world, sim, seconds: int, measure, progress: str):
    model, rooms = placement(world)
    engine = build_engine(world, model)
    tracker = RoomTracker(rooms, margin_m=MARGIN_M, dwell_s=DWELL_S, evidence_tau_s=TAU_S,
                          evidence_margin=EVIDENCE_MARGIN)
    tag_of_mac = {t.mac: t.tag_id for t in world.tags}
    still_since: dict[str, float] = {}
    from tqdm import tqdm

    for k in tqdm(range(1, seconds + 1), desc=progress, unit="s", mininterval=2):
        now = T0 + k
        out = sim.step(now)
        t, g, tags, r = [], [], [], []
        for gw_id, advs in out.items():
            for a in advs:
                tag = tag_of_mac.get(a.address)
                if tag is not None:
                    t.append(a.t)
                    g.append(gw_id)
                    tags.append(tag)
                    r.append(a.rssi)
        engine.ingest_ids(np.array(t), g, np.array(tags, dtype=object), np.array(r, float))
        fixes = engine.solve(now)
        if not len(fixes):
            continue
        est, changes = tracker.update(list(fixes.tag_ids), fixes.floor, fixes.x, fixes.y, now,
                                      room_probs=fixes.room_probs)
        truth = sim.tag_positions()
        for tag, p in truth.items():
            if p.moving:
                still_since.pop(tag, None)
            else:
                still_since.setdefault(tag, now)
        measure(now, fixes, est, changes, truth, still_since)


def room_accuracy(world, seconds: int, activity: float) -> dict:
    sim = Simulator(world, SimConfig(seed=5, start_time=T0, scenarios=["none"],
                                     movement=MovementParams(activity=activity)))
    counts = {"right": 0, "total": 0, "wrong_floor": 0}

    def measure(now, fixes, est, changes, truth, still_since):
        for i, tag in enumerate(fixes.tag_ids.tolist()):
            p = truth[tag]
            if p.moving or now - still_since.get(tag, now) < 5.0 or now - T0 < 30:
                continue
            counts["total"] += 1
            counts["right"] += est[i] == p.room
            counts["wrong_floor"] += fixes.floor[i] != p.floor

    run(world, sim, seconds, measure, "room accuracy")
    return counts


def doorway(world, seconds: int, n_tags: int) -> dict:
    sim = Simulator(world, SimConfig(seed=9, start_time=T0, scenarios=["none"]))
    rng = np.random.default_rng(3)
    doors = [(room, i) for room, nodes in world.room_doors.items() for i in nodes
             if world.rooms[room].room_type != "corridor"]
    chosen = {}
    for k, (room, node) in enumerate(doors[j] for j in rng.permutation(len(doors))[:n_tags]):
        door = world.nodes[node]
        r = world.rooms[room]
        dx, dy = r.point[0] - door.x, r.point[1] - door.y
        norm = math.hypot(dx, dy) or 1.0
        x, y = door.x + 0.7 * dx / norm, door.y + 0.7 * dy / norm  # 0.7 m inside, by the door
        i = k  # freeze tag k there for the whole run
        agent = sim.movement.agents[i]
        agent.trip, agent.next_t = None, math.inf
        agent.floor, agent.x, agent.y, agent.room = door.floor, x, y, room
        sim._set_tx(i, door.floor, x, y, agent.z)
        sim.base[i] = sim.radio.mean_rssi(sim.tx_floor[[i]], sim.tx_x[[i]], sim.tx_y[[i]], sim.tx_z[[i]],
                                          sim.tx_p1m[[i]])[0]
        chosen[world.tags[i].tag_id] = room
    changes_count = {"changes": 0}
    settled_after = 30.0

    def measure(now, fixes, est, changes, truth, still_since):
        for c in changes:
            if c.tag_id in chosen and c.old_room is not None and now - T0 > settled_after:
                changes_count["changes"] += 1

    run(world, sim, seconds, measure, "doorway")
    hours = len(chosen) * (seconds - settled_after) / 3600.0
    return {"tags": len(chosen), "changes": changes_count["changes"], "tag_hours": round(hours, 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=900, help="Simulated seconds for room accuracy.")
    parser.add_argument("--doorway-seconds", type=int, default=3600, help="Simulated seconds for the doorway test.")
    parser.add_argument("--activity", type=float, default=3.0, help="Trips per hour multiplier (busier = harder).")
    parser.add_argument("--doorway-tags", type=int, default=30)
    parser.add_argument("--margin", type=float, default=MARGIN_M, help="RoomTracker stay margin (m).")
    parser.add_argument("--dwell", type=float, default=DWELL_S, help="RoomTracker dwell before a change (s).")
    parser.add_argument("--tau", type=float, default=TAU_S, help="RoomTracker room-evidence time constant (s).")
    parser.add_argument("--evidence-margin", type=float, default=EVIDENCE_MARGIN,
                        help="RoomTracker: lead (nats) another room needs over the current one.")
    parser.add_argument("--no-plan-map", action="store_true", help="Rooms from positions only (no wall model).")
    parser.add_argument("--config", default="{}", help='EngineConfig overrides as JSON, e.g. {"wall_loss_db": 5}')
    args = parser.parse_args(argv)
    globals().update(MARGIN_M=args.margin, DWELL_S=args.dwell, TAU_S=args.tau, PLAN_MAP=not args.no_plan_map,
                     EVIDENCE_MARGIN=args.evidence_margin)
    CONFIG.update(json.loads(args.config))
    started = time.time()
    world = load_world(ROOT / "fixtures" / "demo", ROOT / "floorplans")
    acc = room_accuracy(world, args.seconds, args.activity)
    door = doorway(world, args.doorway_seconds, args.doorway_tags)
    result = {
        "room_accuracy": round(acc["right"] / max(1, acc["total"]), 4),
        "still_fixes": acc["total"],
        "wrong_floor_fixes": acc["wrong_floor"],
        "doorway_changes_per_tag_hour": round(door["changes"] / max(1e-9, door["tag_hours"]), 3),
        "doorway_tags": door["tags"],
        "doorway_tag_hours": door["tag_hours"],
        "seconds": round(time.time() - started, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
