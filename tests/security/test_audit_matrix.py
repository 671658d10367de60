"""The audit trail is complete: every write path of the product leaves history rows with the
right actor (the staff user; nobody for customers and the system), source and reason
(DESIGN §3.7, GDPR Art. 7(1)).

One parametrized test runs the matrix. A case arranges state, performs one real write through
its path (admin page, admin action, API route, public page, command, job) and names the
reason each audited model's new rows must carry. Every history row the write adds, in every
audited model, must carry the case's actor and source and a reason. The completeness guards
fail when a new admin action or API write route appears without a case: adding a path is one
line in CASES.
"""

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django import forms
from django.apps import apps
from django.contrib import admin
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db.models import CharField, Max, TextField
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from common.audit import AuditedHistoryModel, Source
from consent import tasks
from consent.admin.subjects import CONTACT_ACTIONS, LEAD_ACTIONS
from consent.models import (
    ComplianceProfile,
    ConsentLoad,
    ContactPointConsent,
    DataConsent,
    DataPolicy,
    DataSubjectRequest,
    ErasureRecord,
    Notice,
    Purpose,
    Suppression,
    Topic,
    WebhookDelivery,
    WebhookEndpoint,
)
from consent.services.contact_points import suppression_add
from consent.services.data_consents import data_consent_cancel
from consent.services.notices import notice_create, notice_publish
from consent.services.requests import data_subject_request_create
from marketing_lists.models import MarketingList, MarketingListMember
from marketing_lists.services import marketing_list_members_change, marketing_list_save
from subjects import services as subject_services
from subjects.models import Account, Contact, Lead
from subjects.services import account_save
from tests import factories
from tests.preference_center.conftest import manage_path, unsubscribe_path
from tests.security.test_authorization import api_routes

pytestmark = pytest.mark.django_db

STAFF, NOBODY = "staff", None
OPTED_IN, OPTED_OUT = ContactPointConsent.Status.OPTED_IN, ContactPointConsent.Status.OPTED_OUT
CSV_HEADER = "channel,value,purpose,topic,status,source,reason,captured_at,requested_by\n"


# ---------------------------------------------------------------------------------------------
# The world a case runs in


@dataclass
class World:
    staff: object
    admin: Client  # the staff user's browser
    api: APIClient  # the staff user's token
    public: Client  # a customer: no login
    on_commit: Callable  # runs the on-commit callbacks (Celery dispatch) of what it wraps

    @property
    def profile(self) -> ComplianceProfile:
        return ComplianceProfile.objects.default()

    @property
    def commercial(self) -> Purpose:
        return self.profile.purposes.get(kind=Purpose.Kind.COMMERCIAL)


def audited_history_models() -> list:
    return [m for m in apps.get_models() if issubclass(m, AuditedHistoryModel)]


def history_marks() -> dict:
    return {
        model: model.objects.aggregate(mark=Max("history_id"))["mark"] or 0
        for model in audited_history_models()
    }


def rows_since(marks: dict) -> dict:
    """The history rows written since `marks`, per concrete model."""
    return {
        model.instance_type: list(model.objects.filter(history_id__gt=mark).order_by("history_id"))
        for model, mark in marks.items()
        if model.objects.filter(history_id__gt=mark).exists()
    }


# ---------------------------------------------------------------------------------------------
# Paths: the admin


