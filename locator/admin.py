from django.contrib import admin

from .models import CurrentLocation, LocationHistory, Tag, ZoneEvent


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
