"""FHIR R4 read and search for Device and Location, plus the CapabilityStatement.

Every response is ``application/fhir+json`` whatever the client's Accept header; every error is an
OperationOutcome with the HTTP status. Authentication is the REST API's (token or session); an
anonymous request gets 401 with ``WWW-Authenticate: Token``. Reading devices needs
``assets.view_asset``; reading locations needs the view permissions of sites, buildings, floors and
rooms (every role has them).
"""

from __future__ import annotations

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from hospital.api.permissions import HasPermission
from hospital.assets.api.views import AssetViewSet
from hospital.facility.models import Building, Floor, Room, Site

from . import mapping

DEFAULT_COUNT = 50
MAX_COUNT = 500
NUMERIC_ID = r"[1-9][0-9]{0,17}"


class FHIRJSONRenderer(JSONRenderer):
    media_type = "application/fhir+json"
    format = "json"
    charset = "utf-8"


class AlwaysFHIRJSON(BaseContentNegotiation):
    """FHIR servers answer in FHIR JSON even to ``Accept: application/json`` or a browser."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _message(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_message(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return "; ".join(_message(item) for item in detail)
    return str(detail)


class FHIRView(APIView):
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [FHIRJSONRenderer]
    content_negotiation_class = AlwaysFHIRJSON

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        detail = getattr(exc, "detail", None) or str(exc) or response.status_text
        response.data = mapping.operation_outcome(response.status_code, _message(detail))
        return response

    def base_url(self) -> str:
        return self.request.build_absolute_uri(reverse("fhir:metadata")).removesuffix("metadata")

    def paging(self) -> tuple[int, int]:
        params = self.request.query_params
        try:
            count = int(params.get("_count", DEFAULT_COUNT))
            offset = int(params.get("_offset", 0))
        except ValueError as exc:
            raise ValidationError("_count and _offset must be whole numbers") from exc
        if count < 0 or offset < 0:
            raise ValidationError("_count and _offset must not be negative")
        return min(count, MAX_COUNT), offset

    def links(self, path: str, count: int, offset: int, total: int) -> dict[str, str]:
        params = [(k, v) for k, values in self.request.query_params.lists() if k not in ("_count", "_offset")
                  for v in values]

        def url(at: int) -> str:
            return self.base_url() + path + "?" + urlencode([*params, ("_count", count), ("_offset", at)])

        links = {"self": url(offset)}
        if count and offset + count < total:
            links["next"] = url(offset + count)
        if count and offset > 0:
            links["previous"] = url(max(0, offset - count))
        return links


PAGING = [
    OpenApiParameter("_count", OpenApiTypes.INT, description=f"Page size (default {DEFAULT_COUNT}, "
                     f"at most {MAX_COUNT})."),
    OpenApiParameter("_offset", OpenApiTypes.INT, description="Entries to skip (the Bundle's next link sets it)."),
]


def _token(value: str) -> tuple[str | None, str]:
    """FHIR token search ``[system|]code`` -> (system or None, code)."""
    if "|" in value:
        system, code = value.split("|", 1)
        return system, code
    return None, value


def device_queryset():
    return AssetViewSet.queryset.all()


def filter_identifier(queryset, values: str):
    condition = Q()
    for value in values.split(","):
        system, code = _token(value)
        if system in (None, ""):
            condition |= Q(asset_number=code) | Q(serial_number=code) | (Q(udi=code) if code else Q(pk__in=[]))
        elif system == mapping.ASSET_NUMBER_SYSTEM:
            condition |= Q(asset_number=code)
        elif system == mapping.SERIAL_NUMBER_SYSTEM:
            condition |= Q(serial_number=code)
        else:
            condition |= Q(pk__in=[])  # an identifier system this server does not issue
    return queryset.filter(condition)


def filter_type(queryset, values: str):
    condition = Q()
    for value in values.split(","):
        system, code = _token(value)
        if system in (None, "", mapping.ASSET_TYPE_SYSTEM):
            condition |= Q(asset_type__code=code)
            if system is None:
                condition |= Q(asset_type__name__iexact=code)
        else:
            condition |= Q(pk__in=[])
    return queryset.filter(condition)


def filter_location(queryset, values: str):
    condition = Q()
    for value in values.split(","):
        parsed = mapping.parse_location_id(value)
        if parsed is None:
            raise ValidationError(f"location must be a Location reference such as Location/room-12, not {value!r}")
        kind, pk = parsed
        path = {"room": "room", "floor": "floor", "building": "floor__building", "site": "floor__building__site"}[kind]
        installed = "installed_room" if kind == "room" else f"installed_room__{path}"
        condition |= Q(**{f"tag__location__{path}": pk}) | Q(tag__location__isnull=True, **{installed: pk})
    return queryset.filter(condition)


class DeviceReadView(FHIRView):
    permission_classes = [HasPermission.of("assets.view_asset")]

    @extend_schema(
        operation_id="fhir_device_read", tags=["fhir"], responses={200: OpenApiTypes.OBJECT},
        summary="FHIR R4 Device by id",
        parameters=[OpenApiParameter("id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The asset id.")],
    )
    def get(self, request, id: str):
        asset = device_queryset().filter(pk=int(id)).first() if id.isdigit() and len(id) <= 18 else None
        if asset is None:
            raise NotFound(f"Device/{id} is not known")
        return Response(mapping.device(asset))


class DeviceSearchView(FHIRView):
    permission_classes = [HasPermission.of("assets.view_asset")]

    @extend_schema(
        operation_id="fhir_device_search", tags=["fhir"], responses={200: OpenApiTypes.OBJECT},
        summary="FHIR R4 Device search (searchset Bundle)",
        parameters=[
            OpenApiParameter("identifier", OpenApiTypes.STR, description=(
                "[system|]value: the asset number or serial number (systems "
                f"{mapping.ASSET_NUMBER_SYSTEM}, {mapping.SERIAL_NUMBER_SYSTEM}), or the UDI.")),
            OpenApiParameter("type", OpenApiTypes.STR, description=(
                f"[system|]code: asset type code ({mapping.ASSET_TYPE_SYSTEM}) or name.")),
            OpenApiParameter("location", OpenApiTypes.STR, description=(
                "Location reference (Location/room-12, floor-3, building-1, site-1): devices there now.")),
            *PAGING,
        ],
    )
    def get(self, request):
        queryset = device_queryset()
        params = request.query_params
        for name, apply in (("identifier", filter_identifier), ("type", filter_type), ("location", filter_location)):
            for value in params.getlist(name):
                queryset = apply(queryset, value)
        count, offset = self.paging()
        total = queryset.count()
        page = list(queryset[offset:offset + count]) if count else []
        base = self.base_url()
        entries = [(f"{base}Device/{asset.pk}", mapping.device(asset)) for asset in page]
        return Response(mapping.searchset(entries, total, self.links("Device", count, offset, total)))


LOCATION_PERMS = ("facility.view_site", "facility.view_building", "facility.view_floor", "facility.view_room")


def location_querysets() -> dict:
    return {
        "site": Site.objects.order_by("pk"),
        "building": Building.objects.select_related("site").order_by("pk"),
        "floor": Floor.objects.select_related("building").order_by("pk"),
        "room": Room.objects.select_related("floor", "department").order_by("pk"),
    }


class LocationReadView(FHIRView):
    permission_classes = [HasPermission.of(*LOCATION_PERMS)]

    @extend_schema(
        operation_id="fhir_location_read", tags=["fhir"], responses={200: OpenApiTypes.OBJECT},
        summary="FHIR R4 Location by id (site-N, building-N, floor-N, room-N)",
        parameters=[OpenApiParameter("id", OpenApiTypes.STR, OpenApiParameter.PATH,
                                     description="room-12, floor-3, building-1 or site-1.")],
    )
    def get(self, request, id: str):
        parsed = mapping.parse_location_id(id)
        obj = location_querysets()[parsed[0]].filter(pk=parsed[1]).first() if parsed else None
        if obj is None:
            raise NotFound(f"Location/{id} is not known")
        return Response(mapping.location(parsed[0], obj))


class LocationSearchView(FHIRView):
    permission_classes = [HasPermission.of(*LOCATION_PERMS)]

    @extend_schema(
        operation_id="fhir_location_search", tags=["fhir"], responses={200: OpenApiTypes.OBJECT},
        summary="FHIR R4 Location search (searchset Bundle)",
        parameters=[
            OpenApiParameter("name", OpenApiTypes.STR, description=(
                "Starts with, case-insensitive, on the name (rooms: also the number).")),
            OpenApiParameter("physical-type", OpenApiTypes.STR, description="si, bu, lvl or ro (comma = or)."),
            OpenApiParameter("partof", OpenApiTypes.STR, description="Location reference of the parent."),
            *PAGING,
        ],
    )
    def get(self, request):
        params = request.query_params
        querysets = location_querysets()
        for value in params.getlist("physical-type"):
            codes = {_token(v)[1] for v in value.split(",")}
            querysets = {k: qs for k, qs in querysets.items() if mapping.PHYSICAL_TYPES[k][0] in codes}
        for value in params.getlist("name"):
            querysets = {k: qs.filter(self.name_condition(k, value)) for k, qs in querysets.items()}
        for value in params.getlist("partof"):
            parsed = mapping.parse_location_id(value)
            if parsed is None:
                raise ValidationError(f"partof must be a Location reference such as Location/floor-3, not {value!r}")
            child = {"site": "building", "building": "floor", "floor": "room"}.get(parsed[0])
            querysets = {k: qs.filter(**{f"{parsed[0]}_id": parsed[1]}) for k, qs in querysets.items() if k == child}
        count, offset = self.paging()
        totals = {kind: qs.count() for kind, qs in querysets.items()}
        total = sum(totals.values())
        entries, skip, room_left = [], offset, count
        base = self.base_url()
        for kind, qs in querysets.items():
            if room_left <= 0:
                break
            if skip >= totals[kind]:
                skip -= totals[kind]
                continue
            for obj in qs[skip:skip + room_left]:
                entries.append((f"{base}Location/{kind}-{obj.pk}", mapping.location(kind, obj)))
            room_left = count - len(entries)
            skip = 0
        return Response(mapping.searchset(entries, total, self.links("Location", count, offset, total)))

    @staticmethod
    def name_condition(kind: str, value: str) -> Q:
        condition = Q(name__istartswith=value)
        if kind == "room":
            condition |= Q(number__istartswith=value)
        return condition


class CapabilityStatementView(FHIRView):
    @extend_schema(operation_id="fhir_metadata", tags=["fhir"], responses={200: OpenApiTypes.OBJECT},
                   summary="FHIR CapabilityStatement of this server")
    def get(self, request):
        def resource(kind: str, params: list[tuple[str, str]]) -> dict:
            return {
                "type": kind,
                "interaction": [{"code": "read"}, {"code": "search-type"}],
                "searchParam": [{"name": name, "type": kind_} for name, kind_ in params],
            }

        return Response({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": timezone.now().date().isoformat(),
            "kind": "instance",
            "software": {"name": "hospital-tracking"},
            "implementation": {"description": "Hospital asset tracking: equipment and its locations",
                               "url": self.base_url().rstrip("/")},
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [{
                "mode": "server",
                "security": {"description": "Authorization: Token <key> (see /api/auth/token/) or a session."},
                "resource": [
                    resource("Device", [("identifier", "token"), ("type", "token"), ("location", "reference")]),
                    resource("Location", [("name", "string"), ("physical-type", "token"), ("partof", "reference")]),
                ],
            }],
        })


class UnsupportedView(FHIRView):
    """Any other resource type or path under /fhir/: a 404 OperationOutcome (after authentication)."""

    @extend_schema(exclude=True)
    def get(self, request, rest: str = ""):
        raise NotFound(f"{request.path} is not supported by this server (Device and Location are)")

    post = put = patch = delete = get
