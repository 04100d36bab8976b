"""URLs of the asset pages (included under ``assets/``, namespace ``assets``)."""

from django.urls import path

from . import views

app_name = "assets"

urlpatterns = [
    path("<int:pk>/", views.asset_detail, name="detail"),
    path("<int:pk>/status/", views.change_status, name="change-status"),
]
