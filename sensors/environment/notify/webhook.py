"""Signed webhooks for paging systems.

Each notification is POSTed as JSON. The body carries a unique ``id`` (the notification, the same on
every retry: receivers de-duplicate on it) and ``sent_at``. Headers:

* ``X-Hospital-Signature: sha256=<hex>``: HMAC-SHA256 of the exact body bytes with the endpoint's secret;
* ``X-Hospital-Timestamp``: Unix seconds, equal to the body's ``sent_at`` (reject old ones: replay);
* ``X-Hospital-Delivery``: the notification id; ``X-Hospital-Event``: e.g. ``alarm.raised``.

A 2xx answer is success; anything else (or no answer within the endpoint's timeout) is retried with
backoff (``ALARM_WEBHOOK_BACKOFF_S``) up to the endpoint's ``max_attempts``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.error
import urllib.request

import orjson

from .registry import Channel, Result, register

SIGNATURE_HEADER = "X-Hospital-Signature"
TIMESTAMP_HEADER = "X-Hospital-Timestamp"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(sign(secret, body), signature or "")


def build_request(notification, now: float | None = None) -> urllib.request.Request:
    endpoint = notification.endpoint
    ts = int(now if now is not None else time.time())
    event = notification.payload.get("event", notification.kind)
    body = orjson.dumps({"id": notification.pk, "sent_at": ts, "attempt": notification.attempts + 1,
                         **notification.payload})
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "hospital-alarms/1",
        SIGNATURE_HEADER: sign(endpoint.secret, body),
        TIMESTAMP_HEADER: str(ts),
        "X-Hospital-Delivery": str(notification.pk),
        "X-Hospital-Event": event,
    }
    return urllib.request.Request(endpoint.url, data=body, headers=headers, method="POST")


@register
class WebhookChannel(Channel):
    kind = "webhook"

    def max_attempts_for(self, notification) -> int:
        return notification.endpoint.max_attempts if notification.endpoint_id else 1

    def deliver(self, notifications: list) -> Result:
        notification = notifications[0]
        endpoint = notification.endpoint
        if endpoint is None:
            return Result(False, error="the webhook endpoint was deleted")
        if not endpoint.enabled:
            return Result(False, error="the webhook endpoint is disabled")
        start = time.monotonic()
        try:
            with urllib.request.urlopen(build_request(notification), timeout=endpoint.timeout_s) as response:
                code = response.status
        except urllib.error.HTTPError as exc:
            code = exc.code
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return Result(False, error=f"{type(exc).__name__}: {reason}"[:500],
                          duration_ms=int((time.monotonic() - start) * 1000))
        ms = int((time.monotonic() - start) * 1000)
        if 200 <= code < 300:
            return Result(True, status_code=code, duration_ms=ms)
        return Result(False, status_code=code, error=f"HTTP {code}", duration_ms=ms)
