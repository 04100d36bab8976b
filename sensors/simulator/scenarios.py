"""Scripted incidents: ``NAME[:TARGET]@START[-END]`` (seconds of simulated time after the start).

| name | target (default: the first in the fixtures) | what happens |
|---|---|---|
| ``compressor_failure`` | a ``vaccine_fridge`` sensor | the compressor stops; the fridge warms toward the room (tau 20 min): past 8 C about 4 min later, 12 C after 11 min |
| ``isolation_pressure_loss`` | an ``isolation_room_negative`` sensor | the exhaust fan fails: -8 Pa drifts toward +0.5 Pa (tau 150 s), past -2.5 Pa after about 2.5 min |
| ``crowded_waiting_room`` | a ``waiting_area`` sensor | the room fills (8 -> 75 people): CO2 from about 600 ppm past 1000 ppm in 3 min, 1500 ppm in 8 min |
| ``door_left_open`` | a cold-storage sensor with a door contact | the door is left ajar until END (default 10 min) |
| ``freezer_defrost`` | every freezer with a defrost cycle (or TARGET) | a defrost cycle starts now |
| ``low_battery`` | a BTHome sensor | the battery drains 1 % a minute |
| ``gateway_outage`` | a gateway id (default: the first) | the gateway goes offline until END (default 2 min), then reboots (new boot id, seq from 0) |

With END the incident is repaired at END (compressor runs again, fan restarts, the room empties, the
door is closed, the battery is replaced). Scenarios with no END last for the rest of the run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_SCENARIOS = ("compressor_failure@60", "isolation_pressure_loss@90", "crowded_waiting_room@120")
NAMES = (
    "compressor_failure",
    "isolation_pressure_loss",
    "crowded_waiting_room",
    "door_left_open",
    "freezer_defrost",
    "low_battery",
    "gateway_outage",
)
DEFAULT_DURATION = {"door_left_open": 600.0, "gateway_outage": 120.0}
FAILED_FRIDGE_TAU_S = 1200.0
PRESSURE_LOSS_DP_PA = 0.5
PRESSURE_LOSS_TAU_S = 150.0
CROWD_PEOPLE = 75.0

_SPEC = re.compile(
    r"^(?P<name>[a-z_]+)(?::(?P<target>[A-Za-z0-9._-]+))?@(?P<start>\d+(?:\.\d+)?)"
    r"(?:-(?P<end>\d+(?:\.\d+)?))?$"
)


@dataclass(frozen=True)
class Scenario:
    name: str
    start_s: float
    end_s: float | None = None
    target: str | None = None

    def __str__(self) -> str:
        t = f":{self.target}" if self.target else ""
        e = f"-{self.end_s:g}" if self.end_s is not None else ""
        return f"{self.name}{t}@{self.start_s:g}{e}"


def parse_scenario(text: str) -> Scenario:
    """``compressor_failure@120``, ``door_left_open:env-seh-vrf-0002@30-600``. Raises ValueError."""
    m = _SPEC.match(text.strip())
    if not m:
        raise ValueError(f"scenario {text!r} is not NAME[:TARGET]@START[-END] (seconds)")
    name = m["name"]
    if name not in NAMES:
        raise ValueError(f"unknown scenario {name!r} (known: {', '.join(NAMES)})")
    start = float(m["start"])
    end = float(m["end"]) if m["end"] else None
    if end is None and name in DEFAULT_DURATION:
        end = start + DEFAULT_DURATION[name]
    if end is not None and end <= start:
        raise ValueError(f"scenario {text!r}: END must be after START")
    return Scenario(name, start, end, m["target"])


def parse_scenarios(texts) -> list[Scenario]:
    """Parse a list; ``none`` (alone) means no scenarios, an empty list means the defaults."""
    texts = [t for t in (texts or []) if t and t.strip()]
    if not texts:
        texts = list(DEFAULT_SCENARIOS)
    if [t.strip().lower() for t in texts] == ["none"]:
        return []
    return [parse_scenario(t) for t in texts]
