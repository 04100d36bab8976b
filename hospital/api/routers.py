"""Routers. Each app builds a ``Router`` in its ``api/urls.py``; ``RootRouter`` merges them under
``/api/`` (see ``hospital.api.urls``)."""

from rest_framework import routers
from rest_framework.permissions import IsAuthenticated


class Router(routers.SimpleRouter):
    """What an app's ``api/urls.py`` registers its view sets on (kebab-case plural prefixes)."""


class APIRootView(routers.APIRootView):
    """The list of every collection of the hospital tracking API. Authentication: session (the web
    login) or ``Authorization: Token <key>`` (see ``/api/auth/token/``). Schema: ``/api/schema/``;
    interactive docs: ``/api/docs/``."""

    permission_classes = [IsAuthenticated]


class RootRouter(routers.DefaultRouter):
    APIRootView = APIRootView
    include_format_suffixes = False

    def extend(self, router: routers.SimpleRouter) -> None:
        """Take over another router's registrations (so they appear on the root page too)."""
        for prefix, viewset, basename in router.registry:
            self.register(prefix, viewset, basename)
