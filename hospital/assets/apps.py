from django.apps import AppConfig


class AssetsConfig(AppConfig):
    name = "hospital.assets"
    label = "assets"
    verbose_name = "Assets"
