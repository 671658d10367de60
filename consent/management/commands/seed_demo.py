"""Realistic demo data in every state, inserted in bulk with its history rows."""

import random
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from consent.models import ConsentLevelSubstatus, DataConsent, DataPolicy
from subjects.audit import Source, history_attrs
from subjects.models import PREFERENCE_FIELDS, Account, Contact, Lead
from subjects.services import derive_data_protection_consent

FIRST_NAMES = [
    "Anna",
    "Bram",
    "Chloé",
    "Daan",
    "Emma",
    "Finn",
    "Greta",
    "Hugo",
    "Inès",
    "Jan",
    "Klara",
    "Lars",
    "Maud",
    "Noah",
    "Olivia",
    "Pieter",
    "Quinten",
    "Roos",
    "Sophie",
    "Thijs",
    "Ulla",
    "Vince",
    "Wout",
    "Xavier",
    "Yara",
    "Zoë",
    "Lukas",
    "Marie",
    "Jonas",
    "Léa",
]
LAST_NAMES = [
    "de Vries",
    "Jansen",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "Dubois",
    "Martin",
    "Bernard",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Peeters",
    "Maes",
    "Claes",
    "Janssens",
    "van Dijk",
    "Mulder",
    "Bos",
    "Lefebvre",
    "Moreau",
    "Weber",
    "Wagner",
    "Becker",
]
COMPANIES = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark Industries",
    "Wayne Enterprises",
    "Hooli",
    "Vandelay",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Oceanic",
    "Massive Dynamic",
]
DOMAINS = ["example.org", "example.net", "mail.example.com", "post.example.eu"]
POLICIES = [
    # name, level, validity_days, legal basis
    ("General consent", 1, 1095, DataPolicy.LegalBasis.CONSENT),
    ("Service contract", 2, None, DataPolicy.LegalBasis.CONTRACT),
    ("Newsletter subscription", 3, 365, DataPolicy.LegalBasis.CONSENT),
    ("Marketing consent", 4, 730, DataPolicy.LegalBasis.CONSENT),
    ("Profiling consent", 5, 365, DataPolicy.LegalBasis.CONSENT),
]
CHUNK = 5000


