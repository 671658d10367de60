"""Notices (DESIGN §3.9): create and edit drafts, publish, delete drafts.

A published notice is the record of what people were shown: its text, version, language, owner
and materiality never change and it is never deleted. Publishing makes its version (and URL)
the one its profile or policy is in force with, so every consent event from then on records it.
"""

import copy

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from common.audit import delete_audited, stamp
from consent.models import Notice

PUBLISHED_MESSAGE = (
    "This notice is published: it is the record of what people were shown, so it can never be "
    "changed or deleted. Publish a new version instead."
)
# What a published notice may still change: the title and where it lives on the web.
EDITABLE_WHEN_PUBLISHED = frozenset({"title", "url"})
NOTICE_FIELDS = ("profile", "policy", "version", "language", "title", "url", "text", "material")


class NoticeImmutable(ValidationError):
    """The notice is published (409 in the API)."""


def _assign(notice: Notice, data: dict) -> set[str]:
    """Set the NOTICE_FIELDS of `data` that differ and validate; the names changed. A published
    notice only changes its title and URL."""
    changed = {
        name
        for name, value in data.items()
        if name in NOTICE_FIELDS and getattr(notice, name) != value
    }
    if notice.is_published and changed - EDITABLE_WHEN_PUBLISHED:
        raise NoticeImmutable(PUBLISHED_MESSAGE)
    for name in changed:
        setattr(notice, name, data[name])
    if changed or notice.pk is None:
        notice.full_clean()
    return changed


def notice_validate(notice: Notice | None, data: dict) -> None:
    """The checks of `notice_create` (`notice` None) or `notice_update`, on a copy: nothing is
    written and `notice` stays as it was (the admin's form validation)."""
    _assign(copy.copy(notice) if notice is not None and notice.pk else Notice(), data)


@transaction.atomic
def notice_create(*, data: dict, user, source: str) -> Notice:
    """A draft notice (`data`: the NOTICE_FIELDS); publish it with `notice_publish`."""
    notice = Notice()
    _assign(notice, data)
    stamp(notice, user=user, source=source, reason="created")
    notice.save()
    return notice


@transaction.atomic
def notice_update(notice: Notice, *, data: dict, user, source: str) -> Notice:
    """Edit a draft; a published notice only changes its title and URL."""
    notice = Notice.objects.select_for_update().get(pk=notice.pk)
    if not _assign(notice, data):
        return notice
    stamp(notice, user=user, source=source, reason="edited")
    notice.save()
    return notice


@transaction.atomic
def notice_publish(notice: Notice, *, user, source: str, now=None) -> Notice:
    """Publish a draft: from now on its owner (profile or policy) is in force with its version,
    and with its URL (an English notice's, or any if the owner has none yet)."""
    notice = Notice.objects.select_for_update().get(pk=notice.pk)
    if notice.is_published:
        raise NoticeImmutable("This notice is already published.")
    notice.published_at = now or timezone.now()
    stamp(notice, user=user, source=source, reason="published")
    notice.save(update_fields=["published_at"])
    owner = notice.owner
    owner.notice_version = notice.version
    if notice.url and (notice.language == Notice.Language.EN or not owner.notice_url):
        owner.notice_url = notice.url
    stamp(owner, user=user, source=source, reason=f"notice {notice.version} published")
    owner.save(update_fields=["notice_version", "notice_url"])
    return notice


@transaction.atomic
def notice_delete(notice: Notice, *, user, source: str) -> None:
    """Delete a draft; a published notice is never deleted."""
    notice = Notice.objects.select_for_update().get(pk=notice.pk)
    if notice.is_published:
        raise NoticeImmutable(PUBLISHED_MESSAGE)
    delete_audited(notice, user=user, source=source)
