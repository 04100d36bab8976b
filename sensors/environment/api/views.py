"""Alarms with their history and operator actions, for paging systems and other integrations.

Actions go through the same services layer as the console: they are queued and the alarm service
inside ingest applies them within a second (202 Accepted). Who may act is the console's rule:
acknowledge, shelve, comment permissions per role.
"""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from hospital.api.permissions import HasPermission
from hospital.api.viewsets import ReadOnlyModelViewSet

from .. import services
from ..choices import ActionKind, AlarmState, Priority
from ..models import Alarm
from . import serializers

# Posting an action is not "adding an alarm": whoever may see alarms may try, and the services layer
# checks the role's acknowledge / shelve / comment permission, exactly as for the console.
ACTING = [HasPermission.of("environment.view_alarm")]


class AlarmFilterSet(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=AlarmState.choices)
    priority = django_filters.MultipleChoiceFilter(choices=Priority.choices)
    active = django_filters.BooleanFilter(method="filter_active", label="Active (unacknowledged or acknowledged)")
    sensor = django_filters.CharFilter(field_name="sensor__sensor_id")
    rule = django_filters.CharFilter()

    class Meta:
        model = Alarm
        fields = ["state", "priority", "sensor", "rule", "site"]

    def filter_active(self, queryset, name, value):
        active = [AlarmState.UNACK, AlarmState.ACKED]
        return queryset.filter(state__in=active) if value else queryset.exclude(state__in=active)


class AlarmViewSet(ReadOnlyModelViewSet):
    """Alarms (one per rule and sensor, or per gateway), newest transition first, with their actions."""

    queryset = (Alarm.objects.select_related("sensor", "gateway").prefetch_related("actions")
                .order_by("-since", "-pk"))
    serializer_class = serializers.AlarmSerializer
    filterset_class = AlarmFilterSet

    @extend_schema(responses=serializers.AlarmEventSerializer(many=True))
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        """Every transition of this alarm, oldest first (immutable)."""
        alarm = self.get_object()
        page = self.paginate_queryset(alarm.events.order_by("t", "pk"))
        return self.get_paginated_response(serializers.AlarmEventSerializer(page, many=True).data)

    def _act(self, request, kind: str):
        alarm = self.get_object()
        if not services.may_act(request.user, kind):  # before validating: a refusal is a 403, not a 400
            raise PermissionDenied(f"you may not {ActionKind(kind).label.lower()} alarms")
        body = serializers.ActionRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        text, until = body.validated_data["text"], None
        if kind == ActionKind.SHELVE:
            minutes = body.validated_data.get("minutes")
            if not minutes or not text.strip():
                raise ValidationError({"detail": "shelving needs a reason (text) and a duration (minutes)"})
            until = timezone.now() + timedelta(minutes=minutes)
        try:
            queued = services.request_action(alarm, kind, request.user, text=text, until=until)
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from None
        except DjangoValidationError as exc:
            raise ValidationError({"detail": exc.messages}) from None
        return Response(serializers.AlarmActionSerializer(queued).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=serializers.ActionRequestSerializer, responses=serializers.AlarmActionSerializer)
    @action(detail=True, methods=["post"], permission_classes=ACTING)
    def acknowledge(self, request, pk=None):
        """Acknowledge: someone is on it."""
        return self._act(request, ActionKind.ACKNOWLEDGE)

    @extend_schema(request=serializers.ActionRequestSerializer, responses=serializers.AlarmActionSerializer)
    @action(detail=True, methods=["post"], permission_classes=ACTING)
    def shelve(self, request, pk=None):
        """Shelve for ``minutes`` (at most a day) with a reason in ``text``."""
        return self._act(request, ActionKind.SHELVE)

    @extend_schema(request=serializers.ActionRequestSerializer, responses=serializers.AlarmActionSerializer)
    @action(detail=True, methods=["post"], permission_classes=ACTING)
    def comment(self, request, pk=None):
        """Add a comment (``text``) to the alarm's record."""
        return self._act(request, ActionKind.COMMENT)
