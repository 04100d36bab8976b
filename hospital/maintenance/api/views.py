"""View sets of the maintenance API. Reads need the model's view permission, writes its add/change
permission (``hospital.api.permissions.ModelPermissions``); completing a work order needs
``maintenance.complete_workorder``. Every state change goes through ``hospital.maintenance.services``."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from hospital.api.pagination import PageNumberPagination
from hospital.api.permissions import HasPermission, ModelPermissions
from hospital.api.viewsets import ModelViewSet, ReadOnlyModelViewSet

from .. import filtersets, services
from ..choices import DueDriver, WorkOrderKind
from ..locations import whereabouts
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
)
from . import serializers


def _raise(exc: services.WorkOrderError):
    raise ValidationError({"detail": exc.messages}) from None


class MaintenancePlanViewSet(ModelViewSet):
    """Maintenance plans per asset type, and per-asset overrides (``asset`` set)."""

    queryset = MaintenancePlan.objects.select_related("asset_type", "asset__asset_type")
    serializer_class = serializers.MaintenancePlanSerializer
    filterset_class = filtersets.MaintenancePlanFilterSet

    def perform_create(self, serializer):
        serializer.save(updated_by=self.request.user)

    def perform_update(self, serializer):
        serializer.save(updated_by=self.request.user)


class WorkOrderViewSet(mixins.CreateModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin,
                       mixins.ListModelMixin, viewsets.GenericViewSet):
    """Work orders, each with the live location of its device. Create repairs (or a planned order by
    hand); change the lifecycle with the actions below. Work orders are never deleted: cancel them."""

    queryset = WorkOrder.objects.select_related("asset__asset_type", "completed_by", "next_order").prefetch_related(
        "parts").order_by("due_date", "pk")
    serializer_class = serializers.WorkOrderSerializer
    filterset_class = filtersets.WorkOrderFilterSet
    permission_classes = [ModelPermissions]
    pagination_class = PageNumberPagination

    def get_permissions(self):
        if self.action == "complete":
            return [HasPermission.of("maintenance.view_workorder", "maintenance.complete_workorder")()]
        if self.action in ("start", "could_not_locate", "defer", "cancel", "schedule", "reopen"):
            return [HasPermission.of("maintenance.view_workorder", "maintenance.change_workorder")()]
        return super().get_permissions()

    def _context_for(self, orders):
        ctx = self.get_serializer_context()
        ctx["where"] = whereabouts({o.asset_id for o in orders})
        return ctx

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        rows = page if page is not None else list(queryset)
        data = self.get_serializer_class()(rows, many=True, context=self._context_for(rows)).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def retrieve(self, request, *args, **kwargs):
        order = self.get_object()
        return Response(self._out(order))

    def _out(self, order):
        order = self.get_queryset().get(pk=order.pk)
        return self.get_serializer_class()(order, context=self._context_for([order])).data

    def perform_create(self, serializer):
        d = serializer.validated_data
        try:
            if d.get("kind", WorkOrderKind.REPAIR) == WorkOrderKind.REPAIR:
                order = services.report_fault(d["asset"], user=self.request.user,
                                              description=d.get("description") or d.get("title", ""),
                                              reported_at=d.get("reported_at"), due_date=d.get("due_date"))
            else:
                order = services.create_work_order(
                    d["asset"], d["kind"], user=self.request.user, plan=d.get("plan") or services.plan_for(
                        d["asset"], d["kind"]), title=d.get("title", ""), description=d.get("description", ""),
                    due_date=d.get("due_date"), planned_date=d.get("due_date"),
                    due_driver=DueDriver.MANUAL if d.get("due_date") else DueDriver.NONE,
                    assigned_to=d.get("assigned_to"), note="Created through the API.")
        except services.WorkOrderError as exc:
            _raise(exc)
        serializer.instance = order

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        return Response(self._out(serializer.instance), status=201)

    def update(self, request, *args, **kwargs):
        super().update(request, *args, **kwargs)
        return Response(self._out(self.get_object()))

    def perform_update(self, serializer):
        order = serializer.instance
        if not order.is_pending:
            raise ValidationError({"detail": [f"{order.number} is {order.get_status_display().lower()}: "
                                              "it cannot be edited."]})
        due = serializer.validated_data.get("due_date", order.due_date)
        serializer.save(**({"due_driver": DueDriver.MANUAL} if due != order.due_date else {}))

    def _body(self, cls):
        body = cls(data=self.request.data)
        body.is_valid(raise_exception=True)
        return body.validated_data

    @extend_schema(request=serializers.CompleteSerializer, responses={200: serializers.CompletionSerializer},
                   summary="Complete a work order (schedules the next one for planned work)")
    @action(detail=True, methods=["post"], filter_backends=[])
    def complete(self, request, pk=None):
        d = self._body(serializers.CompleteSerializer)
        try:
            done = services.complete(self.get_object(), user=request.user, findings=d["findings"],
                                     outcome=d["outcome"], downtime_hours=d["downtime_hours"],
                                     completed_at=d["completed_at"], parts=d["parts"])
        except services.WorkOrderError as exc:
            _raise(exc)
        return Response({"work_order": self._out(done.order),
                         "next_order": self._out(done.next_order) if done.next_order else None})

    def _transition(self, fn, body_cls, **kw):
        d = self._body(body_cls) if body_cls else {}
        try:
            order = fn(self.get_object(), user=self.request.user, **{k: d[v] for k, v in kw.items()})
        except services.WorkOrderError as exc:
            _raise(exc)
        return Response(self._out(order))

    @extend_schema(request=serializers.NoteSerializer, responses={200: serializers.WorkOrderSerializer},
                   summary="Start the work (the asset becomes 'in maintenance')")
    @action(detail=True, methods=["post"], filter_backends=[])
    def start(self, request, pk=None):
        return self._transition(services.start, serializers.NoteSerializer, note="note")

    @extend_schema(request=serializers.NoteSerializer, responses={200: serializers.WorkOrderSerializer},
                   summary="Record that the device could not be found (with where it was last seen)")
    @action(detail=True, methods=["post"], url_path="could-not-locate", filter_backends=[])
    def could_not_locate(self, request, pk=None):
        return self._transition(services.could_not_locate, serializers.NoteSerializer, note="note")

    @extend_schema(request=serializers.DeferSerializer, responses={200: serializers.WorkOrderSerializer},
                   summary="Defer with a reason (and optionally until a date)")
    @action(detail=True, methods=["post"], filter_backends=[])
    def defer(self, request, pk=None):
        return self._transition(services.defer, serializers.DeferSerializer, reason="reason", until="until")

    @extend_schema(request=serializers.CancelSerializer, responses={200: serializers.WorkOrderSerializer},
                   summary="Cancel with a reason")
    @action(detail=True, methods=["post"], filter_backends=[])
    def cancel(self, request, pk=None):
        return self._transition(services.cancel, serializers.CancelSerializer, reason="reason")

    @extend_schema(request=serializers.NoteSerializer, responses={200: serializers.WorkOrderSerializer},
                   summary="Reopen a scheduled, deferred or not-found work order")
    @action(detail=True, methods=["post"], filter_backends=[])
    def reopen(self, request, pk=None):
        return self._transition(services.reopen, serializers.NoteSerializer, note="note")

    @extend_schema(request=serializers.ScheduleSerializer, responses={200: serializers.WorkOrderSerializer},
                   summary="Schedule or reschedule (a new date is kept: the forecast no longer moves it)")
    @action(detail=True, methods=["post"], filter_backends=[])
    def schedule(self, request, pk=None):
        d = self._body(serializers.ScheduleSerializer)
        user = None
        if d["assigned_to"] is not None:
            user = get_user_model().objects.filter(pk=d["assigned_to"]).first()
            if user is None:
                raise ValidationError({"assigned_to": ["No such user."]})
        try:
            order = services.schedule(self.get_object(), user=request.user, due_date=d["due_date"], assigned_to=user,
                                      note=d["note"])
        except services.WorkOrderError as exc:
            _raise(exc)
        return Response(self._out(order))


class ForecastViewSet(ReadOnlyModelViewSet):
    """The latest forecast of every asset and plan: daily use, due dates with their band, failure risk,
    unusual-use flags. Written by the forecast job (``manage.py maintenance_forecast``)."""

    queryset = Forecast.objects.select_related("asset", "plan").order_by("due", "asset_id", "pk")
    serializer_class = serializers.ForecastSerializer
    filterset_class = filtersets.ForecastFilterSet


class SafetyNoticeViewSet(ModelViewSet):
    """Recalls and field safety notices; ``apply`` creates one work order per unit of the model."""

    queryset = SafetyNotice.objects.all()
    serializer_class = serializers.SafetyNoticeSerializer
    filterset_class = filtersets.SafetyNoticeFilterSet

    def get_permissions(self):
        if self.action == "apply":
            return [HasPermission.of("maintenance.view_safetynotice", "maintenance.add_workorder")()]
        return super().get_permissions()

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user)

    def perform_destroy(self, instance):
        if instance.work_orders.exists():
            raise ValidationError({"detail": ["The notice has work orders; it cannot be deleted."]})
        instance.delete()

    @extend_schema(request=None, responses={200: serializers.WorkOrderSerializer(many=True)},
                   summary="Create a work order for every unit of the model that has none")
    @action(detail=True, methods=["post"], filter_backends=[])
    def apply(self, request, pk=None):
        with transaction.atomic():
            orders = services.apply_safety_notice(self.get_object(), user=request.user)
        rows = list(WorkOrder.objects.filter(pk__in=[o.pk for o in orders]).select_related(
            "asset__asset_type", "completed_by"))
        ctx = {**self.get_serializer_context(), "where": whereabouts({o.asset_id for o in rows})}
        return Response(serializers.WorkOrderSerializer(rows, many=True, context=ctx).data)


class DailyUsageViewSet(ReadOnlyModelViewSet):
    """Hours of use per asset and day, with their source (locator, import, demo)."""

    queryset = DailyUsage.objects.order_by("asset_id", "date")
    serializer_class = serializers.DailyUsageSerializer
    filterset_class = filtersets.DailyUsageFilterSet


class UsagePeriodViewSet(ReadOnlyModelViewSet):
    """Continuous periods of use derived from the locator (or generated for the demo)."""

    queryset = UsagePeriod.objects.order_by("asset_id", "start")
    serializer_class = serializers.UsagePeriodSerializer
    filterset_class = filtersets.UsagePeriodFilterSet


class UsageRuleViewSet(ModelViewSet):
    """How time in each room type counts as use (see docs/maintenance.md)."""

    queryset = UsageRule.objects.all()
    serializer_class = serializers.UsageRuleSerializer
    filterset_class = filtersets.UsageRuleFilterSet

    def perform_create(self, serializer):
        serializer.save(updated_by=self.request.user)

    def perform_update(self, serializer):
        serializer.save(updated_by=self.request.user)


class FailureModelViewSet(ReadOnlyModelViewSet):
    """Weibull time-between-failures fit per asset type, from repair work orders (latest forecast run)."""

    queryset = FailureModel.objects.select_related("asset_type")
    serializer_class = serializers.FailureModelSerializer
    filterset_class = filtersets.FailureModelFilterSet


class ForecastRunViewSet(ReadOnlyModelViewSet):
    """Runs of the forecast job: when, how long, what they changed."""

    queryset = ForecastRun.objects.all()
    serializer_class = serializers.ForecastRunSerializer
    filterset_class = filtersets.ForecastRunFilterSet
