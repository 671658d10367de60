"""The OpenAPI schema is valid, and the API keeps to it under generated input (schemathesis).

The fuzz run is in-process against the WSGI app, inside the test's database transaction, with
a fixed example budget and `derandomize=True`, so CI runs the same cases every time.
"""

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from consent.services.data_consents import data_consent_cancel
from marketing_lists.models import MarketingList
from subjects import services as subject_services
from subjects.models import Account
from tests import factories

SCHEMA_URL = "/api/v1/schema/"
# The coverage phase (deterministic boundary and wrong-type values for every parameter and body
# field) finds the most, and costs the most; PUT shares its serializer with POST and PATCH.
CONFIG = schemathesis.Config.from_dict(
    {"operations": [{"include-method": "PUT", "phases": {"coverage": {"enabled": False}}}]}
)
schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, get_wsgi_application(), config=CONFIG)
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
FUZZ_SETTINGS = settings(
    max_examples=15,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def test_schema_generation_has_no_warnings(db, tmp_path):
    # --fail-on-warn turns every drf-spectacular warning or error into a failure.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )
    text = (tmp_path / "schema.yaml").read_text()
    for path in ("/api/v1/leads/{id}/qualify/", "/api/v1/data-consents/{id}/cancel/"):
        assert path in text


def test_schema_and_interactive_docs_are_served(client, admin_user):
    client.force_login(admin_user)  # staff only with DEBUG off (tests/security/test_csp.py)
    schema_response = client.get(SCHEMA_URL, HTTP_ACCEPT="application/json")
    assert schema_response.status_code == 200
    assert schema_response.json()["info"]["title"] == "Consent CRM API"
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    # The start-up script is a file of its own (no inline script: CSP); it names the schema.
    assert SCHEMA_URL.encode() in client.get("/api/v1/docs/?script=").content


def test_schema_documents_action_bodies_and_missing_deletes():
    paths = schema.raw_schema["paths"]
    qualify = paths["/api/v1/leads/{id}/qualify/"]["post"]
    assert qualify["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/QualifyRequest"
    }
    assert qualify["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/QualifyResult"
    }
    cancel = paths["/api/v1/data-consents/{id}/cancel/"]["post"]
    assert cancel["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NoteRequest"
    }
    for resource in ("leads", "contacts", "data-consents"):
        assert "delete" not in paths[f"/api/v1/{resource}/{{id}}/"]
    listing = paths["/api/v1/contacts/"]["get"]
    view = next(p for p in listing["parameters"] if p["name"] == "view")
    assert view["schema"]["enum"] == sorted(
        ["active", "all", "anonymized", "missing_consent", "inactive"]
    )


@pytest.fixture
def wsgi_keeps_the_test_connection(db):
    """Like Django's test client: a request must not close the connection that holds the
    test's transaction (the real WSGI handler closes it when a request finishes)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(wsgi_keeps_the_test_connection, dpo):
    """A few real objects of every kind, so generated ids sometimes hit one."""
    account = Account.objects.create(name="Acme")
    contacts = [factories.contact(account=account), factories.contact()]
    leads = [factories.lead(), factories.lead()]
    consents = [factories.consent(subject=subject, user=dpo) for subject in contacts + leads]
    data_consent_cancel(consent=consents[1])
    subject_services.lead_disqualify(lead=leads[1])
    profile = factories.compliance_profile()
    purpose = factories.purpose(profile=profile)
    topic = factories.topic(purpose_obj=purpose)
    record = factories.cp_consent(value="fuzz@example.org", purpose_obj=purpose, status="opted_in")
    mlist = MarketingList.objects.create(name="Fuzz", list_type="static")
    return {
        "compliance-profiles": [profile.pk],
        "purposes": [purpose.pk],
        "topics": [topic.pk],
        "contact-point-consents": [record.pk],
        "marketing-lists": [mlist.pk],
        "accounts": [account.pk],
        "contacts": [c.pk for c in contacts],
        "leads": [lead.pk for lead in leads],
        "data-policies": [c.policy_id for c in consents],
        "data-consents": [c.pk for c in consents],
    }


def aim_at_real_objects(case, world) -> None:
    """Point most generated `{id}`s at existing objects: actions then run for real."""
    generated = case.path_parameters.get("id") if case.path_parameters else None
    if not isinstance(generated, int) or generated % 4 == 0:
        return
    resource = case.operation.path.removeprefix("/api/v1/").split("/")[0]
    existing = world.get(resource)
    if not existing:
        return
    case.path_parameters["id"] = existing[generated % len(existing)]


@pytest.fixture
def dpo_token(dpo):
    return Token.objects.create(user=dpo).key


@schema.parametrize()
@FUZZ_SETTINGS
def test_api_keeps_to_its_schema_for_a_dpo(case, world, dpo_token):
    aim_at_real_objects(case, world)
    case.call_and_validate(headers={"Authorization": f"Token {dpo_token}"}, checks=CHECKS)


@schema.parametrize()
@settings(FUZZ_SETTINGS, max_examples=3, phases=[Phase.generate])
def test_api_refuses_anonymous_callers(case, world):
    aim_at_real_objects(case, world)
    response = case.call_and_validate(checks=[not_a_server_error])
    routable = str((case.path_parameters or {}).get("id", 1)).isdigit()
    assert response.status_code == 401 if routable else response.status_code in (401, 404)
