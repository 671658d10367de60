"""Erasure records: the PII-free trace an anonymization leaves."""

from django.contrib import admin

from consent.models import ErasureRecord


@admin.register(ErasureRecord)
class ErasureRecordAdmin(admin.ModelAdmin):
    list_display = ["subject_type", "subject_id", "erased_at", "erased_by", "what_was_erased"]
    list_filter = ["subject_type"]
    fields = ["subject_type", "subject_id", "erased_at", "erased_by", "what_was_erased"]
    readonly_fields = fields

    @admin.display(description="What was erased")
    def what_was_erased(self, obj):
        """The counts in words ("2 data consents deactivated, 1 address suppressed")."""
        return erasure_counts_in_words(obj.counts)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


COUNT_WORDS = {
    "data_consents_anonymized": "data consent(s) deactivated as anonymized",
    "data_consents_unlinked": "data consent(s) left with the converted contact",
    "contact_point_consents_deleted": "contact-point consent(s) deleted",
    "suppressions_added": "address(es) suppressed (keyed hash only)",
    "contact_point_addresses_kept": "address(es) kept: another subject still uses them",
}


def erasure_counts_in_words(counts: dict | None) -> str:
    parts = [
        f"{value:,} {COUNT_WORDS.get(key, key.replace('_', ' '))}"
        for key, value in (counts or {}).items()
        if isinstance(value, int) and value
    ]
    return ", ".join(parts) or "nothing beyond the record itself"
