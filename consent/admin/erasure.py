"""Erasure records: the PII-free trace an anonymization leaves."""

from django.contrib import admin

from consent.models import ErasureRecord


@admin.register(ErasureRecord)
class ErasureRecordAdmin(admin.ModelAdmin):
    list_display = ["subject_type", "subject_id", "erased_at", "erased_by", "counts"]
    list_filter = ["subject_type"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
