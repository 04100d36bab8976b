"""Read-only view sets of the facility: sites, buildings, floors, departments, rooms, zones."""

from hospital.api.viewsets import ReadOnlyModelViewSet

from .. import filtersets
from ..models import Building, Department, Floor, Room, Site, Zone
from . import serializers


class SiteViewSet(ReadOnlyModelViewSet):
    queryset = Site.objects.all()
    serializer_class = serializers.SiteSerializer
    filterset_class = filtersets.SiteFilterSet


class BuildingViewSet(ReadOnlyModelViewSet):
    queryset = Building.objects.all()
    serializer_class = serializers.BuildingSerializer
    filterset_class = filtersets.BuildingFilterSet


class DepartmentViewSet(ReadOnlyModelViewSet):
    queryset = Department.objects.all()
    serializer_class = serializers.DepartmentSerializer
    filterset_class = filtersets.DepartmentFilterSet


class FloorViewSet(ReadOnlyModelViewSet):
    queryset = Floor.objects.select_related("building")
    serializer_class = serializers.FloorSerializer
    filterset_class = filtersets.FloorFilterSet


class RoomViewSet(ReadOnlyModelViewSet):
    queryset = Room.objects.select_related("floor", "department")
    serializer_class = serializers.RoomSerializer
    filterset_class = filtersets.RoomFilterSet


class ZoneViewSet(ReadOnlyModelViewSet):
    queryset = Zone.objects.all()
    serializer_class = serializers.ZoneSerializer
    filterset_class = filtersets.ZoneFilterSet
