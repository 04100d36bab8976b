"""FHIR R4 Device and Location, validated with the FHIR models of fhir.resources.

fhir.resources 8 ships R5 as its default package and R4B (4.3) under ``fhir.resources.R4B``; it has no
R4 (4.0.1) package any more. Device and Location are the same in R4 and R4B for every element used
here, so the R4B models are the validator.
"""

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.location import Location
from fhir.resources.R4B.operationoutcome import OperationOutcome
from rest_framework.authtoken.models import Token

from hospital import roles
from hospital.fhir import mapping

pytestmark = pytest.mark.django_db
FHIR_JSON = "application/fhir+json"


def fhir(response, model, status=200):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(FHIR_JSON)
    body = response.json()
    model.model_validate(body)
    return body


def test_device_read_maps_the_asset(world, client_for):
    pump = world["assets"]["P1"]
    body = fhir(client_for(roles.NURSE).get(f"/fhir/Device/{pump.pk}", HTTP_ACCEPT="application/json"), Device)
    assert body["id"] == str(pump.pk)
    assert {(i["system"], i["value"]) for i in body["identifier"]} == {
        (mapping.ASSET_NUMBER_SYSTEM, "P1"), (mapping.SERIAL_NUMBER_SYSTEM, "SN-P1")}
    assert body["udiCarrier"] == [{"carrierHRF": "(01)00885403000019(21)P1"}]
    assert body["manufacturer"] == "BD" and body["modelNumber"] == "Alaris 8100" and body["serialNumber"] == "SN-P1"
    assert {"name": "Infusion pump P1", "type": "user-friendly-name"} in body["deviceName"]
    assert body["type"]["text"] == "Infusion pump" and body["type"]["coding"][0]["code"] == "infusion-pump"
    assert body["status"] == "active" and body["statusReason"] == [{"text": "Available"}]
    assert body["owner"] == {"display": "Intensive care"}
    room = world["rooms"]["1-01"]
    assert body["location"] == {"reference": f"Location/room-{room.pk}", "display": "1-01 ICU bay 1"}
    # The reference resolves.
    fhir(client_for(roles.ENGINEER).get(f"/fhir/{body['location']['reference']}"), Location)


@pytest.mark.parametrize("status, fhir_status", [
    ("in_use", "active"), ("needs_cleaning", "active"), ("in_maintenance", "inactive"),
    ("out_of_service", "inactive"), ("missing", "inactive"),
])
def test_device_status(world, client_for, status, fhir_status):
    pump = world["assets"]["P2"]
    pump.status = status
    pump.save()
    body = fhir(client_for(roles.NURSE).get(f"/fhir/Device/{pump.pk}"), Device)
    assert body["status"] == fhir_status


def test_fixed_equipment_points_at_its_room_and_unlocated_devices_have_no_location(world, client_for):
    client = client_for(roles.NURSE)
    fridge = fhir(client.get(f"/fhir/Device/{world['assets']['F1'].pk}"), Device)
    assert fridge["location"]["reference"] == f"Location/room-{world['rooms']['1-02'].pk}"
    assert "udiCarrier" not in fridge and "owner" not in fridge
    assert "location" not in fhir(client.get(f"/fhir/Device/{world['assets']['P5'].pk}"), Device)


def test_device_search_bundle(world, client_for):
    client = client_for(roles.NURSE)
    room = world["rooms"]["1-01"]
    bundle = fhir(client.get("/fhir/Device", {"type": "infusion-pump", "location": f"Location/room-{room.pk}"}),
                  Bundle)
    assert bundle["type"] == "searchset" and bundle["total"] == 2
    assert sorted(e["resource"]["identifier"][0]["value"] for e in bundle["entry"]) == ["P1", "P6"]
    assert all(e["fullUrl"].startswith("http://testserver/fhir/Device/") for e in bundle["entry"])
    assert all(e["search"]["mode"] == "match" for e in bundle["entry"])
    by_identifier = fhir(client.get("/fhir/Device", {"identifier": f"{mapping.SERIAL_NUMBER_SYSTEM}|SN-P3"}), Bundle)
    assert [e["resource"]["id"] for e in by_identifier["entry"]] == [str(world["assets"]["P3"].pk)]
    assert fhir(client.get("/fhir/Device", {"identifier": "P4,P5"}), Bundle)["total"] == 2
    assert fhir(client.get("/fhir/Device", {"identifier": "urn:other|P4"}), Bundle)["total"] == 0
    floor = fhir(client.get("/fhir/Device", {"location": f"floor-{world['floor'].pk}"}), Bundle)
    assert floor["total"] == 5  # P1, P2, P6, M1 by tag and F1 installed in 1-02
    building = fhir(client.get("/fhir/Device", {"location": f"building-{world['annex1'].building_id}"}), Bundle)
    assert [e["resource"]["identifier"][0]["value"] for e in building["entry"]] == ["P4"]
    empty = fhir(client.get("/fhir/Device", {"type": "ventilator"}), Bundle)
    assert empty["total"] == 0 and "entry" not in empty


def test_device_search_pages_with_next_links(world, client_for):
    client = client_for(roles.NURSE)
    first = fhir(client.get("/fhir/Device", {"_count": 3}), Bundle)
    assert first["total"] == 8 and len(first["entry"]) == 3
    links = {link["relation"]: link["url"] for link in first["link"]}
    seen = [e["resource"]["id"] for e in first["entry"]]
    while "next" in links:
        page = fhir(client.get(links["next"]), Bundle)
        seen += [e["resource"]["id"] for e in page.get("entry", [])]
        links = {link["relation"]: link["url"] for link in page["link"]}
    assert sorted(seen, key=int) == sorted((str(a.pk) for a in world["assets"].values()), key=int)


