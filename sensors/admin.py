from django.contrib import admin

from .models import (
    BatchReceipt,
    DeadLetter,
    DiscoveredDevice,
    Gateway,
    IngestCounter,
    IngestStatus,
    Reading,
    Sensor,
)


@admin.register(Gateway)
class GatewayAdmin(admin.ModelAdmin):
    list_display = (
        "gateway_id", "floor", "room", "status", "enabled", "last_seen_at", "batches_received", "batches_lost",
        "batches_recovered", "batches_duplicated", "advertisements_rejected",
    )
    list_filter = ("status", "enabled", "site", "floor")
    search_fields = ("gateway_id", "room__number", "room__name")
    list_select_related = ("floor__building", "room")
    readonly_fields = (
        "created_at", "updated_at", "last_seen_at", "boot_id", "last_seq", "batches_received", "batches_duplicated",
        "batches_lost", "batches_recovered", "advertisements_received", "advertisements_rejected",
    )


@admin.register(Sensor)
class SensorAdmin(admin.ModelAdmin):
    list_display = ("sensor_id", "name", "ble_format", "room", "asset", "profile", "battery_pct", "last_seen_at", "calibration_due_on")
    list_filter = ("ble_format", "profile", "room__floor", "room__room_type")
    search_fields = ("sensor_id", "name", "mac_address", "room__number", "asset__asset_number")
    list_select_related = ("room", "asset__asset_type")
    readonly_fields = ("created_at", "updated_at", "battery_pct", "last_seen_at")


@admin.register(Reading)
class ReadingAdmin(admin.ModelAdmin):
    list_display = ("t", "sensor", "quantity", "value")
    list_filter = ("quantity", "sensor__profile")
    search_fields = ("sensor__sensor_id", "sensor__name")
    list_select_related = ("sensor",)
    date_hierarchy = "t"
    readonly_fields = ("sensor", "quantity", "t", "value")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False  # readings come from sensors, never typed in

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(DiscoveredDevice)
class DiscoveredDeviceAdmin(admin.ModelAdmin):
    list_display = ("tag_id", "formats", "last_gateway", "last_rssi", "times_heard", "last_seen_at", "ignored")
    list_filter = ("ignored", "last_gateway")
    search_fields = ("tag_id", "address")
    readonly_fields = (
        "tag_id", "address", "formats", "identity", "last_measurements", "first_seen_at", "last_seen_at",
        "last_gateway", "last_rssi", "times_heard",
    )
    actions = ["enrol_as_tags", "ignore"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Enrol the selected devices as equipment tags", permissions=["change"])
    def enrol_as_tags(self, request, queryset):
        from locator.models import Tag, TagKind

        created = 0
        for device in queryset:
            kind = device.tag_id.split(":", 1)[0]
            kind = {"ibeacon": TagKind.IBEACON, "eddystone": TagKind.EDDYSTONE_UID}.get(kind, TagKind.MAC)
            _, was_created = Tag.objects.get_or_create(
                tag_id=device.tag_id, defaults={"kind": kind, "mac_address": device.address}
            )
            created += was_created
        queryset.delete()
        self.message_user(request, f"Enrolled {created} tag(s); link each to its asset on the tag page.")

    @admin.action(description="Ignore the selected devices", permissions=["change"])
    def ignore(self, request, queryset):
        queryset.update(ignored=True)


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = ("received_at", "gateway_id", "topic", "reason", "payload_size")
    list_filter = ("gateway_id",)
    search_fields = ("reason", "topic", "gateway_id")
    date_hierarchy = "received_at"
    readonly_fields = ("received_at", "topic", "gateway_id", "reason", "payload_size", "payload_preview")
    exclude = ("payload",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(IngestCounter)
class IngestCounterAdmin(admin.ModelAdmin):
    list_display = ("name", "value", "updated_at")
    list_filter = ("updated_at",)
    search_fields = ("name",)
    readonly_fields = ("name", "value", "updated_at")

    def has_add_permission(self, request):
        return False


@admin.register(IngestStatus)
class IngestStatusAdmin(admin.ModelAdmin):
    list_display = ("client_id", "site", "shedding", "keep_one_in", "lag_s", "backlog", "sightings_shed",
                    "shedding_since", "heartbeat_at")
    list_filter = ("shedding", "site")
    search_fields = ("client_id", "site", "detail")
    readonly_fields = ("client_id", "site", "shedding", "shedding_since", "keep_one_in", "lag_s", "backlog",
                       "sightings_shed", "detail", "heartbeat_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(BatchReceipt)
class BatchReceiptAdmin(admin.ModelAdmin):
    list_display = ("received_at", "gateway_id", "boot", "seq", "advertisements", "lost")
    list_filter = ("lost", "gateway_id")
    search_fields = ("gateway_id", "boot")
    date_hierarchy = "received_at"
    readonly_fields = ("gateway_id", "boot", "seq", "received_at", "advertisements", "lost")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
