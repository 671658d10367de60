"""(e) The preference-center manage page, GET /preferences/<token>/ (DESIGN §3.6).

Time and query count of the page for a seeded address with records on every topic, and the
query count for an address with no record at all (it must not grow with the records).
Floor: selecting that address's contact-point records.
"""

from urllib.parse import urlsplit

from django.db import connection
from django.db.models import Count
from django.test import Client

from consent.models import ComplianceProfile, ContactPointConsent
from tests.bench.queries import captured_queries
from tests.bench.results import Figure, median_seconds, skipped

NAME = "preference center: GET /preferences/<token>/"
BAR = "info (no §7 bar); queries independent of records"
FLOOR_SQL = "SELECT * FROM consent_contactpointconsent WHERE channel = 'email' AND value = %s"


def _address_with_most_records() -> str:
    """Among the first seeded records, the email address holding the most of them."""
    first_ids = ContactPointConsent.objects.order_by("pk").values("pk")[:20_000]
    row = (
        ContactPointConsent.objects.filter(channel="email", pk__in=first_ids)
        .values("value")
        .annotate(records=Count("pk"))
        .order_by("-records", "value")
        .values_list("value", flat=True)
        .first()
    )
    return row or "nobody@example.org"


def _queries(client: Client, path: str) -> tuple[int, int]:
    with captured_queries() as ctx:
        response = client.get(path)
    return response.status_code, len(ctx)


def figures(*, runs: int) -> list[Figure]:
    try:
        from preference_center.links import manage_url
    except ImportError:
        return [skipped(NAME, BAR, "preference_center has no manage page yet")]
    profile = ComplianceProfile.objects.default()
    client = Client(HTTP_HOST="localhost")
    address = _address_with_most_records()
    path = urlsplit(manage_url(profile=profile, channel="email", value=address)).path
    empty = urlsplit(manage_url(profile=profile, channel="email", value="new@example.org")).path
    status, queries = _queries(client, path)
    if status != 200:
        return [Figure(NAME, None, None, BAR, False, note=f"HTTP {status}")]
    _, queries_empty = _queries(client, empty)
    seconds = median_seconds(lambda: client.get(path), runs=runs)

    def floor():
        with connection.cursor() as cursor:
            cursor.execute(FLOOR_SQL, [address])
            return cursor.fetchall()

    records = len(floor())
    return [
        Figure(
            NAME,
            seconds * 1000,
            median_seconds(floor, runs=runs) * 1000,
            BAR,
            False if queries != queries_empty else None,
            note=f"{queries} queries ({records} records), {queries_empty} with none",
        )
    ]
