"""The audience's one-statement path must answer exactly what `decide()` answers per address.

A varied world — opt-in / opt-out / not_set / expired records, topic records, suppressions,
restrictive / non-restrictive / disabled / tracking purposes, a profile that skips the subject
checks, subjects sharing an address with different preferences, anonymized holders, missing
addresses, inactive members — and every list × channel × purpose × topic of it: each member's
audience row must be the one `decide()` gives its address, deduplicated by address.
"""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.addresses import address_hash
from consent.decision import stream
from consent.decision.rules import SUBJECT_CHANNEL_FIELD
from consent.decision.single import decide
from consent.models import ComplianceProfile, ContactPointConsent, Purpose, Suppression, Topic
from marketing_lists.audience import audience_csv_rows, audience_request, audience_rows
from marketing_lists.models import MarketingList, MarketingListMember
from subjects.models import PREFERENCE_FIELDS, Account, Contact, Lead

CHANNELS = ["email", "sms", "voice", "custom"]


def expected_rows(people, channel, purpose, topic) -> list[tuple]:
    """What the audience must hold, member by member, from `decide()` on each address."""
    rows, sent = [], set()
    for person in sorted(people, key=lambda p: p.pk):
        if person.anonymized_at is not None:
            continue
        field = SUBJECT_CHANNEL_FIELD.get(channel)
        raw = getattr(person, field) if field else None
        address = raw.lower() if raw and field == "email" else raw
        active = (
            person.state == "active" if isinstance(person, Contact) else person.status == "open"
        )
        if address is None:
            rows.append((person.pk, None, False, "no_address"))
        elif not active:
            rows.append((person.pk, address, False, "inactive"))
        else:
            decision = decide(channel=channel, value=address, purpose=purpose, topic=topic)
            if not decision.allowed:
                rows.append((person.pk, address, False, decision.reason))
            elif address not in sent:
                sent.add(address)
                rows.append((person.pk, address, True, decision.reason))
    return sorted(rows, key=repr)


def audience_of(mlist, channel, purpose, topic) -> list[tuple]:
    request = audience_request(
        marketing_list=mlist, channel=channel, purpose=purpose.pk, topic=topic and topic.pk
    )
    rows = list(audience_rows(request))
    addresses = [row.address for row in rows]
    # Ordered by address, members without one last: what lets deduplication stream.
    assert addresses == sorted(addresses, key=lambda a: (a is None, a or ""))
    return sorted(((r.member_id, r.address, r.allowed, r.reason) for r in rows), key=repr)


def contact(email, phone=None, *, state="active", anonymized=False, account=None, **fields):
    values = {"consent_level": 5, "data_protection_consent": "explicit", **fields}
    return Contact.objects.create(
        last_name="C",
        email=email,
        phone=phone,
        state=state,
        account=account,
        anonymized_at=timezone.now() if anonymized else None,
        **values,
    )


def lead(email, phone=None, *, status="open", anonymized=False, **fields):
    values = {"consent_level": 5, "data_protection_consent": "explicit", **fields}
    return Lead.objects.create(
        last_name="L",
        email=email,
        phone=phone,
        status=status,
        anonymized_at=timezone.now() if anonymized else None,
        **values,
    )


def record(channel, value, purpose, status, topic=None, expires_in=None):
    ContactPointConsent.objects.create(
        channel=channel,
        value=value,
        purpose=purpose,
        topic=topic,
        status=status,
        expires_at=timezone.now() + expires_in if expires_in is not None else None,
    )


def suppress(channel, value):
    Suppression.objects.create(channel=channel, value_hash=address_hash(channel, value))


