"""Resends (protocol §7a) piece by piece: the request codec, the gateway queue's retention, the gateway's
request handler, and ingest's gap -> request planning. Against a real broker: test_resend_broker.py."""

import sqlite3
import time

import orjson
import pytest

from sensors.gateway.queue import DiskQueue
from sensors.gateway.resend import ResendHandler
from sensors.ingest.consumer import Message
from sensors.ingest.pipeline import IngestPipeline
from sensors.ingest.resend import ResendPlanner
from sensors.models import BatchReceipt, Gateway, IngestCounter
from sensors.mqtt.credentials import GatewayAccount, ServiceAccount, acl_file
from sensors.protocol import (
    MAX_RESEND_BATCHES,
    ProtocolError,
    SequenceTracker,
    decode_resend,
    encode_batch,
    encode_resend,
    encode_status,
    parse_topic,
    seq_ranges,
)


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


# ------------------------------------------------------------------------------------------ protocol


def test_resend_request_round_trip_and_malformed_requests_name_the_problem():
    payload = encode_resend("gw-1", "b00t", [(3, 5), (9, 9)], req="r1", ts=5.0)
    assert orjson.loads(payload) == {"v": 1, "gw": "gw-1", "boot": "b00t", "ranges": [[3, 5], [9, 9]], "ts": 5.0,
                                     "req": "r1"}
    request = decode_resend(payload, "gw-1")
    assert (request.boot, request.ranges, request.req, request.batches) == ("b00t", ((3, 5), (9, 9)), "r1", 4)
    assert parse_topic("hospital/s/gw/gw-1/resend").kind == "resend"
    assert seq_ranges([9, 3, 4, 5, 4]) == [(3, 5), (9, 9)]
    bad = {
        b"not json": "not JSON",
        b"[1]": "must be a JSON object",
        b'{"v": 2, "gw": "gw-1", "boot": "b", "ranges": [[1, 2]]}': "unsupported resend version",
        b'{"v": 1, "gw": "gw-2", "boot": "b", "ranges": [[1, 2]]}': "gateway id mismatch",
        b'{"v": 1, "gw": "gw-1", "boot": "", "ranges": [[1, 2]]}': "'boot' must be a string",
        b'{"v": 1, "gw": "gw-1", "boot": "b", "ranges": []}': "1..32",
        b'{"v": 1, "gw": "gw-1", "boot": "b", "ranges": [[5, 2]]}': "first <= last",
        b'{"v": 1, "gw": "gw-1", "boot": "b", "ranges": [[-1, 2]]}': "first <= last",
        b'{"v": 1, "gw": "gw-1", "boot": "b", "ranges": [[1, true]]}': "pair of integers",
        b'{"v": 1, "gw": "gw-1", "boot": "b", "ranges": [[0, 99999]]}': f"more than {MAX_RESEND_BATCHES}",
    }
    for payload, reason in bad.items():
        with pytest.raises(ProtocolError) as err:
            decode_resend(payload, "gw-1")
        assert reason in err.value.reason, (payload, err.value.reason)
    with pytest.raises(ProtocolError):
        encode_resend("gw-1", "b", [(0, MAX_RESEND_BATCHES)])  # the server finds its own bugs locally


def test_tracker_says_which_seqs_are_still_missing():
    tracker = SequenceTracker()
    for seq in (0, 1, 6, 7):
        tracker.observe("gw", "b", seq)
    assert tracker.missing_in("gw", "b", 0, 10) == [2, 3, 4, 5]
    tracker.observe("gw", "b", 4)  # late
    assert tracker.missing_in("gw", "b", 2, 5) == [2, 3, 5]
    assert tracker.missing_in("gw", "other-boot", 0, 5) is None and tracker.missing_in("nope", "b", 0, 5) is None


