"""Asset types and assets. Assets carry their current location; nurses change an asset's status through
``POST /api/assets/{id}/status/`` (``assets.change_asset_status``) without the right to edit it."""

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status as http_status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from hospital.api.pagination import TimeCursorPagination
from hospital.api.permissions import HasPermission
from hospital.api.viewsets import ModelViewSet, ReadOnlyModelViewSet
from locator.api.serializers import LocationHistorySerializer
from locator.filtersets import LocationHistoryFilterSet
from locator.models import LocationHistory

from .. import filtersets
from ..models import Asset, AssetType
from . import serializers


class AssetTypeViewSet(ReadOnlyModelViewSet):
    queryset = AssetType.objects.all()
    serializer_class = serializers.AssetTypeSerializer
    filterset_class = filtersets.AssetTypeFilterSet


class AssetViewSet(ModelViewSet):
    queryset = Asset.objects.select_related(
        "asset_type", "home_department", "installed_room__floor", "tag__location__floor", "tag__location__room",
    )
    serializer_class = serializers.AssetSerializer
    filterset_class = filtersets.AssetFilterSet

    def get_permissions(self):
        if self.action == "set_status":
            return [HasPermission.of("assets.view_asset", "assets.change_asset_status")()]
        return super().get_permissions()

    def perform_create(self, serializer):
        serializer.save(updated_by=self.request.user)

    def perform_update(self, serializer):
        serializer.save(updated_by=self.request.user)

    @extend_schema(
        request=serializers.AssetStatusSerializer,
        responses={200: serializers.AssetSerializer},
        summary="Change an asset's status (in use, needs cleaning, ...)",
        description="Needs `assets.change_asset_status` (nurses, engineers, facility managers), not the right "
        "to edit the asset.",
    )
    @action(detail=True, methods=["post"], url_path="status", filter_backends=[])
    def set_status(self, request, pk=None):
        body = serializers.AssetStatusSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with transaction.atomic():
            asset = self.get_object()
            if asset.status != body.validated_data["status"]:
                asset.status = body.validated_data["status"]
                asset.updated_by = request.user
                asset.save(update_fields=["status", "updated_by", "updated_at"])
        return Response(self.get_serializer(asset).data, status=http_status.HTTP_200_OK)

    @extend_schema(
        responses={200: LocationHistorySerializer(many=True)},
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="From this time (inclusive)."),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="Before this time."),
        ],
        summary="Where an asset has been (newest first)",
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=TimeCursorPagination)
    def history(self, request, pk=None):
        asset = self.get_object()
        tag = getattr(asset, "tag", None)
        queryset = LocationHistory.objects.filter(tag=tag).select_related("floor", "room")
        if tag is None:
            queryset = queryset.none()
        filterset = LocationHistoryFilterSet(request.query_params, queryset=queryset, request=request)
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        page = self.paginate_queryset(filterset.qs)
        return self.get_paginated_response(LocationHistorySerializer(page, many=True).data)
