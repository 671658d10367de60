"""The admin site: Django's, with a DPO dashboard on the index page."""

from functools import partial, wraps

from django.contrib import admin, messages
from django.http import Http404, HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse

from common.admin import bounded_count, dpo_views, format_count, is_object_id
from common.csvutil import csv_lines
from consent.reports.dashboard import dashboard_pictures, missing_figures
from consent.tasks import refresh_dashboard_figures


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
            path(
                "dashboard/refresh/",
                self.admin_view(self.dashboard_refresh_view),
                name="dashboard_refresh",
            ),
            path(
                "dashboard/<slug:key>.csv",
                self.admin_view(self.dashboard_csv_view),
                name="dashboard_csv",
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
        if missing_figures():
            refresh_dashboard_figures.delay()  # first visit: compute them in the background
        extra_context = {
            **(extra_context or {}),
            "dpo_dashboard": self.dpo_dashboard(request),
            "dashboard_pictures": dashboard_pictures(
                user=request.user, trend=request.GET.get("trend", "")
            ),
        }
        return super().index(request, extra_context)

    def dashboard_csv_view(self, request, key):
        """One picture's numbers as CSV (the trend: every week × purpose/topic × source)."""
        pictures = {p.key: p for p in dashboard_pictures(user=request.user)}
        if key not in pictures:
            raise Http404
        picture = pictures[key]
        header, *rows = picture.csv
        response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="dashboard-{key}.csv"'
        return response

    def dashboard_refresh_view(self, request):
        """Recompute the pictures now (in the background when a worker runs)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        refresh_dashboard_figures.delay()
        messages.success(request, "The dashboard's figures are being refreshed.")
        return redirect("admin:index")
