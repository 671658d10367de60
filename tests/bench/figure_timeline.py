"""(d) The GDPR timeline of a subject with 1,000 history rows (`consent.timeline`).

Floor: selecting those history rows — the subject's, its data consents' and its addresses'
contact-point records' — ordered by date, in three plain SELECTs.
"""

from django.db import connection

from consent.reports.timeline import subject_timeline
from tests.bench.fixtures import TIMELINE_ROWS, bench_user, timeline_subject
from tests.bench.queries import captured_queries
from tests.bench.results import Figure, median_seconds

BAR = "info (no §7 bar)"

FLOOR_SQL = [
    "SELECT * FROM subjects_historicalcontact WHERE id = %(id)s ORDER BY history_date",
    "SELECT h.* FROM consent_historicaldataconsent h WHERE h.id IN "
    "(SELECT id FROM consent_dataconsent WHERE contact_id = %(id)s) ORDER BY h.history_date",
    "SELECT * FROM consent_historicalcontactpointconsent WHERE (channel = 'email' AND value = "
    "%(email)s) OR (channel IN ('sms', 'voice') AND value = %(phone)s) ORDER BY history_date",
]


def _floor(params: dict) -> int:
    rows = 0
    with connection.cursor() as cursor:
        for sql in FLOOR_SQL:
            cursor.execute(sql, params)
            rows += len(cursor.fetchall())
    return rows


def figures(*, runs: int) -> list[Figure]:
    contact, user = timeline_subject(), bench_user()
    params = {"id": contact.pk, "email": contact.email.lower(), "phone": contact.phone}
    with captured_queries() as ctx:
        entries = subject_timeline(subject=contact, user=user)
    seconds = median_seconds(lambda: subject_timeline(subject=contact, user=user), runs=runs)
    floor = median_seconds(lambda: _floor(params), runs=runs)
    return [
        Figure(
            f"timeline of a subject with {TIMELINE_ROWS:,} history rows",
            seconds * 1000,
            floor * 1000,
            BAR,
            None,
            note=f"{len(entries):,} entries, {len(ctx)} queries; floor rows {_floor(params):,}",
        )
    ]
