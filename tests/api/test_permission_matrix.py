"""The permission matrix: who may do what, over EVERY operation of the API (the OpenAPI schema, custom
actions included, and the API routes outside it), every page and every websocket.

``SPEC`` below is the reviewed statement of the rules, one line per operation and one column per kind of
caller: ``+`` allowed, ``.`` refused. Refused means 401 (API, anonymous), a redirect to the login page
(pages, anonymous and token callers), 403 (logged in without the permission) or a websocket closed with
4401/4403. Allowed means anything else short of a server error (a write answered 400 for its empty body
has passed the permission check). The test fails for an operation the schema or the URL map has and
``SPEC`` lacks, so a new endpoint cannot ship unreviewed: add its line here, with its rule.

Callers: the four roles (hospital/roles.py), a logged-in user in no group, an integration calling with an
API token (a user in the biomedical-engineer group: say a CMMS reading equipment and work orders) and
anonymous. One database world for the module (every model the API serves gets a row), every request in
its own savepoint so deletes and actions do not leak into the next.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from hospital import roles

# Marked so pytest-django creates the test database; each test then runs in a savepoint of the world's.
pytestmark = pytest.mark.django_db

COLUMNS = ("nurse", "engineer", "facility", "admin", "norole", "token", "anonymous")

SPEC = """
# method  path                                          nurse engineer facility admin norole token anonymous
# --- API: facility (read-only over the API; edited in the admin)
GET     /api/sites/                                       +     +       +       +     .     +     .
GET     /api/sites/{id}/                                  +     +       +       +     .     +     .
GET     /api/buildings/                                   +     +       +       +     .     +     .
GET     /api/buildings/{id}/                              +     +       +       +     .     +     .
GET     /api/floors/                                      +     +       +       +     .     +     .
GET     /api/floors/{id}/                                 +     +       +       +     .     +     .
GET     /api/departments/                                 +     +       +       +     .     +     .
GET     /api/departments/{id}/                            +     +       +       +     .     +     .
GET     /api/rooms/                                       +     +       +       +     .     +     .
GET     /api/rooms/{id}/                                  +     +       +       +     .     +     .
GET     /api/zones/                                       +     +       +       +     .     +     .
GET     /api/zones/{id}/                                  +     +       +       +     .     +     .
# --- API: equipment (engineers own the inventory; everyone with a role sets the status)
GET     /api/asset-types/                                 +     +       +       +     .     +     .
GET     /api/asset-types/{id}/                            +     +       +       +     .     +     .
GET     /api/assets/                                      +     +       +       +     .     +     .
POST    /api/assets/                                      .     +       .       +     .     +     .
GET     /api/assets/{id}/                                 +     +       +       +     .     +     .
PUT     /api/assets/{id}/                                 .     +       .       +     .     +     .
PATCH   /api/assets/{id}/                                 .     +       .       +     .     +     .
DELETE  /api/assets/{id}/                                 .     +       .       +     .     +     .
GET     /api/assets/{id}/history/                         +     +       +       +     .     +     .
POST    /api/assets/{id}/status/                          +     +       +       +     .     +     .
GET     /api/tags/                                        +     +       +       +     .     +     .
GET     /api/tags/{id}/                                   +     +       +       +     .     +     .
GET     /api/zone-events/                                 .     +       +       +     .     +     .
GET     /api/zone-events/{id}/                            .     +       +       +     .     +     .
# --- API: gateways, sensors and ingest (facility managers own them; engineers read)
GET     /api/gateways/                                    .     +       +       +     .     +     .
GET     /api/gateways/{id}/                               .     +       +       +     .     +     .
GET     /api/sensors/                                     .     +       +       +     .     +     .
GET     /api/sensors/{id}/                                .     +       +       +     .     +     .
GET     /api/readings/                                    .     +       +       +     .     +     .
GET     /api/readings/{id}/                               .     +       +       +     .     +     .
GET     /api/discovered-devices/                          .     .       +       +     .     .     .
GET     /api/discovered-devices/{id}/                     .     .       +       +     .     .     .
GET     /api/dead-letters/                                .     .       +       +     .     .     .
GET     /api/dead-letters/{id}/                           .     .       +       +     .     .     .
GET     /api/ingest-counters/                             .     .       +       +     .     .     .
GET     /api/ingest-counters/{id}/                        .     .       +       +     .     .     .
GET     /api/ingest-status/                               .     .       +       +     .     .     .
GET     /api/ingest-status/{id}/                          .     .       +       +     .     .     .
# --- API: alarms (nurses and engineers comment; facility managers acknowledge and shelve)
GET     /api/alarms/                                      +     +       +       +     .     +     .
GET     /api/alarms/{id}/                                 +     +       +       +     .     +     .
GET     /api/alarms/{id}/events/                          +     +       +       +     .     +     .
POST    /api/alarms/{id}/acknowledge/                     .     .       +       +     .     .     .
POST    /api/alarms/{id}/shelve/                          .     .       +       +     .     .     .
POST    /api/alarms/{id}/comment/                         +     +       +       +     .     +     .
# --- API: maintenance (engineers; forecasts and usage periods are computed, read-only)
GET     /api/maintenance-plans/                           .     +       .       +     .     +     .
POST    /api/maintenance-plans/                           .     +       .       +     .     +     .
GET     /api/maintenance-plans/{id}/                      .     +       .       +     .     +     .
PUT     /api/maintenance-plans/{id}/                      .     +       .       +     .     +     .
PATCH   /api/maintenance-plans/{id}/                      .     +       .       +     .     +     .
DELETE  /api/maintenance-plans/{id}/                      .     +       .       +     .     +     .
GET     /api/work-orders/                                 .     +       .       +     .     +     .
POST    /api/work-orders/                                 .     +       .       +     .     +     .
GET     /api/work-orders/{id}/                            .     +       .       +     .     +     .
PUT     /api/work-orders/{id}/                            .     +       .       +     .     +     .
PATCH   /api/work-orders/{id}/                            .     +       .       +     .     +     .
POST    /api/work-orders/{id}/start/                      .     +       .       +     .     +     .
POST    /api/work-orders/{id}/complete/                   .     +       .       +     .     +     .
POST    /api/work-orders/{id}/could-not-locate/           .     +       .       +     .     +     .
POST    /api/work-orders/{id}/defer/                      .     +       .       +     .     +     .
POST    /api/work-orders/{id}/schedule/                   .     +       .       +     .     +     .
POST    /api/work-orders/{id}/cancel/                     .     +       .       +     .     +     .
POST    /api/work-orders/{id}/reopen/                     .     +       .       +     .     +     .
GET     /api/safety-notices/                              .     +       .       +     .     +     .
POST    /api/safety-notices/                              .     +       .       +     .     +     .
GET     /api/safety-notices/{id}/                         .     +       .       +     .     +     .
PUT     /api/safety-notices/{id}/                         .     +       .       +     .     +     .
PATCH   /api/safety-notices/{id}/                         .     +       .       +     .     +     .
DELETE  /api/safety-notices/{id}/                         .     +       .       +     .     +     .
POST    /api/safety-notices/{id}/apply/                   .     +       .       +     .     +     .
GET     /api/usage-rules/                                 .     +       .       +     .     +     .
POST    /api/usage-rules/                                 .     +       .       +     .     +     .
GET     /api/usage-rules/{id}/                            .     +       .       +     .     +     .
PUT     /api/usage-rules/{id}/                            .     +       .       +     .     +     .
PATCH   /api/usage-rules/{id}/                            .     +       .       +     .     +     .
DELETE  /api/usage-rules/{id}/                            .     +       .       +     .     +     .
GET     /api/usage-days/                                  .     +       .       +     .     +     .
GET     /api/usage-days/{id}/                             .     +       .       +     .     +     .
GET     /api/usage-periods/                               .     +       .       +     .     +     .
GET     /api/usage-periods/{id}/                          .     +       .       +     .     +     .
GET     /api/forecasts/                                   .     +       .       +     .     +     .
GET     /api/forecasts/{id}/                              .     +       .       +     .     +     .
GET     /api/forecast-runs/                               .     +       .       +     .     +     .
GET     /api/forecast-runs/{id}/                          .     +       .       +     .     +     .
GET     /api/failure-models/                              .     +       .       +     .     +     .
GET     /api/failure-models/{id}/                         .     +       .       +     .     +     .
# --- API: HL7 FHIR (equipment and places, as in the pages)
GET     /fhir/metadata                                    +     +       +       +     +     +     .
GET     /fhir/Device                                      +     +       +       +     .     +     .
GET     /fhir/Device/{id}                                 +     +       +       +     .     +     .
GET     /fhir/Location                                    +     +       +       +     .     +     .
GET     /fhir/Location/{id}                               +     +       +       +     .     +     .
GET     /fhir/Patient/1                                   +     +       +       +     +     +     .
# --- API: root, schema, docs, token exchange (no hospital data; the token endpoint is how one logs in)
GET     /api/                                             +     +       +       +     +     +     .
GET     /api/schema/                                      +     +       +       +     +     +     .
GET     /api/docs/                                        +     +       +       +     +     +     .
GET     /api/docs/assets/swagger-ui.css                   +     +       +       +     +     .     .
POST    /api/auth/token/                                  +     +       +       +     +     +     +
# --- pages: everyone
GET     /healthz                                          +     +       +       +     +     +     +
GET     /accounts/login/                                  +     +       +       +     +     +     +
POST    /accounts/login/                                  +     +       +       +     +     +     +
POST    /accounts/logout/                                 +     +       +       +     +     +     +
GET     /                                                 +     +       +       +     +     .     .
# --- pages: two-factor login (docs/security.md); the code step needs a password step first
GET     /accounts/two-factor/                             +     +       +       +     +     .     .
GET     /accounts/two-factor/code/                        +     +       +       +     +     .     .
POST    /accounts/two-factor/code/                        +     +       +       +     +     .     .
GET     /accounts/two-factor/enrol/                       +     +       +       +     +     .     .
POST    /accounts/two-factor/enrol/                       +     +       +       +     +     .     .
POST    /accounts/two-factor/backup-codes/                +     +       +       +     +     .     .
POST    /accounts/two-factor/disable/                     +     +       +       +     +     .     .
# --- pages: map, search, equipment
GET     /floors/{floor_id}/plan.svg                       +     +       +       +     .     .     .
GET     /map/                                             +     +       +       +     .     .     .
GET     /map/{floor_id}/                                  +     +       +       +     .     .     .
GET     /map/{floor_id}/data.json                         +     +       +       +     .     .     .
GET     /find/                                            +     +       +       +     .     .     .
GET     /find/results.json                                +     +       +       +     .     .     .
GET     /assets/{pk}/                                     +     +       +       +     .     .     .
POST    /assets/{pk}/status/                              +     +       +       +     .     .     .
# --- pages: environment (alarm console, sensors, excursions)
GET     /environment/                                     +     +       +       +     .     .     .
GET     /environment/alarms/                              +     +       +       +     .     .     .
GET     /environment/alarms/snapshot.json                 +     +       +       +     .     .     .
GET     /environment/alarms/{pk}/                         +     +       +       +     .     .     .
POST    /environment/alarms/{pk}/acknowledge/             .     .       +       +     .     .     .
POST    /environment/alarms/{pk}/shelve/                  .     .       +       +     .     .     .
POST    /environment/alarms/{pk}/comment/                 +     +       +       +     .     .     .
POST    /environment/alarms/{pk}/suppress/                .     +       +       +     .     .     .
GET     /environment/sensors/{sensor_id}/                 +     +       +       +     .     .     .
GET     /environment/sensors/{sensor_id}/chart.svg        +     +       +       +     .     .     .
GET     /environment/sensors/{sensor_id}/log/             +     +       +       +     .     .     .
GET     /environment/sensors/{sensor_id}/monitoring/      .     .       +       +     .     .     .
GET     /environment/excursions/                          .     +       +       +     .     .     .
GET     /environment/excursions/report.csv                .     +       +       +     .     .     .
GET     /environment/excursions/report.pdf                .     +       +       +     .     .     .
GET     /environment/excursions/{pk}/                     .     +       +       +     .     .     .
# --- pages: maintenance (engineers; facility managers read the department's report)
GET     /maintenance/                                     .     +       .       +     .     .     .
GET     /maintenance/calendar/                            .     +       .       +     .     .     .
GET     /maintenance/work-orders/{pk}/                    .     +       .       +     .     .     .
GET     /maintenance/work-orders/{pk}/complete/           .     +       .       +     .     .     .
POST    /maintenance/work-orders/{pk}/start/              .     +       .       +     .     .     .
GET     /maintenance/assets/{pk}/                         .     +       .       +     .     .     .
GET     /maintenance/assets/{pk}/report-fault/            .     +       .       +     .     .     .
GET     /maintenance/plans/                               .     +       .       +     .     .     .
GET     /maintenance/forecasts/                           .     +       .       +     .     .     .
GET     /maintenance/usage-rules/                         .     +       .       +     .     .     .
GET     /maintenance/notices/                             .     +       .       +     .     .     .
GET     /maintenance/notices/new/                         .     +       .       +     .     .     .
GET     /maintenance/notices/{pk}/                        .     +       .       +     .     .     .
POST    /maintenance/notices/{pk}/apply/                  .     +       .       +     .     .     .
GET     /maintenance/reports/                             .     +       +       +     .     .     .
GET     /maintenance/reports/summary.csv                  .     +       +       +     .     .     .
# --- the Django admin: staff only (of the roles, administrators are staff)
GET     /admin/                                           .     .       .       +     .     .     .
# --- websockets
WS      /ws/floors/{floor_id}/                            +     +       +       +     .     .     .
WS      /ws/alarms/                                       +     +       +       +     .     .     .
WS      /ws/alarms/site/{site_id}/                        +     +       +       +     .     .     .
"""

# Where a successful answer is a redirect to the login page (logging out), or a 404 (FHIR answers an
# unsupported resource type with an OperationOutcome).
LOGIN_REDIRECT_IS_SUCCESS = {"POST /accounts/logout/"}
NOT_FOUND_IS_SUCCESS = {"GET /fhir/Patient/1"}
# API routes outside the OpenAPI schema (the others must be in it).
NON_SCHEMA_API = {"/api/", "/fhir/Patient/1"}
# Bodies that get past validation to the permission check (where a view checks after validating).
BODIES = {
    "/api/alarms/{id}/acknowledge/": {"text": "matrix"},
    "/api/alarms/{id}/shelve/": {"text": "matrix", "minutes": 30},
    "/api/alarms/{id}/comment/": {"text": "matrix"},
    "/environment/alarms/{pk}/shelve/": {"reason": "matrix", "minutes": "60"},
    "/environment/alarms/{pk}/comment/": {"text": "matrix"},
    "/environment/alarms/{pk}/suppress/": {"reason": "matrix", "hours": "1"},
    "/assets/{pk}/status/": {"status": "in_use"},
    "/api/assets/{id}/status/": {"status": "in_use"},
}


def parse_spec(text: str) -> dict[str, dict[str, bool]]:
    spec = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        method, path, *cells = line.split()
        key = f"{method} {path}"
        assert len(cells) == len(COLUMNS) and set(cells) <= {"+", "."}, f"SPEC line {number}: {line!r}"
        assert key not in spec, f"SPEC line {number}: {key} twice"
        spec[key] = dict(zip(COLUMNS, (c == "+" for c in cells), strict=True))
    return spec


SPEC_RULES = parse_spec(SPEC)


# --------------------------------------------------------------------------- what exists


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def http_routes() -> set[str]:
    """Every route of the URL map except the Django admin's own (the admin index stands for it)."""
    return {r for r in _walk(get_resolver().url_patterns) if not r.startswith("admin/")} | {"admin/"}


