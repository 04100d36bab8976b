from django.urls import path

from . import views

app_name = "twofactor"

urlpatterns = [
    path("", views.index, name="index"),
    path("code/", views.CodeView.as_view(), name="code"),
    path("enrol/", views.enrol, name="enrol"),
    path("backup-codes/", views.backup_codes, name="backup-codes"),
    path("disable/", views.disable, name="disable"),
]
