"""kill -9 of the ingest process that computes a site's positions, in the middle of a live stream, with
a second ingest process on the same shared subscription (real Mosquitto, PostgreSQL and Redis).

The survivor must take the lead by itself (the advisory lock dies with the killed process's database
connection) and go on placing every tag; once the killed process is restarted with its client id,
the batches the broker held for its session are stored too: every batch exactly once, every tag in
the room where it ended, and the pressure alarm raised and returned once, not twice.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

from tests.locator import test_scale_out as so
from tests.support.mosquitto import PrivateMosquitto
from tests.support.processes import manage

pytestmark = [*so.pytestmark, pytest.mark.slow]
KILL_AT_S = 7.0  # the pressure alarm is active then (bad from 4 s, raised 2 s later)
TAKEOVER_S = 10.0
SECONDS = 26.0
# The scale-out recording's tags, but the walkers set off after the kill: only the survivor can place them
# in the rooms where they end (then they stand for 12 s: the room decision needs a lead and a 5 s dwell).
TAGS = {tag: (start, end, (10.0, 14.0) if t1 > t0 else (0, 0))
        for tag, (start, end, t0, t1) in so.TAGS.items()}
TAGS = {tag: (start, end, *times) for tag, (start, end, times) in TAGS.items()}


def leading(path) -> bool:
    return b"computing positions of site" in path.read_bytes()


def test_kill_9_of_the_leading_ingest_process_loses_no_batch_and_the_other_takes_over(tmp_path, monkeypatch):
    from locator.models import CurrentLocation
    from sensors.environment.models import AlarmEvent
    from sensors.models import BatchReceipt, Gateway
    from sensors.mqtt.client import make_client, parse_mqtt_url
    from sensors.protocol import encode_batch, topic_for

    so.require_services()
    monkeypatch.setattr(so, "TAGS", TAGS)
    monkeypatch.setattr(so, "SECONDS", SECONDS)
    so.make_world()
    batches = so.record()
    broker = PrivateMosquitto(tmp_path, extra_config="allow_anonymous true").start()
    url = f"mqtt://127.0.0.1:{broker.port}"
    logs = [tmp_path / f"ingest-{i}.log" for i in range(2)]

    def start(i: int):
        return manage("ingest", "--site", so.SITE, "--client-id", f"fo-{i}", log_path=logs[i], MQTT_URL=url,
                      MQTT_SHARE_GROUP="fo", LOG_LEVEL="INFO")

    procs = [start(0), start(1)]
    publisher = None
    try:
        so.wait_until(lambda: all(p.exists() and b"connected to" in p.read_bytes() for p in logs), 60, "ingest up")
        so.wait_until(lambda: any(leading(p) for p in logs), 30, "one process to lead")
        time.sleep(1.0)
        client = make_client(parse_mqtt_url(url), "fo-pub")
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        begin = time.time() + 0.5

        def publish():
            for offset, gw, seq, advs in batches:
                delay = begin + offset + 0.25 - time.time()
                if delay > 0:
                    time.sleep(delay)
                payload = encode_batch(gw, "fo", seq, [(begin + offset + dt, *rest) for dt, *rest in advs],
                                       sent=begin + offset + 0.25)
                client.publish(topic_for(so.SITE, gw, "adv"), payload, qos=1).wait_for_publish(10)

        publisher = threading.Thread(target=publish, daemon=True)
        publisher.start()
        time.sleep(max(0.0, begin + KILL_AT_S - time.time()))
        leader = next(i for i, p in enumerate(logs) if leading(p))
        survivor = 1 - leader
        assert CurrentLocation.objects.count() == len(so.TAGS), "positions before the kill"
        procs[leader].send_signal(signal.SIGKILL)
        procs[leader].wait(10)
        killed_at = time.time()
        so.wait_until(lambda: leading(logs[survivor]), TAKEOVER_S, "the survivor to take the lead")
        took_over_s = time.time() - killed_at
        publisher.join(60)
        procs[leader] = start(leader)  # same client id: the broker hands over what it kept for the session
        so.wait_until(lambda: BatchReceipt.objects.filter(boot="fo", lost=False).count() == len(batches), 60,
                      "every batch stored once both are up")
        time.sleep(2.5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)
        if publisher is not None:
            client.loop_stop()
            client.disconnect()
        broker.stop()

    texts = [p.read_text(errors="replace") for p in logs]
    assert BatchReceipt.objects.filter(boot="fo").count() == len(batches)  # each (gateway, boot, seq) once
    assert not BatchReceipt.objects.filter(boot="fo", lost=True).exists()
    assert sum(Gateway.objects.values_list("batches_lost", flat=True)) == 0, texts
    places = {loc.tag.tag_id: loc.room.number if loc.room else None
              for loc in CurrentLocation.objects.select_related("tag", "room")}
    truth = {f"ibeacon:{so.IBEACON_UUID}:0:{tag}": so.room_of(so.position(tag, SECONDS)[0]) for tag in TAGS}
    at_kill = {f"ibeacon:{so.IBEACON_UUID}:0:{tag}": so.room_of(so.position(tag, KILL_AT_S)[0]) for tag in TAGS}
    assert sum(truth[t] != at_kill[t] for t in truth) == 3  # three walkers changed rooms after the kill
    assert places == truth, (places, truth)  # placed by the survivor alone
    transitions = [(e.from_state, e.to_state) for e in AlarmEvent.objects.order_by("t", "id")]
    assert transitions == [("normal", "active_unacknowledged"),
                           ("active_unacknowledged", "returned_unacknowledged")], transitions
    print(f"\nleader killed at {KILL_AT_S} s; the survivor led after {took_over_s:.1f} s; "
          f"{len(batches)} batches stored once, 0 lost")

