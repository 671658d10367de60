"""Floor endpoints of the HTTP benchmark (bench_http.py), served only by tests/bench/http_urls.py.

Each is a plain Django view behind the same server and middleware as the API, sharing no code
with what it is the floor of (apart from the cursor that prepares the single check's statement
on the server, common.prepared.prepared_cursor, as the app's check queries are prepared):

* `trivial` — answers a constant: what the server, Django and the middleware cost per request;
* `check` — the facts of one consent check by ONE hand-written statement (the token and its
  permission, the purpose, its profile and tracking purpose, the topic, the address's records,
  its suppression, the subjects holding it), returned as the JSON PostgreSQL builds;
* `bulk_check` — the same facts for a `{"checks": [...]}` body of many addresses, one statement;
* `audience_csv` — `COPY (one statement: every member with its address and reason) TO STDOUT`
  in CSV, streamed (figure_audience.FLOOR_SQL).

None of them decides anything: the floor is the cost of fetching what a decision needs.
"""

import hashlib
import hmac
import json

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from common.prepared import prepared_cursor
from tests.bench.figure_audience import FLOOR_PLANS, FLOOR_SQL

JSON = "application/json"

# The token's user, if active and allowed to check (directly, through a group, or superuser).
_USER = """
    SELECT u.id FROM authtoken_token t JOIN auth_user u ON u.id = t.user_id
    WHERE t.key = %(token)s AND u.is_active AND (u.is_superuser OR EXISTS (
        SELECT 1 FROM auth_permission p
        JOIN django_content_type ct ON ct.id = p.content_type_id
        WHERE ct.app_label = 'consent' AND p.codename = 'check_consent' AND (
            p.id IN (SELECT permission_id FROM auth_user_user_permissions WHERE user_id = u.id)
            OR p.id IN (
                SELECT gp.permission_id FROM auth_group_permissions gp
                JOIN auth_user_groups ug ON ug.group_id = gp.group_id WHERE ug.user_id = u.id))))
"""
# The purposes of the asked purpose's profile (the tracking one among them), with the profile.
_PURPOSES = """
    SELECT json_agg(json_build_array(p.id, p.kind, p.consent_model, p.required_level,
                                     c.id, c.check_subject_consent))
    FROM consent_purpose p JOIN consent_complianceprofile c ON c.id = p.profile_id
    WHERE p.profile_id = (SELECT profile_id FROM consent_purpose WHERE id = %(purpose)s)
"""
_TOPICS = """
    SELECT json_agg(json_build_array(t.id, t.purpose_id)) FROM consent_topic t
    WHERE t.id = ANY(%(topics)s)
"""
_SUBJECT_COLUMNS = """
    restricted, data_protection_consent, consent_level, allow_email, allow_bulk_email, allow_sms,
    allow_phone, allow_tracking
"""
_SUBJECT_FOLD = """
    bool_or(restricted OR data_protection_consent = 'restrict'), min(consent_level),
    bool_and(allow_email), bool_and(allow_bulk_email), bool_and(allow_sms), bool_and(allow_phone),
    bool_and(allow_tracking)
"""

SINGLE_SQL = f"""
SELECT json_build_object(
    'user', ({_USER}),
    'purposes', ({_PURPOSES}),
    'topics', ({_TOPICS}),
    'records', (
        SELECT json_agg(json_build_array(id, purpose_id, topic_id, status, expires_at))
        FROM consent_contactpointconsent
        WHERE channel = %(channel)s AND value = %(value)s
          AND purpose_id IN (SELECT id FROM consent_purpose
                             WHERE id = %(purpose)s OR (kind = 'tracking' AND profile_id =
                                 (SELECT profile_id FROM consent_purpose WHERE id = %(purpose)s)))
          AND (topic_id IS NULL OR topic_id = ANY(%(topics)s))),
    'suppressed', EXISTS (SELECT 1 FROM consent_suppression
                          WHERE channel = %(channel)s AND value_hash = %(hash)s),
    'subjects', (
        SELECT json_build_array({_SUBJECT_FOLD}) FROM (
            SELECT {_SUBJECT_COLUMNS} FROM subjects_contact
            WHERE lower(email) = %(value)s AND anonymized_at IS NULL
            UNION ALL
            SELECT {_SUBJECT_COLUMNS} FROM subjects_lead
            WHERE lower(email) = %(value)s AND anonymized_at IS NULL) s
        HAVING count(*) > 0)
)::text
"""