def schema_operations() -> set[str]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {f"{method.upper()} {path}" for path, operations in schema["paths"].items() for method in operations
            if method in ("get", "post", "put", "patch", "delete")}


def websocket_routes() -> set[str]:
    from hospital.routing import websocket_urlpatterns

    return {"/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(p.pattern)) for p in websocket_urlpatterns}


def _dummy(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def route_of(path: str) -> str:
    """The URL-map route a SPEC path lands on, as a shape (``/api/sites/{}/``)."""
    return _shape(_spec_path(resolve(_dummy(path)).route))


SCHEMA_OPERATIONS = schema_operations()


def operations() -> list[str]:
    """Everything SPEC must cover, plus SPEC's own lines (so a stale line fails too)."""
    return sorted(SCHEMA_OPERATIONS | set(SPEC_RULES) | {f"WS {r}" for r in websocket_routes()})


# --------------------------------------------------------------------------- the world


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """One row of every model an operation reads, the callers and their sessions; rolled back at the end."""
    with django_db_blocker.unblock(), transaction.atomic():
        data = _build_world()
        yield data
        transaction.set_rollback(True)


def _build_world() -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone
    from model_bakery import baker
    from rest_framework.authtoken.models import Token

    from hospital.assets.models import Asset, AssetType
    from hospital.facility.models import Building, Department, Floor, Room, Site, Zone

    site = Site.objects.create(code="mx", name="Matrix site")
    building = Building.objects.create(site=site, code="main", name="Main")
    floor = Floor.objects.create(building=building, level=1, name="Level 1", elevation_m=0, metres_per_unit=0.1,
                                 plan_svg="seh-main-1.svg")
    department = Department.objects.create(site=site, code="icu", name="ICU")
    room = Room.objects.create(floor=floor, number="1-01", room_type="patient_room", department=department,
                               polygon=[[0, 0], [5, 0], [5, 4], [0, 4]])
    pump = AssetType.objects.create(code="pump", name="Infusion pump", category="infusion", risk_class="high",
                                    pm_interval_days=365)
    asset = Asset.objects.create(asset_number="MX-1", asset_type=pump, manufacturer="BD", model="Alaris",
                                 serial_number="MX1")
    known = {Site: site, Building: building, Floor: floor, Department: department, Room: room, AssetType: pump,
             Asset: asset}
    if not Zone.objects.exists():
        known[Zone] = baker.make(Zone, floor=floor, polygon=[[0, 0], [5, 0], [5, 4], [0, 4]])

    now = timezone.now()
    # What baker's random values would break (the models' check constraints).
    overrides = {
        "maintenance.maintenanceplan": {"asset": None, "interval_days": 365, "interval_hours": None},
        "maintenance.dailyusage": {"hours": 2.0},
        "maintenance.usageperiod": {"start": now - timedelta(hours=2), "end": now - timedelta(hours=1)},
        "maintenance.workorder": {"status": "open", "status_reason": ""},
    }

    def make(model):
        kwargs = {f.name: known[f.related_model] for f in model._meta.fields
                  if f.is_relation and f.related_model in known}
        kwargs.update(overrides.get(model._meta.label_lower, {}))
        obj = baker.make(model, **kwargs)
        known[model] = obj
        return obj

    # Every model behind an API route with an id, made in dependency order by baker (FKs to the rows above).
    for model in _api_models():
        if model not in known and not model.objects.exists():
            make(model)

    users = {}
    for column, role in (("nurse", roles.NURSE), ("engineer", roles.ENGINEER), ("facility", roles.FACILITY_MANAGER),
                         ("admin", roles.ADMINISTRATOR), ("norole", None), ("token", roles.ENGINEER)):
        user = get_user_model().objects.create_user(f"mx-{column}", password="pw-for-tests-only",
                                                    is_staff=role == roles.ADMINISTRATOR)
        if role:
            user.groups.add(Group.objects.get(name=role))
        users[column] = user
    sessions = {}
    for column in ("nurse", "engineer", "facility", "admin", "norole"):
        client = Client()
        client.force_login(users[column])
        sessions[column] = client.cookies["sessionid"].value
    token = Token.objects.create(user=users["token"]).key
    return {"known": known, "users": users, "sessions": sessions, "token": token}


def _api_models() -> list:
    models = []
    for route in http_routes():
        if not route.startswith("api/") or "(?P<pk>" not in route:
            continue
        cls = getattr(resolve(_dummy(_spec_path(route))).func, "cls", None)
        queryset = getattr(cls, "queryset", None)
        if queryset is not None and queryset.model not in models:
            models.append(queryset.model)
    # pages with objects of their own
    from hospital.maintenance.models import SafetyNotice, WorkOrder
    from sensors.environment.models import Alarm, Excursion

    return models + [m for m in (Alarm, Excursion, WorkOrder, SafetyNotice) if m not in models]


def _spec_path(route: str) -> str:
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)
    path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)
    return "/" + path.replace("^", "").replace("$", "").replace("\\", "")


