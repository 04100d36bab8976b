"""URL map. Every page needs a login; the API takes session or token authentication."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views
from .twofactor import views as twofactor_views

admin.site.site_header = "Hospital tracking administration"
admin.site.site_title = "Hospital tracking"

urlpatterns = [
    path("", views.home, name="home"),
    path("floors/<int:floor_id>/plan.svg", views.floor_plan_svg, name="floor-plan-svg"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", twofactor_views.LoginView.as_view(), name="login"),
    path("accounts/two-factor/", include("hospital.twofactor.urls")),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("locator.urls")),
    path("assets/", include("hospital.assets.urls")),
    path("environment/", include("sensors.environment.urls")),
    path("maintenance/", include("hospital.maintenance.urls")),
    path("api/", include("hospital.api.urls")),
    path("fhir/", include("hospital.fhir.urls")),
    path("admin/", admin.site.urls),
]