@pytest.fixture
def world(db):
    strict = ComplianceProfile.objects.create(name="Strict", slug="strict")
    lax = ComplianceProfile.objects.create(name="Lax", slug="lax", check_subject_consent=False)

    def purpose(profile, name, kind, model, level):
        return Purpose.objects.create(
            profile=profile, name=name, kind=kind, consent_model=model, required_level=level
        )

    marketing = purpose(strict, "Marketing", "commercial", "restrictive", 4)
    updates = purpose(strict, "Updates", "commercial", "non_restrictive", 2)
    service = purpose(strict, "Service", "transactional", "disabled", 2)
    tracking = purpose(strict, "Tracking", "tracking", "restrictive", 5)
    lax_marketing = purpose(lax, "Lax marketing", "commercial", "restrictive", 4)
    events = Topic.objects.create(purpose=marketing, name="Events")
    news = Topic.objects.create(purpose=marketing, name="News")
    digest = Topic.objects.create(purpose=updates, name="Digest")

    acme = Account.objects.create(name="Acme")
    contacts = [
        # two permissive contacts sharing an address, spelled differently: one recipient
        contact("Same@Example.org", "+31612340001", account=acme),
        contact("same@example.org", "+31612340001", account=acme),
        # a second holder (a lead) forbids bulk email: least permissive wins
        contact("mixed@example.org", "+31612340002"),
        contact("low@example.org", "+31612340003", consent_level=3),
        contact("restricted@example.org", "+31612340004", restricted=True),
        contact("dpc@example.org", "+31612340005", data_protection_consent="restrict"),
        # an anonymized, restricted holder of the same address changes nothing
        contact("anon@example.org", "+31612340006"),
        contact("anon@example.org", "+31612340006", anonymized=True, restricted=True),
        contact("gone@example.org", "+31612340007", anonymized=True),
        contact("out@example.org", "+31612340008", account=acme),
        contact("topicout@example.org", "+31612340009"),
        contact("expired@example.org", "+31612340010"),
        contact("notset@example.org", "+31612340011"),
        contact("norecord@example.org", "+31612340012", allow_tracking=False),
        contact("supp@example.org", "+31612340013"),
        # inactive members: the inactive one is excluded, the active sharer still decided
        contact("share@example.org", "+31612340014", state="inactive", account=acme),
        contact("share@example.org", "+31612340014"),
        contact(None, "+31612340015", allow_sms=False),
        contact("nophone@example.org", None, allow_phone=False),
        contact("disq@example.org", "+31612340016"),
    ]
    leads = [
        lead("MIXED@example.org", "+31612340002", allow_bulk_email=False, allow_sms=False),
        lead("disq@example.org", "+31612340016", status="disqualified", consent_level=2),
        lead("leadonly@example.org", "+31612340017"),
        lead("low@example.org", None, consent_level=4),
        lead(None, None),
    ]
    emails = [
        "same@example.org",
        "mixed@example.org",
        "low@example.org",
        "restricted@example.org",
        "dpc@example.org",
        "anon@example.org",
        "gone@example.org",
        "supp@example.org",
        "share@example.org",
        "nophone@example.org",
        "disq@example.org",
        "leadonly@example.org",
    ]
    for value in emails:
        record("email", value, marketing, "opted_in")
        record("email", value, marketing, "opted_in", topic=events)
        record("email", value, updates, "opted_in", topic=digest)
        record("email", value, tracking, "opted_in")
        record("email", value, lax_marketing, "opted_in")
    record("email", "out@example.org", marketing, "opted_out")
    record("email", "out@example.org", updates, "opted_out")
    record("email", "out@example.org", marketing, "opted_in", topic=events)
    record("email", "topicout@example.org", marketing, "opted_in")
    record("email", "topicout@example.org", marketing, "opted_out", topic=events)
    record("email", "topicout@example.org", marketing, "opted_in", topic=news)
    record("email", "topicout@example.org", updates, "opted_out", topic=digest)
    record("email", "expired@example.org", marketing, "opted_in", expires_in=timedelta(-1))
    record("email", "expired@example.org", marketing, "opted_in", events, timedelta(days=1))
    record("email", "expired@example.org", lax_marketing, "opted_in", expires_in=timedelta(1))
    record("email", "notset@example.org", marketing, "not_set")
    record("email", "notset@example.org", marketing, "not_set", topic=events)
    record("email", "same@example.org", marketing, "not_set", topic=news)
    for number in range(1, 18):
        phone = f"+316123400{number:02d}"
        if number % 3:
            record("sms", phone, marketing, "opted_in")
            record("sms", phone, updates, "opted_in")
        if number % 4 == 0:
            record("sms", phone, marketing, "opted_in", topic=events)
        if number % 5 == 0:
            record("voice", phone, marketing, "opted_out")
        elif number % 2:
            record("voice", phone, marketing, "opted_in")
            record("voice", phone, tracking, "opted_in")
    suppress("email", "supp@example.org")
    suppress("sms", "+31612340001")
    suppress("voice", "+31612340008")
    suppress("email", "nobody@example.org")  # a member-less suppression changes nothing

    def static(name, member_type, members):
        mlist = MarketingList.objects.create(name=name, list_type="static", member_type=member_type)
        MarketingListMember.objects.bulk_create(
            MarketingListMember(list=mlist, **{member_type: member}) for member in members
        )
        return mlist, members

    every_contact = MarketingList.objects.create(name="Everyone", list_type="dynamic", query="")
    lists = [
        (every_contact, contacts),
        static("Some contacts", "contact", contacts[::2]),
        static("Leads", "lead", leads),
        (
            static("Accounts", "account", [acme])[0],
            [c for c in contacts if c.account_id == acme.pk],
        ),
    ]
    questions = [
        (marketing, None),
        (marketing, events),
        (marketing, news),
        (updates, None),
        (updates, digest),
        (service, None),
        (tracking, None),
        (lax_marketing, None),
    ]
    return lists, questions


