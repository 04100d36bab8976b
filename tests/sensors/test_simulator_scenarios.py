"""Sensor physics and scripted incidents, checked on the true values and on the decoded advertisements."""

from pathlib import Path

import pytest

from sensors.ble.registry import decode
from sensors.simulator import SimConfig, Simulator, load_world, parse_scenario, parse_scenarios
from sensors.simulator.scenarios import DEFAULT_SCENARIOS

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_750_000_000.0


@pytest.fixture(scope="module")
def world():
    full = load_world(ROOT / "fixtures", ROOT / "floorplans")
    # sensors only, and a few gateways in their rooms: the physics without the tag traffic
    rooms = {s.room for s in full.sensors}
    return full.subset(tags=[], gateways=[g.gateway_id for g in full.gateways if g.room in rooms])


def run(world, scenarios, seconds, every=1.0, seed=1):
    sim = Simulator(world, SimConfig(seed=seed, start_time=T0, scenarios=scenarios))
    series = []
    batches = []
    while sim.t < T0 + seconds - 1e-9:
        batches.append(sim.step(sim.t + every))
        series.append((sim.t - T0, sim.sensor_values()))
    return sim, series, batches


def first_time(series, sensor, quantity, predicate):
    return next((t for t, v in series if predicate(v[sensor][quantity])), None)


def test_parse_scenarios():
    assert parse_scenario("compressor_failure@120").start_s == 120
    sc = parse_scenario("door_left_open:env-seh-vrf-0002@30-600")
    assert (sc.name, sc.target, sc.start_s, sc.end_s) == ("door_left_open", "env-seh-vrf-0002", 30, 600)
    assert parse_scenario("gateway_outage@10").end_s == 130  # a default duration
    assert str(sc) == "door_left_open:env-seh-vrf-0002@30-600"
    assert [str(s) for s in parse_scenarios([])] == list(DEFAULT_SCENARIOS)
    assert parse_scenarios(["none"]) == []
    for bad in ("bogus@1", "compressor_failure", "compressor_failure@x", "door_left_open@50-20"):
        with pytest.raises(ValueError):
            parse_scenario(bad)


