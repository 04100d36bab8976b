"""Serializers of the asset API. An asset comes with where it is now (``location``), from its tag's
current fix or, for fixed equipment without a fix, from the room it is installed in."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from hospital.facility.api.serializers import (
    NestedDepartmentSerializer,
    NestedFloorSerializer,
    NestedRoomSerializer,
)
from hospital.facility.models import Department, Room

from ..choices import AssetStatus
from ..models import Asset, AssetType


class AssetTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = AssetType
        fields = ["id", "code", "name", "category", "risk_class", "pm_interval_days", "pm_interval_hours",
                  "calibration_interval_days", "is_mobile"]


class NestedAssetTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = AssetType
        fields = ["id", "code", "name", "category"]


class AssetLocationSerializer(serializers.Serializer):
    """Where an asset is now. ``source`` says how it is known: ``tag`` (a position fix of its BLE tag,
    with accuracy and last-seen time) or ``installed`` (fixed equipment: its room's centre)."""

    source = serializers.ChoiceField(choices=["tag", "installed"])
    floor = NestedFloorSerializer(allow_null=True)
    room = NestedRoomSerializer(allow_null=True)
    x = serializers.FloatField(help_text="Floor metres, east.")
    y = serializers.FloatField(help_text="Floor metres, north.")
    accuracy_m = serializers.FloatField(allow_null=True, help_text="Radius of the position's uncertainty.")
    last_seen_at = serializers.DateTimeField(allow_null=True, help_text="Last time any gateway heard the tag.")
    fixed_at = serializers.DateTimeField(allow_null=True)
    room_since = serializers.DateTimeField(allow_null=True)
    moving = serializers.BooleanField(allow_null=True)


class NestedTagSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    tag_id = serializers.CharField()
    battery_pct = serializers.FloatField(allow_null=True)


def current_location(asset) -> dict | None:
    """The ``AssetLocationSerializer`` data of an asset, from rows already joined (no query)."""
    tag = getattr(asset, "tag", None)
    location = getattr(tag, "location", None) if tag is not None else None
    if location is not None:
        return {
            "source": "tag", "floor": location.floor, "room": location.room, "x": location.x, "y": location.y,
            "accuracy_m": location.accuracy_m, "last_seen_at": location.last_seen_at, "fixed_at": location.fixed_at,
            "room_since": location.room_since, "moving": location.moving,
        }
    room = asset.installed_room
    if room is not None:
        return {
            "source": "installed", "floor": room.floor, "room": room, "x": room.centroid_x, "y": room.centroid_y,
            "accuracy_m": None, "last_seen_at": None, "fixed_at": None, "room_since": None, "moving": None,
        }
    return None


class AssetSerializer(serializers.ModelSerializer):
    asset_type = NestedAssetTypeSerializer(read_only=True)
    asset_type_id = serializers.PrimaryKeyRelatedField(
        source="asset_type", queryset=AssetType.objects.all(), write_only=True
    )
    home_department = NestedDepartmentSerializer(read_only=True, allow_null=True)
    home_department_id = serializers.PrimaryKeyRelatedField(
        source="home_department", queryset=Department.objects.all(), write_only=True, required=False,
        allow_null=True,
    )
    installed_room = NestedRoomSerializer(read_only=True, allow_null=True)
    installed_room_id = serializers.PrimaryKeyRelatedField(
        source="installed_room", queryset=Room.objects.all(), write_only=True, required=False, allow_null=True
    )
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    tag = serializers.SerializerMethodField()
    location = serializers.SerializerMethodField()
    distance_m = serializers.SerializerMethodField()

    class Meta:
        model = Asset
        fields = ["id", "asset_number", "asset_type", "asset_type_id", "manufacturer", "model", "serial_number",
                  "udi", "home_department", "home_department_id", "installed_room", "installed_room_id", "status",
                  "status_display", "commissioned_on", "notes", "tag", "location", "distance_m", "updated_at"]

    def _nested(self, cls):
        """One instance of ``cls`` per serializer, reused for every row: building a serializer copies all its
        fields, which per row cost more than the rest of a page (a list of 50 took ~90 ms, see
        docs/api.md, Performance)."""
        nested = self.__dict__.setdefault("_nested_serializers", {})
        if cls not in nested:
            nested[cls] = cls()
        return nested[cls]

    @extend_schema_field(NestedTagSerializer(allow_null=True))
    def get_tag(self, asset):
        tag = getattr(asset, "tag", None)
        return None if tag is None else self._nested(NestedTagSerializer).to_representation(tag)

    @extend_schema_field(AssetLocationSerializer(allow_null=True))
    def get_location(self, asset):
        data = current_location(asset)
        return None if data is None else self._nested(AssetLocationSerializer).to_representation(data)

    @extend_schema_field(serializers.FloatField(allow_null=True, help_text=(
        "With ?near=<room>: horizontal distance in metres from that room's centre (floor frame).")))
    def get_distance_m(self, asset):
        distance = getattr(asset, "distance_m", None)
        return None if distance is None else round(distance, 2)


class AssetStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=AssetStatus.choices)
