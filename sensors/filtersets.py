"""Filters of the sensors API."""

import django_filters

from hospital.api.filters import DateTimeFilter, IdMultipleChoiceFilter
from hospital.facility.filtersets import SearchFilterSet

from .choices import BleFormat, GatewayStatus, Quantity
from .models import DeadLetter, DiscoveredDevice, Gateway, IngestCounter, IngestStatus, Reading, Sensor


class GatewayFilterSet(SearchFilterSet):
    search_fields = ["gateway_id"]
    status = django_filters.MultipleChoiceFilter(choices=GatewayStatus.choices)
    building = django_filters.NumberFilter(field_name="floor__building")

    class Meta:
        model = Gateway
        fields = ["site", "floor", "room", "enabled"]


class SensorFilterSet(SearchFilterSet):
    search_fields = ["sensor_id", "name", "mac_address", "profile"]
    ble_format = django_filters.MultipleChoiceFilter(choices=BleFormat.choices)
    floor = django_filters.NumberFilter(field_name="room__floor")

    class Meta:
        model = Sensor
        fields = ["room", "asset", "profile"]


class ReadingFilterSet(django_filters.FilterSet):
    """By sensor (id or ``sensor_id``), quantity and time range; newest first."""

    sensor = IdMultipleChoiceFilter(queryset=Sensor.objects.all(), label="Sensor id")
    sensor_id = django_filters.CharFilter(field_name="sensor__sensor_id", label="Sensor slug (sensor_id)")
    quantity = django_filters.MultipleChoiceFilter(choices=Quantity.choices)
    since = DateTimeFilter(field_name="t", lookup_expr="gte", label="From (inclusive)")
    until = DateTimeFilter(field_name="t", lookup_expr="lt", label="Before")

    class Meta:
        model = Reading
        fields = ["sensor", "sensor_id", "quantity", "since", "until"]


class DiscoveredDeviceFilterSet(SearchFilterSet):
    search_fields = ["tag_id", "address", "last_gateway"]
    seen_since = DateTimeFilter(field_name="last_seen_at", lookup_expr="gte")

    class Meta:
        model = DiscoveredDevice
        fields = ["ignored", "last_gateway"]


class DeadLetterFilterSet(SearchFilterSet):
    search_fields = ["topic", "gateway_id", "reason"]
    since = DateTimeFilter(field_name="received_at", lookup_expr="gte")
    until = DateTimeFilter(field_name="received_at", lookup_expr="lt")

    class Meta:
        model = DeadLetter
        fields = ["gateway_id"]


class IngestCounterFilterSet(SearchFilterSet):
    search_fields = ["name"]
    prefix = django_filters.CharFilter(field_name="name", lookup_expr="startswith")

    class Meta:
        model = IngestCounter
        fields = ["name"]


class IngestStatusFilterSet(SearchFilterSet):
    search_fields = ["client_id", "site"]

    class Meta:
        model = IngestStatus
        fields = ["shedding", "site"]
