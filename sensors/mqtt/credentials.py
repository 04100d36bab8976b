"""Mosquitto password and ACL files, so each gateway can publish only under its own topics.

Hashes use Mosquitto 2's PBKDF2-SHA512 format (``$7$iterations$salt$hash``), the same that
``mosquitto_passwd`` writes, so no Mosquitto tools are needed to provision.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

ITERATIONS = 101  # mosquitto_passwd's default


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        _, kind, iterations, salt, digest = encoded.split("$")
    except ValueError:
        return False
    if kind != "7":
        return False
    candidate = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iterations))
    return hmac.compare_digest(candidate, base64.b64decode(digest))


def new_password() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class GatewayAccount:
    gateway_id: str
    site: str
    password_hash: str


@dataclass(frozen=True)
class ServiceAccount:
    """A server-side process: ``ingest`` reads every gateway's data and writes gateway config."""

    username: str
    password_hash: str
    role: str  # "ingest" or "simulator"


def passwd_file(gateways: Iterable[GatewayAccount], services: Iterable[ServiceAccount]) -> str:
    lines = [f"{s.username}:{s.password_hash}" for s in services]
    lines += [f"{g.gateway_id}:{g.password_hash}" for g in gateways if g.password_hash]
    return "\n".join(lines) + "\n"


def acl_file(gateways: Iterable[GatewayAccount], services: Iterable[ServiceAccount], root: str = "hospital") -> str:
    out = ["# Written by manage.py mqtt_credentials: do not edit by hand.", ""]
    for service in services:
        out.append(f"user {service.username}")
        if service.role == "ingest":
            out += [f"topic read {root}/+/gw/+/adv", f"topic read {root}/+/gw/+/env",
                    f"topic read {root}/+/gw/+/status", f"topic readwrite {root}/+/gw/+/config", f"topic write {root}/+/gw/+/resend"]
        elif service.role == "simulator":
            out += [f"topic write {root}/+/gw/+/adv", f"topic write {root}/+/gw/+/env",
                    f"topic write {root}/+/gw/+/status", f"topic read {root}/+/gw/+/config", f"topic read {root}/+/gw/+/resend"]
        else:
            raise ValueError(f"unknown service role {service.role!r}")
        out.append("")
    for gw in gateways:
        if not gw.password_hash:
            continue
        base = f"{root}/{gw.site}/gw/{gw.gateway_id}"
        out += [f"user {gw.gateway_id}", f"topic write {base}/adv", f"topic write {base}/env",
                f"topic readwrite {base}/status", f"topic read {base}/config", f"topic read {base}/resend", ""]
    return "\n".join(out)