# Values of the path parameters of pages (API routes take the first row of their view set's model).
def _param(world, path: str):
    known = world["known"]
    from hospital.assets.models import Asset
    from hospital.facility.models import Floor, Room, Site
    from hospital.maintenance.models import SafetyNotice, WorkOrder
    from sensors.environment.models import Alarm, Excursion
    from sensors.models import Sensor

    def first(model):
        obj = known.get(model) or model.objects.order_by("pk").first()
        assert obj is not None, f"the matrix world has no {model.__name__} for {path}"
        return obj

    for prefix, value in (
        ("/fhir/Location/", lambda: f"room-{first(Room).pk}"),
        ("/fhir/Device/", lambda: first(Asset).pk),
        ("/environment/alarms/", lambda: first(Alarm).pk),
        ("/environment/excursions/", lambda: first(Excursion).pk),
        ("/environment/sensors/", lambda: first(Sensor).sensor_id),
        ("/maintenance/work-orders/", lambda: first(WorkOrder).pk),
        ("/maintenance/notices/", lambda: first(SafetyNotice).pk),
        ("/maintenance/assets/", lambda: first(Asset).pk),
        ("/assets/", lambda: first(Asset).pk),
        ("/ws/alarms/site/", lambda: first(Site).pk),
        ("/ws/floors/", lambda: first(Floor).pk),
        ("/floors/", lambda: first(Floor).pk),
        ("/map/", lambda: first(Floor).pk),
    ):
        if path.startswith(prefix):
            return value()
    cls = getattr(resolve(_dummy(path)).func, "cls", None)
    queryset = getattr(cls, "queryset", None)
    assert queryset is not None, f"no way to fill in the parameter of {path}: add it to _param"
    return first(queryset.model).pk


