"""Filters of the facility API. ``q`` is a free-text search on every list."""

import django_filters
from django.db.models import Q

from .choices import RoomType, ZoneKind
from .models import Building, Department, Floor, Room, Site, Zone


def search(queryset, fields: list[str], value: str):
    """Every word of ``value`` must match at least one of ``fields`` (case-insensitive contains)."""
    for word in value.split():
        condition = Q()
        for field in fields:
            condition |= Q(**{f"{field}__icontains": word})
        queryset = queryset.filter(condition)
    return queryset


class SearchFilterSet(django_filters.FilterSet):
    search_fields: list[str] = []
    q = django_filters.CharFilter(method="filter_q", label="Search")

    def filter_q(self, queryset, name, value):
        return search(queryset, self.search_fields, value)


class SiteFilterSet(SearchFilterSet):
    search_fields = ["code", "name"]

    class Meta:
        model = Site
        fields = ["code"]


class BuildingFilterSet(SearchFilterSet):
    search_fields = ["code", "name"]

    class Meta:
        model = Building
        fields = ["site", "code"]


class DepartmentFilterSet(SearchFilterSet):
    search_fields = ["code", "name"]

    class Meta:
        model = Department
        fields = ["site", "code"]


class FloorFilterSet(SearchFilterSet):
    search_fields = ["name"]
    site = django_filters.NumberFilter(field_name="building__site")

    class Meta:
        model = Floor
        fields = ["building", "level"]


class RoomFilterSet(SearchFilterSet):
    """Rooms by floor, type and department; ``q`` searches number and name."""

    search_fields = ["number", "name"]
    room_type = django_filters.MultipleChoiceFilter(choices=RoomType.choices)
    type = django_filters.MultipleChoiceFilter(field_name="room_type", choices=RoomType.choices,
                                               label="Room type (same as room_type)")
    building = django_filters.NumberFilter(field_name="floor__building")
    number = django_filters.CharFilter(field_name="number", lookup_expr="iexact")

    class Meta:
        model = Room
        fields = ["floor", "department"]


class ZoneFilterSet(SearchFilterSet):
    search_fields = ["code", "name"]
    kind = django_filters.MultipleChoiceFilter(choices=ZoneKind.choices)

    class Meta:
        model = Zone
        fields = ["floor"]
