"""Nobody gets in without authentication: every route under /api/ and /fhir/, found by walking the URL
resolver and the OpenAPI schema (so a route added later is covered without editing this file)."""

import re

import pytest
from django.core.cache import cache
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from hospital import roles

pytestmark = pytest.mark.django_db
METHODS = ("get", "post", "put", "patch", "delete", "options", "head")
TOKEN_URL = "/api/auth/token/"
# Pages a browser opens: anonymous users are sent to the login page.
LOGIN_REDIRECTS = re.compile(r"^/api/docs/")


def walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def concrete(route: str) -> str:
    """A URL for a route pattern: parameters become 1, regex anchors and escapes are dropped."""
    url = re.sub(r"\(\?P<\w+>[^)]*\)", "1", route)
    url = re.sub(r"<(?:\w+:)?\w+>", "1", url)
    url = url.replace("^", "").replace("$", "").replace("\\", "")
    return "/" + url


def api_routes() -> list[str]:
    routes = sorted({concrete(r) for r in walk(get_resolver().url_patterns)})
    return [r for r in routes if r.startswith(("/api/", "/fhir/"))]


def test_the_walk_finds_the_routes():
    routes = api_routes()
    for expected in ("/api/", "/api/assets/", "/api/assets/1/", "/api/assets/1/history/", "/api/assets/1/status/",
                     "/api/readings/", "/api/schema/", "/api/docs/", "/fhir/Device/1", "/fhir/Location"):
        assert expected in routes
    assert len(routes) > 40


@pytest.mark.parametrize("route", api_routes())
def test_every_route_refuses_anonymous_requests(route, world):
    client = APIClient()
    for method in METHODS:
        response = getattr(client, method)(route)
        if route == TOKEN_URL:
            # The token endpoint is how one authenticates: it never answers with a token without valid
            # credentials.
            assert '"token":' not in response.content.decode(), method
            assert response.status_code in (400, 401, 403, 405, 429), (method, response)
        elif LOGIN_REDIRECTS.match(route):
            assert response.status_code == 302 and "/accounts/login/" in response["Location"], method
        else:
            assert response.status_code in (401, 403), (method, route, response.status_code)


# Routes any logged-in user may read (they show no hospital data); every other GET needs a view permission.
OPEN_TO_ANY_USER = {"/api/", "/api/schema/", "/api/docs/", "/api/docs/assets/1", TOKEN_URL, "/fhir/metadata",
                    "/fhir/1"}


@pytest.mark.parametrize("route", [r for r in api_routes() if r not in OPEN_TO_ANY_USER])
def test_reads_need_a_view_permission(route, world):
    """A logged-in user with no permission at all reads nothing (DRF's DjangoModelPermissions alone
    would let any user read)."""
    from django.contrib.auth import get_user_model

    client = APIClient()
    client.force_login(get_user_model().objects.create_user("no-role", password="pw-for-tests-only"))
    assert client.get(route).status_code == 403, route


def test_every_schema_operation_refuses_anonymous_requests(world, admin_client_api):
    schema = admin_client_api.get("/api/schema/?format=json").json()
    client = APIClient()
    checked = 0
    for path, operations in schema["paths"].items():
        url = re.sub(r"\{[^}]+\}", "1", path)
        for method in operations:
            if method not in METHODS or url == TOKEN_URL:
                continue
            assert getattr(client, method)(url).status_code in (401, 403), (method, url)
            checked += 1
    assert checked > 40


def test_schema_and_root_need_a_login(world, api_client, client_for):
    assert api_client.get("/api/schema/").status_code in (401, 403)
    assert api_client.get("/api/").status_code in (401, 403)
    root = client_for(roles.NURSE).get("/api/", HTTP_ACCEPT="application/json")
    assert root.status_code == 200
    assert {"assets", "asset-types", "rooms", "readings", "gateways", "dead-letters"} <= set(root.json())


def test_token_endpoint_issues_a_token_that_authenticates(world, make_user):
    cache.clear()
    make_user(roles.NURSE)
    client = APIClient()
    bad = client.post(TOKEN_URL, {"username": "nurse", "password": "wrong"}, format="json")
    assert bad.status_code == 400 and "token" not in bad.json()
    good = client.post(TOKEN_URL, {"username": "nurse", "password": "pw-for-tests-only"}, format="json")
    assert good.status_code == 200
    key = good.json()["token"]
    assert Token.objects.get(key=key).user.username == "nurse"
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/assets/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    # 403 while SessionAuthentication comes first in settings; 401 if TokenAuthentication is put first.
    assert client.get("/api/assets/").status_code in (401, 403)


def test_drf_create_token_issues_and_rotates(world, make_user, capsys):
    from django.core.management import call_command

    make_user(roles.ENGINEER, username="integration")
    call_command("drf_create_token", "integration")
    first = Token.objects.get(user__username="integration").key
    call_command("drf_create_token", "-r", "integration")
    second = Token.objects.get(user__username="integration").key
    assert first != second
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    assert client.get("/api/assets/").status_code in (401, 403)
    client.credentials(HTTP_AUTHORIZATION=f"Token {second}")
    assert client.get("/api/assets/").status_code == 200


def test_token_endpoint_is_throttled(world, make_user):
    cache.clear()
    client = APIClient()
    codes = [client.post(TOKEN_URL, {"username": "nurse", "password": f"guess{i}"}, format="json").status_code
             for i in range(12)]
    assert codes[:10] == [400] * 10 and codes[10:] == [429, 429]
    cache.clear()


def test_docs_page_is_self_hosted(world, client_for):
    pytest.importorskip("drf_spectacular_sidecar")
    client = client_for(roles.NURSE)
    page = client.get(reverse("api:docs"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn." not in html and "https://" not in html
    assert '"validatorUrl": null' in html
    for asset in re.findall(r'(?:src|href)="(/api/docs/assets/[^"]+)"', html):
        response = client.get(asset)
        assert response.status_code == 200, asset
        b"".join(response.streaming_content)
    assert client.get("/api/docs/assets/..%2Fsettings.py").status_code == 404
    assert client.get("/api/docs/assets/LICENSE").status_code == 404
