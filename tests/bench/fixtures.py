"""Rows the figures need besides the seeded data set: a superuser and a subject whose GDPR
timeline holds exactly 1,000 history rows. Idempotent: found again on the next run."""

import copy
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from common.audit import Source, history_attrs
from consent.models import ContactPointConsent, DataConsent, DataPolicy, Purpose, Topic
from consent.reports.timeline import contact_point_history
from subjects.models import Contact

BENCH_USER = "bench"
TIMELINE_EMAIL = "timeline.bench@example.org"
TIMELINE_PHONE = "+31699999999"
TIMELINE_ROWS = 1000


def bench_user():
    user, _ = get_user_model().objects.get_or_create(
        username=BENCH_USER, defaults={"is_staff": True, "is_superuser": True}
    )
    return user


def timeline_history_count(contact: Contact) -> int:
    consent_ids = DataConsent.objects.filter(contact=contact).values("pk")
    points = contact_point_history(subject=contact)
    return (
        Contact.history.filter(id=contact.pk).count()
        + DataConsent.history.filter(id__in=consent_ids).count()
        + (points.count() if points is not None else 0)
    )


def timeline_subject() -> Contact:
    """A contact with 5 data consents × 100 history rows, 2 contact-point records × 100, and
    its own changes: 1,000 history rows in its timeline, each one a visible change."""
    contact = Contact.objects.filter(email=TIMELINE_EMAIL).first()
    if contact is not None and timeline_history_count(contact) == TIMELINE_ROWS:
        return contact
    with transaction.atomic():
        if contact is None:
            contact = _create_timeline_subject()
        missing = TIMELINE_ROWS - timeline_history_count(contact)
        if missing < 0:
            raise RuntimeError(f"{TIMELINE_EMAIL} has more than {TIMELINE_ROWS} history rows")
        _edits(contact, missing, lambda obj, i: setattr(obj, "allow_email", i % 2 == 1))
    return contact


def _create_timeline_subject() -> Contact:
    start = timezone.now() - timedelta(days=900)
    contact = Contact.objects.create(
        first_name="Timeline",
        last_name="Benchmark",
        email=TIMELINE_EMAIL,
        phone=TIMELINE_PHONE,
        consent_level=4,
        data_protection_consent="explicit",
    )
    policy = DataPolicy.objects.filter(consent_level=4).first() or DataPolicy.objects.first()
    for n in range(5):
        consent = DataConsent.objects.create(
            contact=contact,
            policy=policy,
            consent_level=policy.consent_level,
            given_at=start + timedelta(days=n),
            source=Source.FORM,
        )
        _edits(consent, 99, lambda obj, i: setattr(obj, "note", f"note {i}"))
    commercial = Purpose.objects.get(profile__is_default=True, kind=Purpose.Kind.COMMERCIAL)
    topic = Topic.objects.filter(purpose=commercial).first()
    for record_topic in (None, topic):
        record = ContactPointConsent.objects.create(
            channel="email",
            value=TIMELINE_EMAIL,
            purpose=commercial,
            topic=record_topic,
            status="opted_in",
            source=Source.FORM,
        )
        statuses = ("opted_out", "opted_in")
        _edits(record, 99, lambda obj, i, s=statuses: setattr(obj, "status", s[i % 2]))
    return contact


def _edits(instance, count: int, change) -> None:
    """`count` history rows ('~'), a minute apart, each changing one field."""
    start = timezone.now() - timedelta(days=800)
    versions = []
    for i in range(count):
        version = copy.copy(instance)
        change(version, i)
        version._history_date = start + timedelta(minutes=i)
        versions.append(version)
    type(instance).history.bulk_history_create(
        versions,
        update=True,
        default_change_reason="benchmark edit",
        custom_historical_attrs=history_attrs(Source.INTERNAL),
    )
