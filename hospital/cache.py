"""Django's Redis cache, with one ``redis.Redis`` client per connection pool instead of one per call.

Django builds a new ``redis.Redis`` for every cache operation; its constructor fills a table of several
hundred response callbacks, about 0.15 ms of CPU each time. Every signed-in request reads the cache
two or three times (session, user version, two-factor state), so on the equipment search that was a
tenth of the web process's CPU (bench/api_latency.py). A ``redis.Redis`` is safe to share between
threads (each command takes a connection from the pool), so one per pool is enough.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
