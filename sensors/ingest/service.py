"""Wiring of one ingest process: MQTT consumers -> pipeline -> locator and alarms.

Two consumers share the pipeline: one for tag batches (``.../adv``) and gateway status, and one, on a
thread and MQTT session of its own, for sensor batches (``.../env``, protocol §2a). The broker delivers
each subscription in order, so under overload a reading on the tag topic would wait behind every tag
batch queued before it; on its own subscription it is processed within about one chunk.

Used by ``manage.py ingest`` (production, one or more processes) and by the demo (a thread).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from sensors.mqtt.client import MqttEndpoint, parse_mqtt_url
from sensors.protocol import subscription

from .consumer import ChunkedConsumer
from .pipeline import IngestPipeline
from .resend import ResendPlanner
from .shedding import throttled
from .status import StatusReporter

log = logging.getLogger(__name__)

RECEIPT_RETENTION = timedelta(days=3)


def endpoint_from_settings(url: str | None = None) -> MqttEndpoint:
    # The embedded amqtt broker speaks MQTT 3.1.1 only; real brokers get MQTT 5 (shared subscriptions).
    return parse_mqtt_url(url or settings.MQTT_URL, default_protocol=3 if settings.MQTT_EMBEDDED and not url else 5)


def subscriptions(endpoint: MqttEndpoint, site: str = "+") -> list[tuple[str, int]]:
    # An empty MQTT_SHARE_GROUP means a plain subscription (one ingest per site; see docs/deploy.md).
    group = (settings.MQTT_SHARE_GROUP or None) if endpoint.is_v5 else None
    # Status is retained and retained messages are not sent to shared subscriptions: every process reads it.
    return [(subscription("adv", site, group=group), 1), (subscription("status", site), 1)]


def priority_subscriptions(endpoint: MqttEndpoint, site: str = "+") -> list[tuple[str, int]]:
    group = (settings.MQTT_SHARE_GROUP or None) if endpoint.is_v5 else None
    return [(subscription("env", site, group=group), 1)]


def default_client_id(site: str) -> str:
    return os.environ.get("INGEST_CLIENT_ID") or f"ingest-{socket.gethostname()}-{site.replace('+', 'all')}"


class Periodic:
    """Run ``fn`` at most every ``every_s`` seconds when called."""

    def __init__(self, every_s: float, fn):
        self.every_s, self.fn, self.last = every_s, fn, 0.0

    def __call__(self):
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            try:
                self.fn()
            except Exception:  # noqa: BLE001 - periodic upkeep must not kill ingest
                log.exception("periodic task %s failed", getattr(self.fn, "__name__", self.fn))


def prune_receipts() -> None:
    from sensors.models import BatchReceipt

    BatchReceipt.objects.filter(received_at__lt=timezone.now() - RECEIPT_RETENTION).delete()


def build_consumer(*, mqtt_url: str | None = None, site: str = "+", client_id: str | None = None,
                   pipeline: IngestPipeline | None = None,
                   extra_idle=()) -> tuple[ChunkedConsumer, ChunkedConsumer, IngestPipeline]:
    """The tag consumer (run it on the caller's thread: it runs the periodic tasks), the sensor consumer
    (on a thread of its own) and their pipeline."""
    from locator.feed import SightingsFeed
    from sensors.environment.worker import attach

    endpoint = endpoint_from_settings(mqtt_url)
    client_id = client_id or default_client_id(site)
    # Positions of a site are computed by the one ingest process that leads it; the others relay
    # their sightings to it (locator/feed.py). Alone, this process leads and feeds its own locator.
    feed = SightingsFeed(site)
    pipeline = pipeline or IngestPipeline(on_sightings=feed.add)
    pipeline.sightings_feed = feed
    shedder = pipeline.shedder  # overload: tag sightings are shed, readings and alarms never (shedding.py)
    status = StatusReporter(shedder, client_id, site, backlog=lambda: consumer.inbox.qsize())

    def observe_idle():
        # Only when nothing waits: a slow periodic task (a locator solve) between chunks is not idle time.
        if consumer.inbox.empty():
            shedder.observe_idle()

    # Alarm evaluation runs inside ingest: readings and alarm state commit in the same transaction.
    tasks = [Periodic(1, throttled(feed.tick, shedder, 2.0)), Periodic(10, pipeline.flush_discovered),
             Periodic(60, feed.check_missing), Periodic(900, feed.recalibrate), Periodic(3600, prune_receipts),
             Periodic(1, observe_idle), Periodic(1, status), *attach(pipeline, site=site), *extra_idle]

    def on_idle():
        with pipeline.lock:  # the sensor consumer's thread uses the same pipeline and alarm service
            for task in tasks:
                task()

    consumer = ChunkedConsumer(
        endpoint, client_id, subscriptions(endpoint, site), pipeline.handle,
        on_idle=on_idle,
    )
    # Sequence gaps -> losses counted once across processes, resend requests to the gateway (protocol §7a;
    # sensors/ingest/resend.py).
    planner = ResendPlanner(consumer.publish, attempts=settings.INGEST_RESEND_ATTEMPTS)
    if pipeline.on_gap is None:
        pipeline.on_gap = planner.gap
        tasks.append(Periodic(0.5, planner.tick))
    # Chunks of up to 0.25 s: each chunk costs a transaction and a dozen statements whatever its size.
    priority = ChunkedConsumer(endpoint, f"{client_id}.env", priority_subscriptions(endpoint, site),
                               pipeline.handle_priority, chunk_wait_s=0.25)
    return consumer, priority, pipeline


def run_ingest(stop: threading.Event, **kwargs) -> None:
    """Consume until ``stop`` is set; then drain what was received and return."""
    consumer, priority, pipeline = build_consumer(**kwargs)
    log.info("ingest consuming from %s as %s", consumer.endpoint.redacted(), consumer.client._client_id.decode())
    sensors = threading.Thread(target=_run_priority, args=(priority, stop), name="ingest-env", daemon=True)
    sensors.start()
    try:
        consumer.run(stop)
    finally:
        stop.set()  # the sensor consumer drains what it received and stops too
        sensors.join(60)
        pipeline.sightings_feed.close()  # hands the lead over at once
        close_old_connections()


def _run_priority(consumer: ChunkedConsumer, stop: threading.Event) -> None:
    try:
        consumer.run(stop)
    finally:
        close_old_connections()
