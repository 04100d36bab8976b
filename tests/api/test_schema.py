"""The OpenAPI schema generates without warnings and validates."""

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for path in ("/api/assets/{id}/status/", "/api/assets/{id}/history/", "/api/readings/", "/fhir/Device/{id}"):
        assert f"  {path}:" in text


def test_schema_documents_filters_and_token_auth(client_for):
    from hospital import roles

    schema = client_for(roles.NURSE).get("/api/schema/?format=json").json()
    parameters = {p["name"] for p in schema["paths"]["/api/assets/"]["get"]["parameters"]}
    assert {"type", "category", "status", "department", "floor", "room", "q", "near", "page", "page_size"} <= parameters
    reading_parameters = {p["name"] for p in schema["paths"]["/api/readings/"]["get"]["parameters"]}
    assert {"sensor", "quantity", "since", "until", "cursor"} <= reading_parameters
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    assert schema["paths"]["/fhir/Device/{id}"]["get"]["responses"]["200"]["content"].keys() == {
        "application/fhir+json"}
