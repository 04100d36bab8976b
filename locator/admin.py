from django.contrib import admin

from .models import (
    AssetEvent,
    CalibrationChange,
    CurrentLocation,
    LocationHistory,
    SurveyPoint,
    Tag,
    ZoneEvent,
)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("tag_id", "kind", "asset", "is_reference", "battery_pct", "last_seen_at")
    list_filter = ("kind", "is_reference")
    search_fields = ("tag_id", "mac_address", "asset__asset_number", "asset__serial_number")
    list_select_related = ("asset__asset_type",)
    readonly_fields = ("created_at", "updated_at", "battery_pct", "last_seen_at")
    raw_id_fields = ("asset",)


@admin.register(CurrentLocation)
class CurrentLocationAdmin(admin.ModelAdmin):
    list_display = ("tag", "asset", "floor", "room", "accuracy_m", "method", "gateways_heard", "last_seen_at")
    list_filter = ("floor", "method", "room__room_type", "moving")
    search_fields = ("tag__tag_id", "tag__asset__asset_number", "room__number")
    list_select_related = ("tag__asset__asset_type", "floor", "room")
    readonly_fields = [f.name for f in CurrentLocation._meta.fields]

    @admin.display(description="Asset")
    def asset(self, obj):
        return obj.tag.asset or "—"

    def has_add_permission(self, request):
        return False


@admin.register(LocationHistory)
class LocationHistoryAdmin(admin.ModelAdmin):
    list_display = ("t", "tag", "floor", "room", "reason", "accuracy_m")
    list_filter = ("reason", "floor")
    search_fields = ("tag__tag_id", "tag__asset__asset_number", "room__number")
    list_select_related = ("tag", "floor", "room")
    date_hierarchy = "t"
    readonly_fields = ("tag", "t", "floor", "room", "x", "y", "accuracy_m", "reason")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False


@admin.register(ZoneEvent)
class ZoneEventAdmin(admin.ModelAdmin):
    list_display = ("t", "tag", "zone", "kind")
    list_filter = ("kind", "zone__kind", "zone")
    search_fields = ("tag__tag_id", "tag__asset__asset_number", "zone__name")
    list_select_related = ("tag", "zone")
    readonly_fields = ("tag", "zone", "kind", "t")

    def has_add_permission(self, request):
        return False


@admin.register(CalibrationChange)
class CalibrationChangeAdmin(admin.ModelAdmin):
    list_display = ("t", "gateway", "source", "old_ref_power_dbm", "new_ref_power_dbm", "old_exponent", "new_exponent",
                    "samples", "rmse_db")
    list_filter = ("source", "gateway__floor")
    search_fields = ("gateway__gateway_id", "note")
    date_hierarchy = "t"
    readonly_fields = [f.name for f in CalibrationChange._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SurveyPoint)
class SurveyPointAdmin(admin.ModelAdmin):
    list_display = ("survey", "gateway", "floor", "x", "y", "rssi")
    list_filter = ("survey", "floor")
    search_fields = ("survey", "gateway__gateway_id")
    readonly_fields = ("gateway", "floor", "x", "y", "z", "rssi", "t", "survey")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False


@admin.register(AssetEvent)
class AssetEventAdmin(admin.ModelAdmin):
    list_display = ("t", "asset", "kind", "floor", "room", "zone", "detail")
    list_filter = ("kind", "floor")
    search_fields = ("asset__asset_number", "asset__serial_number", "detail")
    list_select_related = ("asset__asset_type", "floor", "room", "zone")
    date_hierarchy = "t"
    readonly_fields = ("asset", "kind", "t", "floor", "room", "zone", "detail")

    def has_add_permission(self, request):
        return False
