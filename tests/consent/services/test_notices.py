"""Notices (DESIGN §3.9): drafts, publishing, immutability, outdated opt-ins and consents."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from common.audit import Source
from consent.models import ContactPointConsent, DataConsent, Notice
from consent.services.notices import (
    NoticeImmutable,
    notice_create,
    notice_delete,
    notice_publish,
    notice_update,
)
from tests import factories

pytestmark = pytest.mark.django_db


def publish(owner, version, *, material=True, language="en", **fields):
    key = "profile" if owner._meta.model_name == "complianceprofile" else "policy"
    notice = notice_create(
        data={
            key: owner,
            "version": version,
            "language": language,
            "title": f"Privacy notice {version}",
            "url": f"https://example.org/privacy/{version}",
            "text": f"We use your address for newsletters ({version}).",
            "material": material,
            **fields,
        },
        user=None,
        source=Source.INTERNAL,
    )
    return notice_publish(notice, user=None, source=Source.INTERNAL)


def test_a_notice_has_exactly_one_owner():
    profile, policy = factories.compliance_profile(), factories.policy()
    with pytest.raises(IntegrityError), transaction.atomic():
        Notice.objects.create(profile=profile, policy=policy, version="1", title="t", text="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        Notice.objects.create(version="1", title="t", text="x")


def test_version_and_language_are_unique_per_owner():
    profile = factories.compliance_profile()
    publish(profile, "2")
    with pytest.raises(ValidationError):
        notice_create(
            data={"profile": profile, "version": "2", "language": "en", "title": "t", "text": "x"},
            user=None,
            source=Source.INTERNAL,
        )
    # The same version in another language is another notice.
    assert publish(profile, "2", language="nl").language == "nl"


def test_publishing_puts_the_profile_in_force_with_its_version_and_url():
    profile = factories.compliance_profile(notice_version="1")
    notice = publish(profile, "2")
    profile.refresh_from_db()
    assert notice.published_at is not None
    assert (profile.notice_version, profile.notice_url) == ("2", "https://example.org/privacy/2")
    assert profile.history.latest().history_change_reason == "notice 2 published"
    # Every opt-in from now on records it.
    record = factories.cp_consent(
        value="ada@example.org",
        purpose_obj=factories.purpose(profile=profile),
        status="opted_in",
    )
    assert record.notice_version == "2"


def test_publishing_a_policy_notice_is_recorded_by_new_data_consents():
    policy = factories.policy(notice_version="v1")
    publish(policy, "v2")
    policy.refresh_from_db()
    consent = factories.consent(subject=factories.contact(), policy_obj=policy)
    assert consent.notice_version == "v2"


def test_a_published_notice_text_never_changes_and_it_is_never_deleted():
    notice = publish(factories.compliance_profile(), "2")
    with pytest.raises(NoticeImmutable):
        notice_update(notice, data={"text": "Something else"}, user=None, source=Source.API)
    with pytest.raises(NoticeImmutable):
        notice_delete(notice, user=None, source=Source.API)
    notice.refresh_from_db()
    assert notice.text == "We use your address for newsletters (2)."
    # Its title and URL may still be corrected.
    notice_update(notice, data={"title": "Privacy"}, user=None, source=Source.API)
    assert Notice.objects.get(pk=notice.pk).title == "Privacy"


def test_a_draft_is_edited_and_deleted_with_history():
    profile = factories.compliance_profile()
    draft = notice_create(
        data={"profile": profile, "version": "3", "title": "t", "text": "x"},
        user=None,
        source=Source.INTERNAL,
    )
    notice_update(draft, data={"text": "y"}, user=None, source=Source.INTERNAL)
    notice_delete(draft, user=None, source=Source.INTERNAL)
    assert not Notice.objects.filter(pk=draft.pk).exists()
    assert [row.history_type for row in Notice.history.filter(id=draft.pk)] == ["-", "~", "+"]
    profile.refresh_from_db()
    assert profile.notice_version == "n1"  # a draft never put anything in force


def test_current_notice_prefers_the_language_then_english():
    profile = factories.compliance_profile()
    publish(profile, "2")
    publish(profile, "2", language="fr")
    assert Notice.objects.current_for(profile=profile, language="fr").language == "fr"
    assert Notice.objects.current_for(profile=profile, language="de").language == "en"


def test_opt_ins_under_an_older_version_are_outdated_after_a_material_notice():
    profile = factories.compliance_profile(notice_version="1")
    purpose = factories.purpose(profile=profile)
    old = factories.cp_consent(value="old@example.org", purpose_obj=purpose, status="opted_in")
    factories.cp_consent(value="out@example.org", purpose_obj=purpose, status="opted_out")
    assert not ContactPointConsent.objects.outdated(profile).exists()  # no material notice yet
    publish(profile, "2", material=True)
    purpose.refresh_from_db()
    new = factories.cp_consent(value="new@example.org", purpose_obj=purpose, status="opted_in")
    publish(profile, "2.1", material=False)  # a minor update keeps "2" current
    purpose.refresh_from_db()
    minor = factories.cp_consent(value="minor@example.org", purpose_obj=purpose, status="opted_in")
    outdated = set(ContactPointConsent.objects.outdated(profile))
    assert outdated == {old}
    assert new.notice_version == "2" and minor.notice_version == "2.1"
    other = factories.purpose(profile=profile)
    assert not ContactPointConsent.objects.outdated(profile, purpose=other).exists()


def test_re_saving_the_same_opt_in_records_the_new_version_and_is_no_longer_outdated():
    profile = factories.compliance_profile(notice_version="1")
    purpose = factories.purpose(profile=profile)
    record = factories.cp_consent(value="ada@example.org", purpose_obj=purpose, status="opted_in")
    publish(profile, "2")
    purpose.refresh_from_db()
    assert list(ContactPointConsent.objects.outdated(profile)) == [record]
    again = factories.cp_consent(
        value="ada@example.org", purpose_obj=purpose, status="opted_in", source="preference_center"
    )
    assert again.pk == record.pk and again.notice_version == "2"
    assert again.history.count() == 2  # a changed notice version is a change
    assert not ContactPointConsent.objects.outdated(profile).exists()


def test_active_data_consents_under_an_older_version_are_outdated():
    policy = factories.policy(notice_version="v1")
    contact = factories.contact()
    old = factories.consent(subject=contact, policy_obj=policy)
    publish(policy, "v2")
    policy.refresh_from_db()
    factories.consent(subject=factories.contact(), policy_obj=policy)
    assert list(DataConsent.objects.outdated(policy)) == [old]