def admin_url(model, page: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


def _text(value) -> str:
    if value is None:
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _form_fields(form) -> dict:
    """What a browser posts back for `form` unchanged (its initial values)."""
    data = {}
    for name, form_field in form.fields.items():
        key, value, widget = form.add_prefix(name), form[name].value(), form_field.widget
        if isinstance(widget, forms.MultiWidget):
            for index, part in enumerate(widget.decompress(value)):
                data[f"{key}_{index}"] = _text(part)
        elif isinstance(widget, forms.CheckboxInput):
            if value:
                data[key] = "on"
        elif isinstance(value, list | tuple):
            data[key] = [_text(v) for v in value]
        else:
            data[key] = _text(value)
    return data


def admin_form_data(context) -> dict:
    data = _form_fields(context["adminform"].form)
    for inline in context["inline_admin_formsets"]:
        formset = inline.formset
        data.update(_form_fields(formset.management_form))
        for form in formset.forms:
            data.update(_form_fields(form))
    return data


def admin_save(w: World, url: str, changes: dict) -> None:
    """Open an admin add / change page, change some fields, save."""
    page = w.admin.get(url)
    assert page.status_code == 200, url
    data = {**admin_form_data(page.context), **changes}
    response = w.admin.post(url, {k: v for k, v in data.items() if v is not None})
    assert response.status_code == 302, _page_errors(response)


def _page_errors(response):
    context = response.context or {}
    if "adminform" in context:
        return context["adminform"].form.errors, [
            inline.formset.errors for inline in context["inline_admin_formsets"]
        ]
    return context.get("form") and context["form"].errors


def admin_add(model, **values) -> Callable:
    return lambda w, _: admin_save(w, admin_url(model, "add"), values)


def admin_change(**values) -> Callable:
    return lambda w, obj: admin_save(w, admin_url(type(obj), "change", obj.pk), values)


def admin_action(name: str, **extra) -> Callable:
    """Select the arranged object in its changelist and run an action on it."""

    def act(w: World, obj):
        data = {"action": name, "_selected_action": [obj.pk], "index": 0, **extra}
        response = w.admin.post(admin_url(type(obj), "changelist"), data)
        assert response.status_code == 302, response.content[:500]

    return act


def admin_button(name: str) -> Callable:
    """The lifecycle button of a subject page (its confirmation page's POST)."""

    def act(w: World, obj):
        response = w.admin.post(admin_url(type(obj), "lifecycle", obj.pk, name))
        assert response.status_code == 302

    return act


def inline_formset(w: World, url: str, model):
    for inline in w.admin.get(url).context["inline_admin_formsets"]:
        if inline.formset.model is model:
            return inline.formset
    raise AssertionError(f"no {model.__name__} inline on {url}")


def admin_inline_add(model, **values) -> Callable:
    """Save a change page with one more row of its `model` inline filled in."""

    def act(w: World, obj):
        url = admin_url(type(obj), "change", obj.pk)
        formset = inline_formset(w, url, model)
        prefix, row = formset.prefix, formset.initial_form_count()
        changes = {
            f"{prefix}-{row}-{k}": _text(v(obj) if callable(v) else v) for k, v in values.items()
        }
        changes[f"{prefix}-TOTAL_FORMS"] = str(row + 1)
        admin_save(w, url, changes)

    return act


def admin_member_add(w: World, marketing_list):
    url = admin_url(MarketingList, "members", marketing_list.pk)
    response = w.admin.post(url, {"add": "1", "members": str(newest(Contact).pk)})
    assert response.status_code == 302, _page_errors(response)


def admin_member_remove(w: World, marketing_list):
    url = admin_url(MarketingList, "members", marketing_list.pk)
    member = marketing_list.members.get()
    response = w.admin.post(url, {"remove": [member.subject_id]})
    assert response.status_code == 302, _page_errors(response)


def with_static_list_of(arrange: Callable) -> Callable:
    def arrange_both(w: World):
        subject = arrange(w)
        marketing_list_save(
            marketing_list=MarketingList(
                name="Fair visitors", list_type="static", member_type=subject._meta.model_name
            )
        )
        return subject

    arrange_both.__name__ = arrange.__name__
    return arrange_both


def admin_add_to_static_list(w: World, subject):
    target = MarketingList.objects.get(name="Fair visitors")
    data = {
        "action": "add_to_static_list",
        "_selected_action": [subject.pk],
        "index": 0,
        "marketing_list": target.pk,
    }
    response = w.admin.post(admin_url(type(subject), "changelist"), data)
    assert response.status_code == 302, _page_errors(response)


def admin_consent_state(action: str, reason: str) -> Callable:
    """The cancel / reactivate page of one data consent, with its required reason."""

    def act(w: World, consent):
        url = reverse("admin:consent_dataconsent_state", args=[consent.pk, action])
        response = w.admin.post(url, {"reason": reason})
        assert response.status_code == 302, _page_errors(response)

    return act


def admin_verbal_consent(w: World, subject):
    url = admin_url(type(subject), "verbal_consent", subject.pk)
    response = w.admin.post(
        url,
        {
            "address": f"email|{subject.email}",
            "purpose": w.commercial.pk,
            "status": OPTED_IN,
            "requested_by": "customer by phone",
            "note": "Asked for the newsletter on the phone",
        },
    )
    assert response.status_code == 302, _page_errors(response)


def admin_suppress(w: World, _):
    data = {"channel": "email", "value": "gone@example.org", "reason": "bounced hard"}
    assert w.admin.post(reverse("admin:consent_suppression_suppress"), data).status_code == 302


def admin_unsuppress(w: World, _):
    data = {"channel": "email", "value": "gone@example.org", "reason": "asked to be mailed again"}
    assert w.admin.post(reverse("admin:consent_suppression_unsuppress"), data).status_code == 302


def admin_load(w: World, _):
    upload = SimpleUploadedFile("legacy.csv", _load_csv(w).encode(), content_type="text/csv")
    with w.on_commit(execute=True):
        w.admin.post(
            reverse("admin:consent_consentload_add"),
            {"file": upload, "profile": w.profile.pk, "mode": "reject"},
        )
    preview = ConsentLoad.objects.get(dry_run=True)
    assert preview.status == "previewed", preview.message
    with w.on_commit(execute=True):
        response = w.admin.post(reverse("admin:consent_consentload_confirm", args=[preview.pk]))
    assert response.status_code == 302
    assert ConsentLoad.objects.get(dry_run=False).status == "done"


# ---------------------------------------------------------------------------------------------
# Paths: the API


def api(method: str, path: str, body: Callable | dict | None = None, status=(200, 201, 202, 204)):
    """Call `/api/v1/<path>` ({id} = the arranged object's id) with the staff user's token."""

    def act(w: World, obj):
        url = "/api/v1/" + path.format(id=getattr(obj, "pk", None))
        data = body(w, obj) if callable(body) else body
        response = getattr(w.api, method)(url, data, format="json")
        assert response.status_code in status, (url, response.status_code, response.content)

    return act


def _subject_body(**extra):
    return lambda w, obj: {
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": "grace@example.org",
        **extra,
    }


def api_load(w: World, _):
    upload = SimpleUploadedFile("legacy.csv", _load_csv(w).encode(), content_type="text/csv")
    with w.on_commit(execute=True):
        response = w.api.post(
            "/api/v1/consent-loads/", {"file": upload, "profile": w.profile.pk}, format="multipart"
        )
    assert response.status_code == 202, response.content
    assert ConsentLoad.objects.get().status == "done"


# ---------------------------------------------------------------------------------------------
# Paths: customers (public pages) and the system (commands, jobs)


def customer_manage(w: World, _):
    path = manage_path(w.profile, "reader@example.org")
    assert w.public.post(path, {"purpose": [w.commercial.pk]}).status_code == 302


def _sign_up(w: World) -> None:
    url = reverse("preference_center:subscribe", args=[w.profile.slug])
    response = w.public.post(url, {"email": "new.reader@example.org", "purpose": [w.commercial.pk]})
    assert response.status_code == 200


def customer_subscribe(w: World, _):
    _sign_up(w)


def customer_confirm(w: World, _):
    path = re.search(r"(/subscribe/confirm/[^/\s]+/)", mail.outbox[-1].body).group(1)
    assert w.public.post(path).status_code == 200


def customer_one_click(w: World, _):
    path = unsubscribe_path(w.commercial, "reader@example.org")
    response = Client(enforce_csrf_checks=True).post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200


def command_load(w: World, _):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "legacy.csv"
        path.write_text(_load_csv(w))
        call_command("load_consent", str(path), stdout=StringIO())


def command_expire_consents(w: World, _):
    call_command("expire_consents", stdout=StringIO())


def job_expire_contact_points(w: World, _):
    assert tasks.expire_contact_point_consents.delay().get() == 1


def _load_csv(w: World) -> str:
    return CSV_HEADER + f"email,loaded@example.org,{w.commercial.name},,opted_in,,,,\n"


# ---------------------------------------------------------------------------------------------
# Arranging state (through the real services)


def nothing(w: World):
    return None


WEBHOOK = {"url": "http://127.0.0.1:9/in", "events": ["subject.anonymized"]}


def webhook_endpoint(w: World) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(url=WEBHOOK["url"], events=WEBHOOK["events"])


def webhook_delivery(w: World) -> WebhookDelivery:
    endpoint = webhook_endpoint(w)
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id="msg_1",
        event_type="subject.anonymized",
        address_key="k",
        data={},
    )


