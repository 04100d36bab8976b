"""The in-memory channel layer, made safe to call from worker threads.

The demo runs ingest in a thread beside daphne. Channels' in-memory layer keeps asyncio queues bound
to daphne's event loop, so a ``group_send`` from another loop would not wake the consumers. This
layer hands such calls to the loop the consumers receive on. Production uses Redis instead.
"""

from __future__ import annotations

import asyncio

from channels.layers import InMemoryChannelLayer


class EmbeddedChannelLayer(InMemoryChannelLayer):
    _home_loop: asyncio.AbstractEventLoop | None = None

    async def receive(self, channel):
        if self._home_loop is None:
            self._home_loop = asyncio.get_running_loop()
        return await super().receive(channel)

    def _foreign_loop(self) -> asyncio.AbstractEventLoop | None:
        home = self._home_loop
        if home is not None and home.is_running() and home is not asyncio.get_running_loop():
            return home
        return None

    async def send(self, channel, message):
        home = self._foreign_loop()
        if home is None:
            return await super().send(channel, message)
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(super().send(channel, message), home))

    async def group_send(self, group, message):
        home = self._foreign_loop()
        if home is None:
            return await super().group_send(group, message)
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(super().group_send(group, message), home))
