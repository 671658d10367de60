"""A decision in words: one sentence per reason, names and labels, never ids or codes."""

from datetime import datetime, timedelta

from django.utils import timezone

from consent.decision.single import decide
from consent.decision.wording import day, decision_in_words
from consent.services.contact_points import suppression_add
from consent.services.erasure import subject_anonymize
from tests import factories

MARCH_3 = timezone.make_aware(datetime(2026, 3, 3, 12, 0))


def words(value, purpose, topic=None, channel="email", **kwargs):
    decision = decide(
        channel=channel, value=value, purpose=purpose, topic=topic, explain=True, **kwargs
    )
    return decision_in_words(decision)


def test_insufficient_level_names_the_level_and_who_holds_less(commercial):
    maud = factories.contact(first_name="Maud", last_name="Wagner", email="maud@example.org")
    factories.consent(subject=maud, policy_obj=factories.policy(consent_level=1))
    factories.lead(first_name="Max", last_name="Wagner", email="maud@example.org")
    rich = factories.lead(first_name="Rich", last_name="Enough", email="maud@example.org")
    factories.consent(subject=rich, policy_obj=factories.policy(consent_level=5))

    assert words("maud@example.org", commercial) == (
        "needs (4) Marketing; Maud Wagner holds (1) Consent; Max Wagner holds (0) None"
    )


def test_an_opt_out_says_of_what_when_and_how(commercial, newsletter):
    factories.cp_consent(value="ann@example.org", purpose_obj=commercial, status="opted_in")
    factories.cp_consent(
        value="ann@example.org",
        purpose_obj=commercial,
        topic=newsletter,
        status="opted_out",
        source="preference_center",
        captured_at=MARCH_3,
    )
    assert words("ann@example.org", commercial, newsletter) == (
        "opted out of Newsletter on 3 March 2026 (preference center)"
    )


def test_an_opt_in_says_when_and_how(commercial, newsletter):
    factories.cp_consent(
        value="ok@example.org",
        purpose_obj=commercial,
        status="opted_in",
        source="form",
        captured_at=MARCH_3,
    )
    assert words("ok@example.org", commercial) == "opted in to Commercial on 3 March 2026 (form)"
    assert words("ok@example.org", commercial, newsletter) == "no opt-in to Newsletter"


def test_an_expired_opt_in_says_it_expired(commercial):
    factories.cp_consent(
        value="old@example.org",
        purpose_obj=commercial,
        status="opted_in",
        source="double_opt_in",
        captured_at=MARCH_3,
        expires_at=timezone.now() - timedelta(days=1),
    )
    assert words("old@example.org", commercial) == (
        "no opt-in to Commercial: the opt-in on 3 March 2026 (double opt-in) has expired"
    )


def test_subject_rules_name_the_subject(commercial):
    factories.contact(first_name="Rita", last_name="Stone", email="r@example.org", restricted=True)
    sam = factories.contact(first_name="Sam", last_name="Bell", email="s@example.org")
    factories.consent(subject=sam)
    sam.refresh_from_db()
    sam.allow_bulk_email = False
    sam.save()

    assert words("r@example.org", commercial) == "Rita Stone is restricted (GDPR Art. 18)"
    assert words("s@example.org", commercial) == "Sam Bell does not allow bulk email"


def test_suppressed_and_erased_addresses(commercial):
    suppression_add(channel="email", value="gone@example.org")
    assert words("gone@example.org", commercial).startswith("suppressed: ")

    erin = factories.contact(email="erin@example.org")
    factories.cp_consent(value="erin@example.org", purpose_obj=commercial, status="opted_out")
    before = timezone.now()
    subject_anonymize(subject=erin)
    assert words("erin@example.org", commercial, as_of=before) == (
        "suppressed: erased after opting out (what the address held before is erased)"
    )


def test_disabled_and_non_restrictive_purposes(profile):
    transactional = profile.purposes.get(kind="transactional")
    assert words("t@example.org", transactional) == (
        f"{transactional.name} is not checked (its consent model is disabled)"
    )
    open_purpose = factories.purpose(
        profile=profile, name="Offers", consent_model="non_restrictive"
    )
    assert words("t@example.org", open_purpose) == ("not opted out of Offers (no opt-in needed)")


def test_words_never_show_ids_or_codes(commercial, newsletter):
    record = factories.cp_consent(
        value="ida@example.org", purpose_obj=commercial, status="opted_out"
    )
    sentence = words("ida@example.org", commercial, newsletter)
    assert sentence == f"opted out of Commercial on {day(record.captured_at)} (internal)"
