"""The simulator as a service of this Django project: paths, broker and output directory from settings.

This is the only simulator module that touches Django (settings, read when called). The demo runner
calls :func:`simulator_service` in a thread; ``manage.py simulate`` calls it from the command line.
Optional settings: ``SIMULATOR_SPEED`` (default 1.0), ``SIMULATOR_SCENARIOS`` (list of
``NAME[:TARGET]@START[-END]``; default: the built-in demo incidents), ``SIMULATOR_SEED`` (1).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path

from .engine import SimConfig, Simulator
from .movement import MovementParams
from .publish import MqttPublisher
from .world import load_world

log = logging.getLogger(__name__)


def simulator_service(
    stop_event: threading.Event,
    *,
    mqtt_url: str | None = None,
    speed: float | None = None,
    scenarios: list[str] | None = None,
    truth_dir: str | Path | None = None,
    duration: float | None = None,
    seed: int | None = None,
    activity: float | None = None,
    fixture_dir: str | Path | None = None,
    floorplan_dir: str | Path | None = None,
    site: str | None = None,
) -> Simulator:
    """Run the demo hospital's gateway fleet until ``stop_event`` is set (or ``duration`` simulated
    seconds passed), publishing to ``mqtt_url`` (default ``settings.MQTT_URL``). ``site`` replaces the
    site code in the topics (default: the floor plans' site). Returns the finished simulator (its
    ``stats`` and ground-truth accessors)."""
    from django.conf import settings

    from sensors.mqtt.client import parse_mqtt_url

    world = load_world(fixture_dir or settings.FIXTURE_DIR, floorplan_dir or settings.FLOORPLAN_DIR)
    # MQTT 3.1.1 unless the URL asks for 5: publishing needs nothing newer, and the embedded amqtt
    # broker speaks only 3.1.1
    endpoint = parse_mqtt_url(mqtt_url or settings.MQTT_URL, default_protocol=3)
    if endpoint.username is None and getattr(settings, "MQTT_EMBEDDED", False) and not mqtt_url:
        # amqtt 0.12 refuses a CONNECT without a user name even with anonymous access allowed
        endpoint = dataclasses.replace(endpoint, username="simulator")
    movement = MovementParams(activity=activity) if activity else MovementParams()
    config = SimConfig(
        seed=seed if seed is not None else getattr(settings, "SIMULATOR_SEED", 1),
        speed=speed if speed is not None else getattr(settings, "SIMULATOR_SPEED", 1.0),
        scenarios=scenarios if scenarios is not None else getattr(settings, "SIMULATOR_SCENARIOS", None),
        truth_dir=truth_dir or Path(settings.VAR_DIR) / "simulator",
        movement=movement,
    )
    sim = Simulator(world, config)
    log.info(
        "simulator: %d gateways, %d tags, %d sensors of site %s -> %s (speed %g, scenarios: %s, truth: %s)",
        len(world.gateways),
        len(world.tags),
        len(world.sensors),
        site or world.site,
        endpoint.redacted(),
        config.speed,
        ", ".join(str(s) for s in sim.scenarios) or "none",
        config.truth_dir,
    )
    publisher = MqttPublisher(endpoint, site or world.site)
    sim.run(stop_event, publisher, duration=duration)
    log.info(
        "simulator stopped: %s, %d batches published, %d dropped",
        sim.stats,
        publisher.published,
        publisher.dropped,
    )
    return sim
