from django.apps import AppConfig


class TwoFactorConfig(AppConfig):
    name = "hospital.twofactor"
    label = "twofactor"
    verbose_name = "Two-factor login"

    def ready(self):
        from django.contrib import admin

        from . import checks, signals  # noqa: F401 - checks registers the deploy check

        signals.connect()
        from .views import admin_login

        # The admin's own login form takes only a password: send it to ours, which asks for the code too.
        admin.site.login = admin_login
