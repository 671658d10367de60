"""Realistic demo data in every state, inserted in bulk with its history rows.

Also the benchmark data set (DESIGN §7, `tests/bench/`): `--contacts 1000000` gives 1M contacts,
200k leads, ~2M data consents, ~3M contact-point consents (the default profile's commercial and
tracking purposes, topics Newsletter / Events / Training courses), a dynamic list of every
contact and a few static lists — each row with its history row. Rows are generated in Python
(`demo.rows`) and streamed with COPY on PostgreSQL, executemany on SQLite (`demo.tables`);
history rows are copied set-based, in the same transaction.
"""

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone

from common.audit import Source, history_attrs, history_mark, history_seal, stamp
from consent.addresses import normalized_address_hash
from consent.models import (
    ComplianceProfile,
    ConsentLevelSubstatus,
    ContactPointConsent,
    DataConsent,
    DataPolicy,
    Purpose,
    Suppression,
    Topic,
)
from consent.roles import DPO
from consent.services.configuration import configuration_save
from consent.translation import standard_texts
from demo import rows
from demo.tables import (
    TableWriter,
    analyze,
    history_insert,
    indexes_and_foreign_keys_deferred,
    next_id,
    reset_sequences,
)
from marketing_lists.models import MarketingList, MarketingListMember
from subjects.models import Account, Contact, Lead

# Bump when the generated data set changes shape: benchmarks reseed a database seeded before.
SEED_VERSION = 2
CHUNK = 20_000  # subjects per round of writes
# From this size on (PostgreSQL), indexes and foreign keys are rebuilt after the load instead of
# maintained row by row: minutes instead of an hour at 1M contacts.
BULK_LOAD_THRESHOLD = 50_000
POLICIES = [
    # name, level, validity_days, legal basis
    ("General consent", 1, 1095, DataPolicy.LegalBasis.CONSENT),
    ("Service contract", 2, None, DataPolicy.LegalBasis.CONTRACT),
    ("Newsletter subscription", 3, 365, DataPolicy.LegalBasis.CONSENT),
    ("Marketing consent", 4, 730, DataPolicy.LegalBasis.CONSENT),
    ("Profiling consent", 5, 365, DataPolicy.LegalBasis.CONSENT),
]
TOPICS = ["Newsletter", "Events", "Training courses"]
# What the demo's default profile tells customers on the public pages, in every page language
# (DESIGN §3.3; set where still empty).
ORGANIZATION_NAME = "Example Travel B.V."
INTRO_TEXTS = {
    "intro_text_en": "We only send you what you have chosen. Your choices apply to this address.",
    "intro_text_nl": "We sturen je alleen wat je hebt gekozen. Je keuzes gelden voor dit adres.",
    "intro_text_fr": "Nous ne vous envoyons que ce que vous avez choisi. Vos choix "
    "s’appliquent à cette adresse.",
    "intro_text_de": "Wir senden Ihnen nur, was Sie ausgewählt haben. Ihre Auswahl gilt für "
    "diese Adresse.",
}
HISTORY_REASON = "demo data"
# The dynamic list every benchmark audience runs on (DESIGN §7: a 1M-member list).
EVERYONE_LIST = "Newsletter – every contact"