BULK_SQL = f"""
WITH asked AS (SELECT DISTINCT unnest(%(values)s::text[]) AS value),
records AS (
    SELECT r.value, json_agg(json_build_array(r.id, r.purpose_id, r.topic_id, r.status,
                                              r.expires_at)) AS facts
    FROM consent_contactpointconsent r JOIN asked a ON r.channel = 'email' AND r.value = a.value
    WHERE r.purpose_id IN (SELECT id FROM consent_purpose
                           WHERE id = ANY(%(purposes)s) OR (kind = 'tracking' AND profile_id IN
                               (SELECT profile_id FROM consent_purpose
                                WHERE id = ANY(%(purposes)s))))
      AND (r.topic_id IS NULL OR r.topic_id = ANY(%(topics)s))
    GROUP BY r.value
),
subjects AS (
    SELECT key AS value, json_build_array({_SUBJECT_FOLD}) AS facts FROM (
        SELECT lower(email) AS key, {_SUBJECT_COLUMNS} FROM subjects_contact
        WHERE lower(email) IN (SELECT value FROM asked) AND anonymized_at IS NULL
        UNION ALL
        SELECT lower(email), {_SUBJECT_COLUMNS} FROM subjects_lead
        WHERE lower(email) IN (SELECT value FROM asked) AND anonymized_at IS NULL) s
    GROUP BY key
)
SELECT json_build_object(
    'user', ({_USER}),
    'purposes', ({_PURPOSES.replace("id = %(purpose)s", "id = ANY(%(purposes)s)")}),
    'topics', ({_TOPICS}),
    'suppressed', (SELECT json_agg(value_hash) FROM consent_suppression
                   WHERE channel = 'email' AND value_hash = ANY(%(hashes)s)),
    'addresses', (
        SELECT json_object_agg(a.value, json_build_array(r.facts, s.facts))
        FROM asked a LEFT JOIN records r ON r.value = a.value LEFT JOIN subjects s
        ON s.value = a.value)
)::text
"""


def _token(request) -> str:
    return request.headers.get("Authorization", "").removeprefix("Token ").strip()


def _hash(value: str) -> str:
    key = settings.SUPPRESSION_HASH_KEY.encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def _answer(facts: str) -> HttpResponse:
    # A facts document without a user: the token is unknown or may not check.
    status = 403 if facts.startswith('{"user" : null') else 200
    return HttpResponse(facts, content_type=JSON, status=status)


@csrf_exempt
def trivial(request):
    return HttpResponse(
        b'{"allowed": true, "reason": "opted_in", "tracking_allowed": false}', content_type=JSON
    )


@csrf_exempt
def check(request):
    body = json.loads(request.body)
    value = body["value"].strip().lower()
    params = {
        "token": _token(request),
        "channel": body["channel"],
        "value": value,
        "hash": _hash(value),
        "purpose": body["purpose"],
        "topics": [body["topic"]] if body.get("topic") else [],
    }
    # Prepared on the server as the app's own check queries are (common.prepared).
    with prepared_cursor(connection) as cursor:
        cursor.execute(SINGLE_SQL, params)
        return _answer(cursor.fetchone()[0])


@csrf_exempt
def bulk_check(request):
    """Email checks only (what the benchmark sends)."""
    checks = json.loads(request.body)["checks"]
    values = sorted({check["value"].strip().lower() for check in checks})
    params = {
        "token": _token(request),
        "values": values,
        "hashes": [_hash(value) for value in values],
        "purposes": sorted({check["purpose"] for check in checks}),
        "topics": sorted({check["topic"] for check in checks if check.get("topic")}),
    }
    with connection.cursor() as cursor:
        cursor.execute(BULK_SQL, params)
        return _answer(cursor.fetchone()[0])


def audience_csv(request):
    """The audience floor's rows as CSV; `plan` names one of figure_audience.FLOOR_PLANS."""
    params = {name: int(request.GET[name]) for name in ("purpose", "topic", "level")}
    plan = FLOOR_PLANS[request.GET.get("plan", "default")]
    sql = FLOOR_SQL % params

    def blocks():
        with transaction.atomic(), connection.cursor() as cursor:
            for name, value in plan.items():
                cursor.execute(f"SET LOCAL {name} = '{value}'")
            with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
                yield from copy

    return StreamingHttpResponse(blocks(), content_type="text/csv; charset=utf-8")
