from django.apps import AppConfig


class MaintenanceConfig(AppConfig):
    name = "hospital.maintenance"
    label = "maintenance"
    verbose_name = "Maintenance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from locator.services import register_maintenance_provider

        def next_due(assets):
            from .services import due_summary

            ids = [a if isinstance(a, int) else a.pk for a in assets]
            return {asset: info["due_date"] for asset, info in due_summary(ids).items() if info["due_date"]}

        register_maintenance_provider(next_due)  # "maintenance due" in the live map's details
