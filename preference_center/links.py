"""Absolute links to the public pages, and the RFC 8058 headers of a commercial message.

For senders: put `unsubscribe_headers(...)` on every commercial message and `manage_url(...)` in
its footer. Links are built on SITE_URL and carry signed tokens (see `tokens`).
"""

from urllib.parse import quote, urlencode

from django.conf import settings
from django.urls import reverse

from consent.addresses import field_error, normalize_address
from consent.models import ComplianceProfile, Purpose, Topic
from preference_center.tokens import AddressLink, SignUpRequest, UnsubscribeLink

ONE_CLICK = "List-Unsubscribe=One-Click"


def absolute_url(path: str, *, language: str | None = None) -> str:
    query = f"?{urlencode({'lang': language})}" if language else ""
    return f"{settings.SITE_URL.rstrip('/')}{path}{query}"


def manage_url(
    *, profile: ComplianceProfile, channel: str, value: str, language: str | None = None
) -> str:
    """The manage-preferences page of an address in a profile."""
    link = AddressLink(profile.pk, channel, normalize_address(channel, value))
    path = reverse("preference_center:manage", args=[link.dumps()])
    return absolute_url(path, language=language)


def confirm_url(request: SignUpRequest, *, language: str | None = None) -> str:
    """The double opt-in confirmation page of a sign-up."""
    path = reverse("preference_center:confirm", args=[request.dumps()])
    return absolute_url(path, language=language)


def unsubscribe_token(*, channel: str, value: str, purpose, topic=None) -> str:
    purpose, topic = _commercial_purpose_and_topic(purpose, topic)
    return UnsubscribeLink(
        purpose.profile_id,
        channel,
        normalize_address(channel, value),
        purpose.pk,
        topic.pk if topic else None,
    ).dumps()


def unsubscribe_url(*, channel: str, value: str, purpose, topic=None) -> str:
    """The one-click unsubscribe link of a message; `purpose` / `topic` are instances or ids."""
    token = unsubscribe_token(channel=channel, value=value, purpose=purpose, topic=topic)
    return absolute_url(reverse("preference_center:unsubscribe", args=[token]))


def unsubscribe_headers(*, channel: str, value: str, purpose, topic=None) -> dict[str, str]:
    """`List-Unsubscribe` and `List-Unsubscribe-Post` (RFC 2369 / RFC 8058) for one message.

    Field errors (`channel`, `value`, `purpose`, `topic`) for invalid input; the purpose must
    be a commercial one.
    """
    token = unsubscribe_token(channel=channel, value=value, purpose=purpose, topic=topic)
    targets = [f"<{absolute_url(reverse('preference_center:unsubscribe', args=[token]))}>"]
    if settings.UNSUBSCRIBE_MAILTO:
        subject = quote(f"unsubscribe {token}")
        targets.append(f"<mailto:{settings.UNSUBSCRIBE_MAILTO}?subject={subject}>")
    return {"List-Unsubscribe": ", ".join(targets), "List-Unsubscribe-Post": ONE_CLICK}


def _commercial_purpose_and_topic(purpose, topic) -> tuple[Purpose, Topic | None]:
    purpose = _instance(purpose, Purpose.objects.select_related("profile"), "purpose")
    if purpose.kind != Purpose.Kind.COMMERCIAL:
        raise field_error("purpose", "Unsubscribe links are for commercial purposes only.")
    if topic is not None:
        topic = _instance(topic, Topic.objects.all(), "topic")
        if topic.purpose_id != purpose.pk:
            raise field_error("topic", "This topic belongs to another purpose.")
    return purpose, topic


def _instance(value, queryset, name: str):
    if isinstance(value, queryset.model):
        return value
    try:
        return queryset.get(pk=int(value))
    except (TypeError, ValueError, OverflowError, queryset.model.DoesNotExist):
        raise field_error(name, f"Unknown {name}.") from None
