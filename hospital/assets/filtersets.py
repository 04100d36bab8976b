"""Filters of the asset API, including ``near``: "find equipment" ordered by how far it is."""

import django_filters
from django.db.models import Case, ExpressionWrapper, F, FloatField, IntegerField, Q, Value, When
from django.db.models.functions import Abs, Coalesce, Sqrt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from hospital.api.filters import IdMultipleChoiceFilter
from hospital.facility.filtersets import SearchFilterSet
from hospital.facility.models import Department, Room

from .choices import AssetCategory, AssetStatus, RiskClass
from .models import Asset, AssetType


class AssetTypeFilterSet(SearchFilterSet):
    search_fields = ["code", "name"]
    category = django_filters.MultipleChoiceFilter(choices=AssetCategory.choices)
    risk_class = django_filters.MultipleChoiceFilter(choices=RiskClass.choices)

    class Meta:
        model = AssetType
        fields = ["code", "is_mobile"]


def order_by_nearness(queryset, room: Room):
    """Located assets first: same building, then the fewest floors away, then the horizontal distance
    from the room's centroid (annotated as ``distance_m``); assets with no location last."""
    floor = room.floor
    x = Coalesce(F("tag__location__x"), F("installed_room__centroid_x"))
    y = Coalesce(F("tag__location__y"), F("installed_room__centroid_y"))
    queryset = queryset.annotate(
        near_x=x,
        near_y=y,
        near_level=Coalesce(F("tag__location__floor__level"), F("installed_room__floor__level")),
        near_building=Coalesce(F("tag__location__floor__building"), F("installed_room__floor__building")),
    ).annotate(
        near_unlocated=Case(When(near_x__isnull=True, then=Value(1)), default=Value(0), output_field=IntegerField()),
        near_other_building=Case(
            When(near_building=floor.building_id, then=Value(0)), default=Value(1), output_field=IntegerField()
        ),
        near_floor_gap=Abs(F("near_level") - Value(floor.level)),
        distance_m=Sqrt(ExpressionWrapper(
            (F("near_x") - Value(room.centroid_x)) * (F("near_x") - Value(room.centroid_x))
            + (F("near_y") - Value(room.centroid_y)) * (F("near_y") - Value(room.centroid_y)),
            output_field=FloatField(),
        )),
    )
    return queryset.order_by(
        "near_unlocated", "near_other_building", F("near_floor_gap").asc(nulls_last=True),
        F("distance_m").asc(nulls_last=True), "asset_number",
    )


@extend_schema_field(OpenApiTypes.STR)
class AssetTypeCodeFilter(django_filters.ModelMultipleChoiceFilter):
    """Asset types given by their codes (repeat the parameter for more than one)."""


@extend_schema_field(OpenApiTypes.INT)
class RoomFilter(django_filters.ModelChoiceFilter):
    """A room given by its id."""


class AssetFilterSet(SearchFilterSet):
    """Assets by type, category, status, department and where they are now; ``near`` orders by distance."""

    search_fields = ["asset_number", "serial_number", "udi", "manufacturer", "model", "asset_type__name",
                     "asset_type__code", "tag__tag_id"]
    type = AssetTypeCodeFilter(
        field_name="asset_type__code", to_field_name="code", queryset=AssetType.objects.all(), label="Asset type code",
        distinct=False,
    )
    type_id = IdMultipleChoiceFilter(
        field_name="asset_type", queryset=AssetType.objects.all(), label="Asset type id", distinct=False
    )
    # distinct=False: these follow the asset's own columns and forward keys, which never repeat a row.
    # django-filter's default DISTINCT over the near-ordered select took PostgreSQL ~25 ms to plan.
    category = django_filters.MultipleChoiceFilter(field_name="asset_type__category", choices=AssetCategory.choices,
                                                   distinct=False)
    risk_class = django_filters.MultipleChoiceFilter(field_name="asset_type__risk_class", choices=RiskClass.choices,
                                                     distinct=False)
    status = django_filters.MultipleChoiceFilter(choices=AssetStatus.choices, distinct=False)
    department = django_filters.ModelChoiceFilter(
        field_name="home_department", queryset=Department.objects.all(), label="Home department id"
    )
    floor = django_filters.NumberFilter(method="filter_floor", label="Floor id where the asset is now")
    room = django_filters.NumberFilter(method="filter_room", label="Room id where the asset is now")
    tagged = django_filters.BooleanFilter(field_name="tag", lookup_expr="isnull", exclude=True,
                                          label="Has a BLE tag")
    near = RoomFilter(
        queryset=Room.objects.select_related("floor"), method="filter_near",
        label="Room id: order by floor, then distance from this room's centre",
    )

    class Meta:
        model = Asset
        fields = ["asset_number", "serial_number", "manufacturer"]

    def filter_floor(self, queryset, name, value):
        return queryset.filter(
            Q(tag__location__floor=value) | Q(tag__location__isnull=True, installed_room__floor=value)
        )

    def filter_room(self, queryset, name, value):
        return queryset.filter(
            Q(tag__location__room=value) | Q(tag__location__isnull=True, installed_room=value)
        )

    def filter_near(self, queryset, name, value):
        return order_by_nearness(queryset, value)
