"""Two rules on every request, after django-otp's ``OTPMiddleware``:

1. A session of a user who has a confirmed device but did not give a code in it (logged in before
   enrolling elsewhere, or made without our login) is ended: the request goes on as anonymous, so the
   view answers as it does to anyone logged out (login page, 401/403).
2. With ``ADMIN_2FA_REQUIRED``, an administrator without a device is sent to enrolment (pages) or refused
   (API, 403) until they have one; login, logout and the two-factor pages stay open.

API calls with a token carry no session, so ``request.user`` is anonymous here and nothing applies to
them (docs/security.md). Nothing looks at the ``Authorization`` header itself: a stolen session cookie
sent along with a made-up header is still a session that never gave a code.
"""

from __future__ import annotations

import logging

from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.urls import reverse

from . import policy

log = logging.getLogger("hospital.security")

OPEN_VIEWS = {"login", "logout", "healthz"}
OPEN_NAMESPACES = {"twofactor"}
API_NAMESPACES = {"api", "fhir"}


class TwoFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user  # from the session only: API tokens are checked later, by DRF
        if not user.is_authenticated or user.is_verified():
            return None
        if policy.has_device(user):
            log.warning("session of %r ended: it never gave a two-factor code", user.get_username())
            logout(request)
            return None
        match = request.resolver_match
        if not policy.required() or (match.url_name in OPEN_VIEWS and not match.namespace) \
                or OPEN_NAMESPACES & set(match.namespaces) or not policy.is_administrator(user):
            return None
        if API_NAMESPACES & set(match.namespaces):
            return JsonResponse({"detail": "Administrators must set up two-factor login first "
                                           "(ADMIN_2FA_REQUIRED); open the two-factor page."}, status=403)
        return redirect_to_login(request.get_full_path(), reverse("twofactor:enrol"))
