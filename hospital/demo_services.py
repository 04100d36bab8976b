"""What the demo runs beside the web server: one entry per background worker.

Each entry is ``(name, run)`` where ``run(stop_event)`` blocks until ``stop_event`` is set.
"""

from __future__ import annotations


def services(*, simulator: bool = True) -> list:
    from hospital.maintenance.worker import run as run_maintenance
    from sensors.environment.worker import run_environment_worker
    from sensors.ingest.service import run_ingest

    parts: list = [
        ("ingest", lambda stop: run_ingest(stop, client_id="ingest-demo")),
        # notifications (e-mail, webhooks, escalation), aggregates and retention
        ("environment", run_environment_worker),
        # usage derived from the live locations, forecasts and work orders due soon
        ("maintenance", lambda stop: run_maintenance(stop, every=600)),
    ]
    if simulator:
        try:
            from sensors.simulator.service import simulator_service
        except ImportError:  # the simulator is an optional part of a slimmed-down install
            simulator_service = None
        if simulator_service is not None:
            parts.append(("simulator", simulator_service))
    return parts