class Command(BaseCommand):
    help = "Create realistic demo data: accounts, leads, contacts and data consents in every state."

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=2000)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when contacts already exist."
        )

    def handle(self, *args, contacts, seed, if_empty, **options):
        if if_empty and Contact.objects.exists():
            self.stdout.write("Demo data already present; nothing to do.")
            return
        self.rng = random.Random(seed)
        self.now = timezone.now()
        self.today = timezone.localdate()
        with transaction.atomic():
            self.policies = self.create_policies()
            self.accounts = self.create_accounts(max(contacts // 20, 5))
        self.recent = []
        self.serial = Contact.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        for start in range(0, contacts, CHUNK):
            with transaction.atomic():
                self.create_subjects(Contact, min(CHUNK, contacts - start))
        for start in range(0, max(contacts // 5, 1), CHUNK):
            with transaction.atomic():
                self.create_subjects(Lead, min(CHUNK, contacts // 5 - start) or 1)
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {Contact.objects.count():,} contacts, {Lead.objects.count():,} leads, "
                f"{DataConsent.objects.count():,} data consents."
            )
        )

    def create_policies(self):
        policies = []
        for name, level, days, basis in POLICIES:
            policy, _ = DataPolicy.objects.get_or_create(
                name=name,
                defaults={
                    "consent_level": level,
                    "validity_days": days,
                    "legal_basis": basis,
                    "notice_url": "https://example.org/privacy",
                    "notice_version": "2026-01",
                    "description": f"Demo policy: {name.lower()}.",
                },
            )
            policies.append(policy)
        ConsentLevelSubstatus.objects.get_or_create(level=4, name="Marketing – events only")
        ConsentLevelSubstatus.objects.get_or_create(level=3, name="Subscription – monthly digest")
        return policies

    def create_accounts(self, count):
        accounts = Account.objects.bulk_create(
            Account(
                name=f"{self.rng.choice(COMPANIES)} {suffix}",
                processes_data=self.rng.random() > 0.1,
            )
            for suffix in range(1, count + 1)
        )
        Account.history.bulk_history_create(
            accounts,
            default_change_reason="demo data",
            custom_historical_attrs=history_attrs(Source.LOADED),
        )
        return accounts

    def new_subject(self, model):
        rng = self.rng
        self.serial += 1
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = f"{first}.{last}".lower().replace(" ", "").replace("é", "e").replace("ë", "e")
        email = f"{local}{self.serial}@{rng.choice(DOMAINS)}"
        phone = f"+316{10_000_000 + self.serial % 89_999_999:08d}"
        if rng.random() < 0.03 and self.recent:
            email, phone = rng.choice(self.recent)  # a second record sharing an address
        self.recent = [*self.recent[-49:], (email, phone)]
        subject = model(
            first_name=first,
            last_name=last,
            email=email,
            phone=phone,
            restricted=rng.random() < 0.02,
            inherent_basis=rng.random() < 0.04,
            **{name: rng.random() > 0.08 for name in PREFERENCE_FIELDS},
        )
        if subject.inherent_basis:
            subject.inherent_basis_note = "Legal obligation: invoices kept for 7 years."
        if model is Contact:
            subject.account = rng.choice(self.accounts) if rng.random() < 0.8 else None
            subject.state = Contact.State.INACTIVE if rng.random() < 0.04 else Contact.State.ACTIVE
        else:
            subject.company_name = rng.choice(COMPANIES)
            roll = rng.random()
            subject.status = (
                Lead.Status.QUALIFIED
                if roll < 0.15
                else Lead.Status.DISQUALIFIED
                if roll < 0.25
                else Lead.Status.OPEN
            )
            subject.source = rng.choice(["web", "event", "referral", "import"])
        if rng.random() < 0.01:
            subject.first_name = subject.last_name = "Anonymized"
            subject.email = subject.phone = None
            subject.anonymized_at = self.now - timedelta(days=rng.randint(1, 300))
        return subject

    def new_consents(self, subject):
        rng = self.rng
        field = subject._meta.model_name
        roll = rng.random()
        count = 0 if roll < 0.25 else 1 if roll < 0.7 else rng.randint(2, 3)
        consents = []
        for _ in range(count):
            policy = rng.choice(self.policies)
            given_at = self.now - timedelta(days=rng.randint(1, 1000), minutes=rng.randint(0, 999))
            consent = DataConsent(
                **{field: subject},
                policy=policy,
                consent_level=policy.consent_level,
                given_at=given_at,
                valid_until=policy.default_valid_until(given_at),
                source=rng.choice([Source.FORM, Source.VERBAL, Source.INTERNAL, Source.LOADED]),
                notice_version=policy.notice_version,
            )
            self.set_state(consent, subject)
            consents.append(consent)
        return consents

    def set_state(self, consent, subject):
        rng = self.rng
        if subject.anonymized_at:
            consent.state, consent.status_reason = "inactive", DataConsent.Reason.ANONYMIZED
            return
        if consent.valid_until and consent.valid_until < self.today:
            consent.state, consent.status_reason = "inactive", DataConsent.Reason.EXPIRED
            return
        roll = rng.random()
        if roll < 0.08:
            consent.state, consent.status_reason = "inactive", DataConsent.Reason.CANCELLED
        elif roll < 0.12 and consent.valid_until:
            consent.valid_until = self.today + timedelta(days=rng.randint(0, 13))  # expiring
        if rng.random() < 0.03:
            consent.confidential = True
            consent.note = "Confidential: recorded at the customer's request."

    def create_subjects(self, model, count):
        subjects = [self.new_subject(model) for _ in range(count)]
        consents_by_subject = [self.new_consents(subject) for subject in subjects]
        for subject, consents in zip(subjects, consents_by_subject, strict=True):
            self.derive(subject, consents)
        model.objects.bulk_create(subjects, batch_size=1000)
        model.history.bulk_history_create(
            subjects,
            batch_size=1000,
            default_change_reason="demo data",
            custom_historical_attrs=history_attrs(Source.LOADED),
        )
        consents = []
        for subject, subject_consents in zip(subjects, consents_by_subject, strict=True):
            for consent in subject_consents:
                setattr(consent, subject._meta.model_name, subject)
                consents.append(consent)
        self.assign_owners(consents)
        DataConsent.objects.bulk_create(consents, batch_size=1000)
        DataConsent.history.bulk_history_create(
            consents,
            batch_size=1000,
            default_change_reason="demo data",
            custom_historical_attrs=history_attrs(Source.LOADED),
        )

    def assign_owners(self, consents):
        from django.contrib.auth.models import Group

        team = Group.objects.filter(name="DPO").first()
        for consent in consents:
            if consent.confidential:
                consent.owner_team = team

    @staticmethod
    def derive(subject, consents):
        """The derived fields, by the same rule the services apply."""
        active = [c for c in consents if c.state == "active"]
        subject.consent_level = max((c.consent_level for c in active), default=0)
        subject.max_expiry_date = max(
            (c.valid_until for c in active if c.valid_until), default=None
        )
        subject.data_protection_consent = derive_data_protection_consent(
            restricted=subject.restricted,
            inherent_basis=subject.inherent_basis,
            active_count=len(active),
            total_count=len(consents),
        )
        if subject.data_protection_consent == "restrict":
            for name in PREFERENCE_FIELDS:
                setattr(subject, name, False)
