"""Filters of the locator API."""

import django_filters

from hospital.api.filters import DateTimeFilter
from hospital.facility.filtersets import SearchFilterSet

from .models import LocationHistory, Tag, TagKind, ZoneEvent


class TimeRangeFilterSet(django_filters.FilterSet):
    since = DateTimeFilter(field_name="t", lookup_expr="gte", label="From (inclusive)")
    until = DateTimeFilter(field_name="t", lookup_expr="lt", label="Before")


class LocationHistoryFilterSet(TimeRangeFilterSet):
    class Meta:
        model = LocationHistory
        fields = ["since", "until"]


class TagFilterSet(SearchFilterSet):
    search_fields = ["tag_id", "mac_address", "asset__asset_number"]
    kind = django_filters.MultipleChoiceFilter(choices=TagKind.choices)
    assigned = django_filters.BooleanFilter(field_name="asset", lookup_expr="isnull", exclude=True,
                                            label="Attached to an asset")

    class Meta:
        model = Tag
        fields = ["tag_id", "asset", "is_reference"]


class ZoneEventFilterSet(TimeRangeFilterSet):
    kind = django_filters.ChoiceFilter(choices=ZoneEvent.Kind.choices)

    class Meta:
        model = ZoneEvent
        fields = ["zone", "tag", "kind", "since", "until"]
