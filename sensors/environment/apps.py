from django.apps import AppConfig


class EnvironmentConfig(AppConfig):
    name = "sensors.environment"
    label = "environment"
    verbose_name = "Environmental monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from locator.services import register_room_state_provider

        from . import notify, signals  # noqa: F401 - registers the notification channels and the audit hooks
        from .room_states import room_states

        register_room_state_provider(room_states)  # the live map tints rooms by their alarms
