from django.apps import AppConfig


class EnvironmentConfig(AppConfig):
    name = "sensors.environment"
    label = "environment"
    verbose_name = "Environmental monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import notify, signals  # noqa: F401 - registers the notification channels and the audit hooks
