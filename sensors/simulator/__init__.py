"""The simulator: a virtual gateway fleet for a hospital described by fixture and floor-plan files.

Pure Python (numpy, shapely, cryptography, paho-mqtt), no Django: ``load_world`` reads the files,
``Simulator`` moves equipment, evolves sensor physics, computes what each gateway hears and publishes
it exactly as real gateways do. The Django side is ``manage.py simulate`` and
``sensors.simulator.service.simulator_service`` (for the demo runner). See docs/simulator.md.
"""

from .engine import SimConfig, Simulator, TruePosition
from .movement import MovementParams
from .publish import MemoryPublisher, MqttPublisher, NullPublisher, Publisher
from .radio import RadioParams
from .scenarios import DEFAULT_SCENARIOS, Scenario, parse_scenario, parse_scenarios
from .world import World, load_world

__all__ = [
    "DEFAULT_SCENARIOS",
    "MemoryPublisher",
    "MovementParams",
    "MqttPublisher",
    "NullPublisher",
    "Publisher",
    "RadioParams",
    "Scenario",
    "SimConfig",
    "Simulator",
    "TruePosition",
    "World",
    "load_world",
    "parse_scenario",
    "parse_scenarios",
]
