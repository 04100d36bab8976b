"""URLs of environmental monitoring (included under ``environment/`` with namespace ``environment``)."""

from django.urls import path

from . import views

app_name = "environment"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("alarms/", views.console, name="console"),
    path("alarms/snapshot.json", views.console_snapshot, name="console-snapshot"),
    path("alarms/<int:pk>/", views.alarm_detail, name="alarm-detail"),
    path("alarms/<int:pk>/<slug:kind>/", views.alarm_action, name="alarm-action"),
    path("sensors/<slug:sensor_id>/", views.sensor_detail, name="sensor"),
    path("sensors/<slug:sensor_id>/chart.svg", views.sensor_chart, name="sensor-chart"),
    path("sensors/<slug:sensor_id>/log/", views.sensor_log, name="sensor-log"),
    path("sensors/<slug:sensor_id>/monitoring/", views.sensor_monitoring, name="sensor-monitoring"),
    path("excursions/", views.excursion_list, name="excursions"),
    path("excursions/report.csv", views.excursion_csv, name="excursions-csv"),
    path("excursions/report.pdf", views.excursion_pdf, name="excursions-pdf"),
    path("excursions/<int:pk>/", views.excursion_detail, name="excursion-detail"),
]
