"""URLs of maintenance (included under ``maintenance/`` with namespace ``maintenance``)."""

from django.urls import path

from . import views

app_name = "maintenance"

urlpatterns = [
    path("", views.board, name="board"),
    path("calendar/", views.calendar, name="calendar"),
    path("work-orders/<int:pk>/", views.work_order, name="work-order"),
    path("work-orders/<int:pk>/complete/", views.complete, name="complete"),
    path("work-orders/<int:pk>/<slug:kind>/", views.action, name="action"),
    path("assets/<int:pk>/", views.asset, name="asset"),
    path("assets/<int:pk>/report-fault/", views.report_fault, name="report-fault"),
    path("plans/", views.plans, name="plans"),
    path("forecasts/", views.forecasts, name="forecasts"),
    path("usage-rules/", views.usage_rules, name="usage-rules"),
    path("notices/", views.notices, name="notices"),
    path("notices/new/", views.notice_new, name="notice-new"),
    path("notices/<int:pk>/", views.notice, name="notice"),
    path("notices/<int:pk>/apply/", views.notice_apply, name="notice-apply"),
    path("reports/", views.report, name="reports"),
    path("reports/<slug:table>.csv", views.report_csv, name="reports-csv"),
]
