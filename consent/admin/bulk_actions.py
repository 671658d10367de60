"""Bulk actions over more than BULK_SYNC_LIMIT rows run as jobs; their progress page."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from consent.models import BulkAction
from consent.services.bulk_actions import BULK_SYNC_LIMIT, bulk_action_create


def run_as_job(modeladmin, request, queryset, code: str) -> bool:
    """Above BULK_SYNC_LIMIT selected rows, queue the action as a job and say where its progress
    is; True if it did. Small selections stay synchronous (False)."""
    ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: BULK_SYNC_LIMIT + 1])
    if len(ids) <= BULK_SYNC_LIMIT:
        return False
    ids = list(queryset.order_by("pk").values_list("pk", flat=True))
    job = bulk_action_create(action=code, object_ids=ids, user=request.user)
    url = reverse("admin:consent_bulkaction_change", args=[job.pk])
    modeladmin.message_user(
        request,
        format_html(
            '{} rows: running as job <a href="{}">#{}</a> (progress on its page).',
            len(ids),
            url,
            job.pk,
        ),
        messages.SUCCESS,
    )
    return True


@admin.register(BulkAction)
class BulkActionAdmin(admin.ModelAdmin):
    """Read-only: who ran which action, how far it got, and what it refused."""

    list_display = ["id", "action", "status", "progress", "done", "created_by", "created_at"]
    list_filter = ["status", "action"]
    readonly_fields = [
        "action",
        "status",
        "progress",
        "done",
        "errors",
        "created_by",
        "created_at",
        "finished_at",
    ]
    fields = readonly_fields

    @admin.display(description="Progress")
    def progress(self, job: BulkAction) -> str:
        return f"{job.position:,} / {job.total:,} ({job.progress_percent}%)"

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("created_by")
        return queryset if request.user.is_superuser else queryset.filter(created_by=request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
