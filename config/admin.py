"""The admin site: Django's, with a DPO dashboard on the index page."""

from functools import partial, wraps

from django.contrib import admin
from django.http import Http404
from django.urls import path, reverse

from common.admin import bounded_count, dpo_views, format_count, is_object_id


class ConsentAdminSite(admin.AdminSite):
    site_header = "Consent CRM"
    site_title = "Consent CRM"
    index_title = "Data protection dashboard"
    # "View site" opens what customers see: the preference center's "send me my link" page.
    site_url = "/preferences/"
    index_template = "admin/dpo_index.html"

    def dpo_dashboard(self, request) -> list[dict]:
        """Count of every named view the user may see, each linking to its changelist.

        Counts include the confidential data consents the user may not list (DESIGN §3.2:
        "counts and derived subject fields still include it"): a count reveals no content."""
        sections = []
        for model, model_admin in self._registry.items():
            views = dpo_views(model)
            if not views or not model_admin.has_view_permission(request):
                continue
            opts = model._meta
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
            queryset = model._default_manager.all()
            rows = [
                {
                    "label": label,
                    "count": format_count(bounded_count(queryset.for_view(code))),
                    "url": f"{url}?view={code}",
                }
                for code, (label, _) in views.items()
            ]
            sections.append({"title": opts.verbose_name_plural.capitalize(), "rows": rows})
        return sections

    def get_urls(self):
        # Pages of apps above the subjects' admin, wired here where every app is in reach.
        from preference_center.admin import send_link_view

        return [
            path(
                "send-preference-link/<slug:subject_type>/<str:object_id>/",
                self.admin_view(partial(send_link_view, site=self)),
                name="send_preference_link",
            ),
            *super().get_urls(),
        ]

    def admin_view(self, view, cacheable=False):
        """Every model page with an `object_id` in its URL (change, delete, history, timeline,
        access report, verbal consent, lifecycle, audience, …) answers 404 for an id that is
        not plain ASCII digits, before the view can turn it into a 500 or read "１２" as 12."""
        model_admin = getattr(view, "__self__", None)
        if not isinstance(model_admin, admin.ModelAdmin):
            return super().admin_view(view, cacheable)
        pk = model_admin.model._meta.pk

        @wraps(view)
        def checked(request, *args, **kwargs):
            object_id = kwargs.get("object_id")
            if object_id is not None and not is_object_id(pk, object_id):
                raise Http404("No such object.")
            return view(request, *args, **kwargs)

        return super().admin_view(checked, cacheable)

    def index(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "dpo_dashboard": self.dpo_dashboard(request)}
        return super().index(request, extra_context)