def test_acls_let_ingest_ask_and_each_gateway_read_only_its_own_requests():
    acl = acl_file([GatewayAccount("gw-1", "s", "$7$hash")],
                   [ServiceAccount("ingest", "$7$x", "ingest"), ServiceAccount("sim", "$7$y", "simulator")])
    assert "topic write hospital/+/gw/+/resend" in acl.split("user sim")[0]
    assert "topic read hospital/+/gw/+/resend" in acl.split("user sim")[1].split("user gw-1")[0]
    assert "topic read hospital/s/gw/gw-1/resend" in acl.split("user gw-1")[1]


# ------------------------------------------------------------------------------ gateway disk queue


def test_queue_keeps_delivered_batches_by_age_and_size_and_they_give_way_first(tmp_path):
    clock = Clock()
    q = DiskQueue(tmp_path / "q.sqlite3", max_batches=10, retain_s=60, retain_max_bytes=250, clock=clock)
    for seq in range(4):
        q.put("b", seq, b"x" * 100)
    ids = [r.id for r in q.peek(limit=10)]
    assert q.acknowledge(ids[:2]) == 2
    # delivered batches are kept for resends but no longer queued
    assert len(q) == 2 and q.kept() == (2, 200) and [r.seq for r in q.peek(limit=10)] == [2, 3]
    held = q.held("b", 0, 3)
    assert [(r.seq, r.acked is not None) for r in held] == [(0, True), (1, True), (2, False), (3, False)]
    clock.t += 30
    q.acknowledge(ids[2:3])  # 300 bytes kept > 250: the oldest kept batch goes
    assert q.kept() == (2, 200) and [r.seq for r in q.held("b", 0, 3)] == [1, 2, 3]
    clock.t += 31  # batch 1 (acked at t0) is now older than retain_s; batch 2 is not
    assert [r.seq for r in q.held("b", 0, 3)] == [2, 3]
    q.prune()
    assert q.kept() == (1, 100) and q.dropped == 0  # kept batches expiring is not a loss
    # bounds: kept batches make room before any queued batch is dropped
    for seq in range(4, 13):
        q.put("b", seq, b"y" * 10)
    assert q.kept() == (0, 0) and len(q) == 10 and q.dropped == 0
    q.put("b", 13, b"z")
    assert q.dropped == 1 and [r.seq for r in q.peek(limit=1)] == [4]
    q.close()
    reopened = DiskQueue(tmp_path / "q.sqlite3", max_batches=10, retain_s=60, retain_max_bytes=250, clock=clock)
    assert len(reopened) == 10 and reopened.kept() == (0, 0)
    reopened.close()
    off = DiskQueue(tmp_path / "off.sqlite3")  # retention off (the default): acknowledged means deleted
    off.put("b", 0, b"a")
    off.acknowledge([off.peek()[0].id])
    assert len(off) == 0 and off.kept() == (0, 0) and off.held("b", 0, 0) == []
    off.close()


