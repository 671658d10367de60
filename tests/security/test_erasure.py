"""After an erasure (GDPR Art. 17) the person is nowhere in the database — checked on a real
`pg_dump` on PostgreSQL — and an address they opted out of can never be opted in again."""

import os
import subprocess

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import Resolver404, resolve
from rest_framework.test import APIClient

from common.audit import Evidence
from consent.addresses import is_suppressed
from consent.decision.single import decide
from consent.loads.runner import consent_load_create, consent_load_run
from consent.models import (
    ConsentLoad,
    ConsentLoadChunk,
    ContactPointConsent,
    ErasureRecord,
    Suppression,
)
from consent.services.contact_points import contact_point_consent_set
from consent.services.data_consents import data_consent_cancel
from consent.services.subjects import subject_update
from subjects.models import Contact
from tests import factories
from tests.dbdump import database_text, decode_bytea_hex

pytestmark = pytest.mark.django_db(transaction=True)  # committed data, as pg_dump sees it

FIRST, LAST = "Xanthippe", "Quillfeather"
EMAIL = "Xanthippe.QUILL@Erasure-Proof.example"
OLD_EMAIL = "Xan.Old@Erasure-Proof.example"  # held before EMAIL: in the history only
PHONE = "+31 6 8765 4321"
# Lower-cased: the dumps are searched case-insensitively.
SECRETS = ("xanthippe", "quillfeather", "erasure-proof.example", "31687654321", "87654321")
CONTACT_POINTS_URL = "/api/v1/contact-point-consents/"


def database_dump() -> str:
    """The whole database as text: `pg_dump` on PostgreSQL, a SELECT of every table otherwise."""
    if connection.vendor != "postgresql":
        return database_text()
    db = connection.settings_dict
    command = ["pg_dump", "--no-owner", "--dbname", db["NAME"], "--username", db["USER"] or ""]
    if db["HOST"]:
        command += ["--host", db["HOST"]]
    if db["PORT"]:
        command += ["--port", str(db["PORT"])]
    env = {**os.environ, "PGPASSWORD": db["PASSWORD"] or ""}
    dump = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    assert "COPY public.subjects_contact" in dump  # a real dump of this database
    return decode_bytea_hex(dump).lower()


@pytest.fixture
def erased(admin_user, dpo):
    """A contact with data consents, contact-point consents (an opt-out among them) and admin
    log entries, anonymized through the API."""
    contact = factories.contact(first_name=FIRST, last_name=LAST, email=OLD_EMAIL, phone=PHONE)
    policy = factories.policy()
    newsletter = factories.purpose(name="Newsletter")
    events = factories.purpose(profile=newsletter.profile, name="Events")
    for purpose, status in ((newsletter, "opted_in"), (events, "opted_out")):
        factories.cp_consent(
            value=OLD_EMAIL,
            purpose_obj=purpose,
            status=status,
            requested_by=f"{FIRST} {LAST}",
            user=admin_user,
        )
    subject_update(subject=contact, data={"email": EMAIL}, user=admin_user)  # A → B
    factories.consent(
        subject=contact,
        policy_obj=policy,
        note=f"{FIRST} agreed at the counter",
        ip_address="198.51.100.77",
        user_agent=f"{FIRST}'s phone",
        user=admin_user,
    )
    cancelled = factories.consent(subject=contact, policy_obj=policy, note=f"{LAST} again")
    data_consent_cancel(consent=cancelled, note=f"{LAST} withdrew")
    for channel, value, purpose, status in (
        ("email", EMAIL, newsletter, "opted_in"),
        ("email", EMAIL, events, "opted_out"),
        ("sms", PHONE, newsletter, "opted_in"),
    ):
        factories.cp_consent(
            channel=channel,
            value=value,
            purpose_obj=purpose,
            status=status,
            requested_by=f"{FIRST} {LAST}",
            reason_description=f"asked from {value}",
            user=admin_user,
        )
    LogEntry.objects.log_actions(
        user_id=admin_user.pk,
        queryset=[contact, *ContactPointConsent.objects.all()],
        action_flag=CHANGE,
        change_message=f"Changed the email of {FIRST} to {EMAIL}",
    )
    # Load files (bytea chunks): a preview nobody confirmed, and a load that never ran.
    rows = "".join(
        f"{channel},{value},Newsletter,opted_in,{FIRST} {LAST}\n"
        for channel, value in (("email", OLD_EMAIL), ("email", EMAIL), ("sms", PHONE))
    )
    upload = f"channel,value,purpose,status,requested_by\n{rows}".encode()
    preview = consent_load_run(
        load=consent_load_create(
            profile=newsletter.profile,
            file=upload,
            dry_run=True,
            mode="skip",
            user=admin_user,
            dispatch=False,
        )
    )
    assert preview.status == "previewed" and preview.chunks.exists()
    queued = consent_load_create(profile=newsletter.profile, file=upload, dispatch=False)
    assert queued.chunks.exists()
    dump = database_dump()
    assert "xanthippe" in dump and "xan.old" in dump  # the probe finds what it looks for
    stored = bytes(queued.chunks.get().data)
    assert "quillfeather" in decode_bytea_hex("\\\\x" + stored.hex()).lower()  # as pg_dump has it

    client = APIClient()
    client.force_authenticate(dpo)
    response = client.post(f"/api/v1/contacts/{contact.pk}/anonymize/")
    assert response.status_code == 200, response.content
    return {"contact": contact, "newsletter": newsletter, "events": events}


