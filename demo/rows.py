"""The rows of the demo data set (`demo.seed`), as plain tuples, deterministic for a seed.

No model instances and no queries: the generator hands tuples to `demo.tables`, which streams
them into the database (COPY on PostgreSQL, executemany elsewhere). Every id is assigned here,
so a consent can name its subject and a list member its contact without a round trip.

The derived subject fields are computed by the services' own rule
(`subjects.services.derive_data_protection_consent`), so `subjects_refresh` finds nothing to
change. Contact-point consent is keyed like the services key it: emails fully lower-cased,
phones in E.164, one record per (channel, value, purpose, topic) — an address two subjects
share gets its records once.
"""

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from subjects.models import PREFERENCE_FIELDS, DataProtectionConsent
from subjects.services import derive_data_protection_consent

FIRST_NAMES = ["Anna", "Bram", "Chloé", "Daan", "Emma", "Finn", "Greta", "Hugo", "Inès", "Jan"]
FIRST_NAMES += ["Klara", "Lars", "Maud", "Noah", "Olivia", "Pieter", "Quinten", "Roos", "Sophie"]
FIRST_NAMES += ["Thijs", "Ulla", "Vince", "Wout", "Xavier", "Yara", "Zoë", "Lukas", "Marie", "Léa"]
LAST_NAMES = ["de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "Dubois", "Martin"]
LAST_NAMES += ["Bernard", "Müller", "Schmidt", "Schneider", "Fischer", "Peeters", "Maes", "Claes"]
LAST_NAMES += ["Janssens", "van Dijk", "Mulder", "Bos", "Lefebvre", "Moreau", "Weber", "Wagner"]
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Stark Industries", "Wayne Enterprises"]
COMPANIES += ["Hooli", "Vandelay", "Wonka", "Tyrell", "Cyberdyne", "Soylent", "Oceanic"]
DOMAINS = ["example.org", "example.net", "mail.example.com", "post.example.eu"]
LEAD_SOURCES = ["web", "event", "referral", "import"]
CONSENT_SOURCES = ["form", "verbal", "internal", "loaded"]
POINT_SOURCES = ["form", "preference_center", "double_opt_in", "loaded", "verbal"]
MAX_DAYS_AGO = 2000
ASCII = str.maketrans({"é": "e", "ë": "e", "è": "e", "ü": "u", " ": ""})

SUBJECT_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    *PREFERENCE_FIELDS,
    "restricted",
    "inherent_basis",
    "inherent_basis_note",
    "consent_level",
    "max_expiry_date",
    "data_protection_consent",
    "anonymized_at",
    "created_at",
    "updated_at",
)
CONTACT_COLUMNS = (*SUBJECT_COLUMNS, "account_id", "state")
LEAD_COLUMNS = (*SUBJECT_COLUMNS, "company_name", "status", "source")
ACCOUNT_COLUMNS = ("id", "name", "processes_data", "created_at", "updated_at")
CONSENT_COLUMNS = (
    "id",
    "lead_id",
    "contact_id",
    "policy_id",
    "consent_level",
    "given_at",
    "valid_until",
    "state",
    "status_reason",
    "confidential",
    "owner_team_id",
    "source",
    "note",
    "notice_version",
    "created_at",
    "updated_at",
)
POINT_COLUMNS = (
    "id",
    "channel",
    "value",
    "purpose_id",
    "topic_id",
    "status",
    "source",
    "reason",
    "requested_by",
    "captured_at",
    "expires_at",
    "notice_version",
    "created_at",
    "updated_at",
)
SUPPRESSION_COLUMNS = ("id", "channel", "value_hash", "created_at", "reason")


@dataclass(frozen=True)
class PolicyRef:
    id: int
    level: int
    validity_days: int | None
    notice_version: str


@dataclass(frozen=True)
class PointSlot:
    """One kind of contact-point record an address may get, with how often and which way."""

    channel: str
    purpose_id: int
    topic_id: int | None
    share: float  # of the addresses that get this record
    opted_in: float  # of those records: opted in; the rest opted out (or not set)
    not_set: float = 0.0


@dataclass(frozen=True)
class Reference:
    """Ids of the rows every generated row may point to."""

    policies: list[PolicyRef]
    account_ids: list[int]
    team_id: int | None  # owner of confidential consents (the DPO group)
    slots: list[PointSlot]
    notice_version: str = "2026-01"


