"""The explanation of a decision (DESIGN §3.4): the rule, the suppression, the subjects against
the required level, the records consulted — and what it costs."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.decision.bulk import decide_many
from consent.decision.single import decide
from consent.services.contact_points import suppression_add
from tests import factories


def test_explanation_names_the_rule_the_subjects_and_the_level(commercial):
    maud = factories.contact(first_name="Maud", last_name="Wagner", email="maud@example.org")
    lead = factories.lead(email="MAUD@example.org", allow_sms=False)
    factories.consent(subject=lead, policy_obj=factories.policy(consent_level=5))

    decision = decide(channel="email", value="maud@example.org", purpose=commercial, explain=True)

    assert (decision.allowed, decision.reason) == (False, "insufficient_consent_level")
    explanation = decision.explanation.as_dict()
    assert explanation["rule"] == "5"
    assert explanation["suppressed"] is False
    assert explanation["required_level"] == 4
    assert explanation["subjects"] == [
        {
            "type": "contact",
            "id": maud.pk,
            "data_protection_consent": "none",
            "restricted": False,
            "consent_level": 0,
            "allow_email": True,
            "allow_bulk_email": True,
            "allow_sms": True,
            "allow_phone": True,
            "allow_tracking": True,
        },
        {
            "type": "lead",
            "id": lead.pk,
            "data_protection_consent": "explicit",
            "restricted": False,
            "consent_level": 5,
            "allow_email": True,
            "allow_bulk_email": True,
            "allow_sms": False,
            "allow_phone": True,
            "allow_tracking": True,
        },
    ]
    assert decision.explanation.subjects[0].name == "Maud Wagner"  # for the wording only
    assert "name" not in explanation["subjects"][0]


def test_explanation_lists_the_records_consulted_with_their_evidence(commercial, newsletter):
    captured = timezone.now() - timedelta(days=3)
    purpose_record = factories.cp_consent(
        value="ann@example.org",
        purpose_obj=commercial,
        status="opted_in",
        source="form",
        captured_at=captured,
        notice_version="2026-01",
        expires_at=timezone.now() - timedelta(days=1),
    )
    topic_record = factories.cp_consent(
        value="ann@example.org", purpose_obj=commercial, topic=newsletter, status="opted_out"
    )

    decision = decide(
        channel="email",
        value="ann@example.org",
        purpose=commercial,
        topic=newsletter,
        explain=True,
    )

    assert decision.reason == "topic_opted_out"
    explanation = decision.explanation.as_dict()
    assert explanation["rule"] == "8"
    assert explanation["subjects"] == []
    first, second = explanation["records"]
    assert first == {
        "id": purpose_record.pk,
        "purpose": commercial.pk,
        "topic": None,
        "status": "opted_in",
        "effective_status": "not_set",  # expired
        "source": "form",
        "captured_at": captured,
        "notice_version": "2026-01",
    }
    assert (second["id"], second["topic"], second["status"]) == (
        topic_record.pk,
        newsletter.pk,
        "opted_out",
    )


@pytest.mark.parametrize(
    ("setup", "rule"),
    [
        ("disabled", "2"),
        ("suppressed", "3"),
        ("restricted", "4"),
        ("preference", "6"),
        ("opted_out", "7"),
        ("nothing", "9"),
        ("opted_in", "11"),
    ],
)
def test_rule_numbers_follow_the_table(profile, commercial, setup, rule):
    value = "rule@example.org"
    purpose = commercial
    if setup == "disabled":
        purpose = profile.purposes.get(kind="transactional")
    elif setup == "suppressed":
        suppression_add(channel="email", value=value)
    elif setup == "restricted":
        factories.contact(email=value, restricted=True)
    elif setup == "preference":
        contact = factories.contact(email=value, allow_bulk_email=False)
        factories.consent(subject=contact)
    elif setup in ("opted_out", "opted_in"):
        factories.cp_consent(value=value, purpose_obj=commercial, status=setup)

    decision = decide(channel="email", value=value, purpose=purpose, explain=True)

    assert decision.explanation.rule == rule
    assert decision.explanation.suppressed is (setup == "suppressed")


def test_explaining_changes_no_answer(commercial, newsletter):
    factories.cp_consent(value="bo@example.org", purpose_obj=commercial, status="opted_in")
    checks = [
        {"channel": "email", "value": "bo@example.org", "purpose": commercial, "topic": topic}
        for topic in (None, newsletter)
    ]
    plain = decide_many(checks)
    explained = decide_many(checks, explain=True)
    assert [d.explanation for d in plain] == [None, None]
    assert [(d.allowed, d.reason, d.tracking_allowed, d.consulted_ids) for d in explained] == [
        (d.allowed, d.reason, d.tracking_allowed, d.consulted_ids) for d in plain
    ]


def test_explaining_costs_no_extra_query(
    commercial,
    newsletter,
    django_assert_num_queries,
    django_assert_max_num_queries,
    prepared_unverified,
):
    factories.contact(email="q@example.org")
    factories.cp_consent(value="q@example.org", purpose_obj=commercial, status="opted_in")
    single = {"channel": "email", "value": "q@example.org", "purpose": commercial.pk}
    decide(**single)  # compiles the prepared queries
    decide(**single, explain=True)
    with django_assert_max_num_queries(5) as plain:
        decide(**single)
    with django_assert_num_queries(len(plain.captured_queries)):
        decide(**single, explain=True)

    many = [{**single, "value": f"q{n}@example.org", "topic": newsletter.pk} for n in range(50)]
    with django_assert_max_num_queries(5) as plain_many:
        decide_many(many)
    with django_assert_num_queries(len(plain_many.captured_queries)):
        decide_many(many, explain=True)
