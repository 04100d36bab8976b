"""Tags and zone events (read only). An asset's location history is ``/api/assets/{id}/history/``."""

from hospital.api.pagination import TimeCursorPagination
from hospital.api.viewsets import ReadOnlyModelViewSet

from .. import filtersets
from ..models import Tag, ZoneEvent
from . import serializers


class TagViewSet(ReadOnlyModelViewSet):
    queryset = Tag.objects.select_related("asset")
    serializer_class = serializers.TagSerializer
    filterset_class = filtersets.TagFilterSet


class ZoneEventViewSet(ReadOnlyModelViewSet):
    queryset = ZoneEvent.objects.select_related("tag")
    serializer_class = serializers.ZoneEventSerializer
    filterset_class = filtersets.ZoneEventFilterSet
    pagination_class = TimeCursorPagination
