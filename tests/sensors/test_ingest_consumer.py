"""The consumer never drops a chunk: a failing database is retried with backoff, then acknowledged once."""

import time

from django.db import OperationalError

from sensors.ingest.consumer import ChunkedConsumer, Message
from sensors.mqtt.client import parse_mqtt_url


def test_a_chunk_is_retried_until_the_database_is_back_and_acknowledged_once(monkeypatch):
    calls, acked = [], []

    def flaky(messages):
        calls.append(len(messages))
        if len(calls) < 3:
            raise OperationalError("server closed the connection unexpectedly")

    consumer = ChunkedConsumer(parse_mqtt_url("mqtt://x@127.0.0.1:1"), "test", [], flaky)
    monkeypatch.setattr(consumer, "acknowledge", lambda chunk: acked.append([m.mid for m in chunk]))
    monkeypatch.setattr(time, "sleep", lambda s: None)
    chunk = [Message("hospital/s/gw/g/adv", b"{}", mid, 1, 0.0) for mid in (1, 2, 3)]
    consumer._process(chunk)
    assert calls == [3, 3, 3]  # the same chunk, whole, until it went through
    assert acked == [[1, 2, 3]]  # acknowledged once, after success
    assert consumer.failures == 2