def api_redeliver(w: World, delivery: WebhookDelivery) -> None:
    url = f"/api/v1/webhooks/{delivery.endpoint_id}/deliveries/{delivery.pk}/redeliver/"
    assert w.api.post(url).status_code == 201


def spares(w: World):
    """What a create refers to (a contact, a policy, a profile with a purpose), made before
    the write so that only the write's own history rows are checked."""
    factories.contact(first_name="Spare")
    factories.policy()
    factories.purpose(profile=factories.compliance_profile())


def newest(model):
    return model.objects.latest("pk")


def with_spares(arrange: Callable) -> Callable:
    def arrange_both(w: World):
        state = arrange(w)
        spares(w)
        return state

    return arrange_both


def lead(w: World) -> Lead:
    return factories.lead()


def contact(w: World) -> Contact:
    return factories.contact()


def account(w: World) -> Account:
    return account_save(account=Account(name="Acme"))


def policy(w: World) -> DataPolicy:
    return factories.policy()


def disqualified_lead(w: World) -> Lead:
    return subject_services.lead_disqualify(lead=factories.lead())


def lead_with_consent(w: World) -> Lead:
    subject = factories.lead()
    factories.consent(subject=subject)
    return subject


def contact_with_consent(w: World) -> Contact:
    subject = factories.contact()
    factories.consent(subject=subject, note="given at the fair")
    subject.refresh_from_db()
    return subject


def opted_out_with_consent(arrange: Callable) -> Callable:
    """A subject with a data consent whose email opted out: erasing it leaves a suppression."""

    def arrange_subject(w: World):
        subject = arrange(w)
        factories.cp_consent(value=subject.email, purpose_obj=w.commercial, status=OPTED_OUT)
        return subject

    return arrange_subject


def inactive_contact(w: World) -> Contact:
    return subject_services.contact_deactivate(contact=factories.contact())


def active_consent(w: World) -> DataConsent:
    return factories.consent(subject=factories.contact())


def cancelled_consent(w: World) -> DataConsent:
    return data_consent_cancel(consent=active_consent(w))


def profile(w: World) -> ComplianceProfile:
    return factories.compliance_profile()


def purpose(w: World) -> Purpose:
    return factories.purpose(profile=factories.compliance_profile())


def topic(w: World) -> Topic:
    return factories.topic()


def cp_consent(w: World) -> ContactPointConsent:
    return factories.cp_consent(
        value="reader@example.org", purpose_obj=w.commercial, status=OPTED_IN
    )


def static_list(w: World) -> MarketingList:
    return marketing_list_save(
        marketing_list=MarketingList(
            name="Fair visitors", list_type="static", member_type="contact"
        )
    )


def list_with_member(w: World) -> MarketingList:
    marketing_list = static_list(w)
    marketing_list_members_change(marketing_list=marketing_list, add=[factories.contact().pk])
    return marketing_list


def suppressed(w: World):
    suppression_add(channel="email", value="gone@example.org", reason="bounced")


def _customer_profile(w: World, double_opt_in: str = ComplianceProfile.DoubleOptIn.OFF) -> None:
    """The default profile records a customer's opt-in as a data consent too (DESIGN §3.6)."""
    default = w.profile
    default.double_opt_in = double_opt_in
    default.data_policy = factories.policy(consent_level=4)
    default.save()


def sign_up_requested(w: World):
    _customer_profile(w, ComplianceProfile.DoubleOptIn.ALWAYS)
    _sign_up(w)
    assert ContactPointConsent.objects.count() == 0  # nothing before the confirmation


def double_opt_in_off(w: World):
    _customer_profile(w)


def reader_opted_in(w: World):
    factories.contact(email="reader@example.org")
    return cp_consent(w)


def reader_known(w: World):
    _customer_profile(w)
    return factories.contact(email="reader@example.org")


def due_consent(w: World) -> DataConsent:
    consent = factories.consent(subject=factories.contact())
    DataConsent.objects.filter(pk=consent.pk).update(
        valid_until=timezone.localdate() - timedelta(1)
    )
    return consent