def test_nothing_of_an_erased_contact_survives_in_a_dump_of_the_database(erased):
    dump = database_dump()
    for secret in (*SECRETS, "xan.old"):
        assert secret not in dump, secret
    assert Contact.objects.get(pk=erased["contact"].pk).anonymized_at is not None
    assert ErasureRecord.objects.count() == 1
    # The opt-outs of the current and of the old address, as hashes.
    assert Suppression.objects.filter(channel="email").count() == 2


def test_an_old_address_is_erased_and_suppressed_too(erased):
    assert is_suppressed("email", OLD_EMAIL)
    assert not ContactPointConsent.objects.filter(value=OLD_EMAIL.lower()).exists()
    assert not ContactPointConsent.history.filter(value=OLD_EMAIL.lower()).exists()
    decision = decide(channel="email", value=OLD_EMAIL, purpose=erased["newsletter"])
    assert (decision.allowed, decision.reason) == (False, "suppressed")


def test_stored_load_files_are_purged(erased):
    assert not ConsentLoadChunk.objects.exists()
    queued = ConsentLoad.objects.filter(dry_run=False).get()
    assert queued.status == "failed" and "erasure" in queued.message


@pytest.mark.parametrize("purpose", ["newsletter", "events"])
def test_the_service_cannot_opt_an_erased_opted_out_address_back_in(erased, purpose):
    with pytest.raises(ValidationError) as error:
        contact_point_consent_set(
            channel="email",
            value=EMAIL.upper(),
            purpose=erased[purpose],
            status="opted_in",
            evidence=Evidence(source="form"),
        )
    assert error.value.error_dict["value"][0].code == "suppressed"
    assert not ContactPointConsent.objects.filter(channel="email").exists()


def test_the_api_cannot_opt_an_erased_opted_out_address_back_in(erased, dpo):
    try:
        resolve(CONTACT_POINTS_URL)
    except Resolver404:
        pytest.skip(f"{CONTACT_POINTS_URL} is not routed yet (the service path is tested)")
    client = APIClient()
    client.force_authenticate(dpo)
    response = client.post(
        CONTACT_POINTS_URL,
        {
            "channel": "email",
            "value": f"  {EMAIL.lower()} ",
            "purpose": erased["newsletter"].pk,
            "status": "opted_in",
            "source": "api",
        },
        format="json",
    )
    assert response.status_code in (400, 409), response.content
    assert "suppressed" in response.content.decode()
    assert not ContactPointConsent.objects.filter(channel="email").exists()
