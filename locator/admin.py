from django.contrib import admin

from .models import Tag


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("tag_id", "kind", "asset", "is_reference", "battery_pct", "last_seen_at")
    list_filter = ("kind", "is_reference")
    search_fields = ("tag_id", "mac_address", "asset__asset_number", "asset__serial_number")
    list_select_related = ("asset__asset_type",)
    readonly_fields = ("created_at", "updated_at", "battery_pct", "last_seen_at")
    raw_id_fields = ("asset",)