def expiring_opt_in(w: World) -> ContactPointConsent:
    record = cp_consent(w)
    ContactPointConsent.objects.filter(pk=record.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    return record


# ---------------------------------------------------------------------------------------------
# Extra checks


def erased(w: World, subject):
    """The person is gone from every history table; the erasure itself is recorded."""
    for model in audited_history_models():
        text = [f.name for f in model._meta.fields if isinstance(f, CharField | TextField)]
        for name in text:
            for pii in (subject.email, subject.last_name):
                found = model.objects.filter(**{f"{name}__icontains": pii})
                assert not found.exists(), (model, name, pii)
    record = ErasureRecord.objects.get(subject_type=subject.subject_type, subject_id=subject.pk)
    assert record.erased_by == w.staff
    assert record.counts["data_consents_anonymized"] == 1
    assert record.counts["suppressions_added"] == 1
    assert not ContactPointConsent.objects.filter(value=subject.email).exists()


def nothing_written(w: World, _):
    pass


def open_request(w: World) -> DataSubjectRequest:
    return data_subject_request_create(kind="access", contact=factories.contact(), user=w.staff)


def erasure_request(w: World) -> DataSubjectRequest:
    return data_subject_request_create(kind="erasure", contact=factories.contact(), user=w.staff)


def admin_request_action(name: str, **data) -> Callable:
    def act(w: World, obj):
        url = reverse("admin:consent_datasubjectrequest_action", args=[obj.pk, name])
        response = w.admin.post(url, data)
        assert response.status_code == 302, _page_errors(response)

    return act


def _later(w, obj):
    return {"due_at": (obj.due_at + timedelta(days=20)).isoformat(), "reason": "archives"}


# ---------------------------------------------------------------------------------------------
# The matrix


@dataclass(frozen=True)
class Case:
    """`act` writes through one path; `reasons` maps each audited model whose history the
    write must extend to the reason (a regex) of its new rows; every other new row needs a
    reason too. `actor`: the staff user, or nobody (customers, the system)."""

    id: str
    arrange: Callable
    act: Callable
    source: str
    reasons: dict
    actor: str | None = STAFF
    check: Callable | None = None
    marks: tuple = field(default=())


def admin_case(id, arrange, act, reasons, **kw):
    return Case(id, arrange, act, Source.INTERNAL, reasons, **kw)


def api_case(route, arrange, act, reasons, **kw):
    return Case(f"api {route}", arrange, act, Source.API, reasons, **kw)


SUBJECT_EDITED = "edited"
ERASED_OPT_OUT = "owner erased after opting out"
CONSENT_RECOMPUTED = "data consent (added|edited|cancelled|reactivated|expired)"
SUBJECT_ACTIONS = [
    # (model, action, arrange, reasons)
    (Lead, "qualify", lead, {Lead: "qualify"}),
    (
        Lead,
        "convert",
        lead_with_consent,
        {
            Lead: "qualify and convert",
            Contact: r"converted from lead \d+",
            DataConsent: r"linked to contact \d+ on conversion of lead \d+",
        },
    ),
    (Lead, "disqualify", lead, {Lead: "disqualify"}),
    (Lead, "reactivate", disqualified_lead, {Lead: "reactivate"}),
    (
        Lead,
        "anonymize",
        opted_out_with_consent(lead_with_consent),
        {Lead: "anonymized", DataConsent: "anonymized", Suppression: ERASED_OPT_OUT},
    ),
    (Contact, "deactivate", contact, {Contact: "deactivate"}),
    (Contact, "reactivate", inactive_contact, {Contact: "reactivate"}),
    (
        Contact,
        "anonymize",
        opted_out_with_consent(contact_with_consent),
        {Contact: "anonymized", DataConsent: "anonymized", Suppression: ERASED_OPT_OUT},
    ),
]


def _subject_action_cases() -> list[Case]:
    cases = []
    for model, name, arrange, reasons in SUBJECT_ACTIONS:
        check = erased if name == "anonymize" else None
        label = model._meta.label
        cases += [
            admin_case(
                f"admin-action {label} action_{name}",
                arrange,
                admin_action(f"action_{name}", confirmed="1"),
                reasons,
                check=check,
            ),
            admin_case(
                f"admin-button {label} {name}", arrange, admin_button(name), reasons, check=check
            ),
        ]
    return cases


# Deletions, with what they cascade to: every row deleted along needs its history row too.
DELETIONS = {
    # model: (API prefix, arrange: the object, with something its deletion cascades to)
    ComplianceProfile: ("compliance-profiles", lambda w: factories.topic().purpose.profile),
    Purpose: ("purposes", lambda w: factories.topic().purpose),
    Topic: ("topics", lambda w: factories.topic()),
    MarketingList: ("marketing-lists", lambda w: list_with_member(w)),
    Notice: ("notices", lambda w: draft_notice(w)),
}
DELETED_ALONG = {
    ComplianceProfile: (ComplianceProfile, Purpose, Topic),
    Purpose: (Purpose, Topic),
    Topic: (Topic,),
    MarketingList: (MarketingList, MarketingListMember),
    Notice: (Notice,),
}


def draft_notice(w: World, version: str = "9") -> Notice:
    return notice_create(
        data={
            "profile": w.profile,
            "version": version,
            "title": "t",
            "text": "x",
            "material": True,
        },
        user=None,
        source=Source.INTERNAL,
    )


def outdated_opt_in(w: World) -> ComplianceProfile:
    """An e-mail opt-in given under the default profile's notice before a material one."""
    factories.contact(email="reconsent@example.org")
    factories.cp_consent(value="reconsent@example.org", purpose_obj=w.commercial, status=OPTED_IN)
    notice_publish(draft_notice(w, "10"), user=None, source=Source.INTERNAL)
    return w.profile


def admin_make_reconsent_list(w: World, profile):
    url = reverse("admin:marketing_lists_marketinglist_from_reconsent")
    response = w.admin.post(url, {"profile": profile.pk, "member_type": "contact"})
    assert response.status_code == 302


def admin_delete_page(w: World, obj):
    response = w.admin.post(admin_url(type(obj), "delete", obj.pk), {"post": "yes"})
    assert response.status_code == 302


def _delete_cases() -> list[Case]:
    cases = []
    for model, (prefix, arrange) in DELETIONS.items():
        reasons = dict.fromkeys(DELETED_ALONG[model], "deleted")
        label = model._meta.label
        cases += [
            admin_case(
                f"admin-action {label} delete_selected",
                arrange,
                admin_action("delete_selected", post="yes"),
                reasons,
            ),
            admin_case(f"admin-delete {label}", arrange, admin_delete_page, reasons),
            api_case(f"{prefix} destroy", arrange, api("delete", f"{prefix}/{{id}}/"), reasons),
        ]
    return cases


def _crud(prefix, arrange, create_body, change_body, reasons_created, reasons_edited, delete=None):
    cases = [
        api_case(
            f"{prefix} create", spares, api("post", f"{prefix}/", create_body), reasons_created
        ),
        api_case(
            f"{prefix} update",
            arrange,
            api(
                "put", f"{prefix}/{{id}}/", lambda w, o: {**_body(create_body, w, o), **change_body}
            ),
            reasons_edited,
        ),
        api_case(
            f"{prefix} partial_update",
            arrange,
            api("patch", f"{prefix}/{{id}}/", change_body),
            reasons_edited,
        ),
    ]
    if delete:
        model = next(iter(reasons_edited))
        cases.append(
            api_case(
                f"{prefix} destroy", delete, api("delete", f"{prefix}/{{id}}/"), {model: "deleted"}
            )
        )
    return cases


def _body(body, w, obj):
    return body(w, obj) if callable(body) else body


def _policy_body(w, obj):
    return {"name": "Newsletter policy", "consent_level": 4, "validity_days": 365}


def _consent_body(w, obj):
    if obj:
        return {"contact": obj.contact_id, "policy": obj.policy_id}
    return {"contact": newest(Contact).pk, "policy": newest(DataPolicy).pk}


def _profile_body(w, obj):
    return {"name": "Shop", "slug": "shop"}


def _purpose_body(w, obj):
    profile_id = obj.profile_id if obj else newest(ComplianceProfile).pk
    return {
        "profile": profile_id,
        "name": "Offers",
        "kind": "commercial",
        "consent_model": "restrictive",
        "required_level": 0,
    }


def _topic_body(w, obj):
    return {"purpose": obj.purpose_id if obj else newest(Purpose).pk, "name": "Events"}


def _list_body(w, obj):
    return {"name": "Fair visitors", "list_type": "static", "member_type": "contact"}


API_CASES = [
    *_crud(
        "accounts",
        account,
        {"name": "Acme"},
        {"name": "Acme Ltd"},
        {Account: "created"},
        {Account: "edited"},
        delete=account,
    ),
    *_crud(
        "leads",
        lead,
        _subject_body(company_name="Navy"),
        {"last_name": "Murray"},
        {Lead: "created"},
        {Lead: SUBJECT_EDITED},
    ),
    *_crud(
        "contacts",
        contact,
        _subject_body(),
        {"last_name": "Murray"},
        {Contact: "created"},
        {Contact: SUBJECT_EDITED},
    ),
    *_crud(
        "data-policies",
        policy,
        _policy_body,
        {"notice_version": "v2"},
        {DataPolicy: "created"},
        {DataPolicy: "edited"},
        delete=policy,
    ),
    *_crud(
        "data-consents",
        active_consent,
        _consent_body,
        {"note": "confirmed by letter"},
        {DataConsent: "consent given", Contact: "data consent added"},
        {DataConsent: "edited"},
    ),
    *_crud(
        "compliance-profiles",
        profile,
        _profile_body,
        {"sender_name": "Shop"},
        {ComplianceProfile: "created"},
        {ComplianceProfile: "edited"},
    ),
    *_crud(
        "purposes",
        purpose,
        _purpose_body,
        {"required_level": 3},
        {Purpose: "created"},
        {Purpose: "edited"},
    ),
    *_crud(
        "topics",
        topic,
        _topic_body,
        {"description": "Invitations"},
        {Topic: "created"},
        {Topic: "edited"},
    ),
    *_crud(
        "marketing-lists",
        static_list,
        _list_body,
        {"name": "Fair visitors 2026"},
        {MarketingList: "created"},
        {MarketingList: "edited"},
    ),
    *[
        api_case(
            f"{prefix} {name}",
            arrange,
            api(
                "post", f"{prefix}/{{id}}/{name}/", {"convert": False} if name == "qualify" else {}
            ),
            reasons,
            check=erased if name == "anonymize" else None,
        )
        for model, name, arrange, reasons in SUBJECT_ACTIONS
        if name != "convert"  # the API's qualify takes {"convert": true}: below
        for prefix in ["leads" if model is Lead else "contacts"]
    ],
    api_case(
        "leads qualify and convert",
        lead_with_consent,
        api("post", "leads/{id}/qualify/", {"convert": True}),
        dict(SUBJECT_ACTIONS[1][3]),
    ),
    api_case(
        "data-consents cancel",
        active_consent,
        api("post", "data-consents/{id}/cancel/", {"note": "withdrawn by phone"}),
        {DataConsent: "withdrawn by phone", Contact: "data consent cancelled"},
    ),
    api_case(
        "data-consents reactivate",
        cancelled_consent,
        api("post", "data-consents/{id}/reactivate/", {}),
        {DataConsent: "reactivated", Contact: "data consent reactivated"},
    ),
    api_case(
        "contact-point-consents create",
        nothing,
        api(
            "post",
            "contact-point-consents/",
            lambda w, o: {
                "channel": "email",
                "value": "Ada@Example.org",
                "purpose": w.commercial.pk,
                "status": OPTED_IN,
            },
        ),
        {ContactPointConsent: "set to opted_in"},
    ),
    api_case(
        "consent-checks create",
        nothing,
        api(
            "post",
            "consent-checks/",
            lambda w, o: {"channel": "email", "value": "a@example.org", "purpose": w.commercial.pk},
        ),
        {},  # a pure read: no history row at all
    ),
    api_case(
        "marketing-lists members",
        with_spares(list_with_member),
        api(
            "post",
            "marketing-lists/{id}/members/",
            lambda w, o: {"add": [newest(Contact).pk], "remove": [o.members.get().contact_id]},
        ),
        {MarketingListMember: "member (added|removed)"},
    ),
    Case(
        "api consent-loads create",
        nothing,
        api_load,
        Source.LOADED,
        {ContactPointConsent: "legacy.csv"},
    ),
    *_crud(
        "data-subject-requests",
        open_request,
        {"kind": "access", "requester": "Ada, by letter"},
        {"notes": "called back"},
        {DataSubjectRequest: "received"},
        {DataSubjectRequest: "edited"},
        delete=open_request,
    ),
    api_case(
        "data-subject-requests complete",
        open_request,
        api("post", "data-subject-requests/{id}/complete/", {"outcome": "sent"}),
        {DataSubjectRequest: "completed"},
    ),
    api_case(
        "data-subject-requests refuse",
        open_request,
        api("post", "data-subject-requests/{id}/refuse/", {"reason": "not the person"}),
        {DataSubjectRequest: "refused"},
    ),
    api_case(
        "data-subject-requests extend",
        open_request,
        api("post", "data-subject-requests/{id}/extend/", _later),
        {DataSubjectRequest: "deadline extended: archives"},
    ),
    # Webhook endpoints and their delivery log are configuration, not consent: no history.
    api_case("webhooks create", nothing, api("post", "webhooks/", WEBHOOK), {}),
    api_case("webhooks update", webhook_endpoint, api("put", "webhooks/{id}/", WEBHOOK), {}),
    api_case(
        "webhooks partial_update",
        webhook_endpoint,
        api("patch", "webhooks/{id}/", {"active": False}),
        {},
    ),
    api_case("webhooks destroy", webhook_endpoint, api("delete", "webhooks/{id}/"), {}),
    api_case("webhooks redeliver", webhook_delivery, api_redeliver, {}),
]

ADMIN_CASES = [
    admin_case(
        "admin-add subjects.Account", nothing, admin_add(Account, name="Acme"), {Account: "created"}
    ),
    admin_case(
        "admin-change subjects.Account", account, admin_change(name="Acme Ltd"), {Account: "edited"}
    ),
    admin_case(
        "admin-add subjects.Lead",
        nothing,
        admin_add(Lead, first_name="Grace", last_name="Hopper", email="grace@example.org"),
        {Lead: "created"},
    ),
    admin_case(
        "admin-change subjects.Lead", lead, admin_change(last_name="Murray"), {Lead: "edited"}
    ),
    admin_case(
        "admin-add subjects.Contact",
        nothing,
        admin_add(Contact, first_name="Grace", last_name="Hopper", email="grace@example.org"),
        {Contact: "created"},
    ),
    admin_case(
        "admin-change subjects.Contact",
        contact,
        admin_change(last_name="Murray"),
        {Contact: "edited"},
    ),
    admin_case(
        "admin-add consent.DataPolicy",
        nothing,
        admin_add(DataPolicy, name="Newsletter policy", consent_level="4", validity_days="365"),
        {DataPolicy: "created"},
    ),
    admin_case(
        "admin-change consent.DataPolicy",
        policy,
        admin_change(notice_version="v2"),
        {DataPolicy: "edited"},
    ),
    admin_case(
        "admin-add consent.DataConsent",
        with_spares(contact),
        lambda w, subject: admin_save(
            w,
            admin_url(DataConsent, "add"),
            {
                "contact": str(subject.pk),
                "policy": str(newest(DataPolicy).pk),
                "given_at_0": timezone.localdate().isoformat(),
                "given_at_1": "09:00:00",
                "source": Source.INTERNAL,
            },
        ),
        {DataConsent: "consent given", Contact: "data consent added"},
    ),
    admin_case(
        "admin-change consent.DataConsent",
        active_consent,
        admin_change(note="confirmed by letter"),
        {DataConsent: "edited"},
    ),
    admin_case(
        "admin-add consent.ComplianceProfile",
        nothing,
        admin_add(ComplianceProfile, name="Shop", slug="shop"),
        {ComplianceProfile: "created"},
    ),
    admin_case(
        "admin-change consent.ComplianceProfile",
        profile,
        admin_change(sender_name="Shop"),
        {ComplianceProfile: "edited"},
    ),
    admin_case(
        "admin-inline consent.ComplianceProfile purposes",
        profile,
        admin_inline_add(
            Purpose,
            name_en="Offers",
            kind="commercial",
            consent_model="restrictive",
            required_level="0",
        ),
        {Purpose: "created"},
    ),
    admin_case(
        "admin-add consent.Purpose",
        spares,
        lambda w, _: admin_add(
            Purpose,
            profile=str(newest(ComplianceProfile).pk),
            name_en="Offers",
            kind="commercial",
            consent_model="restrictive",
            required_level="0",
        )(w, _),
        {Purpose: "created"},
    ),
    admin_case(
        "admin-change consent.Purpose",
        purpose,
        admin_change(required_level="3"),
        {Purpose: "edited"},
    ),
    admin_case(
        "admin-inline consent.Purpose topics",
        purpose,
        admin_inline_add(Topic, name_en="Events", active=True),
        {Topic: "created"},
    ),
    admin_case(
        "admin-add consent.Topic",
        spares,
        lambda w, _: admin_add(Topic, purpose=str(newest(Purpose).pk), name_en="Events")(w, _),
        {Topic: "created"},
    ),
    admin_case(
        "admin-change consent.Topic",
        topic,
        admin_change(description_en="Invitations"),
        {Topic: "edited"},
    ),
    admin_case(
        "admin-add consent.ContactPointConsent",
        nothing,
        lambda w, _: admin_add(
            ContactPointConsent,
            channel="email",
            value="Ada@Example.org",
            purpose=str(w.commercial.pk),
            status=OPTED_IN,
        )(w, _),
        {ContactPointConsent: "set to opted_in"},
    ),
    admin_case(
        "admin-change consent.ContactPointConsent",
        cp_consent,
        admin_change(status=OPTED_OUT),
        {ContactPointConsent: "set to opted_out"},
    ),
    admin_case(
        "admin-add marketing_lists.MarketingList",
        nothing,
        admin_add(MarketingList, name="Fair visitors", list_type="static", member_type="contact"),
        {MarketingList: "created"},
    ),
    admin_case(
        "admin-change marketing_lists.MarketingList",
        static_list,
        admin_change(name="Fair visitors 2026"),
        {MarketingList: "edited"},
    ),
    admin_case(
        "admin-view consent_dataconsent_state",
        active_consent,
        admin_consent_state("cancel", "customer withdrew at the counter"),
        {DataConsent: "customer withdrew at the counter", Contact: "data consent cancelled"},
    ),
    admin_case(
        "admin-view consent_dataconsent_state reactivate",
        cancelled_consent,
        admin_consent_state("reactivate", "asked again by e-mail"),
        {DataConsent: "asked again by e-mail", Contact: "data consent reactivated"},
    ),
    admin_case(
        "admin-view marketing_lists_marketinglist_members",
        with_spares(static_list),
        admin_member_add,
        {MarketingListMember: "member added"},
    ),
    admin_case(
        "admin-view marketing_lists_marketinglist_members remove",
        list_with_member,
        admin_member_remove,
        {MarketingListMember: "member removed"},
    ),
    *[
        admin_case(
            f"admin-action subjects.{arrange.__name__.capitalize()} add_to_static_list",
            with_static_list_of(arrange),
            admin_add_to_static_list,
            {MarketingListMember: "member added"},
        )
        for arrange in (lead, contact)
    ],
    admin_case(
        "admin-action consent.DataConsent cancel_selected",
        active_consent,
        admin_action("cancel_selected", reason="withdrew by phone"),
        {DataConsent: "withdrew by phone", Contact: "data consent cancelled"},
    ),
    admin_case(
        "admin-action consent.DataConsent reactivate_selected",
        cancelled_consent,
        admin_action("reactivate_selected", reason="gave it again"),
        {DataConsent: "gave it again", Contact: "data consent reactivated"},
    ),
    *_subject_action_cases(),
    *_delete_cases(),
    admin_case(
        "admin-add consent.Notice",
        nothing,
        lambda w, _: admin_add(
            Notice, profile=str(w.profile.pk), version="11", language="en", title="t", text="x"
        )(w, _),
        {Notice: "created"},
    ),
    admin_case(
        "admin-change consent.Notice", draft_notice, admin_change(text="y"), {Notice: "edited"}
    ),
    admin_case(
        "admin-action consent.Notice publish_selected",
        draft_notice,
        admin_action("publish_selected"),
        {Notice: "published", ComplianceProfile: "notice 9 published"},
    ),
    admin_case(
        "admin-view marketing_lists_marketinglist_from_reconsent",
        outdated_opt_in,
        admin_make_reconsent_list,
        {MarketingList: "created", MarketingListMember: "member added"},
    ),
    api_case(
        "notices create",
        spares,
        api(
            "post",
            "notices/",
            lambda w, o: {"profile": w.profile.pk, "version": "12", "title": "t", "text": "x"},
        ),
        {Notice: "created"},
    ),
    api_case(
        "notices update",
        draft_notice,
        api(
            "put",
            "notices/{id}/",
            lambda w, o: {"profile": w.profile.pk, "version": "9", "title": "t2", "text": "x"},
        ),
        {Notice: "edited"},
    ),
    api_case(
        "notices partial_update",
        draft_notice,
        api("patch", "notices/{id}/", {"text": "z"}),
        {Notice: "edited"},
    ),
    api_case(
        "notices publish",
        draft_notice,
        api("post", "notices/{id}/publish/"),
        {Notice: "published", ComplianceProfile: "notice 9 published"},
    ),
    *[
        Case(
            f"admin-view subjects_{arrange.__name__}_verbal_consent",
            arrange,
            admin_verbal_consent,
            Source.VERBAL,
            {ContactPointConsent: "Asked for the newsletter on the phone"},
        )
        for arrange in (lead, contact)
    ],
    admin_case(
        "admin-view consent_suppression_suppress",
        nothing,
        admin_suppress,
        {Suppression: "bounced hard"},
    ),
    admin_case(
        "admin-view consent_suppression_unsuppress",
        suppressed,
        admin_unsuppress,
        {Suppression: "asked to be mailed again"},
    ),
    admin_case(
        "admin-add consent.DataSubjectRequest",
        nothing,
        admin_add(DataSubjectRequest, kind="access", requester="Ada, by letter"),
        {DataSubjectRequest: "received"},
    ),
    admin_case(
        "admin-change consent.DataSubjectRequest",
        open_request,
        admin_change(notes="called back"),
        {DataSubjectRequest: "edited"},
    ),
    admin_case(
        "admin-delete consent.DataSubjectRequest",
        open_request,
        admin_delete_page,
        {DataSubjectRequest: "deleted"},
    ),
    admin_case(
        "admin-view consent_datasubjectrequest_action",  # complete an access request
        open_request,
        admin_request_action("complete", outcome="sent"),
        {DataSubjectRequest: "completed"},
    ),
    admin_case(
        "admin-view consent_datasubjectrequest_action erasure",
        erasure_request,
        admin_request_action("complete", outcome=""),
        {DataSubjectRequest: "completed", Contact: "anonymized"},
    ),
    admin_case(
        "admin-view consent_datasubjectrequest_action refuse",
        open_request,
        admin_request_action("refuse", reason="not the person"),
        {DataSubjectRequest: "refused"},
    ),
    Case(
        "admin-view consent_consentload_confirm",  # upload (the add page), preview, confirm
        nothing,
        admin_load,
        Source.LOADED,
        {ContactPointConsent: "legacy.csv"},
    ),
]

CUSTOMER_AND_SYSTEM_CASES = [
    Case(
        "public preference center save",
        reader_known,
        customer_manage,
        Source.PREFERENCE_CENTER,
        {
            ContactPointConsent: "changed in the preference center",
            DataConsent: "changed in the preference center",
            Contact: "data consent added",
        },
        actor=NOBODY,
    ),
    Case(
        "public subscribe",
        double_opt_in_off,
        customer_subscribe,
        Source.FORM,
        {
            ContactPointConsent: "signed up",
            Lead: "created by a customer's sign-up|data consent added",
            DataConsent: r"Signed up on the public sign-up form.*",  # the evidence note
        },
        actor=NOBODY,
    ),
    Case(
        "public double opt-in confirm",
        sign_up_requested,
        customer_confirm,
        Source.DOUBLE_OPT_IN,
        {
            ContactPointConsent: "double opt-in confirmed",
            Lead: "created by a customer's sign-up|data consent added",
            DataConsent: r"Sign-up requested .* Confirmed through the link .*",
        },
        actor=NOBODY,
    ),
    Case(
        "public one-click unsubscribe",
        reader_opted_in,
        customer_one_click,
        Source.ONE_CLICK_UNSUBSCRIBE,
        {ContactPointConsent: re.escape("one-click unsubscribe (RFC 8058)")},
        actor=NOBODY,
    ),
    Case(
        "command load_consent",
        nothing,
        command_load,
        Source.LOADED,
        {ContactPointConsent: "legacy.csv"},
        actor=NOBODY,
    ),
    Case(
        "job data-consent expiry",
        due_consent,
        command_expire_consents,
        Source.SYSTEM,
        {DataConsent: "expired", Contact: "data consent expired"},
        actor=NOBODY,
    ),
    Case(
        "job contact-point expiry",
        expiring_opt_in,
        job_expire_contact_points,
        Source.SYSTEM,
        {ContactPointConsent: "expired"},
        actor=NOBODY,
    ),
]

CASES = [*ADMIN_CASES, *API_CASES, *CUSTOMER_AND_SYSTEM_CASES]


def _params():
    return [pytest.param(case, id=case.id, marks=list(case.marks)) for case in CASES]


@pytest.fixture
def world(admin_user, settings, django_capture_on_commit_callbacks) -> World:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    browser = Client()
    browser.force_login(admin_user)
    token_client = APIClient()
    token_client.force_authenticate(admin_user)
    return World(
        staff=admin_user,
        admin=browser,
        api=token_client,
        public=Client(),
        on_commit=django_capture_on_commit_callbacks,
    )


@pytest.mark.parametrize("case", _params())
def test_every_write_path_leaves_an_attributed_history_row(
    case: Case, world: World, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        state = case.arrange(world)
    marks = history_marks()
    case.act(world, state)
    written = rows_since(marks)

    for model in case.reasons:
        assert written.get(model), f"{case.id}: no new {model.__name__} history row"
    if not case.reasons:
        assert written == {}, f"{case.id} writes nothing, but history grew: {written}"
    actor = world.staff if case.actor == STAFF else None
    for model, rows in written.items():
        pattern = case.reasons.get(model, ".+")
        for row in rows:
            where = f"{case.id}: {model.__name__} history row {row.history_id}"
            assert row.history_user == actor, where
            assert row.history_source == case.source, where
            assert re.fullmatch(pattern, row.history_change_reason or ""), (
                where,
                row.history_change_reason,
            )
    if case.check:
        case.check(world, state)


# ---------------------------------------------------------------------------------------------
# Completeness guards


def _covered() -> set[str]:
    return {case.id for case in CASES}


def _superuser_request(admin_user):
    request = RequestFactory().get("/")
    request.user = admin_user
    return request


def audited_admins():
    audited = {m.instance_type for m in audited_history_models()}
    return sorted(
        ((model, ma) for model, ma in admin.site._registry.items() if model in audited),
        key=lambda item: item[0]._meta.label,
    )


def test_every_admin_action_on_an_audited_model_has_a_case(admin_user):
    request = _superuser_request(admin_user)
    expected = {
        f"admin-action {model._meta.label} {name}"
        for model, model_admin in audited_admins()
        for name in model_admin.get_actions(request)
    }
    assert expected - _covered() == set()
    assert "admin-action consent.DataConsent cancel_selected" in expected  # the guard sees them


def test_every_subject_page_button_has_a_case():
    expected = {f"admin-button {Lead._meta.label} {name}" for name in LEAD_ACTIONS} | {
        f"admin-button {Contact._meta.label} {name}" for name in CONTACT_ACTIONS
    }
    assert expected - _covered() == set()


def test_every_admin_add_change_and_delete_page_of_an_audited_model_has_a_case(admin_user):
    request = _superuser_request(admin_user)
    expected = set()
    for model, model_admin in audited_admins():
        if model_admin.has_add_permission(request):
            expected.add(f"admin-add {model._meta.label}")
        if model_admin.has_change_permission(request):
            expected.add(f"admin-change {model._meta.label}")
        if model_admin.has_delete_permission(request):
            expected.add(f"admin-delete {model._meta.label}")
    assert expected - _covered() == set()


# Custom admin views that only read; the lifecycle buttons are covered by the guard above.
READ_ONLY_ADMIN_VIEWS = ("_timeline", "_access_report", "_simple_history", "_audience", "_load")
READ_ONLY_ADMIN_VIEWS += ("_errors",)  # a consent load's row errors as CSV
READ_ONLY_ADMIN_VIEWS += ("_export", "_lookup", "_sample")  # CSV exports, "Suppressed?", sample


READ_ONLY_ADMIN_VIEWS += ("_check", "_check_as_of")  # consent checks: pure reads (GET)


READ_ONLY_ADMIN_VIEWS += ("_report", "_pdf")  # access reports (and as kept by a request), PDFs
READ_ONLY_ADMIN_VIEWS += ("_notice_reconsent",)  # "Consents given under an older notice"
COVERED_ELSEWHERE = ("_lifecycle",)


def test_every_custom_admin_view_that_writes_has_a_case():
    """A new admin page outside add / change / delete (a form of its own) needs a case."""
    custom = set()
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in ("subjects", "consent", "marketing_lists"):
            continue
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        pages = {f"{prefix}{page}" for page in ("changelist", "add", "change", "delete", "history")}
        custom |= {u.name for u in model_admin.get_urls() if u.name and u.name not in pages}
    skipped = READ_ONLY_ADMIN_VIEWS + COVERED_ELSEWHERE
    expected = {f"admin-view {name}" for name in custom if not name.endswith(skipped)}
    assert expected - _covered() == set()
    assert "admin-view consent_suppression_unsuppress" in expected  # the guard sees them


def test_every_api_write_route_has_a_case():
    expected = {f"api {r.prefix} {r.action}" for r in api_routes() if r.method != "get"}
    assert expected - _covered() == set()
    assert len(expected) > 40  # the guard sees the router