class DemoSeeder:
    """Seeds the demo data set; `say` receives the progress and summary lines."""

    def __init__(self, *, say: Callable[[str], object] = print):
        self.say = say

    def seed(self, *, contacts: int, seed: int, progress: bool = True) -> str:
        """Seed the data set; returns the summary line."""
        started, now = time.monotonic(), timezone.now()
        with transaction.atomic():
            ref = self.reference()
            first = self.next_ids()
            generator = rows.DemoRows(
                seed=seed,
                now=now,
                today=timezone.localdate(),
                ids=rows.NextIds(**vars(first)),
                hasher=normalized_address_hash,
            )
            with self.bulk_load(contacts):
                counts = self.load(generator, ref, contacts, progress=progress)
                history_mark(Contact, Lead, DataConsent, ContactPointConsent, Suppression)
                self.write_history(first, generator.ids)
                history_seal()  # the consent ledger seals the demo's history rows too
            counts["list members"] = self.create_lists(first, generator.ids, now)
            reset_sequences(connection, self.bulk_models())
        analyze(connection, self.bulk_models())
        summary = ", ".join(f"{count:,} {name}" for name, count in counts.items())
        elapsed = time.monotonic() - started
        return f"Seeded {summary} in {elapsed:.0f} s."

    @staticmethod
    def next_ids() -> rows.NextIds:
        """The first free id of each bulk table: rows are inserted with explicit ids."""
        return rows.NextIds(
            account=next_id(Account),
            contact=next_id(Contact),
            lead=next_id(Lead),
            consent=next_id(DataConsent),
            point=next_id(ContactPointConsent),
            suppression=next_id(Suppression),
        )

    def bulk_load(self, contacts: int):
        if connection.vendor == "postgresql" and contacts >= BULK_LOAD_THRESHOLD:
            return indexes_and_foreign_keys_deferred(connection, self.bulk_models())
        return nullcontext()

    # -- reference rows (a handful, through the ORM) ------------------------------------------

    def reference(self) -> rows.Reference:
        policies = [self.policy(*spec) for spec in POLICIES]
        ConsentLevelSubstatus.objects.get_or_create(level=4, name="Marketing – events only")
        ConsentLevelSubstatus.objects.get_or_create(level=3, name="Subscription – monthly digest")
        team = Group.objects.filter(name=DPO).values_list("pk", flat=True).first()
        self.tell_the_story(policies)
        slots = self.point_slots()
        self.translate_texts()
        return rows.Reference(
            policies=[
                rows.PolicyRef(p.pk, p.consent_level, p.validity_days, p.notice_version)
                for p in policies
            ],
            account_ids=[],  # filled once the accounts exist
            team_id=team,
            slots=slots,
        )

    @staticmethod
    def tell_the_story(policies: list[DataPolicy]) -> None:
        """The default profile as a real organisation runs it (DESIGN §6): its privacy notice
        and sender, double opt-in for new addresses, and a data policy for the customers' own
        opt-ins at the level its commercial purpose requires — so what a customer chooses on
        the preference pages and what the consent check answers agree."""
        profile = ComplianceProfile.objects.filter(is_default=True).first()
        if profile is None:
            return
        commercial = profile.purposes.filter(kind=Purpose.Kind.COMMERCIAL).first()
        needed = commercial.required_level if commercial else 4
        opt_in_policy = next(p for p in policies if p.consent_level >= needed)
        profile.notice_url = profile.notice_url or "https://example.org/privacy"
        profile.notice_version = profile.notice_version or "2026-01"
        profile.sender_name = profile.sender_name or "Example Travel – Privacy team"
        profile.organization_name = profile.organization_name or ORGANIZATION_NAME
        for field, text in INTRO_TEXTS.items():
            setattr(profile, field, getattr(profile, field) or text)
        profile.double_opt_in = ComplianceProfile.DoubleOptIn.NEW_ONLY
        profile.data_policy = opt_in_policy
        stamp(profile, source=Source.SYSTEM, reason="demo data")
        profile.save()

    @staticmethod
    def translate_texts() -> None:
        """The default profile's purposes' and topics' names and descriptions in every page
        language (where still empty), through the configuration service (with history)."""
        for obj in [
            *Purpose.objects.filter(profile__is_default=True).order_by("pk"),
            *Topic.objects.filter(purpose__profile__is_default=True).order_by("pk"),
        ]:
            if texts := standard_texts(obj):
                configuration_save(obj, texts, user=None, source=Source.SYSTEM)

    @staticmethod
    def policy(name, level, days, basis) -> DataPolicy:
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
        return policy

    def point_slots(self) -> list[rows.PointSlot]:
        """The records an address may get: the default profile's purposes and topics."""
        profile = ComplianceProfile.objects.filter(is_default=True).first()
        if profile is None:
            return []
        purposes = {p.kind: p for p in Purpose.objects.filter(profile=profile).order_by("pk")}
        commercial = purposes.get(Purpose.Kind.COMMERCIAL)
        tracking = purposes.get(Purpose.Kind.TRACKING)
        slots = []
        if commercial is not None:
            topics = [
                Topic.objects.get_or_create(purpose=commercial, name=name)[0].pk for name in TOPICS
            ]
            slots += [
                rows.PointSlot("email", commercial.pk, None, 0.85, 0.80, not_set=0.08),
                rows.PointSlot("email", commercial.pk, topics[0], 0.70, 0.85),
                rows.PointSlot("email", commercial.pk, topics[1], 0.30, 0.80),
                rows.PointSlot("email", commercial.pk, topics[2], 0.15, 0.80),
                rows.PointSlot("sms", commercial.pk, None, 0.20, 0.75),
            ]
        if tracking is not None:
            slots.append(rows.PointSlot("email", tracking.pk, None, 0.35, 0.70))
        return slots

    # -- the bulk of it -----------------------------------------------------------------------

    @staticmethod
    def bulk_models() -> list:
        return [Account, Contact, Lead, DataConsent, ContactPointConsent, Suppression]

    def load(
        self, generator: rows.DemoRows, ref: rows.Reference, contacts: int, *, progress: bool
    ) -> dict:
        writers = {
            "accounts": TableWriter(connection, Account, rows.ACCOUNT_COLUMNS),
            "contacts": TableWriter(connection, Contact, rows.CONTACT_COLUMNS),
            "leads": TableWriter(connection, Lead, rows.LEAD_COLUMNS),
            "data consents": TableWriter(connection, DataConsent, rows.CONSENT_COLUMNS),
            "contact-point consents": TableWriter(
                connection, ContactPointConsent, rows.POINT_COLUMNS
            ),
            "suppressions": TableWriter(connection, Suppression, rows.SUPPRESSION_COLUMNS),
        }
        accounts = generator.accounts(max(contacts // 20, 5))
        writers["accounts"].write(accounts)
        ref.account_ids.extend(row[0] for row in accounts)
        chunks = [
            (kind, start, min(CHUNK, total - start), total)
            for kind, total in (("contact", contacts), ("lead", max(contacts // 5, 1)))
            for start in range(0, total, CHUNK)
        ]
        # The next chunk is generated in a thread while this one is written: the database
        # ingests (no GIL held while waiting) as Python draws the next rows. One generator
        # thread, chunks in order: the data stay deterministic for a seed.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(generator.subjects, chunks[0][0], chunks[0][2], ref)
            for index, (kind, start, size, total) in enumerate(chunks):
                batch = pending.result()
                if index + 1 < len(chunks):
                    next_kind, _, next_size, _ = chunks[index + 1]
                    pending = pool.submit(generator.subjects, next_kind, next_size, ref)
                writers[f"{kind}s"].write(batch.subjects)
                writers["data consents"].write(batch.consents)
                writers["contact-point consents"].write(batch.points)
                writers["suppressions"].write(batch.suppressions)
                done = start + size
                if progress and total >= 10 * CHUNK and (done % (10 * CHUNK) == 0 or done == total):
                    self.say(f"  {kind}s: {done:,} / {total:,}")
        return {name: writer.rows_written for name, writer in writers.items()}

    def write_history(self, first: rows.NextIds, last: rows.NextIds) -> None:
        source = Source.LOADED
        for model, name, date_column in (
            (Account, "account", "created_at"),
            (Contact, "contact", "created_at"),
            (Lead, "lead", "created_at"),
            (DataConsent, "consent", "given_at"),
            (ContactPointConsent, "point", "captured_at"),
            (Suppression, "suppression", "created_at"),
        ):
            history_insert(
                connection,
                model,
                ids=range(getattr(first, name), getattr(last, name)),
                date_column=date_column,
                reason=HISTORY_REASON,
                source=source,
            )

    # -- marketing lists ------------------------------------------------------------------------

    def create_lists(self, first: rows.NextIds, last: rows.NextIds, now) -> int:
        commercial = Purpose.objects.filter(
            profile__is_default=True, kind=Purpose.Kind.COMMERCIAL
        ).first()
        topics = {t.name: t for t in Topic.objects.filter(purpose=commercial)}
        specs = [
            # name, list type, member type, query, topic
            (EVERYONE_LIST, "dynamic", "contact", "", "Newsletter"),
            ("Events – active contacts", "dynamic", "contact", "state=active", "Events"),
            ("Event attendees", "static", "contact", "", "Events"),
            ("Trade fair leads", "static", "lead", "", None),
            ("Key accounts", "static", "account", "", None),
        ]
        existing = {
            ml.name: ml for ml in MarketingList.objects.filter(name__in=[s[0] for s in specs])
        }
        created = MarketingList.objects.bulk_create(
            MarketingList(
                name=name,
                list_type=list_type,
                member_type=member_type,
                query=query,
                purpose=commercial if topic else None,
                topic=topics.get(topic),
            )
            for name, list_type, member_type, query, topic in specs
            if name not in existing  # seeding again adds members, not lists
        )
        MarketingList.history.bulk_history_create(
            created,
            default_change_reason=HISTORY_REASON,
            custom_historical_attrs=history_attrs(Source.LOADED),
        )
        lists = [*existing.values(), *created]
        static = {ml.member_type: ml.pk for ml in lists if ml.list_type == "static"}
        return self.static_members(static, first, last, now)

    @staticmethod
    def static_members(static: dict, first: rows.NextIds, last: rows.NextIds, now) -> int:
        """Every 20th new contact, 10th new lead and 50th new account is a static member."""
        pk = next_id(MarketingListMember)
        members = []
        for member_type, step, column in (
            ("contact", 20, 3),
            ("lead", 10, 4),
            ("account", 50, 2),
        ):
            for subject_id in range(getattr(first, member_type), getattr(last, member_type), step):
                row = [pk, static[member_type], None, None, None, now]
                row[column] = subject_id
                members.append(tuple(row))
                pk += 1
        columns = ("id", "list_id", "account_id", "contact_id", "lead_id", "added_at")
        TableWriter(connection, MarketingListMember, columns).write(members)
        history_insert(
            connection,
            MarketingListMember,
            ids=range(pk - len(members), pk),
            date_column="added_at",
            reason="member added",
            source=Source.LOADED,
        )
        reset_sequences(connection, [MarketingListMember])
        return len(members)
