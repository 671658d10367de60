"""Notices (DESIGN §3.9): the versioned privacy-notice texts a consent is given under.

A notice belongs to a compliance profile (contact-point consents) or a data policy (data
consents), in one language, and keeps the exact text shown. Published (`published_at` set) it
never changes and is never deleted; publishing makes it the version every consent event records.
A *material* notice needs fresh consent: opt-ins and consents given under an older version are
outdated (re-consent, rule 10a).
"""

from django.db import models
from django.db.models import Q

from common.audit import audited_history
from consent.models.contact_point import ComplianceProfile
from consent.models.data_consent import DataPolicy


class NoticeLanguage(models.TextChoices):
    EN = "en", "English"
    NL = "nl", "Dutch"
    FR = "fr", "French"
    DE = "de", "German"


class NoticeQuerySet(models.QuerySet):
    def published(self):
        return self.filter(published_at__isnull=False)

    def current_for(self, *, profile=None, policy=None, language: str = "en"):
        """The latest published notice of a profile or policy in `language` (else English)."""
        owned = (
            self.published().filter(policy=policy)
            if policy is not None
            else self.published().filter(profile=profile)
        )
        ordered = owned.order_by("-published_at", "-id")
        return ordered.filter(language=language).first() or ordered.filter(language="en").first()

    def current_versions(
        self, *, profile_ids=(), policy_ids=(), at=None
    ) -> dict[tuple[str, int], set]:
        """Per owner (`("profile", id)` / `("policy", id)`) that has a published material
        notice: the versions still current, i.e. published since its latest material notice
        (as published by `at`, else now; a published notice never changes).
        An owner absent from the result has no material notice: nothing of it is outdated."""
        published = self.published() if at is None else self.filter(published_at__lte=at)
        rows = (
            published.filter(Q(profile_id__in=profile_ids) | Q(policy_id__in=policy_ids))
            .order_by("published_at", "id")
            .values_list("profile_id", "policy_id", "version", "material")
        )
        versions: dict[tuple[str, int], set] = {}
        for profile_id, policy_id, version, material in rows:
            owner = ("profile", profile_id) if profile_id else ("policy", policy_id)
            if material:
                versions[owner] = {version}
            elif owner in versions:
                versions[owner].add(version)
        return versions


class Notice(models.Model):
    Language = NoticeLanguage

    profile = models.ForeignKey(
        ComplianceProfile,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notices",
        help_text="The compliance profile whose opt-ins this notice covers (or a data policy).",
    )
    policy = models.ForeignKey(
        DataPolicy,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notices",
        help_text="The data policy whose consents this notice covers (or a profile).",
    )
    version = models.CharField(max_length=50)
    language = models.CharField(
        max_length=2, choices=NoticeLanguage.choices, default=NoticeLanguage.EN
    )
    title = models.CharField(max_length=200)
    url = models.URLField(blank=True)
    text = models.TextField(help_text="The exact text shown to the person.")
    published_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Empty while a draft."
    )
    material = models.BooleanField(
        default=False,
        help_text="A material change: consents given under an older version need fresh consent.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = NoticeQuerySet.as_manager()
    history = audited_history()

    class Meta:
        ordering = ["-published_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(profile__isnull=False, policy__isnull=True)
                    | Q(profile__isnull=True, policy__isnull=False)
                ),
                name="notice_one_owner",
            ),
            models.UniqueConstraint(
                fields=["profile", "version", "language"],
                condition=Q(profile__isnull=False),
                name="notice_profile_version_uniq",
            ),
            models.UniqueConstraint(
                fields=["policy", "version", "language"],
                condition=Q(policy__isnull=False),
                name="notice_policy_version_uniq",
            ),
            models.CheckConstraint(
                condition=Q(language__in=NoticeLanguage.values), name="notice_language_valid"
            ),
        ]

    def __str__(self):
        return f"{self.owner} – {self.title} v{self.version} ({self.language})"

    @property
    def owner(self):
        return self.profile if self.profile_id else self.policy

    @property
    def is_published(self) -> bool:
        return self.published_at is not None
