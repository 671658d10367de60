"""The catalog stamp: one row whose token changes with every change to what a consent check
reads as configuration (compliance profiles, purposes, topics, notices).

A check reads the token (one primary-key row) instead of re-reading the purposes, profiles,
topics and notice versions, and each process keeps the catalog it loaded for that token
(`consent.decision.questions.cached_catalog`). The token is a fresh UUID, never a counter:
a rolled-back change leaves the old token, and a process that saw the rolled-back one reloads.
"""

import uuid

from django.db import models

STAMP_ID = 1


class CatalogStamp(models.Model):
    token = models.UUIDField(default=uuid.uuid4)

    class Meta:
        verbose_name = "catalog stamp"

    def __str__(self):
        return str(self.token)

    @classmethod
    def bump(cls) -> None:
        """A new token, in the caller's transaction (the row is recreated after a flush)."""
        token = uuid.uuid4()
        if not cls.objects.filter(pk=STAMP_ID).update(token=token):
            cls.objects.update_or_create(pk=STAMP_ID, defaults={"token": token})


def bump_catalog_stamp(sender, **kwargs) -> None:
    """post_save / post_delete receiver for the models the catalog holds (consent.apps)."""
    if kwargs.get("raw"):
        return  # loaddata: the fixture's rows, no stamp needed until they are read
    CatalogStamp.bump()
