from django.contrib import admin

from .models import Asset, AssetType

AUDIT = ("created_at", "updated_at", "updated_by")


@admin.register(AssetType)
class AssetTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "category", "risk_class", "pm_interval_days", "pm_interval_hours", "is_mobile")
    list_filter = ("category", "risk_class", "is_mobile")
    search_fields = ("name", "code")
    readonly_fields = ("created_at", "updated_at")


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ("asset_number", "asset_type", "manufacturer", "model", "serial_number", "status", "home_department")
    list_filter = ("status", "asset_type__category", "asset_type", "asset_type__risk_class", "home_department", "manufacturer")
    search_fields = ("asset_number", "serial_number", "udi", "manufacturer", "model", "asset_type__name")
    list_select_related = ("asset_type", "home_department")
    readonly_fields = AUDIT
    autocomplete_fields = ("asset_type",)

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)
