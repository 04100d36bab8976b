"""schemathesis against the OpenAPI schema, in process over WSGI, as an administrator (token): whatever
it sends (valid and invalid requests), the API answers with no server error.

API_FUZZ_EXAMPLES sets the examples per operation and generation mode (default 10); a longer run:
``API_FUZZ_EXAMPLES=300 pytest tests/api/test_fuzz.py``.
"""

import os

import pytest

schemathesis = pytest.importorskip("schemathesis")

from django.core.wsgi import get_wsgi_application  # noqa: E402
from drf_spectacular.generators import SchemaGenerator  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from hospital import roles  # noqa: E402

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "10"))
# The schema endpoint regenerates the whole schema on every call: fuzzing it costs minutes and proves
# nothing that tests/api/test_schema.py does not.
SKIP_PATHS = {"/api/schema/"}


def load_operations():
    schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
    schema.app = get_wsgi_application()
    operations = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path not in SKIP_PATHS:
            operations[operation.label] = operation
    return operations


OPERATIONS = load_operations()


@pytest.fixture
def fuzz_world(world, history, gateway_factory):
    from sensors.models import Reading, Sensor

    gateway_factory("gw-fuzz")
    sensor = Sensor.objects.create(sensor_id="fridge-f", name="Fridge F", mac_address="AA:BB:CC:00:11:22",
                                   ble_format="ruuvi_v5", room=world["rooms"]["1-02"])
    Reading.objects.create(sensor=sensor, quantity="temperature_c", t="2026-01-01T00:00:00Z", value=4.5)
    return world


@pytest.fixture
def keep_test_connection():
    """Like Django's test client: a request must not close the test's database connection (the
    transaction that holds the test data)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def admin_token(make_user):
    return Token.objects.create(user=make_user(roles.ADMINISTRATOR)).key


@pytest.mark.slow
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_server_errors(label, fuzz_world, admin_token, keep_test_connection):
    operation = OPERATIONS[label]
    headers = {"Authorization": f"Token {admin_token}"}
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    statuses = []

    @settings(max_examples=2 * EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def run(case):
        response = case.call(base_url="http://testserver", headers=headers)
        statuses.append(response.status_code)
        assert response.status_code < 500, (case.as_curl_command(headers), response.status_code, response.text[:500])

    run()
    # The requests got past authentication and, for lists, reached the data (not only rejections).
    assert 401 not in statuses and 403 not in statuses, statuses
    if operation.method.upper() == "GET" and "{" not in operation.path:
        assert any(200 <= status < 300 for status in statuses), statuses
