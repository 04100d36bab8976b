"""Serializers of the alarm API."""

from rest_framework import serializers

from ..models import Alarm, AlarmAction, AlarmEvent


class AlarmActionSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True, help_text="pending, applied or rejected")

    class Meta:
        model = AlarmAction
        fields = ["id", "kind", "username", "created_at", "text", "until", "status", "applied_at", "result"]


class AlarmEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AlarmEvent
        fields = ["id", "t", "from_state", "to_state", "priority", "value", "reason"]


class AlarmSerializer(serializers.ModelSerializer):
    sensor = serializers.SlugRelatedField(slug_field="sensor_id", read_only=True)
    gateway = serializers.SlugRelatedField(slug_field="gateway_id", read_only=True)
    actions = AlarmActionSerializer(many=True, read_only=True)

    class Meta:
        model = Alarm
        fields = ["id", "key", "rule", "sensor", "gateway", "title", "profile", "quantity", "kind", "threshold",
                  "message", "source", "state", "priority", "since", "value", "occurrences", "occurred_at",
                  "actions"]


class ActionRequestSerializer(serializers.Serializer):
    """What an operator sends: a comment or reason, and for shelving how long (at most a day)."""

    text = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    minutes = serializers.IntegerField(required=False, min_value=1, max_value=24 * 60)
