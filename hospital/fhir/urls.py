"""``/fhir/``: FHIR R4 read endpoints (mounted by hospital.urls with namespace ``fhir``)."""

from django.urls import path, re_path

from . import views

app_name = "fhir"

urlpatterns = [
    path("metadata", views.CapabilityStatementView.as_view(), name="metadata"),
    path("Device", views.DeviceSearchView.as_view(), name="device-search"),
    path("Device/<str:id>", views.DeviceReadView.as_view(), name="device-read"),
    path("Location", views.LocationSearchView.as_view(), name="location-search"),
    path("Location/<str:id>", views.LocationReadView.as_view(), name="location-read"),
    re_path(r"^(?P<rest>.*)$", views.UnsupportedView.as_view(), name="unsupported"),
]
