from django.apps import AppConfig
from django.db.models.signals import post_migrate


class HospitalConfig(AppConfig):
    name = "hospital"
    verbose_name = "Hospital"

    def ready(self):
        from . import authcache
        from .roles import sync_roles_after_migrate

        authcache.connect_signals()

        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="hospital.sync_roles")