def test_queue_file_of_an_older_agent_is_upgraded_in_place(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE batch (id INTEGER PRIMARY KEY AUTOINCREMENT, boot TEXT NOT NULL, seq INTEGER NOT NULL,"
        " payload BLOB NOT NULL); CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        "INSERT INTO batch (boot, seq, payload) VALUES ('old', 7, x'00ff');"
    )
    db.commit()
    db.close()
    q = DiskQueue(path, retain_s=60, retain_max_bytes=1024)
    assert [(r.boot, r.seq, r.payload) for r in q.peek(limit=5)] == [("old", 7, b"\x00\xff")]
    q.acknowledge([q.peek()[0].id])
    assert len(q) == 0 and [r.seq for r in q.held("old", 0, 10)] == [7]
    q.close()


# ------------------------------------------------------------------------------ gateway handler


def make_handler(tmp_path, clock, *, next_seq=10, taken_limit=None):
    q = DiskQueue(tmp_path / "h.sqlite3", retain_s=600, retain_max_bytes=1 << 20, clock=clock)
    republished = []

    def republish(gw, batches, boot):
        take = batches if taken_limit is None else batches[:taken_limit]
        republished.extend(take)
        return len(take)

    handler = ResendHandler(
        lambda gw, boot, first, last: [(r.seq, r.payload if r.acked else None) for r in q.held(boot, first, last)],
        lambda gw: ("b", next_seq) if gw == "gw-1" else None,
        republish,
        rate=1.0,
        burst=3,
        clock=clock,
    )
    return q, handler, republished


def test_gateway_resends_what_it_holds_and_counts_the_rest(tmp_path):
    clock = Clock()
    q, handler, republished = make_handler(tmp_path, clock)
    for seq in range(10):
        q.put("b", seq, f"batch-{seq}".encode())
    q.acknowledge([r.id for r in q.peek(limit=10) if r.seq >= 4 and r.seq != 8])  # 8 still queued
    q.remove([r.id for r in q.peek(limit=10) if r.seq < 4])  # 0..3 gone (e.g. expired)
    assert handler.handle("gw-1", encode_resend("gw-1", "b", [(2, 6), (8, 9)])) == 4
    assert republished == [(4, b"batch-4"), (5, b"batch-5"), (6, b"batch-6"), (9, b"batch-9")]
    # 2 and 3 are no longer held; 8 is still queued (it goes out anyway, so not twice)
    assert (handler.requests, handler.resent, handler.not_held) == (1, 4, 2)
    # an older boot: whatever the queue still holds of it
    assert handler.handle("gw-1", encode_resend("gw-1", "old-boot", [(0, 4)])) == 0
    assert handler.not_held == 7 and handler.info()["resend_not_held"] == 7
    q.close()


def test_gateway_ignores_and_counts_bad_requests_and_floods(tmp_path):
    clock = Clock()
    q, handler, republished = make_handler(tmp_path, clock, taken_limit=1)
    q.put("b", 0, b"zero")
    q.put("b", 1, b"one")
    q.acknowledge([r.id for r in q.peek(limit=5)])
    for payload in (b"\xff\xfe garbage", b"{}", b'{"v": 1, "gw": "gw-1", "boot": "b", "ranges": "all"}',
                    encode_resend("gw-2", "b", [(0, 1)])):
        assert handler.handle("gw-1", payload) == 0
    assert handler.handle("gw-9", encode_resend("gw-9", "b", [(0, 1)])) == 0  # not this gateway
    assert handler.handle("gw-1", encode_resend("gw-1", "b", [(5, 12)])) == 0  # seqs never produced
    assert handler.handle("gw-1", encode_resend("gw-1", "b", [(0, 1)])) == 1  # publisher full: one taken
    assert handler.handle("gw-1", encode_resend("gw-1", "b", [(0, 0)])) == 1
    for _ in range(5):  # a flood: over 1 request/s (burst 3)
        assert handler.handle("gw-1", encode_resend("gw-1", "b", [(0, 0)])) == 0
    assert dict(handler.ignored) == {"malformed": 4, "unknown_gateway": 1, "unknown_range": 1, "busy": 1,
                                     "rate_limited": 5}
    assert handler.requests == 2 and handler.resent == 2
    info = handler.info()
    assert info["resend_ignored"] == 12 and info["resend_ignored_by_reason"]["rate_limited"] == 5
    clock.t += 1.0  # the bucket refills
    assert handler.handle("gw-1", encode_resend("gw-1", "b", [(1, 1)])) == 1
    q.close()


# ------------------------------------------------------------------------------ ingest: gap -> request


def message(site, gateway_id, payload):
    return Message(f"hospital/{site}/gw/{gateway_id}/adv", payload, 1, 1, time.time())


@pytest.fixture
def planned(tracked_world):
    clock = Clock()
    sent = []
    connected = [True]

    def publish(topic, payload):
        if connected[0]:
            sent.append((topic, orjson.loads(payload)))
        return connected[0]

    pipeline = IngestPipeline()
    planner = ResendPlanner(publish, delay_s=1.0, retry_s=3.0, attempts=2, rate=100, clock=clock)
    pipeline.on_gap = planner.gap
    site = tracked_world["site"]

    def feed(*seqs, boot="boot-1"):
        for seq in seqs:
            pipeline.handle([message(site, "gw-a", encode_batch("gw-a", boot, seq, []))])

    feed.pipeline = pipeline
    return planner, feed, sent, clock, connected, site


def counters():
    return dict(IngestCounter.objects.filter(name__startswith="resend.").values_list("name", "value"))


@pytest.mark.django_db
def test_a_gap_is_asked_for_after_a_delay_and_closed_when_the_batches_come_back(planned):
    planner, feed, sent, clock, connected, site = planned
    feed(0, 1, 2, 6, 7, 10)  # 3..5 and 8..9 missing
    planner.tick()
    assert sent == []  # a reordered batch may still turn up on its own
    feed(4)
    connected[0] = False
    clock.t += 1.0
    planner.tick()
    assert sent == []  # the broker is away: asked again next tick, no attempt used
    connected[0] = True
    planner.tick()
    assert [(t, b["gw"], b["boot"], b["ranges"]) for t, b in sent] == [
        (f"hospital/{site}/gw/gw-a/resend", "gw-a", "boot-1", [[3, 3], [5, 5], [8, 9]])
    ]
    planner.tick()
    assert len(sent) == 1  # not again before retry_s
    feed(3, 5, 8, 9)  # the gateway resent them
    gateway = Gateway.objects.get(gateway_id="gw-a")
    assert gateway.batches_lost == 0
    clock.t += 3.0
    planner.tick()
    assert len(sent) == 1 and not planner.gaps
    gateway.refresh_from_db()
    assert gateway.batches_recovered == 4  # 4 came back on request (4 had turned up on its own)
    assert counters() == {"resend.gaps": 2, "resend.requests": 1, "resend.requested": 4, "resend.recovered": 4}


@pytest.mark.django_db
def test_what_the_gateway_no_longer_holds_stays_lost_after_bounded_retries(planned):
    planner, feed, sent, clock, connected, site = planned
    feed(0, 5)
    for _ in range(6):
        clock.t += 10.0
        planner.tick()
    assert len(sent) == 2 and all(b["ranges"] == [[1, 4]] for _, b in sent)  # attempts=2
    assert not planner.gaps
    gateway = Gateway.objects.get(gateway_id="gw-a")
    assert (gateway.batches_lost, gateway.batches_recovered) == (4, 0)
    assert counters()["resend.unrecovered"] == 4 and "resend.recovered" not in counters()
    # a reboot seen at seq 3: batches 0..2 of the new boot are asked for too
    feed(3, boot="boot-2")
    clock.t += 1.0
    planner.tick()
    assert sent[-1][1]["boot"] == "boot-2" and sent[-1][1]["ranges"] == [[0, 2]]


@pytest.mark.django_db
def test_a_lost_tail_is_found_from_the_gateway_status_without_a_later_batch(planned):
    planner, feed, sent, clock, connected, site = planned
    def status(acked_seq, boot="boot-1", state="online"):
        payload = encode_status("gw-a", state, boot, acked_seq=acked_seq)
        feed.pipeline.handle([Message(f"hospital/{site}/gw/gw-a/status", payload, 1, 1, time.time())])

    feed(0, 1, 2, 3)
    status(3)  # everything it published arrived
    status(6, state="offline")  # shut down cleanly after publishing 4..6, which never arrived
    status("7", state="offline")  # not understood: ignored, like an unknown key
    status(-1, state="offline")
    clock.t += 1.0
    planner.tick()
    assert [b["ranges"] for _, b in sent] == [[[4, 6]]]
    assert Gateway.objects.get(gateway_id="gw-a").batches_lost == 3
    feed(5)  # one comes back
    clock.t += 3.0
    planner.tick()  # attempts=2: asked twice, then given up
    clock.t += 6.0
    planner.tick()
    assert [b["ranges"] for _, b in sent][1:] == [[[4, 4], [6, 6]]]
    gateway = Gateway.objects.get(gateway_id="gw-a")
    assert (gateway.batches_lost, gateway.batches_recovered) == (2, 1)
    assert counters()["resend.unrecovered"] == 2
    # a boot none of whose batches arrived: its seqs up to the one named are missing
    status(1, boot="boot-2")
    clock.t += 1.0
    planner.tick()
    assert sent[-1][1]["boot"] == "boot-2" and sent[-1][1]["ranges"] == [[0, 1]]
    # a gateway never seen: no loss assumed (ingest may have started after its batches)
    assert feed.pipeline.tracker.advance("gw-never", "b", 5) is None


@pytest.mark.django_db
def test_two_processes_sharing_a_gateway_count_each_lost_batch_once_and_ask_once(tracked_world):
    """Two pipelines and planners on one database, the batches dealt out alternately as a shared
    subscription does: each tracker sees a gap at nearly every batch, yet 3 lost batches count 3."""
    clock, site = Clock(), tracked_world["site"]
    sent: list[tuple[int, dict]] = []
    processes = []
    for i in range(2):
        pipeline = IngestPipeline()
        planner = ResendPlanner(lambda t, p, i=i: sent.append((i, orjson.loads(p))) or True, delay_s=1.0,
                                retry_s=3.0, attempts=1, rate=100, clock=clock)
        pipeline.on_gap = planner.gap
        processes.append((pipeline, planner))
    arrived = [seq for seq in range(40) if seq not in (7, 8, 30)]
    for n, seq in enumerate(arrived):
        processes[n % 2][0].handle([message(site, "gw-a", encode_batch("gw-a", "boot-1", seq, []))])
    assert sum(len(planner.gaps) for _, planner in processes) > 20  # candidates everywhere
    for _ in range(3):
        clock.t += 4.0
        for _, planner in processes:
            planner.tick()
    gateway = Gateway.objects.get(gateway_id="gw-a")
    assert gateway.batches_lost == 3 and counters()["resend.unrecovered"] == 3
    assert sorted(s for _, b in sent for first, last in b["ranges"] for s in range(first, last + 1)) == [7, 8, 30]
    # a lost one turns up at the process that did not mark it: taken back once
    processes[1][0].handle([message(site, "gw-a", encode_batch("gw-a", "boot-1", 8, []))])
    processes[0][0].handle([message(site, "gw-a", encode_batch("gw-a", "boot-1", 8, []))])
    gateway.refresh_from_db()
    assert (gateway.batches_lost, gateway.batches_received) == (2, 38)
    assert dict(IngestCounter.objects.values_list("name", "value"))["batches.lost"] == 2


@pytest.mark.django_db
def test_seqs_another_ingest_process_stored_are_not_asked_for(planned):
    planner, feed, sent, clock, connected, site = planned
    feed(0, 4)
    from django.utils import timezone

    BatchReceipt.objects.create(gateway_id="gw-a", boot="boot-1", seq=2, received_at=timezone.now())
    clock.t += 1.0
    planner.tick()
    assert sent[0][1]["ranges"] == [[1, 1], [3, 3]]


def test_retention_settings_are_validated_with_the_key_named(tmp_path):
    from sensors.gateway.config import ConfigError, build_settings, read_toml

    conf = tmp_path / "gateway.toml"
    conf.write_text('gateway_id = "gw-1"\nsite = "s"\nstate_dir = "/tmp/x"\n'
                    "[queue]\nretain_s = 60\nretain_max_bytes = 2097152\nresend_rate = 0.5\n")
    s = build_settings(read_toml(conf))
    assert (s.retain_s, s.retain_max_bytes, s.resend_rate) == (60.0, 2097152, 0.5)
    for line, key in (("retain_max_bytes = 999999999", "queue.retain_max_bytes"), ("retain_s = -1", "queue.retain_s"),
                      ("resend_rate = 0", "queue.resend_rate"), ('retain_s = "long"', "queue.retain_s")):
        conf.write_text(f'gateway_id = "gw-1"\nsite = "s"\n[queue]\n{line}\n')
        with pytest.raises(ConfigError, match=key):
            build_settings(read_toml(conf))