def test_default_demo_incidents(world):
    """The demo shows a compressor failure, a pressure loss and a crowded waiting room within minutes."""
    sim, series, _ = run(world, None, 900, every=5.0)
    fridge = "env-seh-vrf-0001"
    assert all(3.0 <= v[fridge]["temperature_c"] <= 6.5 for t, v in series if t <= 60)
    t8 = first_time(series, fridge, "temperature_c", lambda x: x > 8.0)
    assert t8 is not None and 60 < t8 < 60 + 480
    assert series[-1][1][fridge]["temperature_c"] > 12.0  # and keeps warming
    iso = "env-room-2e-12"
    before = sorted(v[iso]["differential_pressure_pa"] for t, v in series if t < 90)
    assert before[len(before) // 2] < -6.0  # before the incident it holds about -8 Pa (doors aside)
    t_dp = first_time(series, iso, "differential_pressure_pa", lambda x: x > -2.5)
    assert t_dp is not None and 90 < t_dp < 90 + 360
    assert series[-1][1][iso]["differential_pressure_pa"] > -2.5
    waiting = "env-room-1c-01"
    assert 550 < series[0][1][waiting]["co2_ppm"] < 750
    t_co2 = first_time(series, waiting, "co2_ppm", lambda x: x > 1000)
    assert t_co2 is not None and 120 < t_co2 < 120 + 420
    assert series[-1][1][waiting]["co2_ppm"] > 1500
    kinds = [e[1] for e in sim.events]
    assert kinds.count("scenario_start") == 3


def test_no_incident_keeps_everything_in_range(world):
    sim, series, _ = run(world, ["none"], 3 * 3600, every=30.0)
    lims = {
        "vaccine_fridge": (2.0, 8.0),
        "pharmacy_fridge": (2.0, 8.0),
        "blood_fridge": (1.5, 5.5),
        "vaccine_freezer": (-50.0, -12.0),
        "plasma_freezer": (-40.0, -18.0),
        "ultra_cold_freezer": (-90.0, -70.0),
        "platelet_incubator": (20.0, 24.0),
        "operating_room": (20.0, 24.0),
    }
    profile = {s.sensor_id: s.profile for s in world.sensors}
    for _, values in series:
        for sid, v in values.items():
            lo, hi = lims.get(profile[sid], (-100, 100))
            assert lo <= v["temperature_c"] <= hi, (sid, v)
            if profile[sid] == "isolation_room_negative":
                assert v["differential_pressure_pa"] < 0
            if profile[sid] in ("operating_room", "protective_environment_positive"):
                assert v["differential_pressure_pa"] > 0
            if profile[sid] == "operating_room":
                assert 20 <= v["humidity_pct"] <= 60
    # fridges really cycle (compressor on/off): a vaccine fridge spans most of its 3.5-6 C band
    temps = [v["env-seh-vrf-0002"]["temperature_c"] for _, v in series]
    assert max(temps) - min(temps) > 1.5
    kinds = {e[1] for e in sim.events}
    assert {"door_open", "door_close"} <= kinds


def test_freezer_defrost_and_door_left_open(world):
    freezer, fridge = "env-seh-vfz-0001", "env-seh-vrf-0002"
    sim, series, batches = run(
        world, ["freezer_defrost@60", f"door_left_open:{fridge}@60-1260"], 1800, every=10.0
    )
    temps = [(t, v[freezer]["temperature_c"]) for t, v in series]
    before = [x for t, x in temps if t <= 60]
    during = [x for t, x in temps if 60 < t <= 60 + 25 * 60]
    assert max(during) > max(before) + 3  # the defrost rise
    assert max(during) < -13
    assert temps[-1][1] < max(during)  # and it recovers after the defrost
    assert all(v[fridge]["door_open"] == 1 for t, v in series if 70 <= t <= 1250)
    assert series[-1][1][fridge]["door_open"] == 0
    # the BTHome unit announced the door at once, encrypted with its key
    spec = next(s for s in world.sensors if s.sensor_id == fridge)
    doors = [
        decode(a.address, a.manufacturer_data, a.service_data, bindkey=spec.bindkey).measurements
        for b in batches
        for advs in b.values()
        for a in advs
        if a.address == spec.mac
    ]
    assert any(m.get("door_open") == 1 for m in doors) and doors[-1].get("door_open") == 0
    assert max(v[fridge]["temperature_c"] for _, v in series) > 6.5


def test_low_battery_and_gateway_outage(world):
    sim, series, batches = run(world, ["low_battery:env-room-2w-01@10", "gateway_outage:gw-2w-01@5-20"], 60)
    assert (
        series[-1][1]["env-room-2w-01"]["battery_pct"] < series[0][1]["env-room-2w-01"]["battery_pct"] - 0.7
    )
    present = ["gw-2w-01" in b for b in batches]  # batch k covers (k, k+1] seconds
    assert present[:4] == [True] * 4 and not any(present[4:19]) and all(present[19:])
    assert {(e[1], e[2]) for e in sim.events} >= {
        ("scenario_start", "gw-2w-01"),
        ("scenario_end", "gw-2w-01"),
    }


def test_sensor_advertisements_decode_to_the_true_values(world):
    """Every sensor's advertisements decode (with its bind key) to its true values plus sensor noise."""
    sim, series, batches = run(world, ["none"], 300, seed=4)
    spec = {s.mac: s for s in world.sensors}
    decoded: dict[str, list] = {}
    for b in batches:
        for advs in b.values():
            for a in advs:
                s = spec[a.address]
                d = decode(a.address, a.manufacturer_data, a.service_data, bindkey=s.bindkey or None)
                assert d.errors == [], (s.sensor_id, d.errors)
                assert d.formats == [s.ble_format]
                decoded.setdefault(s.sensor_id, []).append((a.t, d.measurements))
    assert set(decoded) == {s.sensor_id for s in world.sensors}  # every sensor heard
    truth = {t: v for t, v in series}
    for s in world.sensors:
        t, m = decoded[s.sensor_id][-1]
        true = truth[min(truth, key=lambda k: abs(k - (t - T0)))][s.sensor_id]
        assert m["temperature_c"] == pytest.approx(true["temperature_c"], abs=0.4), s.sensor_id
        if "differential_pressure_pa" in s.quantities:
            assert m["count"] / 100 == pytest.approx(true["differential_pressure_pa"], abs=1.5)
        if "co2_ppm" in s.quantities:
            assert m["co2_ppm"] == pytest.approx(true["co2_ppm"], abs=50)
        # several gateways hear the same packet: one counter per packet, growing with time
        per_packet = {tt: mm for tt, mm in decoded[s.sensor_id]}
        ordered = [per_packet[tt] for tt in sorted(per_packet)]
        if s.bindkey:
            counters = [mm["encryption_counter"] for mm in ordered]
            assert counters == sorted(set(counters))
        elif s.ble_format == "ruuvi_v5":
            seqs = [mm["measurement_sequence"] for mm in ordered]
            assert seqs == sorted(set(seqs))
        else:
            assert len({mm["packet_id"] for mm in ordered}) == len(ordered)
        # one report per interval (heard by several gateways)
        times = sorted({tt for tt, _ in decoded[s.sensor_id]})
        assert len(times) <= 300 / s.report_interval_s + 1 + 10  # plus door events
