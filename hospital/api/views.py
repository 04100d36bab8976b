"""Views of the API root itself: the token endpoint for integrations and the self-hosted docs.

Swagger UI's files come from the drf-spectacular-sidecar package and are served by this process
(``/api/docs/assets/...``), so the docs work with no internet; the validator badge, which would call
out to a public validator, is turned off.
"""

import json
from pathlib import Path

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.views.static import serve
from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import NotAuthenticated
from rest_framework.throttling import SimpleRateThrottle

from hospital.twofactor.tokens import TokenRequestSerializer

SWAGGER_UI_SETTINGS = {"deepLinking": True, "validatorUrl": None, "persistAuthorization": False}
SWAGGER_FILES = {
    "swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png",
    "oauth2-redirect.html", "oauth2-redirect.js",
}


class TokenRequestThrottle(SimpleRateThrottle):
    """Password guessing through the token endpoint: a few tries a minute per client address."""

    scope = "api-token"
    rate = "10/min"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class ObtainTokenView(ObtainAuthToken):
    """Exchange a user's username and password for their API token (created on first use).

    The token then goes in every request as ``Authorization: Token <key>``. Integrations get a user
    of their own with only the permissions they need; an administrator can also issue or rotate a
    token in the admin (Auth Token > Tokens) or with ``manage.py drf_create_token [-r] <username>``.
    """

    authentication_classes = []
    serializer_class = TokenRequestSerializer  # refuses accounts that log in with two-factor
    throttle_classes = [TokenRequestThrottle]
    metadata_class = None  # no OPTIONS description for anonymous callers

    @extend_schema(
        request=AuthTokenSerializer,
        responses={200: inline_serializer("Token", {"token": serializers.CharField()})},
        auth=[],
        tags=["auth"],
        summary="Get an API token for a username and password",
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


def _sidecar_dir() -> Path | None:
    try:
        import drf_spectacular_sidecar
    except ImportError:
        return None
    return Path(drf_spectacular_sidecar.__file__).parent / "static" / "drf_spectacular_sidecar" / "swagger-ui-dist"


class SwaggerView(SpectacularSwaggerView):
    """Swagger UI over ``/api/schema/``; anonymous browsers are sent to the login page."""

    url_name = "api:schema"

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        if _sidecar_dir() is None:
            return HttpResponse("API docs need the drf-spectacular-sidecar package.", status=503,
                                content_type="text/plain")
        response = super().get(request, *args, **kwargs)
        response.data["settings"] = json.dumps(SWAGGER_UI_SETTINGS)
        return response

    def handle_exception(self, exc):
        if isinstance(exc, NotAuthenticated):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)

    @staticmethod
    def _swagger_ui_resource(filename):
        return reverse("api:docs-asset", args=[filename])

    @staticmethod
    def _swagger_ui_favicon():
        return reverse("api:docs-asset", args=["favicon-32x32.png"])


def docs_asset(request, filename: str):
    """One of Swagger UI's files, to logged-in users (the docs page is behind the login too)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    root = _sidecar_dir()
    if root is None or filename not in SWAGGER_FILES:
        raise Http404("no such file")
    response = serve(request, filename, document_root=str(root))
    response["Cache-Control"] = "private, max-age=86400"
    return response