def assert_every_audience_matches_decide(lists, questions):
    for mlist, people in lists:
        for channel in CHANNELS:
            for purpose, topic in questions:
                expected = expected_rows(people, channel, purpose, topic)
                got = audience_of(mlist, channel, purpose, topic)
                assert got == expected, (mlist.name, channel, purpose.name, topic)


def test_audience_equals_decide_per_address_over_a_varied_world(world):
    lists, questions = world
    assert_every_audience_matches_decide(lists, questions)


def test_tiny_batches_and_suppressions_looked_up_per_batch_give_the_same_audience(
    world, monkeypatch
):
    # Batches of 2 split members sharing an address across batches; more suppressions than
    # fit in memory (here: any) take the per-batch lookup path.
    monkeypatch.setattr(stream, "BATCH_SIZE", 2)
    monkeypatch.setattr(stream, "SUPPRESSIONS_IN_MEMORY", 0)
    monkeypatch.setattr(stream, "LOOKUP_CHUNK", 1)
    lists, questions = world
    assert_every_audience_matches_decide(lists, questions)


def test_the_world_covers_every_reason(world):
    lists, questions = world
    seen = set()
    for mlist, _ in lists:
        for channel in CHANNELS:
            for purpose, topic in questions:
                seen |= {row[3] for row in audience_of(mlist, channel, purpose, topic)}
    assert seen == {
        "no_address",
        "inactive",
        "purpose_disabled",
        "suppressed",
        "subject_restricted",
        "insufficient_consent_level",
        "subject_preference",
        "purpose_opted_out",
        "topic_opted_out",
        "no_purpose_opt_in",
        "no_topic_opt_in",
        "opted_in",
        "not_opted_out",
    }


def test_csv_rows_are_the_audience_rows(world):
    lists, questions = world
    mlist, _ = lists[0]
    marketing, events = questions[1]
    request = audience_request(
        marketing_list=mlist, channel="email", purpose=marketing.pk, topic=events.pk
    )
    csv_rows = list(audience_csv_rows(request))
    assert csv_rows == [
        [row.member_type, row.member_id, row.address or "", str(row.allowed).lower(), row.reason]
        for row in audience_rows(request)
    ]
    # Not vacuous: the list mixes members who may be sent to and members refused for reasons.
    assert {row[3] for row in csv_rows} == {"true", "false"}
    assert len({row[4] for row in csv_rows if row[3] == "false"}) >= 2
    assert len({(row[0], row[1]) for row in csv_rows}) == len(csv_rows)  # one row per member


