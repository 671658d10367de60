import hashlib
import hmac
import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from common.audit import Evidence, Source, evidence_from
from consent.addresses import (
    address_hash,
    address_hasher,
    is_suppressed,
    normalize_address,
    normalized_address_hash,
)
from consent.models import ComplianceProfile, ContactPointConsent, Purpose, Suppression
from consent.roles import DPO, MARKETING, SERVICE_DESK
from consent.services.configuration import (
    ConfigurationConflict,
    compliance_profile_save,
    configuration_delete,
    configuration_save,
)
from consent.services.contact_points import (
    contact_point_consent_set,
    contact_point_consents_expire,
    suppression_add,
    suppression_remove,
)
from tests import factories

OPTED_IN = ContactPointConsent.Status.OPTED_IN
OPTED_OUT = ContactPointConsent.Status.OPTED_OUT
NOT_SET = ContactPointConsent.Status.NOT_SET


@pytest.fixture
def purpose(db):
    return factories.purpose()


def set_status(purpose, status, *, value="ada@example.org", channel="email", **kwargs):
    evidence, data = evidence_from(kwargs, actor=None, source=Source.INTERNAL)
    return contact_point_consent_set(
        channel=channel, value=value, purpose=purpose, status=status, **data, evidence=evidence
    )


# ---------------------------------------------------------------------------------------------
# Models and migrations


def test_fresh_install_has_the_default_profile_with_its_three_purposes(db):
    profile = ComplianceProfile.objects.default()
    purposes = {p.name: (p.kind, p.consent_model, p.required_level) for p in profile.purposes.all()}
    assert (profile.slug, profile.check_subject_consent) == ("default", True)
    assert purposes == {
        "Commercial": ("commercial", "restrictive", 4),
        "Transactional": ("transactional", "disabled", 2),
        "Tracking": ("tracking", "restrictive", 5),
    }


