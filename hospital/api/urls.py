"""``/api/``: the root router with every app's view sets, the schema, the docs and the token endpoint.

Apps plug in by convention, found at start-up like admin modules: an installed app that has
``<app>/api/urls.py`` defining ``router`` (a ``hospital.api.routers.Router``) gets every view set
registered there mounted at ``/api/<prefix>/`` and listed on the root page. Views that are not view
sets go in an optional ``extra_urlpatterns`` list in the same module, mounted under ``/api/`` as
well. Nothing here names the apps, so a new app needs no edit of this file.
"""

from importlib import import_module

from django.apps import apps
from django.urls import include, path
from django.utils.module_loading import module_has_submodule
from drf_spectacular.views import SpectacularAPIView

from . import views
from .routers import RootRouter

app_name = "api"


def app_api_modules():
    """``<app>.api.urls`` of every installed app that has one, in INSTALLED_APPS order."""
    modules = []
    for config in apps.get_app_configs():
        name = f"{config.name}.api"
        if name == __package__ or not module_has_submodule(config.module, "api"):
            continue
        package = import_module(name)
        if module_has_submodule(package, "urls"):
            modules.append(import_module(f"{name}.urls"))
    return modules


router = RootRouter()
extra_urlpatterns = []
for module in app_api_modules():
    if hasattr(module, "router"):
        router.extend(module.router)
    extra_urlpatterns += getattr(module, "extra_urlpatterns", [])

urlpatterns = [
    path("auth/token/", views.ObtainTokenView.as_view(), name="token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", views.SwaggerView.as_view(), name="docs"),
    path("docs/assets/<str:filename>", views.docs_asset, name="docs-asset"),
    *extra_urlpatterns,
    path("", include(router.urls)),
]