def test_one_statement_whatever_the_batches(world, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    lists, questions = world
    mlist, _ = lists[0]
    marketing, events = questions[1]
    request = audience_request(
        marketing_list=mlist, channel="email", purpose=marketing.pk, topic=events.pk
    )
    for batch_size in (20_000, 2):
        monkeypatch.setattr(stream, "BATCH_SIZE", batch_size)
        with CaptureQueriesContext(connection) as captured:
            rows = list(audience_rows(request))
        statements = [
            query["sql"]
            for query in captured.captured_queries
            if not query["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "BEGIN"))
        ]
        # the channel's suppressions, then the one statement (fetched batch by batch)
        assert len(statements) == 2, statements
        assert "WITH members" in statements[1]
        assert len(rows) > 10


# ---------------------------------------------------------------------------------------------
# Random worlds: the same comparison on whatever Hypothesis draws

EMAILS = ["ada@example.org", "Ada@Example.org", "bob@example.org", "cy@example.org"]
PHONES = ["+31612345001", "+31612345002", "+31612345003"]
flag = st.sampled_from([True, True, True, False])
people = st.lists(
    st.fixed_dictionaries(
        {
            "model": st.sampled_from([Contact, Lead]),
            "email": st.none() | st.sampled_from(EMAILS),
            "phone": st.none() | st.sampled_from(PHONES),
            "consent_level": st.sampled_from([0, 3, 4, 5, 5]),
            "restricted": st.sampled_from([False] * 7 + [True]),
            "data_protection_consent": st.sampled_from(["explicit"] * 5 + ["none", "restrict"]),
            "anonymized": st.sampled_from([False] * 5 + [True]),
            "active": flag,
            **dict.fromkeys(PREFERENCE_FIELDS, flag),
        }
    ),
    min_size=1,
    max_size=10,
)
addresses = [("email", e.lower()) for e in EMAILS[1:]] + [
    (c, p) for c in ("sms", "voice") for p in PHONES
]
records = st.lists(
    st.tuples(
        st.sampled_from(addresses),
        st.booleans(),  # topic record
        st.sampled_from(["opted_in", "opted_in", "opted_out", "not_set"]),
        st.sampled_from([None, timedelta(days=-1), timedelta(days=1)]),
    ),
    max_size=15,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    people_spec=people,
    record_spec=records,
    suppressed=st.sets(st.sampled_from(addresses), max_size=2),
    kind=st.sampled_from(Purpose.Kind.values),
    model=st.sampled_from(Purpose.ConsentModel.values),
    check_subject_consent=flag,
    member_type=st.sampled_from(["contact", "lead"]),
)
def test_random_worlds_audience_equals_decide(
    db, people_spec, record_spec, suppressed, kind, model, check_subject_consent, member_type
):
    with transaction.atomic():
        profile = ComplianceProfile.objects.create(
            name="R", slug="r", check_subject_consent=check_subject_consent
        )
        purpose = Purpose.objects.create(
            profile=profile, name="P", kind=kind, consent_model=model, required_level=4
        )
        topic = Topic.objects.create(purpose=purpose, name="T")
        built = []
        for spec in people_spec:
            spec = dict(spec)
            make, active = spec.pop("model"), spec.pop("active")
            state = {"state": "active" if active else "inactive"} if make is Contact else {}
            status = {"status": "open" if active else "qualified"} if make is Lead else {}
            anonymized = timezone.now() if spec.pop("anonymized") else None
            built.append(
                make.objects.create(
                    last_name="R", anonymized_at=anonymized, **spec, **state, **status
                )
            )
        seen = set()
        for (channel, value), on_topic, status, expires_in in record_spec:
            if (channel, value, on_topic) not in seen:
                seen.add((channel, value, on_topic))
                record(channel, value, purpose, status, topic if on_topic else None, expires_in)
        for channel, value in suppressed:
            suppress(channel, value)
        mlist = MarketingList.objects.create(name="R", list_type="dynamic", member_type=member_type)
        members = [p for p in built if isinstance(p, Contact if member_type == "contact" else Lead)]
        for channel in CHANNELS:
            for question_topic in (None, topic):
                assert audience_of(mlist, channel, purpose, question_topic) == expected_rows(
                    members, channel, purpose, question_topic
                )
        transaction.set_rollback(True)