def test_a_second_default_profile_is_refused_by_the_database(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.compliance_profile(is_default=True)


def test_one_purpose_record_per_address_even_with_a_null_topic(purpose):
    values = {"channel": "email", "value": "ada@example.org", "purpose": purpose}
    ContactPointConsent.objects.create(**values)
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactPointConsent.objects.create(**values)


def test_one_topic_record_per_address_and_topic(purpose):
    topic = factories.topic(purpose_obj=purpose)
    values = {"channel": "email", "value": "ada@example.org", "purpose": purpose}
    ContactPointConsent.objects.create(**values)  # the purpose record does not collide
    ContactPointConsent.objects.create(**values, topic=topic)
    ContactPointConsent.objects.create(**values, topic=factories.topic(purpose_obj=purpose))
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactPointConsent.objects.create(**values, topic=topic)


@pytest.mark.parametrize(
    "field, value", [("status", "maybe"), ("channel", "fax"), ("source", "rumour"), ("value", "")]
)
def test_database_refuses_values_outside_the_choices(purpose, field, value):
    values = {"channel": "email", "value": "ada@example.org", "purpose": purpose, field: value}
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactPointConsent.objects.create(**values)


@pytest.mark.parametrize(
    "role, granted, refused",
    [
        (DPO, ["unsuppress", "check_consent", "delete_topic"], ["delete_contactpointconsent"]),
        (MARKETING, ["add_contactpointconsent", "change_topic"], ["add_suppression"]),
        (SERVICE_DESK, ["add_contactpointconsent", "change_contactpointconsent"], ["add_topic"]),
    ],
)
def test_roles_get_their_contact_point_permissions(db, role, granted, refused):
    codenames = set(Group.objects.get(name=role).permissions.values_list("codename", flat=True))
    assert set(granted) <= codenames
    assert not set(refused) & codenames


# ---------------------------------------------------------------------------------------------
# Normalization


@pytest.mark.parametrize(
    "channel, value, expected",
    [
        ("email", "  Ada.Lovelace@Example.ORG ", "ada.lovelace@example.org"),
        ("sms", "06 12345678", "+31612345678"),
        ("voice", "+32 470 12 34 56", "+32470123456"),
        ("custom", "  crm-42 ", "crm-42"),
    ],
)
def test_addresses_are_stored_normalized(purpose, channel, value, expected):
    record, _, _ = set_status(purpose, OPTED_IN, channel=channel, value=value)
    assert record.value == expected == normalize_address(channel, value)


@pytest.mark.parametrize(
    "channel, value, field",
    [
        ("email", "not-an-email", "value"),
        ("sms", "12", "value"),
        ("custom", "   ", "value"),
        ("custom", None, "value"),
        ("fax", "+31612345678", "channel"),
    ],
)
def test_invalid_addresses_are_field_errors(channel, value, field):
    with pytest.raises(ValidationError) as error:
        normalize_address(channel, value)
    assert field in error.value.message_dict


# ---------------------------------------------------------------------------------------------
# contact_point_consent_set


def test_set_creates_one_record_with_its_evidence_and_a_history_row(purpose, make_user):
    desk = make_user("desk")
    record, created, changed = set_status(
        purpose,
        OPTED_IN,
        source=Source.VERBAL,
        reason="asked at the counter",
        requested_by="customer in person",
        user=desk,
        ip_address="192.0.2.1",
    )
    assert (created, changed) == (True, True)
    assert (record.captured_by, record.notice_version) == (desk, purpose.profile.notice_version)
    history = record.history.get()
    assert (history.history_type, history.status, history.history_source) == (
        "+",
        OPTED_IN,
        "verbal",
    )
    assert (history.history_user, history.history_change_reason) == (desk, "asked at the counter")


def test_a_change_updates_the_record_and_keeps_the_previous_state_in_history(purpose):
    first, _, _ = set_status(purpose, OPTED_IN, value="Ada@Example.org")
    second, created, changed = set_status(
        purpose, OPTED_OUT, value="ada@example.ORG", source=Source.ONE_CLICK_UNSUBSCRIBE
    )
    assert second.pk == first.pk
    assert (created, changed) == (False, True)
    assert ContactPointConsent.objects.count() == 1
    statuses = list(second.history.order_by("history_id").values_list("status", "history_source"))
    assert statuses == [(OPTED_IN, "internal"), (OPTED_OUT, "one_click_unsubscribe")]


def test_setting_the_same_status_and_evidence_again_writes_nothing(purpose):
    record, _, _ = set_status(purpose, OPTED_IN, reason="form", captured_at=timezone.now())
    again, created, changed = set_status(purpose, OPTED_IN, reason="form")
    assert (again.pk, created, changed) == (record.pk, False, False)
    assert record.history.count() == 1


def test_new_evidence_for_the_same_status_is_a_change(purpose):
    record, _, _ = set_status(purpose, OPTED_IN, reason="form")
    _, _, changed = set_status(purpose, OPTED_IN, reason="renewed at the event")
    assert changed
    assert record.history.count() == 2


def test_a_given_capture_time_counts_as_evidence(purpose):
    captured = timezone.now() - timedelta(days=3)
    set_status(purpose, OPTED_IN, captured_at=captured)
    assert not set_status(purpose, OPTED_IN, captured_at=captured)[2]
    record, _, changed = set_status(purpose, OPTED_IN, captured_at=captured + timedelta(1))
    assert changed
    assert record.captured_at == captured + timedelta(1)


def test_topic_and_purpose_records_are_separate(purpose):
    topic = factories.topic(purpose_obj=purpose)
    set_status(purpose, OPTED_IN)
    record, created, _ = set_status(purpose, OPTED_OUT, topic=topic)
    assert created
    assert ContactPointConsent.objects.get(topic=None).status == OPTED_IN
    assert record.status == OPTED_OUT


def test_a_topic_of_another_purpose_is_refused(purpose):
    with pytest.raises(ValidationError) as error:
        set_status(purpose, OPTED_IN, topic=factories.topic())
    assert "topic" in error.value.message_dict
    assert not ContactPointConsent.objects.exists()


@pytest.mark.parametrize("field, value", [("status", "maybe"), ("source", "rumour")])
def test_unknown_status_or_source_is_a_field_error(purpose, field, value):
    kwargs = {"status": OPTED_IN, "source": Source.INTERNAL, field: value}
    with pytest.raises(ValidationError) as error:
        set_status(purpose, **kwargs)
    assert field in error.value.message_dict


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_opt_ins_make_one_record():
    if connection.vendor != "postgresql":
        pytest.skip("needs row locks and concurrent connections (PostgreSQL)")
    purpose = factories.purpose()
    barrier = threading.Barrier(4)
    results, errors = [], []

    def opt_in(n):
        try:
            barrier.wait()
            results.append(set_status(purpose, OPTED_IN, reason=f"thread {n}")[1])
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=opt_in, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [False, False, False, True]
    assert ContactPointConsent.objects.count() == 1


# ---------------------------------------------------------------------------------------------
# Suppressions


def test_a_suppression_holds_a_keyed_hash_never_the_address(db):
    suppression, created = suppression_add(channel="email", value="Ada@Example.org")
    assert created
    assert "ada" not in suppression.value_hash
    assert len(suppression.value_hash) == 64
    assert suppression.value_hash == address_hash("email", "ADA@example.ORG")
    assert is_suppressed("email", " ada@example.org ")
    assert not is_suppressed("sms", "+31612345678")


def test_suppressing_twice_keeps_one_entry(db):
    suppression_add(channel="sms", value="+31612345678")
    _, created = suppression_add(channel="sms", value="0612345678")
    assert not created
    assert Suppression.objects.count() == 1


def test_a_suppressed_address_cannot_be_opted_in(purpose):
    suppression_add(channel="email", value="ada@example.org")
    with pytest.raises(ValidationError) as error:
        set_status(purpose, OPTED_IN)
    assert error.value.error_dict["value"][0].code == "suppressed"


@pytest.mark.parametrize("status", [OPTED_OUT, "not_set"])
def test_any_other_status_for_a_suppressed_address_is_a_no_op(purpose, status):
    # Storing it would write the erased address back in clear.
    suppression_add(channel="email", value="ada@example.org")
    assert set_status(purpose, status) == (None, False, False)
    assert not ContactPointConsent.objects.exists()
    assert not ContactPointConsent.history.exists()


def test_unsuppress_needs_the_permission_and_a_reason(db, marketer, dpo):
    suppression_add(channel="email", value="ada@example.org")
    with pytest.raises(PermissionDenied):
        suppression_remove(channel="email", value="ada@example.org", user=marketer, reason="asked")
    with pytest.raises(ValidationError):
        suppression_remove(channel="email", value="ada@example.org", user=dpo, reason=" ")
    assert is_suppressed("email", "ada@example.org")


def test_unsuppress_is_audited_without_the_address(purpose, dpo):
    suppression_add(channel="email", value="ada@example.org", reason="erased")
    assert suppression_remove(
        channel="email", value="ada@example.org", user=dpo, reason="customer asked in writing"
    )
    assert not is_suppressed("email", "ada@example.org")
    deletion = Suppression.history.get(history_type="-")
    assert (deletion.history_user, deletion.history_change_reason) == (
        dpo,
        "customer asked in writing",
    )
    assert deletion.value_hash == address_hash("email", "ada@example.org")
    assert set_status(purpose, OPTED_IN)[1]  # opting in works again
    assert not suppression_remove(channel="email", value="ada@example.org", user=dpo, reason="x")


# ---------------------------------------------------------------------------------------------
# Expiry sweep


def test_expiry_sweep_turns_past_opt_ins_into_not_set_once(purpose):
    now = timezone.now()
    past, _, _ = set_status(purpose, OPTED_IN, value="a@example.org", expires_at=now - timedelta(1))
    future, _, _ = set_status(
        purpose, OPTED_IN, value="b@example.org", expires_at=now + timedelta(1)
    )
    opted_out, _, _ = set_status(
        purpose, OPTED_OUT, value="c@example.org", expires_at=now - timedelta(1)
    )

    assert contact_point_consents_expire(now=now) == 1
    assert contact_point_consents_expire(now=now) == 0

    past.refresh_from_db()
    assert (past.status, past.source, past.reason) == (NOT_SET, "system", "expired")
    latest = past.history.latest("history_id")
    assert (latest.status, latest.history_source, latest.history_change_reason) == (
        NOT_SET,
        "system",
        "expired",
    )
    assert past.history.count() == 2
    assert ContactPointConsent.objects.get(pk=future.pk).status == OPTED_IN
    assert ContactPointConsent.objects.get(pk=opted_out.pk).history.count() == 1


def test_expiry_sweep_works_in_batches(purpose):
    now = timezone.now()
    for n in range(5):
        set_status(purpose, OPTED_IN, value=f"p{n}@example.org", expires_at=now - timedelta(1))
    assert contact_point_consents_expire(now=now, batch_size=2) == 5
    assert not ContactPointConsent.objects.filter(status=OPTED_IN).exists()
    assert ContactPointConsent.history.filter(status=NOT_SET).count() == 5


def test_purposes_of_each_kind_validate_required_level(db):
    purpose = Purpose(profile=factories.compliance_profile(), name="x", kind="commercial")
    purpose.required_level = 6
    with pytest.raises(ValidationError):
        purpose.full_clean()


@pytest.mark.parametrize(
    "key", ["dev-suppression-key", "k" * 64, "a much longer key than one block " * 4, "ключ"]
)
@pytest.mark.parametrize("value", ["ada@example.org", "+31612345678", "crm-ü-1", "ü-😀", ""])
def test_the_bulk_address_hasher_is_the_suppression_hash(settings, key, value):
    settings.SUPPRESSION_HASH_KEY = key
    assert address_hasher()(value) == normalized_address_hash(value)
    assert (
        normalized_address_hash(value)
        == hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()
    )


def test_making_a_profile_the_default_switches_it_with_history_for_both(db, dpo):
    old = ComplianceProfile.objects.get(is_default=True)
    new = factories.compliance_profile(slug="eu")

    compliance_profile_save(new, {"is_default": True}, user=dpo, source=Source.INTERNAL)

    assert list(ComplianceProfile.objects.filter(is_default=True)) == [new]
    unset = old.history.order_by("-history_id").first()
    assert (unset.is_default, unset.history_user, unset.history_source) == (False, dpo, "internal")
    assert unset.history_change_reason == "no longer the default profile"
    with pytest.raises(ValidationError) as refused:
        compliance_profile_save(new, {"is_default": False}, user=dpo, source=Source.INTERNAL)
    assert "is_default" in refused.value.message_dict


def test_configuration_in_use_or_the_default_profile_is_not_deleted(db, dpo):
    default = ComplianceProfile.objects.get(is_default=True)
    purpose = default.purposes.first()
    contact_point_consent_set(
        channel="email",
        value="ada@example.org",
        purpose=purpose,
        status="opted_in",
        evidence=Evidence(source="form"),
    )

    with pytest.raises(ConfigurationConflict, match="default compliance profile"):
        configuration_delete(default, user=dpo, source=Source.INTERNAL)
    with pytest.raises(ConfigurationConflict, match="still used by contact point consents"):
        configuration_delete(purpose, user=dpo, source=Source.INTERNAL)
    assert Purpose.objects.filter(pk=purpose.pk).exists()

    spare = configuration_save(
        Purpose(profile=default),
        {"name": "Surveys", "kind": "commercial"},
        user=dpo,
        source=Source.INTERNAL,
    )
    spare_id = spare.pk
    configuration_delete(spare, user=dpo, source=Source.INTERNAL)
    assert not Purpose.objects.filter(pk=spare_id).exists()
    deleted = Purpose.history.filter(id=spare_id).first()
    assert (deleted.history_type, deleted.history_user, deleted.history_source) == (
        "-",
        dpo,
        "internal",
    )


def test_the_admin_switches_the_default_profile_through_the_service(client, dpo):
    old = ComplianceProfile.objects.get(is_default=True)
    new = factories.compliance_profile(slug="eu", name="EU")
    client.force_login(dpo)
    url = f"/admin/consent/complianceprofile/{new.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and not isinstance(value, bool)
    }
    data.update(is_default="on", check_subject_consent="on")
    data.update({"purposes-TOTAL_FORMS": "0", "purposes-INITIAL_FORMS": "0"})

    response = client.post(url, data)

    assert response.status_code == 302, response.context and response.context["errors"]
    assert list(ComplianceProfile.objects.filter(is_default=True)) == [new]
    unset = old.history.order_by("-history_id").first()
    assert (unset.is_default, unset.history_user, unset.history_source) == (False, dpo, "internal")
    made = new.history.order_by("-history_id").first()
    assert (made.is_default, made.history_change_reason) == (True, "edited")


