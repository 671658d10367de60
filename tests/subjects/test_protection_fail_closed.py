"""The DPO-only fields fail closed: the system must be named (`SYSTEM`), `user=None` is refused."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError

from subjects.models import Contact, DataProtectionConsent, Lead
from subjects.services import SYSTEM, ensure_may_change_protection, subject_assign, subject_create

pytestmark = pytest.mark.django_db
REFUSED = ["Only a data protection officer may change this field."]


def lead() -> Lead:
    return subject_create(model=Lead, data={"last_name": "King"}, user=SYSTEM)


@pytest.mark.parametrize("field", ["restricted", "inherent_basis"])
def test_a_caller_that_forgets_the_user_is_refused(field):
    subject = lead()

    with pytest.raises(ValidationError) as refused:
        ensure_may_change_protection(subject, {field: True}, None)

    assert refused.value.message_dict == {field: REFUSED}
    assert refused.value.error_dict[field][0].code == "permission_denied"


def test_every_changed_protection_field_is_reported_for_a_missing_user():
    subject = lead()

    with pytest.raises(ValidationError) as refused:
        ensure_may_change_protection(
            subject,
            {"restricted": True, "inherent_basis": True, "inherent_basis_note": "Tax"},
            None,
        )

    assert set(refused.value.message_dict) == {
        "restricted",
        "inherent_basis",
        "inherent_basis_note",
    }


def test_subject_create_without_a_user_cannot_restrict():
    with pytest.raises(ValidationError) as refused:
        subject_create(model=Contact, data={"last_name": "King", "restricted": True})

    assert refused.value.message_dict == {"restricted": REFUSED}
    assert not Contact.objects.filter(last_name="King").exists()
    assert Contact.history.filter(last_name="King").count() == 0


def test_subject_assign_has_no_default_user():
    with pytest.raises(TypeError):
        subject_assign(Lead(), {"last_name": "King"})  # type: ignore[call-arg]


def test_a_missing_user_may_still_resend_unchanged_values_and_edit_other_fields():
    subject = lead()

    subject_assign(
        subject, {"first_name": "Ada", "restricted": False, "inherent_basis": False}, user=None
    )

    assert subject.first_name == "Ada"


@pytest.mark.parametrize("field", ["restricted", "inherent_basis"])
def test_the_named_system_may_change_protection_fields(field):
    subject = lead()

    ensure_may_change_protection(subject, {field: True}, SYSTEM)


def test_the_named_system_creates_a_restricted_subject_recorded_without_a_user():
    contact = subject_create(
        model=Contact, data={"last_name": "King", "restricted": True}, user=SYSTEM
    )

    contact.refresh_from_db()
    assert contact.restricted is True
    assert contact.data_protection_consent == DataProtectionConsent.RESTRICT
    assert contact.history.get().history_user is None  # the system is no user in the timeline


@pytest.mark.parametrize("role", ["marketer", "service_desk"])
@pytest.mark.parametrize("field", ["restricted", "inherent_basis"])
def test_a_user_without_the_permission_is_refused(request, role, field):
    user = request.getfixturevalue(role)
    subject = lead()

    with pytest.raises(ValidationError) as refused:
        ensure_may_change_protection(subject, {field: True}, user)

    assert refused.value.message_dict == {field: REFUSED}


def test_an_anonymous_user_is_refused():
    with pytest.raises(ValidationError) as refused:
        ensure_may_change_protection(lead(), {"restricted": True}, AnonymousUser())

    assert refused.value.message_dict == {"restricted": REFUSED}


def test_a_dpo_may_change_protection_fields_and_is_named_in_the_timeline(dpo):
    contact = subject_create(
        model=Contact,
        data={"last_name": "King", "inherent_basis": True, "inherent_basis_note": "Tax law"},
        user=dpo,
    )

    ensure_may_change_protection(contact, {"restricted": True}, dpo)
    contact.refresh_from_db()
    assert (contact.inherent_basis, contact.inherent_basis_note) == (True, "Tax law")
    assert contact.history.get().history_user == dpo
