"""A login half done: the password was right, the code is still to come. Kept in the (not yet logged-in)
session for a few minutes; the user is NOT authenticated meanwhile, so no page, API call or websocket
treats them as logged in."""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model

KEY = "twofactor.pending"
MAX_AGE_S = 300


def start(request, user, next_url: str) -> None:
    request.session[KEY] = {"user": user.pk, "backend": user.backend, "next": next_url, "since": time.time(),
                            "failures": 0}


def get(request) -> dict | None:
    state = request.session.get(KEY)
    if not state or time.time() - state.get("since", 0) > MAX_AGE_S:
        clear(request)
        return None
    return state


def user_of(state: dict):
    return get_user_model().objects.filter(pk=state["user"], is_active=True).first()


def failed(request, state: dict) -> int:
    state["failures"] += 1
    request.session[KEY] = state
    return state["failures"]


def clear(request) -> None:
    request.session.pop(KEY, None)
