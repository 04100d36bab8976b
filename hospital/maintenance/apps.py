from django.apps import AppConfig


class MaintenanceConfig(AppConfig):
    name = "hospital.maintenance"
    label = "maintenance"
    verbose_name = "Maintenance"
    default_auto_field = "django.db.models.BigAutoField"
