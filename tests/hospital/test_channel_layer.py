"""The embedded channel layer delivers group messages sent from a worker thread."""

import asyncio
import threading
import time

from asgiref.sync import async_to_sync

from hospital.channel_layer import EmbeddedChannelLayer


def test_group_send_from_another_thread_wakes_the_receiver_at_once():
    layer = EmbeddedChannelLayer()
    received = []
    ready = threading.Event()

    async def consumer():
        channel = await layer.new_channel()
        await layer.group_add("floor.1", channel)
        ready.set()
        # Keeps the loop idle (no timers), so only a thread-safe hand-over can wake it.
        message = await asyncio.wait_for(layer.receive(channel), timeout=5)
        received.append((message, time.monotonic()))

    thread = threading.Thread(target=lambda: asyncio.run(consumer()))
    thread.start()
    assert ready.wait(5)
    time.sleep(0.1)  # the consumer is now blocked in receive() on its own loop
    sent_at = time.monotonic()
    async_to_sync(layer.group_send)("floor.1", {"type": "floor.update", "markers": [1, 2]})
    thread.join(5)
    assert received, "message never arrived"
    message, arrived_at = received[0]
    assert message["markers"] == [1, 2]
    assert arrived_at - sent_at < 0.5