def test_location_hierarchy(world, client_for):
    client = client_for(roles.NURSE)
    room = world["rooms"]["1-01"]
    body = fhir(client.get(f"/fhir/Location/room-{room.pk}"), Location)
    assert body["physicalType"]["coding"][0] == {"system": mapping.PHYSICAL_TYPE_SYSTEM, "code": "ro", "display": "Room"}
    assert body["name"] == "1-01 ICU bay 1" and body["alias"] == ["1-01"]
    assert body["managingOrganization"] == {"display": "Intensive care"}
    assert body["type"][0]["text"] == "Patient room"
    level = fhir(client.get(f"/fhir/{body['partOf']['reference']}"), Location)
    assert level["physicalType"]["coding"][0]["code"] == "lvl" and level["name"] == "Level 1"
    building = fhir(client.get(f"/fhir/{level['partOf']['reference']}"), Location)
    assert building["physicalType"]["coding"][0]["code"] == "bu"
    site = fhir(client.get(f"/fhir/{building['partOf']['reference']}"), Location)
    assert site["physicalType"]["coding"][0]["code"] == "si" and "partOf" not in site


def test_location_search(world, client_for):
    client = client_for(roles.NURSE)
    by_number = fhir(client.get("/fhir/Location", {"name": "2-0"}), Bundle)
    assert sorted(e["resource"]["name"] for e in by_number["entry"]) == ["2-01 Ward store", "2-02"]
    by_name = fhir(client.get("/fhir/Location", {"name": "ward"}), Bundle)
    assert [e["resource"]["id"] for e in by_name["entry"]] == [f"room-{world['rooms']['2-01'].pk}"]
    levels = fhir(client.get("/fhir/Location", {"name": "level", "physical-type": "lvl"}), Bundle)
    assert levels["total"] == 2  # "Level 1", "Level 2"; "Annex level 1" does not start with "level"
    rooms_of_level2 = fhir(client.get("/fhir/Location", {"partof": f"Location/floor-{world['level2'].pk}"}), Bundle)
    assert rooms_of_level2["total"] == 2
    everything = fhir(client.get("/fhir/Location", {"_count": 4, "_offset": 2}), Bundle)
    # 1 site + 2 buildings + 3 floors + 6 rooms, sites first: entries 3..6 are floors then a room
    assert everything["total"] == 12
    assert [e["resource"]["id"].split("-")[0] for e in everything["entry"]] == ["building", "floor", "floor", "floor"]


def test_capability_statement(world, client_for):
    body = fhir(client_for(roles.NURSE).get("/fhir/metadata"), CapabilityStatement)
    assert {r["type"] for r in body["rest"][0]["resource"]} == {"Device", "Location"}


@pytest.mark.parametrize("path", [
    "/fhir/Device/999999", "/fhir/Device/abc", "/fhir/Device/99999999999999999999999", "/fhir/Location/room-999999",
    "/fhir/Location/ward-1", "/fhir/Location/room-0", "/fhir/Patient/1", "/fhir/Device/1/_history/1",
])
def test_unknown_resources_are_404_operation_outcomes(world, client_for, path):
    body = fhir(client_for(roles.NURSE).get(path), OperationOutcome, status=404)
    assert body["issue"][0]["code"] == "not-found" and body["issue"][0]["severity"] == "error"


def test_bad_search_parameters_are_400_operation_outcomes(world, client_for):
    client = client_for(roles.NURSE)
    for path, params in (("/fhir/Device", {"location": "bed-1"}), ("/fhir/Device", {"_count": "many"}),
                         ("/fhir/Location", {"partof": "x"}), ("/fhir/Location", {"_offset": "-1"})):
        body = fhir(client.get(path, params), OperationOutcome, status=400)
        assert body["issue"][0]["code"] == "invalid"


def test_writes_are_not_supported(world, client_for):
    body = fhir(client_for(roles.ENGINEER).post("/fhir/Device", {}, format="json"), OperationOutcome, status=405)
    assert body["issue"][0]["code"] == "not-supported"


def test_anonymous_gets_401_operation_outcome_and_a_token_works(world, api_client, make_user):
    response = api_client.get(f"/fhir/Device/{world['assets']['P1'].pk}")
    body = fhir(response, OperationOutcome, status=401)
    assert response["WWW-Authenticate"] == "Token" and body["issue"][0]["code"] == "login"
    token = Token.objects.create(user=make_user(roles.NURSE))
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    fhir(api_client.get(f"/fhir/Device/{world['assets']['P1'].pk}"), Device)


def test_a_user_without_view_permission_gets_403_operation_outcome(world, client_for, make_user):
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    nobody = get_user_model().objects.create_user("nobody", password="pw-for-tests-only")
    client = APIClient()
    client.force_login(nobody)
    body = fhir(client.get(f"/fhir/Device/{world['assets']['P1'].pk}"), OperationOutcome, status=403)
    assert body["issue"][0]["code"] == "forbidden"


def test_device_search_query_count_is_constant(world, client_for):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(roles.NURSE)
    with CaptureQueriesContext(connection) as queries:
        bundle = fhir(client.get("/fhir/Device"), Bundle)
    assert len(bundle["entry"]) == 8
    # session, user, permissions (user's, groups'), count, page
    assert len(queries.captured_queries) <= 6, [q["sql"] for q in queries.captured_queries]
