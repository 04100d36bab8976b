"""``manage.py check --deploy`` reminds production that administrators should need a second factor."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def admin_two_factor_required(app_configs=None, **kwargs):
    if getattr(settings, "ADMIN_2FA_REQUIRED", False):
        return []
    return [Warning(
        "ADMIN_2FA_REQUIRED is off: administrators can log in with a password alone.",
        hint="Set ADMIN_2FA_REQUIRED=1 in production (docs/security.md).",
        id="twofactor.W001",
    )]
