"""Serializers of the sensors API. Secrets stay server-side: a gateway's MQTT password hash and a
sensor's BTHome bindkey are never serialized (``encrypted`` says whether a sensor has a key)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from hospital.facility.api.serializers import NestedFloorSerializer, NestedRoomSerializer

from ..choices import GatewayStatus
from ..models import DeadLetter, DiscoveredDevice, Gateway, IngestCounter, IngestStatus, Reading, Sensor


@extend_schema_field({"type": "string", "description": "Connection status: one of "
                      + ", ".join(f"`{value}` ({label})" for value, label in GatewayStatus.choices)})
class GatewayStatusField(serializers.ChoiceField):
    """Documented as a string, not an enum: drf-spectacular would name both this enum and the asset
    status enum ``StatusEnum`` and warn, unless ENUM_NAME_OVERRIDES in settings names them."""

    def __init__(self, **kwargs):
        super().__init__(choices=GatewayStatus.choices, **kwargs)


class GatewaySerializer(serializers.ModelSerializer):
    floor = NestedFloorSerializer(read_only=True)
    room = NestedRoomSerializer(read_only=True, allow_null=True)
    status = GatewayStatusField(read_only=True)

    class Meta:
        model = Gateway
        fields = ["id", "gateway_id", "site", "floor", "room", "x", "y", "z", "enabled", "status", "last_seen_at",
                  "boot_id", "last_seq", "batches_received", "batches_duplicated", "batches_lost",
                  "batches_recovered", "advertisements_received", "advertisements_rejected"]


class NestedAssetSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    asset_number = serializers.CharField()


class SensorSerializer(serializers.ModelSerializer):
    room = NestedRoomSerializer(read_only=True, allow_null=True)
    asset = NestedAssetSerializer(read_only=True, allow_null=True)
    encrypted = serializers.SerializerMethodField()

    class Meta:
        model = Sensor
        fields = ["id", "sensor_id", "name", "mac_address", "ble_format", "encrypted", "room", "asset", "profile",
                  "measurement_map", "report_interval_s", "calibrated_on", "calibration_due_on", "battery_pct",
                  "last_seen_at"]

    @extend_schema_field(serializers.BooleanField())
    def get_encrypted(self, sensor) -> bool:
        return bool(sensor.bindkey)


class ReadingSerializer(serializers.ModelSerializer):
    class Meta:
        model = Reading
        fields = ["id", "sensor", "quantity", "t", "value"]


class DiscoveredDeviceSerializer(serializers.ModelSerializer):
    class Meta:
        model = DiscoveredDevice
        fields = ["id", "tag_id", "address", "formats", "identity", "last_measurements", "first_seen_at",
                  "last_seen_at", "last_gateway", "last_rssi", "times_heard", "ignored"]


class DeadLetterSerializer(serializers.ModelSerializer):
    payload_preview = serializers.CharField(read_only=True, help_text="The first 500 bytes as text.")

    class Meta:
        model = DeadLetter
        fields = ["id", "received_at", "topic", "gateway_id", "reason", "payload_size", "payload_preview"]


class IngestCounterSerializer(serializers.ModelSerializer):
    class Meta:
        model = IngestCounter
        fields = ["id", "name", "value", "updated_at"]


class IngestStatusSerializer(serializers.ModelSerializer):
    class Meta:
        model = IngestStatus
        fields = ["id", "client_id", "site", "shedding", "shedding_since", "keep_one_in", "lag_s", "backlog",
                  "sightings_shed", "detail", "heartbeat_at"]
