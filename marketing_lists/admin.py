import copy
import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from common.admin import (
    AuditedDeleteMixin,
    BoundedCountPaginator,
    DataProtectionChangelistMixin,
    DataProtectionViewFilter,
    LargeTableAdminMixin,
    ServiceAdminMixin,
    ServiceModelForm,
    add_service_errors,
    bounded_count,
    format_count,
)
from common.audit import Source
from common.csvutil import csv_lines
from common.replica import reading_from_replica, streamed_from_replica
from consent.models import Channel, ComplianceProfile, Purpose, Topic
from marketing_lists import audience, services
from marketing_lists.models import MarketingList
from marketing_lists.reconsent import marketing_list_from_reconsent
from subjects.models import Contact, Lead

PREVIEW_ROWS = 20
MEMBERS_PER_PAGE = 50


class MarketingListForm(ServiceModelForm):
    class Meta:
        model = MarketingList
        fields = ["name", "list_type", "member_type", "query", "purpose", "topic", "active"]

    def validate(self, user):
        candidate = copy.copy(self.instance)
        for name, value in self.cleaned_data.items():
            setattr(candidate, name, value)
        services.marketing_list_validate(marketing_list=candidate)

    def apply(self, user):
        for name, value in self.cleaned_data.items():
            setattr(self.instance, name, value)
        return services.marketing_list_save(marketing_list=self.instance, user=user)


class AudienceForm(forms.Form):
    channel = forms.ChoiceField(choices=Channel.choices)
    purpose = forms.ModelChoiceField(Purpose.objects.select_related("profile"))
    topic = forms.ModelChoiceField(Topic.objects.filter(active=True), required=False)


class MembersAddForm(forms.Form):
    """Members to add by id, or by e-mail address for contact and lead lists."""

    members = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Ids or e-mail addresses, separated by commas, spaces or new lines.",
    )


