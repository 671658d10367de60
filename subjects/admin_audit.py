"""Admin mixins that attribute ORM saves and deletions in the history (who, source, reason).

In `subjects`, next to the audit trail they write (`common` stays free of app imports); kept out
of `subjects.admin` so the apps above can use them without importing that app's admin.
"""

from subjects.audit import Source, delete_audited, stamp


class AuditedDeleteMixin:
    """Admin deletions (the delete page and the "delete selected" action) leave history rows
    naming the staff user, source `internal` and reason "deleted", one object at a time, for
    the rows the deletion cascades to as well."""

    def delete_model(self, request, obj):
        delete_audited(obj, user=request.user, source=Source.INTERNAL)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class AuditedAdminMixin(AuditedDeleteMixin):
    """For admins that save with the ORM rather than a service: every history row their
    pages write (inline rows included) names the staff user, source `internal` and a reason."""

    def save_model(self, request, obj, form, change):
        stamp(
            obj, user=request.user, source=Source.INTERNAL, reason="edited" if change else "created"
        )
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            self.delete_model(request, obj)
        for obj in instances:
            reason = "edited" if obj.pk else "created"
            stamp(obj, user=request.user, source=Source.INTERNAL, reason=reason)
            obj.save()
        formset.save_m2m()
