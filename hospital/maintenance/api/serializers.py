"""Serializers of the maintenance API. Work-order state is read-only here: it changes through the
lifecycle actions (``POST /api/work-orders/{id}/complete/`` ...), which keep the audit log."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from hospital.assets.choices import AssetCategory

from ..choices import DueDriver, Outcome, RunStatus, UsageSource, WorkOrderKind, WorkOrderStatus
from ..models import (
    DailyUsage,
    FailureModel,
    Forecast,
    ForecastRun,
    MaintenancePlan,
    SafetyNotice,
    UsagePeriod,
    UsageRule,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderPart,
)


def _values(choices) -> str:
    return ", ".join(str(v) for v in choices.values)


def code_field(choices, *, help_text: str = "", **kw):
    """A read-only choice as a plain string: the values are listed in the help text. (An enum per field would
    collide in the OpenAPI schema with other apps' ``status``/``source`` enums of different values.)"""
    return serializers.CharField(read_only=True, help_text=f"{help_text} One of: {_values(choices)}.".strip(), **kw)


class MaintenancePlanSerializer(serializers.ModelSerializer):
    effective_risk = serializers.CharField(read_only=True)
    task_list = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = MaintenancePlan
        fields = ["id", "name", "kind", "asset_type", "asset", "interval_days", "interval_hours", "count_from",
                  "risk_class", "effective_risk", "tasks", "task_list", "active", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def validate(self, attrs):
        plan = MaintenancePlan(**{**({f: getattr(self.instance, f) for f in (
            "name", "kind", "asset_type", "asset", "interval_days", "interval_hours", "count_from", "risk_class",
            "tasks", "active")} if self.instance else {}), **attrs})
        try:
            plan.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return attrs


class WorkOrderPartSerializer(serializers.ModelSerializer):
    class Meta:
        model = WorkOrderPart
        fields = ["part_number", "description", "quantity"]


class WorkOrderEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = WorkOrderEvent
        fields = ["at", "by_name", "from_status", "to_status", "note", "data"]


class LocationSerializer(serializers.Serializer):
    located = serializers.BooleanField()
    source = serializers.CharField(help_text="tag (live), installed (fixed equipment), stale, never")
    floor = serializers.IntegerField(allow_null=True, source="floor_id")
    floor_name = serializers.CharField()
    room = serializers.IntegerField(allow_null=True, source="room_id")
    room_number = serializers.CharField()
    last_seen_at = serializers.DateTimeField(allow_null=True)
    text = serializers.CharField()
    map_url = serializers.CharField(allow_null=True)


class WorkOrderSerializer(serializers.ModelSerializer):
    number = serializers.CharField(read_only=True)
    status = code_field(WorkOrderStatus, help_text="Changes through the lifecycle actions.")
    due_driver = code_field(DueDriver, help_text="What set the due date.")
    asset_number = serializers.CharField(source="asset.asset_number", read_only=True)
    asset_type = serializers.CharField(source="asset.asset_type.name", read_only=True)
    task_list = serializers.ListField(child=serializers.CharField(), read_only=True)
    completed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    next_order = serializers.SerializerMethodField()
    parts = WorkOrderPartSerializer(many=True, read_only=True)
    location = serializers.SerializerMethodField()

    class Meta:
        model = WorkOrder
        fields = ["id", "number", "asset", "asset_number", "asset_type", "kind", "plan", "notice", "title", "tasks",
                  "task_list", "description", "status", "risk_class", "planned_date", "due_date", "due_driver",
                  "assigned_to", "reported_at", "started_at", "completed_at", "completed_by", "outcome", "findings",
                  "downtime_hours", "status_reason", "deferred_until", "previous", "next_order", "parts", "location",
                  "demo", "created_at", "updated_at"]
        read_only_fields = ["status", "planned_date", "due_driver", "started_at", "completed_at", "outcome", "findings",
                            "downtime_hours", "status_reason", "deferred_until", "previous", "demo", "created_at",
                            "updated_at", "risk_class"]
        extra_kwargs = {"kind": {"help_text": "On create: repair, preventive or calibration (recall orders come "
                                              "from applying a safety notice)."}}

    @extend_schema_field(OpenApiTypes.INT)
    def get_next_order(self, obj) -> int | None:
        nxt = getattr(obj, "next_order", None)
        return nxt.pk if nxt else None

    @extend_schema_field(LocationSerializer(allow_null=True))
    def get_location(self, obj):
        where = (self.context.get("where") or {}).get(obj.asset_id)
        return LocationSerializer(where).data if where else None

    def validate_kind(self, value):
        if self.instance is None and value == WorkOrderKind.RECALL:
            raise serializers.ValidationError("Recall work orders are created by applying a safety notice.")
        if self.instance is not None and value != self.instance.kind:
            raise serializers.ValidationError("The kind of a work order cannot change.")
        return value

    def validate_asset(self, value):
        if self.instance is not None and value != self.instance.asset:
            raise serializers.ValidationError("The asset of a work order cannot change.")
        return value


class PartInputSerializer(serializers.Serializer):
    part_number = serializers.CharField(required=False, allow_blank=True, default="")
    description = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=9, decimal_places=2, min_value=0, default=1)


class CompleteSerializer(serializers.Serializer):
    findings = serializers.CharField(required=False, allow_blank=True, default="")
    outcome = serializers.ChoiceField(choices=Outcome.choices, required=False, allow_blank=True, default="")
    downtime_hours = serializers.FloatField(required=False, allow_null=True, min_value=0, default=None)
    completed_at = serializers.DateTimeField(required=False, allow_null=True, default=None,
                                             help_text="When the work was done (default: now).")
    parts = PartInputSerializer(many=True, required=False, default=list)


class CompletionSerializer(serializers.Serializer):
    work_order = WorkOrderSerializer()
    next_order = WorkOrderSerializer(allow_null=True)


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")


class DeferSerializer(serializers.Serializer):
    reason = serializers.CharField()
    until = serializers.DateField(required=False, allow_null=True, default=None)


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField()


class ScheduleSerializer(serializers.Serializer):
    due_date = serializers.DateField(required=False, allow_null=True, default=None)
    assigned_to = serializers.IntegerField(required=False, allow_null=True, default=None)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ForecastSerializer(serializers.ModelSerializer):
    driver = code_field(DueDriver, help_text="Which interval comes first.")
    asset_number = serializers.CharField(source="asset.asset_number", read_only=True)
    plan_name = serializers.CharField(source="plan.name", read_only=True, default=None)
    flag_list = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Forecast
        fields = ["id", "asset", "asset_number", "plan", "plan_name", "as_of", "method", "mean_daily_hours",
                  "expected_hours", "expected_hours_sd", "horizon_days", "trend_hours_per_week", "calendar_due",
                  "usage_due", "due", "due_p10", "due_p90", "driver", "days_to_due", "overdue", "hours_since_service",
                  "remaining_hours", "failure_risk", "risk_method", "heavy_use", "long_idle", "repeated_repairs",
                  "flag_list", "idle_days", "recent_mean_hours", "baseline_mean_hours", "params"]


class SafetyNoticeSerializer(serializers.ModelSerializer):
    work_orders = serializers.IntegerField(source="work_orders.count", read_only=True)

    class Meta:
        model = SafetyNotice
        fields = ["id", "reference", "kind", "title", "manufacturer", "model", "asset_type", "issued_on",
                  "action_required", "due_within_days", "risk_class", "work_orders", "created_at", "applied_at"]
        read_only_fields = ["created_at", "applied_at"]


class DailyUsageSerializer(serializers.ModelSerializer):
    source = code_field(UsageSource)

    class Meta:
        model = DailyUsage
        fields = ["id", "asset", "date", "hours", "source", "updated_at"]


class UsagePeriodSerializer(serializers.ModelSerializer):
    hours = serializers.FloatField(read_only=True)
    source = code_field(UsageSource)

    class Meta:
        model = UsagePeriod
        fields = ["id", "asset", "start", "end", "hours", "source", "mode", "room"]


class UsageRuleSerializer(serializers.ModelSerializer):
    asset_category = serializers.CharField(
        required=False, allow_blank=True, default="",
        help_text=f"Empty: every category; else one of: {_values(AssetCategory)}.")

    def validate_asset_category(self, value):
        if value and value not in AssetCategory.values:
            raise serializers.ValidationError(f"Not an asset category; one of: {_values(AssetCategory)}.")
        return value

    class Meta:
        model = UsageRule
        fields = ["id", "room_type", "asset_category", "mode", "min_dwell_minutes", "note", "updated_at"]
        read_only_fields = ["updated_at"]


class FailureModelSerializer(serializers.ModelSerializer):
    asset_type_name = serializers.CharField(source="asset_type.name", read_only=True)

    class Meta:
        model = FailureModel
        fields = ["id", "asset_type", "asset_type_name", "as_of", "shape", "scale_days", "mtbf_days", "n_failures",
                  "n_censored", "method", "flagged"]


class ForecastRunSerializer(serializers.ModelSerializer):
    status = code_field(RunStatus)

    class Meta:
        model = ForecastRun
        fields = ["id", "as_of", "started_at", "finished_at", "status", "triggered_by", "n_assets", "n_plans",
                  "n_usage_rows", "orders_created", "orders_updated", "lookahead_days", "seconds", "timings", "error"]
