"""Admin: users get a "two-factor" column, a filter and a reset action (lost phone); django-otp's device
lists also show the count of wrong codes since the last right one."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Exists, OuterRef
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import devices

User = get_user_model()


def _enrolled():
    return Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)) | Exists(
        StaticDevice.objects.filter(user=OuterRef("pk"), confirmed=True))


class TwoFactorFilter(admin.SimpleListFilter):
    title = "two-factor login"
    parameter_name = "two_factor"

    def lookups(self, request, model_admin):
        return [("on", "On"), ("off", "Off")]

    def queryset(self, request, queryset):
        if self.value() == "on":
            return queryset.filter(_enrolled())
        if self.value() == "off":
            return queryset.exclude(_enrolled())
        return queryset


class TwoFactorUserAdmin(UserAdmin):
    list_display = (*UserAdmin.list_display, "two_factor")
    list_filter = (*UserAdmin.list_filter, TwoFactorFilter)
    actions = ["reset_two_factor"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(has_two_factor=_enrolled())

    @admin.display(boolean=True, description="two-factor", ordering="has_two_factor")
    def two_factor(self, user):
        return user.has_two_factor

    @admin.action(description="Reset two-factor login (lost phone): remove authenticator and backup codes",
                  permissions=["change"])
    def reset_two_factor(self, request, queryset):
        removed = sum(devices.reset(user, request.user) for user in queryset)
        self.message_user(request, f"Two-factor login reset for {queryset.count()} user(s); {removed} device(s) "
                                   "removed. They log in with their password and set it up again.", messages.SUCCESS)


class FailuresMixin:
    @admin.display(description="wrong codes", ordering="throttling_failure_count")
    def wrong_codes(self, device):
        return device.throttling_failure_count


class TOTPAdmin(FailuresMixin, TOTPDeviceAdmin):
    list_display = [*TOTPDeviceAdmin.list_display, "wrong_codes"]


class StaticAdmin(FailuresMixin, StaticDeviceAdmin):
    list_display = [*StaticDeviceAdmin.list_display, "wrong_codes"]


for model, model_admin in ((User, TwoFactorUserAdmin), (TOTPDevice, TOTPAdmin), (StaticDevice, StaticAdmin)):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
