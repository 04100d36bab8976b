"""Filters of the maintenance API (django-filter). Dates are inclusive; repeat a multiple-choice parameter
for more than one value (``?status=open&status=scheduled``)."""

import django_filters
from django.db.models import Q
from django.utils import timezone

from hospital.assets.choices import RiskClass
from hospital.assets.models import Asset, AssetType
from hospital.facility.models import Department

from .choices import PENDING_STATUSES, DueDriver, PlanKind, UsageSource, WorkOrderKind, WorkOrderStatus
from .models import (
    DailyUsage,
    FailureModel,
    Forecast,
    ForecastRun,
    MaintenancePlan,
    SafetyNotice,
    UsagePeriod,
    UsageRule,
    WorkOrder,
)


class SearchMixin(django_filters.FilterSet):
    search_fields: list[str] = []
    q = django_filters.CharFilter(method="filter_q", label="Search")

    def filter_q(self, queryset, name, value):
        cond = Q()
        for field in self.search_fields:
            cond |= Q(**{f"{field}__icontains": value.strip()})
        return queryset.filter(cond) if value.strip() else queryset


class MaintenancePlanFilterSet(SearchMixin):
    search_fields = ["name", "asset_type__name", "asset__asset_number"]
    kind = django_filters.MultipleChoiceFilter(choices=PlanKind.choices)
    risk_class = django_filters.MultipleChoiceFilter(choices=RiskClass.choices)
    override = django_filters.BooleanFilter(field_name="asset", lookup_expr="isnull", exclude=True,
                                            label="Per-asset overrides only (true) or type plans only (false)")

    class Meta:
        model = MaintenancePlan
        fields = ["asset_type", "asset", "active", "count_from"]


class WorkOrderFilterSet(SearchMixin):
    search_fields = ["title", "asset__asset_number", "asset__serial_number", "findings"]
    status = django_filters.MultipleChoiceFilter(choices=WorkOrderStatus.choices)
    kind = django_filters.MultipleChoiceFilter(choices=WorkOrderKind.choices)
    risk_class = django_filters.MultipleChoiceFilter(choices=RiskClass.choices)
    due_driver = django_filters.MultipleChoiceFilter(choices=DueDriver.choices)
    asset_number = django_filters.CharFilter(field_name="asset__asset_number")
    asset_type = django_filters.ModelChoiceFilter(field_name="asset__asset_type", queryset=AssetType.objects.all())
    department = django_filters.ModelChoiceFilter(field_name="asset__home_department", queryset=Department.objects.all())
    due_after = django_filters.DateFilter(field_name="due_date", lookup_expr="gte")
    due_before = django_filters.DateFilter(field_name="due_date", lookup_expr="lte")
    completed_after = django_filters.DateFilter(field_name="completed_at", lookup_expr="date__gte")
    completed_before = django_filters.DateFilter(field_name="completed_at", lookup_expr="date__lte")
    pending = django_filters.BooleanFilter(method="filter_pending", label="Not done or cancelled yet")
    overdue = django_filters.BooleanFilter(method="filter_overdue", label="Pending and past the due date")

    class Meta:
        model = WorkOrder
        fields = ["asset", "plan", "notice", "assigned_to", "demo"]

    def filter_pending(self, queryset, name, value):
        return queryset.filter(status__in=PENDING_STATUSES) if value else queryset.exclude(status__in=PENDING_STATUSES)

    def filter_overdue(self, queryset, name, value):
        cond = Q(status__in=PENDING_STATUSES, due_date__lt=timezone.localdate())
        return queryset.filter(cond) if value else queryset.exclude(cond)


class ForecastFilterSet(SearchMixin):
    search_fields = ["asset__asset_number", "plan__name"]
    driver = django_filters.MultipleChoiceFilter(choices=DueDriver.choices)
    asset_type = django_filters.ModelChoiceFilter(field_name="asset__asset_type", queryset=AssetType.objects.all())
    due_after = django_filters.DateFilter(field_name="due", lookup_expr="gte")
    due_before = django_filters.DateFilter(field_name="due", lookup_expr="lte")
    flagged = django_filters.BooleanFilter(method="filter_flagged", label="Any unusual-use flag")

    class Meta:
        model = Forecast
        fields = ["asset", "plan", "overdue", "heavy_use", "long_idle", "repeated_repairs", "method"]

    def filter_flagged(self, queryset, name, value):
        return queryset.exclude(flags="") if value else queryset.filter(flags="")


class SafetyNoticeFilterSet(SearchMixin):
    search_fields = ["reference", "title", "manufacturer", "model"]

    class Meta:
        model = SafetyNotice
        fields = ["kind", "manufacturer", "model", "asset_type", "risk_class"]


class DailyUsageFilterSet(django_filters.FilterSet):
    source = django_filters.MultipleChoiceFilter(choices=UsageSource.choices)
    asset_number = django_filters.CharFilter(field_name="asset__asset_number")
    date_after = django_filters.DateFilter(field_name="date", lookup_expr="gte")
    date_before = django_filters.DateFilter(field_name="date", lookup_expr="lte")
    asset = django_filters.ModelChoiceFilter(queryset=Asset.objects.all())

    class Meta:
        model = DailyUsage
        fields = ["asset", "date"]


class UsagePeriodFilterSet(django_filters.FilterSet):
    start_after = django_filters.IsoDateTimeFilter(field_name="start", lookup_expr="gte")
    start_before = django_filters.IsoDateTimeFilter(field_name="start", lookup_expr="lt")

    class Meta:
        model = UsagePeriod
        fields = ["asset", "source", "mode", "room"]


class UsageRuleFilterSet(django_filters.FilterSet):
    class Meta:
        model = UsageRule
        fields = ["room_type", "asset_category", "mode"]


class FailureModelFilterSet(django_filters.FilterSet):
    class Meta:
        model = FailureModel
        fields = ["asset_type", "method", "flagged"]


class ForecastRunFilterSet(django_filters.FilterSet):
    class Meta:
        model = ForecastRun
        fields = ["as_of", "status"]
