"""Helpers of the consent-load tests: a CSV in the load's format, a load run to its end, the
record it wrote, its row errors."""

from consent.loads.runner import consent_load_create, consent_load_run
from consent.models import ConsentLoad, ContactPointConsent

HEADER = "channel,value,purpose,topic,status,source,reason,captured_at,requested_by\n"
History = ContactPointConsent.history.model


def csv_text(*rows: str, header: str = HEADER) -> str:
    return header + "".join(f"{row}\n" for row in rows)


def load(text, *, user=None, name="consents.csv", **options) -> ConsentLoad:
    data = text.encode() if isinstance(text, str) else text
    created = consent_load_create(file=data, file_name=name, user=user, dispatch=False, **options)
    return consent_load_run(load=created)


def record(value="ada@example.org", purpose_name="Commercial", topic=None):
    return ContactPointConsent.objects.get(
        channel="email", value=value, purpose__name=purpose_name, topic=topic
    )


def errors(result: ConsentLoad) -> list[tuple]:
    return [(e["line"], e["column"], e["kind"]) for e in result.row_errors]


MIXED = csv_text(
    "email,ada@example.org,Commercial,,opted_in,,,,",
    "email,broken,Commercial,,opted_in,,,,",
    "email,bob@example.org,Commercial,,opted_out,,,,",
)
