"""The preference center stores nothing of its own; this model only carries its permissions."""

from django.db import models

UNSUBSCRIBE_HEADERS_PERMISSION = "preference_center.get_unsubscribe_headers"


class PublicLinks(models.Model):
    """No table (unmanaged, never queried): the content type of the public links' permissions.

    `get_unsubscribe_headers` lets an API client mint the unsubscribe link of any address
    (`GET /api/v1/unsubscribe-headers/`). It is its own permission, apart from
    `consent.check_consent`: a sending system needs it, a check-only token does not.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            (
                "get_unsubscribe_headers",
                "Can get the unsubscribe headers (one-click links) of any address",
            )
        ]
        verbose_name = "public link"

    def __str__(self) -> str:
        return "public links"