def test_the_admin_never_deletes_the_default_profile_or_configuration_in_use(client, admin_user):
    default = ComplianceProfile.objects.get(is_default=True)
    purpose = default.purposes.first()
    contact_point_consent_set(
        channel="email",
        value="ada@example.org",
        purpose=purpose,
        status="opted_in",
        evidence=Evidence(source="form"),
    )
    spare = factories.compliance_profile(slug="spare")
    client.force_login(admin_user)

    page = client.post(f"/admin/consent/complianceprofile/{default.pk}/delete/", {"post": "yes"})
    assert page.status_code == 403
    bulk = client.post(
        "/admin/consent/complianceprofile/",
        {"action": "delete_selected", "_selected_action": [default.pk, spare.pk], "post": "yes"},
    )
    assert bulk.status_code == 200  # the confirmation page, naming why
    assert "default compliance profile" in bulk.content.decode()
    in_use = client.post(f"/admin/consent/purpose/{purpose.pk}/delete/", {"post": "yes"})
    assert "still used by contact point consents" in in_use.content.decode()

    assert ComplianceProfile.objects.filter(pk__in=[default.pk, spare.pk]).count() == 2
    assert Purpose.objects.filter(pk=purpose.pk).exists()
    deleted = client.post(f"/admin/consent/complianceprofile/{spare.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert not ComplianceProfile.objects.filter(pk=spare.pk).exists()
    row = ComplianceProfile.history.filter(id=spare.pk).order_by("-history_id").first()
    assert (row.history_type, row.history_user, row.history_source) == ("-", admin_user, "internal")
