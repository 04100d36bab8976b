from django.contrib import admin

from .models import Building, Department, Floor, Room, Site, Zone

AUDIT = ("created_at", "updated_at")


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "timezone", "updated_at")
    search_fields = ("name", "code", "address")
    readonly_fields = AUDIT


@admin.register(Building)
class BuildingAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "site")
    list_filter = ("site",)
    search_fields = ("name", "code")
    readonly_fields = AUDIT


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "site")
    list_filter = ("site",)
    search_fields = ("name", "code")
    readonly_fields = AUDIT


class RoomInline(admin.TabularInline):
    model = Room
    fields = ("number", "name", "room_type", "department", "area_m2")
    readonly_fields = ("area_m2",)
    extra = 0
    show_change_link = True


@admin.register(Floor)
class FloorAdmin(admin.ModelAdmin):
    list_display = ("name", "building", "level", "elevation_m", "room_count", "plan_svg")
    list_filter = ("building",)
    search_fields = ("name",)
    readonly_fields = (*AUDIT, "drawing")
    inlines = [RoomInline]

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(n_rooms=Count("rooms"))

    @admin.display(description="Rooms", ordering="n_rooms")
    def room_count(self, obj):
        return obj.n_rooms

    @admin.display(description="Floor plan")
    def drawing(self, obj):
        from django.urls import reverse
        from django.utils.html import format_html

        if not obj.pk or not obj.plan_svg:
            return "—"
        url = reverse("floor-plan-svg", args=[obj.pk])
        return format_html('<img src="{}" style="max-width:100%;background:#fff" alt="Plan of {}">', url, obj)


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("number", "name", "room_type", "department", "floor", "area_m2")
    list_filter = ("room_type", "floor__building", "floor", "department")
    search_fields = ("number", "name", "department__name")
    list_select_related = ("floor__building", "department")
    readonly_fields = (*AUDIT, "centroid_x", "centroid_y", "area_m2")


@admin.register(Zone)
class ZoneAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "kind", "floor", "area_m2")
    list_filter = ("kind", "floor")
    search_fields = ("name", "code")
    readonly_fields = (*AUDIT, "centroid_x", "centroid_y", "area_m2")
