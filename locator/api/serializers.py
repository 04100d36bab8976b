"""Serializers of the locator API: tags, location history, zone events."""

from rest_framework import serializers

from hospital.facility.api.serializers import NestedFloorSerializer, NestedRoomSerializer

from ..models import LocationHistory, Tag, ZoneEvent


class TagSerializer(serializers.ModelSerializer):
    asset_number = serializers.CharField(source="asset.asset_number", read_only=True, allow_null=True)

    class Meta:
        model = Tag
        fields = ["id", "tag_id", "kind", "mac_address", "asset", "asset_number", "is_reference", "ref_floor",
                  "ref_x", "ref_y", "ref_z", "battery_pct", "last_seen_at"]


class LocationHistorySerializer(serializers.ModelSerializer):
    floor = NestedFloorSerializer(read_only=True, allow_null=True)
    room = NestedRoomSerializer(read_only=True, allow_null=True)

    class Meta:
        model = LocationHistory
        fields = ["t", "floor", "room", "x", "y", "accuracy_m", "reason"]


class ZoneEventSerializer(serializers.ModelSerializer):
    tag_id = serializers.CharField(source="tag.tag_id", read_only=True)

    class Meta:
        model = ZoneEvent
        fields = ["id", "tag", "tag_id", "zone", "kind", "t"]
