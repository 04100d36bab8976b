"""Serializers of the facility API (read only: the facility model changes through floor-plan imports)."""

from rest_framework import serializers

from ..models import Building, Department, Floor, Room, Site, Zone


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = ["id", "code", "name", "address", "timezone"]


class BuildingSerializer(serializers.ModelSerializer):
    class Meta:
        model = Building
        fields = ["id", "site", "code", "name"]


class DepartmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Department
        fields = ["id", "site", "code", "name"]


class FloorSerializer(serializers.ModelSerializer):
    building_code = serializers.CharField(source="building.code", read_only=True)

    class Meta:
        model = Floor
        fields = ["id", "building", "building_code", "level", "name", "elevation_m", "height_m", "width_m",
                  "depth_m"]


class NestedFloorSerializer(serializers.ModelSerializer):
    """A floor inside another object: enough to label it and to link to it."""

    class Meta:
        model = Floor
        fields = ["id", "level", "name"]


class NestedRoomSerializer(serializers.ModelSerializer):
    class Meta:
        model = Room
        fields = ["id", "number", "name"]


class NestedDepartmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Department
        fields = ["id", "code", "name"]


class RoomSerializer(serializers.ModelSerializer):
    floor = NestedFloorSerializer(read_only=True)
    department = NestedDepartmentSerializer(read_only=True, allow_null=True)
    room_type_display = serializers.CharField(source="get_room_type_display", read_only=True)
    polygon = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2), read_only=True,
        help_text="Outline as [[x, y], ...] in floor metres.",
    )

    class Meta:
        model = Room
        fields = ["id", "floor", "number", "name", "room_type", "room_type_display", "department", "centroid_x",
                  "centroid_y", "area_m2", "polygon"]


class ZoneSerializer(serializers.ModelSerializer):
    polygon = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2), read_only=True,
        help_text="Outline as [[x, y], ...] in floor metres.",
    )

    class Meta:
        model = Zone
        fields = ["id", "floor", "code", "name", "kind", "centroid_x", "centroid_y", "area_m2", "polygon"]