def concrete(world, path: str) -> str:
    if "{" not in path:
        return path
    return re.sub(r"\{[^}]+\}", str(_param(world, path)), path)


# --------------------------------------------------------------------------- calling as each caller


def _client(world, column: str) -> Client:
    if column == "token":
        return Client(HTTP_AUTHORIZATION=f"Token {world['token']}")
    client = Client()
    if column in world["sessions"]:
        client.cookies["sessionid"] = world["sessions"][column]
    return client


def _http(world, column: str, method: str, path: str):
    client = _client(world, column)
    url = concrete(world, path)
    body = BODIES.get(path, {})
    api = path.startswith(("/api/", "/fhir/")) and not path.startswith("/api/docs/")
    call = getattr(client, method.lower())
    if method == "GET":
        return call(url)
    if api:
        return call(url, body, content_type="application/json")
    return call(url, body)


def _websocket(world, column: str, path: str) -> int | None:
    from hospital.asgi import application

    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if column in world["sessions"]:
        headers.append((b"cookie", f"sessionid={world['sessions'][column]}".encode()))
    if column == "token":
        headers.append((b"authorization", f"Token {world['token']}".encode()))

    async def connect():
        comm = WebsocketCommunicator(application, concrete(world, path), headers=headers)
        connected, code = await comm.connect(timeout=5)
        await comm.disconnect()
        return None if connected else code

    return async_to_sync(connect)()