@dataclass
class NextIds:
    account: int = 1
    contact: int = 1
    lead: int = 1
    consent: int = 1
    point: int = 1
    suppression: int = 1


@dataclass
class Batch:
    """The rows of one chunk of subjects, per table."""

    subjects: list[tuple] = field(default_factory=list)
    consents: list[tuple] = field(default_factory=list)
    points: list[tuple] = field(default_factory=list)
    suppressions: list[tuple] = field(default_factory=list)


class DemoRows:
    """Generates accounts, subjects with their data consents and their addresses' records.

    Hot path (1.2M subjects): draws go through `random()` and precomputed offsets rather than
    `randint` / `timedelta(...)`, which cost several times more per call.
    """

    def __init__(self, *, seed: int, now: datetime, today: date, ids: NextIds, hasher):
        self.rng = random.Random(seed)
        self.random = self.rng.random
        self.now, self.today, self.ids = now, today, ids
        self.hasher = hasher  # keyed hash of an erased address (suppressions)
        self.recent: list[tuple[str, str]] = []  # addresses a later subject may share
        self.days_ago = [now - timedelta(days=d) for d in range(MAX_DAYS_AGO + 1)]
        self.minutes = [timedelta(minutes=m) for m in range(1000)]
        self.soon = [today + timedelta(days=d) for d in range(14)]

    def _int(self, low: int, high: int) -> int:
        """Like randint(low, high)."""
        return low + int(self.random() * (high - low + 1))

    def _pick(self, seq):
        return seq[int(self.random() * len(seq))]

    def _moment(self, max_days: int) -> datetime:
        """A moment within the last `max_days` days."""
        return self.days_ago[self._int(1, max_days)] - self.minutes[int(self.random() * 1000)]

    def accounts(self, count: int) -> list[tuple]:
        rows = []
        for suffix in range(1, count + 1):
            pk = self.ids.account
            self.ids.account += 1
            name = f"{self._pick(COMPANIES)} {suffix}"
            rows.append((pk, name, self.random() > 0.1, self._moment(MAX_DAYS_AGO), self.now))
        return rows

    def subjects(self, kind: str, count: int, ref: Reference) -> Batch:
        batch = Batch()
        for _ in range(count):
            self._subject(kind, ref, batch)
        return batch

    # -- one subject --------------------------------------------------------------------------

    def _subject(self, kind: str, ref: Reference, batch: Batch) -> None:
        rnd = self.random
        pk = getattr(self.ids, kind)
        setattr(self.ids, kind, pk + 1)
        serial = pk if kind == "contact" else 50_000_000 + pk  # keeps addresses unique
        first, last = self._pick(FIRST_NAMES), self._pick(LAST_NAMES)
        email, phone, shared = self._address(first, last, serial)
        anonymized_at = None
        if rnd() < 0.01:
            if rnd() < 0.5:  # it had opted out before erasure: a suppression remains
                batch.suppressions.append(self._suppression(f"erased.{serial}@example.org"))
            first = last = "Anonymized"
            email = phone = None
            anonymized_at = self._moment(300)
        restricted, inherent = rnd() < 0.02, rnd() < 0.04
        prefs = [rnd() > 0.08 for _ in PREFERENCE_FIELDS]
        consents = self._consents(kind, pk, ref, anonymized_at is not None)
        level, max_expiry, protection = self._derived(restricted, inherent, consents)
        if protection == DataProtectionConsent.RESTRICT:
            prefs = [False] * len(PREFERENCE_FIELDS)
        row = (
            pk,
            first,
            last,
            email,
            phone,
            *prefs,
            restricted,
            inherent,
            "Legal obligation: invoices kept for 7 years." if inherent else "",
            level,
            max_expiry,
            protection,
            anonymized_at,
            self._moment(1500),
            self.now,
            *self._kind_fields(kind, ref),
        )
        batch.subjects.append(row)
        batch.consents += consents
        if email and not shared:
            self._points(email, phone, ref, batch.points)

    def _address(self, first: str, last: str, serial: int) -> tuple[str, str, bool]:
        if self.recent and self.random() < 0.03:
            email, phone = self._pick(self.recent)  # a second record sharing an address
            return email, phone, True
        local = f"{first}.{last}".lower().translate(ASCII)
        email = f"{local}{serial}@{self._pick(DOMAINS)}"
        phone = f"+316{10_000_000 + serial % 89_999_999:08d}"
        self.recent.append((email, phone))
        if len(self.recent) > 50:
            del self.recent[0]
        return email, phone, False

    def _kind_fields(self, kind: str, ref: Reference) -> tuple:
        rnd = self.random
        if kind == "contact":
            account = self._pick(ref.account_ids) if rnd() < 0.8 else None
            return account, "inactive" if rnd() < 0.04 else "active"
        roll = rnd()
        status = "qualified" if roll < 0.15 else "disqualified" if roll < 0.25 else "open"
        return self._pick(COMPANIES), status, self._pick(LEAD_SOURCES)

    def _consents(self, kind: str, subject_id: int, ref: Reference, anonymized: bool) -> list:
        roll = self.random()
        count = 0 if roll < 0.15 else 1 if roll < 0.45 else 2 if roll < 0.8 else 3
        rows = []
        for _ in range(count):
            policy = self._pick(ref.policies)
            given_at = self._moment(1000)
            valid_until = (
                (given_at + timedelta(days=policy.validity_days)).date()
                if policy.validity_days is not None
                else None
            )
            state, reason, valid_until, confidential = self._state(valid_until, anonymized)
            confidential = confidential and ref.team_id is not None  # needs an owner team
            pk = self.ids.consent
            self.ids.consent += 1
            rows.append(
                (
                    pk,
                    subject_id if kind == "lead" else None,
                    subject_id if kind == "contact" else None,
                    policy.id,
                    policy.level,
                    given_at,
                    valid_until,
                    state,
                    reason,
                    confidential,
                    ref.team_id if confidential else None,
                    self._pick(CONSENT_SOURCES),
                    "Confidential: recorded at the customer's request." if confidential else "",
                    policy.notice_version,
                    given_at,
                    self.now,
                )
            )
        return rows

    def _state(self, valid_until, anonymized: bool):
        """(state, status_reason, valid_until, confidential) of a new consent."""
        if anonymized:
            return "inactive", "anonymized", valid_until, False
        if valid_until and valid_until < self.today:
            return "inactive", "expired", valid_until, False
        roll = self.random()
        state, reason = ("inactive", "cancelled") if roll < 0.08 else ("active", "active")
        if 0.08 <= roll < 0.12 and valid_until:
            valid_until = self._pick(self.soon)  # expiring within two weeks
        return state, reason, valid_until, self.random() < 0.03

    @staticmethod
    def _derived(restricted: bool, inherent: bool, consents: list[tuple]) -> tuple:
        """consent_level, max_expiry_date, data_protection_consent — the services' rule."""
        active = [c for c in consents if c[7] == "active"]
        level = max((c[4] for c in active), default=0)
        max_expiry = max((c[6] for c in active if c[6]), default=None)
        protection = derive_data_protection_consent(
            restricted=restricted,
            inherent_basis=inherent,
            active_count=len(active),
            total_count=len(consents),
        )
        return level, max_expiry, protection

    # -- contact points -----------------------------------------------------------------------

    def _points(self, email: str, phone: str, ref: Reference, out: list) -> None:
        rnd = self.random
        value = {"email": email.lower(), "sms": phone}
        for slot in ref.slots:
            if rnd() >= slot.share:
                continue
            roll = rnd()
            status = (
                "opted_in"
                if roll < slot.opted_in
                else "not_set"
                if roll < slot.opted_in + slot.not_set
                else "opted_out"
            )
            captured = self._moment(1500)
            expires_at = None
            if status == "opted_in" and rnd() < 0.03:
                # Mostly in the future; a third already passed (an opt-in that reads as not set).
                expires_at = self.now + timedelta(days=self._int(-60, 120))
            source = self._pick(POINT_SOURCES)
            pk = self.ids.point
            self.ids.point += 1
            out.append(
                (
                    pk,
                    slot.channel,
                    value[slot.channel],
                    slot.purpose_id,
                    slot.topic_id,
                    status,
                    source,
                    "unsubscribed" if status == "opted_out" else "",
                    "customer by phone" if source == "verbal" else "",
                    captured,
                    expires_at,
                    ref.notice_version,
                    captured,
                    self.now,
                )
            )

    def _suppression(self, address: str) -> tuple:
        pk = self.ids.suppression
        self.ids.suppression += 1
        return (pk, "email", self.hasher(address), self.now, "erased after opting out")
