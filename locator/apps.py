from django.apps import AppConfig


class LocatorConfig(AppConfig):
    name = "locator"
    verbose_name = "Locator"
