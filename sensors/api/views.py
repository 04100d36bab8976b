"""Gateways (with their loss counters), sensors, readings and ingest's operator tables, read only."""

from hospital.api.pagination import TimeCursorPagination
from hospital.api.viewsets import ReadOnlyModelViewSet

from .. import filtersets
from ..models import DeadLetter, DiscoveredDevice, Gateway, IngestCounter, IngestStatus, Reading, Sensor
from . import serializers


class GatewayViewSet(ReadOnlyModelViewSet):
    queryset = Gateway.objects.select_related("floor", "room")
    serializer_class = serializers.GatewaySerializer
    filterset_class = filtersets.GatewayFilterSet


class SensorViewSet(ReadOnlyModelViewSet):
    queryset = Sensor.objects.select_related("room", "asset")
    serializer_class = serializers.SensorSerializer
    filterset_class = filtersets.SensorFilterSet


class ReadingViewSet(ReadOnlyModelViewSet):
    """Readings newest first, a page at a time by a time cursor (cheap however deep one pages)."""

    queryset = Reading.objects.all()
    serializer_class = serializers.ReadingSerializer
    filterset_class = filtersets.ReadingFilterSet
    pagination_class = TimeCursorPagination


class DiscoveredDeviceViewSet(ReadOnlyModelViewSet):
    queryset = DiscoveredDevice.objects.all()
    serializer_class = serializers.DiscoveredDeviceSerializer
    filterset_class = filtersets.DiscoveredDeviceFilterSet


class DeadLetterCursorPagination(TimeCursorPagination):
    ordering = ("-received_at", "-pk")


class DeadLetterViewSet(ReadOnlyModelViewSet):
    queryset = DeadLetter.objects.all()
    serializer_class = serializers.DeadLetterSerializer
    filterset_class = filtersets.DeadLetterFilterSet
    pagination_class = DeadLetterCursorPagination


class IngestCounterViewSet(ReadOnlyModelViewSet):
    queryset = IngestCounter.objects.all()
    serializer_class = serializers.IngestCounterSerializer
    filterset_class = filtersets.IngestCounterFilterSet


class IngestStatusViewSet(ReadOnlyModelViewSet):
    """One row per ingest process: keeping up, or shedding load (tag sightings only)."""

    queryset = IngestStatus.objects.all()
    serializer_class = serializers.IngestStatusSerializer
    filterset_class = filtersets.IngestStatusFilterSet
