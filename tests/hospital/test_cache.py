"""hospital.cache.RedisCache: Django's Redis cache with one client per connection pool, shared by threads."""

import threading
import uuid

import pytest
from django.conf import settings
from django.core.cache import cache

pytestmark = pytest.mark.skipif("redis" not in settings.CACHES["default"]["BACKEND"].lower(),
                                reason="needs REDIS_URL (the shared cache)")


def test_one_client_serves_every_call_and_every_thread():
    client = cache._cache.get_client()
    assert cache._cache.get_client(write=True) is client
    prefix = f"test-cache-{uuid.uuid4().hex}"
    errors = []

    def work(n):
        try:
            for i in range(50):
                cache.set(f"{prefix}:{n}:{i}", (n, i), 30)
                assert cache.get(f"{prefix}:{n}:{i}") == (n, i)
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert cache._cache.get_client() is client
    cache.delete_many([f"{prefix}:{n}:{i}" for n in range(8) for i in range(50)])