def outcome(key: str, kind: str, response) -> str:
    """allowed | login | 401 | 403 | error <status>"""
    if kind == "ws":
        return {None: "allowed", 4401: "401", 4403: "403"}.get(response, f"error {response}")
    status = response.status_code
    location = response.get("Location", "") if status in (301, 302, 303) else ""
    if location.startswith(("/accounts/login/", "/admin/login/")) and key not in LOGIN_REDIRECT_IS_SUCCESS:
        return "login"
    if status in (401, 403):
        return str(status)
    if status >= 500 or status == 405 or (status == 404 and key not in NOT_FOUND_IS_SUCCESS):
        return f"error {status}"
    return "allowed"


def expected(key: str, kind: str, column: str, allowed: bool) -> str:
    if allowed:
        return "allowed"
    if key.startswith("GET /admin/"):
        return "login"  # the Django admin sends whoever is not staff to its login page (then ours)
    if column == "anonymous" or (column == "token" and kind != "api"):
        return {"api": "401", "page": "login", "ws": "401"}[kind]
    return "403"


def kind_of(key: str) -> str:
    method, path = key.split(" ", 1)
    if method == "WS":
        return "ws"
    return "api" if path.startswith(("/api/", "/fhir/")) and not path.startswith("/api/docs/") else "page"