class AddToStaticListForm(forms.Form):
    marketing_list = forms.ModelChoiceField(MarketingList.objects.none(), label="Static list")

    def __init__(self, *args, member_type: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["marketing_list"].queryset = MarketingList.objects.filter(
            list_type=MarketingList.ListType.STATIC, member_type=member_type, active=True
        ).order_by("name")


class ReconsentListForm(forms.Form):
    profile = forms.ModelChoiceField(ComplianceProfile.objects.all())
    purpose = forms.ModelChoiceField(Purpose.objects.all(), required=False)
    member_type = forms.ChoiceField(
        choices=[
            (MarketingList.MemberType.CONTACT, "Contacts"),
            (MarketingList.MemberType.LEAD, "Leads"),
        ]
    )

    def clean(self):
        data = super().clean()
        purpose, profile = data.get("purpose"), data.get("profile")
        if purpose is not None and profile is not None and purpose.profile_id != profile.pk:
            self.add_error("purpose", "Choose a purpose of the chosen profile.")
        return data


@admin.register(MarketingList)
class MarketingListAdmin(
    DataProtectionChangelistMixin,
    AuditedDeleteMixin,
    LargeTableAdminMixin,
    ServiceAdminMixin,
    SimpleHistoryAdmin,
):
    form = MarketingListForm
    export_fields = [
        ("ID", "id"),
        ("Name", "name"),
        ("List type", "list_type"),
        ("Member type", "member_type"),
        ("Purpose", "purpose__name"),
        ("Topic", "topic__name"),
        ("Active", "active"),
    ]
    list_display = ["name", "list_type", "member_type", "purpose", "topic", "active"]
    list_filter = [DataProtectionViewFilter, "list_type", "member_type", "active"]
    list_select_related = ["purpose", "topic"]
    search_fields = ["name"]
    readonly_fields = ["member_preview"]

    change_form_template = "admin/marketing_lists/marketinglist_change_form.html"

    def get_urls(self):
        return [
            path(
                "from-reconsent/",
                self.admin_site.admin_view(self.from_reconsent_view),
                name="marketing_lists_marketinglist_from_reconsent",
            ),
            path(
                "<path:object_id>/audience/",
                self.admin_site.admin_view(self.audience_view),
                name="marketing_lists_marketinglist_audience",
            ),
            path(
                "<path:object_id>/members/",
                self.admin_site.admin_view(self.members_view),
                name="marketing_lists_marketinglist_members",
            ),
            *super().get_urls(),
        ]

    def from_reconsent_view(self, request):
        """POST from "Consents given under an older notice": a static list of the contacts or
        leads holding an outdated opt-in, for a re-consent mail."""
        if request.method != "POST" or not self.has_add_permission(request):
            raise PermissionDenied
        form = ReconsentListForm(request.POST)
        if not form.is_valid():
            self.message_user(request, f"No list made: {form.errors.as_text()}", messages.ERROR)
            return redirect("admin:consent_notice_reconsent")
        data = form.cleaned_data
        marketing_list, added = marketing_list_from_reconsent(
            profile=data["profile"],
            purpose=data["purpose"],
            member_type=data["member_type"],
            user=request.user,
            source=Source.INTERNAL,
        )
        self.message_user(
            request,
            f"Static list “{marketing_list.name}” made with {added} member(s): send them the "
            "re-consent mail; their preference link re-confirms under the current notice.",
            messages.SUCCESS,
        )
        return redirect("admin:marketing_lists_marketinglist_change", marketing_list.pk)

    def members_view(self, request, object_id):
        """A static list's members: paginated and searchable, whatever the list's size; members
        are added (by id or e-mail) and removed through the audited service."""
        marketing_list = self.get_object(request, object_id)
        if marketing_list is None or not self.has_view_permission(request, marketing_list):
            raise Http404
        can_change = marketing_list.is_static and self.has_change_permission(
            request, marketing_list
        )
        add_form = MembersAddForm(request.POST if "add" in request.POST else None)
        if request.method == "POST":
            if not can_change:
                raise PermissionDenied
            changed = self._change_members(request, marketing_list, add_form)
            if changed:
                return redirect(request.get_full_path())
        term = request.GET.get("q", "").strip()
        members = services.marketing_list_members(marketing_list)
        if term:
            members = _search(members, term)
        page = BoundedCountPaginator(members.order_by("pk"), MEMBERS_PER_PAGE).get_page(
            request.GET.get("p")
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": marketing_list,
            "title": f"Members of {marketing_list}",
            "page": page,
            "term": term,
            "add_form": add_form,
            "can_change": can_change,
        }
        return TemplateResponse(request, "admin/marketing_lists/members.html", context)

    def _change_members(self, request, marketing_list, add_form) -> bool:
        remove = [int(pk) for pk in request.POST.getlist("remove") if pk.isascii() and pk.isdigit()]
        add: list[int] = []
        if add_form.is_bound:
            if not add_form.is_valid():
                return False
            try:
                add = member_ids(marketing_list, add_form.cleaned_data["members"])
            except ValidationError as exc:
                add_service_errors(add_form, exc)
                return False
        try:
            counts = services.marketing_list_members_change(
                marketing_list=marketing_list, add=add, remove=remove, user=request.user
            )
        except ValidationError as exc:
            add_service_errors(add_form, exc)
            return False
        self.message_user(
            request,
            f"{counts['added']} member(s) added, {counts['removed']} removed.",
            messages.SUCCESS,
        )
        return True

    @method_decorator(reading_from_replica())  # a pure read that can live with a replica's lag
    def audience_view(self, request, object_id):
        """Counts per reason and a streamed CSV of the audience for a channel and purpose."""
        marketing_list = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_permission(request, marketing_list):
            raise PermissionDenied
        form = AudienceForm(request.GET or None)
        summary = None
        if form.is_valid():
            data = form.cleaned_data
            try:
                # A list saved before a query rule existed may no longer validate: say so on
                # the page instead of a 500.
                services.marketing_list_validate(marketing_list=marketing_list)
                audience_request = audience.audience_request(
                    marketing_list=marketing_list,
                    channel=data["channel"],
                    purpose=data["purpose"].pk,
                    topic=data["topic"].pk if data["topic"] else None,
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                if request.GET.get("format") == "csv":
                    return _csv_response(audience_request, f"audience-{marketing_list.pk}.csv")
                summary = audience.audience_summary(audience.audience_rows(audience_request))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": marketing_list,
            "title": f"Audience: {marketing_list}",
            "form": form,
            "summary": summary,
            "csv_query": request.GET.urlencode() + "&format=csv" if summary else "",
        }
        return TemplateResponse(request, "admin/marketing_lists/audience.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "audience_url": reverse(
                "admin:marketing_lists_marketinglist_audience", args=[object_id]
            ),
            "members_url": reverse("admin:marketing_lists_marketinglist_members", args=[object_id]),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_fields(self, request, obj=None):
        fields = list(MarketingListForm._meta.fields)
        return [*fields, "member_preview"] if obj else fields

    @admin.display(description="Members (preview)")
    def member_preview(self, obj):
        try:
            members = services.marketing_list_members(obj)
        except ValidationError as exc:
            return format_html('<span class="errornote">{}</span>', " ".join(exc.messages))
        rows = members.order_by("pk")[:PREVIEW_ROWS]
        return format_html(
            "<p>{} member(s)</p><ul>{}</ul>",
            format_count(bounded_count(members)),
            format_html_join("", "<li>#{} {}</li>", ((m.pk, m) for m in rows)),
        )


def _csv_response(audience_request, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        streamed_from_replica(
            csv_lines(audience.CSV_HEADER, audience.audience_csv_rows(audience_request))
        ),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _search(members, term: str):
    """Members found by the subjects' own search (exact address or name prefix); accounts by
    the start of their name."""
    if hasattr(members, "search"):
        return members.search(term)
    return members.filter(name__istartswith=term)


def member_ids(marketing_list: MarketingList, text: str) -> list[int]:
    """Ids typed or pasted on the member page: numbers, or e-mail addresses of subjects."""
    tokens = [token for token in re.split(r"[\s,;]+", text) if token]
    ids = [int(token) for token in tokens if token.isascii() and token.isdigit()]
    addresses = [token for token in tokens if "@" in token]
    unknown = [t for t in tokens if not (t.isascii() and t.isdigit()) and "@" not in t]
    if unknown:
        raise ValidationError(
            {"members": f"Not an id or an e-mail address: {', '.join(unknown[:5])}."}
        )
    model = marketing_list.member_model
    for address in addresses:
        found = list(
            model.objects.not_anonymized().with_email(address).values_list("pk", flat=True)
        )
        if not found:
            raise ValidationError({"members": f"No {marketing_list.member_type} with {address}."})
        ids.extend(found)
    return ids


@admin.action(description="Add the selected to a static list")
def add_to_static_list(modeladmin, request, queryset):
    """On the lead and contact lists: choose a static list, then the selection joins it through
    the audited member service (a list's own page manages it further)."""
    member_type = queryset.model._meta.model_name
    form = AddToStaticListForm(
        request.POST if "marketing_list" in request.POST else None, member_type=member_type
    )
    if form.is_bound and form.is_valid():
        marketing_list = form.cleaned_data["marketing_list"]
        if not request.user.has_perm("marketing_lists.change_marketinglist"):
            raise PermissionDenied
        ids = list(queryset.values_list("pk", flat=True))
        counts = services.marketing_list_members_change(
            marketing_list=marketing_list, add=ids, user=request.user
        )
        modeladmin.message_user(
            request, f"{counts['added']} added to “{marketing_list}”.", messages.SUCCESS
        )
        return redirect("admin:marketing_lists_marketinglist_members", marketing_list.pk)
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": queryset.model._meta,
        "title": "Add to a static list",
        "form": form,
        "selected": queryset.values_list("pk", flat=True),
        "count": queryset.count(),
        "action": "add_to_static_list",
    }
    return TemplateResponse(request, "admin/marketing_lists/add_to_list.html", context)


# Leads and contacts live in apps below this one: the action is wired from here, the app that
# owns lists (DESIGN §2: imports only go downward).
for _model in (Contact, Lead):
    _subject_admin = admin.site.get_model_admin(_model)
    _subject_admin.actions = [*(_subject_admin.actions or []), add_to_static_list]
