"""The changelist CSV export (common.export): one definition of a cell, two writers — COPY on
PostgreSQL, the portable Python writer elsewhere — that must give the same file."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.contrib import admin
from django.db import connection
from django.db.models import TextField, Value
from django.test import RequestFactory
from django.urls import reverse

from common.audit import Evidence
from common.csvutil import csv_lines, csv_safe
from common.export import _Neutralized, export_csv, export_rows
from consent.models import ContactPointConsent, DataConsent, Purpose
from consent.services.contact_points import contact_point_consent_set
from subjects.models import Contact
from tests import factories

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the COPY writer is PostgreSQL's (CI runs both)"
)


def parse(chunks) -> list[list[str]]:
    text = "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)
    return list(csv.reader(io.StringIO(text)))


def changelist_queryset(model, user, query: str = ""):
    model_admin = admin.site._registry[model]
    request = RequestFactory().get(f"/?{query}")
    request.user = user
    return model_admin.get_changelist_instance(request).get_queryset(request), model_admin


@pytest.fixture
def awkward(db, policy):
    """Rows whose cells test every rule: formulas, signs, numbers, blanks, labels, instants."""
    ada = factories.contact(
        first_name="=HYPERLINK(1)", last_name="-2+3", phone="+31687654321", email="a@example.org"
    )
    grace = factories.contact(first_name="", last_name="@SUM(A1)", phone="", email="")
    factories.lead(first_name="Alan", last_name="Tab\there")
    factories.consent(subject=ada, policy_obj=policy)
    factories.consent(subject=grace, policy_obj=policy, confidential=False)
    purpose = Purpose.objects.get(profile__is_default=True, kind=Purpose.Kind.COMMERCIAL)
    for value, status in (("+31687654321", "opted_in"), ("a@example.org", "opted_out")):
        contact_point_consent_set(
            channel="sms" if value.startswith("+") else "email",
            value=value,
            purpose=purpose,
            status=status,
            evidence=Evidence(source="verbal", requested_by="+cmd|' /C calc'!A0"),
        )
    return ada


@on_postgresql
@pytest.mark.parametrize("model", [Contact, DataConsent, ContactPointConsent])
def test_copy_and_the_portable_writer_give_the_same_file(awkward, admin_user, model):
    queryset, model_admin = changelist_queryset(model, admin_user)
    fields = model_admin.export_fields

    copied = parse(export_csv(queryset, fields))
    portable = parse(csv_lines([h for h, _ in fields], export_rows(queryset, fields)))

    assert copied[0] == [h for h, _ in fields]
    assert len(copied) > 1
    assert copied == portable


def test_cells_are_words_and_spreadsheet_safe(awkward, admin_user):
    queryset, model_admin = changelist_queryset(Contact, admin_user)

    rows = parse(export_csv(queryset, model_admin.export_fields))
    header, body = rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    ada = next(row for row in body if row["Phone"] == "+31687654321")

    assert header[0] == "ID"
    assert ada["First name"] == "'=HYPERLINK(1)"  # formula neutralized
    assert ada["Last name"] == "'-2+3"  # a sign that is not a number
    assert ada["Phone"] == "+31687654321"  # an E.164 number stays exact
    assert ada["Restricted"] == "No"  # a boolean in words
    assert ada["Data Protection Consent"] == "Explicit"  # a choice as its label (code "explicit")
    created = datetime.strptime(ada["Created"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert created == Contact.objects.get(pk=awkward.pk).created_at
    grace = next(row for row in body if row["Last name"] == "'@SUM(A1)")
    assert grace["First name"] == "" and grace["E-mail"] == ""


def test_contact_point_export_in_words(awkward, admin_client):
    response = admin_client.get(reverse("admin:consent_contactpointconsent_export"))

    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    sms = next(row for row in rows if row["Address"] == "+31687654321")
    assert sms["Channel"] == "SMS" and sms["Status"] == "Opted in"
    assert sms["Requested by"] == "'+cmd|' /C calc'!A0"
    assert sms["Purpose"]  # the purpose's name, not its id


def test_export_follows_the_view_and_the_search(awkward, admin_user):
    queryset, model_admin = changelist_queryset(Contact, admin_user, "q=a@example.org")

    rows = parse(export_csv(queryset, model_admin.export_fields))

    assert [row[4] for row in rows[1:]] == ["+31687654321"]


SIGNED_CELLS = ["+31687654321", "-5", "+1.5e3", "-.5", "+", "-", "+1 555 0100", "-2+3", "+12a"]


@on_postgresql
@pytest.mark.parametrize(
    "value", [*SIGNED_CELLS, "=1+1", "@SUM(A1)", "\tx", "12", "Ada", "", "+\u0663", "-1\n2"]
)
def test_the_sql_cell_neutralizes_exactly_as_csv_safe(db, value):
    """The COPY writer's SQL (common.export._Neutralized) against csv_safe, value by value:
    signs followed by digits stay (an E.164 number), every other sign start gets its
    apostrophe, and the full number pattern decides what is left."""
    factories.contact()
    cell = _Neutralized(Value(value, output_field=TextField()))
    stored = Contact.objects.annotate(cell=cell).values_list("cell", flat=True)[0]

    assert (stored or "") == csv_safe(value)