# --------------------------------------------------------------------------- the tests

OPERATIONS = operations()


def test_spec_covers_every_route_of_the_url_map():
    """Routes outside the schema (pages, the API root, docs, FHIR's catch-all) need a SPEC line each."""
    covered = {route_of(key.split(" ", 1)[1]) for key in SPEC_RULES if not key.startswith("WS ")}
    missing = sorted(path for path in map(_spec_path, http_routes()) if _shape(path) not in covered)
    assert not missing, f"routes with no line in SPEC (add them, with their rule): {missing}"


@pytest.mark.parametrize("key", OPERATIONS)
def test_permission_matrix(world, key, monkeypatch):
    assert key in SPEC_RULES, f"{key} is not in SPEC: add a line saying who may do it"
    method, path = key.split(" ", 1)
    kind = kind_of(key)
    if kind == "api" and key not in SCHEMA_OPERATIONS and path not in NON_SCHEMA_API:
        pytest.fail(f"{key} is in SPEC but not in the OpenAPI schema: remove or correct the line")
    # Consumers run their database calls in this thread, inside the test's transaction.
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)
    wrong = []
    for column, allowed in SPEC_RULES[key].items():
        cache.delete("throttle_api-token_127.0.0.1")  # the token endpoint's 10 a minute per address
        with transaction.atomic():
            result = _websocket(world, column, path) if kind == "ws" else _http(world, column, method, path)
            transaction.set_rollback(True)
        got, want = outcome(key, kind, result), expected(key, kind, column, allowed)
        if got != want:
            wrong.append(f"{column}: expected {want}, got {got}")
    assert not wrong, f"{key}: " + "; ".join(wrong)

