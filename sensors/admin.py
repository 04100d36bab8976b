from django.contrib import admin

from .models import Gateway, Sensor


@admin.register(Gateway)
class GatewayAdmin(admin.ModelAdmin):
    list_display = ("gateway_id", "floor", "room", "status", "enabled", "last_seen_at", "ref_power_dbm", "path_loss_exponent")
    list_filter = ("status", "enabled", "site", "floor")
    search_fields = ("gateway_id", "room__number", "room__name")
    list_select_related = ("floor__building", "room")
    readonly_fields = ("created_at", "updated_at", "last_seen_at")


@admin.register(Sensor)
class SensorAdmin(admin.ModelAdmin):
    list_display = ("sensor_id", "name", "ble_format", "room", "asset", "profile", "battery_pct", "last_seen_at", "calibration_due_on")
    list_filter = ("ble_format", "profile", "room__floor", "room__room_type")
    search_fields = ("sensor_id", "name", "mac_address", "room__number", "asset__asset_number")
    list_select_related = ("room", "asset__asset_type")
    readonly_fields = ("created_at", "updated_at", "battery_pct", "last_seen_at")
