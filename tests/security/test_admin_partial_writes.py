"""A failed admin POST leaves the database untouched (ServiceModelForm: validate in `clean()`,
write in `save_model` only once every form and inline formset is valid). Every admin page with
inlines is posted with a valid change to its main form and an invalid inline."""

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.db import models

from consent.models import ComplianceProfile, DataConsent, Purpose, Topic
from subjects.models import Contact, Lead
from tests import factories

pytestmark = pytest.mark.django_db


def page_data(response) -> dict:
    """The POST data of an admin change page as rendered: main form, inlines, management forms."""
    data = {}

    def add_form(form):
        for bound in form:
            value = bound.value()
            if value is None or bound.field.disabled:
                continue
            if isinstance(value, bool):
                if value:
                    data[bound.html_name] = "on"
            elif isinstance(value, list | tuple):
                data[bound.html_name] = [str(item) for item in value]
            else:
                data[bound.html_name] = str(value.pk if isinstance(value, models.Model) else value)

    add_form(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        add_form(formset.management_form)
        for form in formset.forms:
            add_form(form)
    return data


def snapshot(*model_classes) -> dict:
    """Every row and history row of the models, and the admin log."""
    state = {LogEntry: list(LogEntry.objects.order_by("pk").values())}
    for model in model_classes:
        state[model] = list(model._base_manager.order_by("pk").values())
        state[model.history.model] = list(model.history.order_by("pk").values())
    return state


def inline_prefix(response, model) -> str:
    for inline in response.context["inline_admin_formsets"]:
        if inline.formset.model is model:
            return inline.formset.prefix
    raise AssertionError(f"no {model.__name__} inline")


def post_and_check(client, url, change_main, break_inline, models_touched):
    page = client.get(url)
    assert page.status_code == 200
    data = page_data(page)
    change_main(data)
    break_inline(page, data)
    before = snapshot(*models_touched)
    response = client.post(url, data)
    assert response.status_code == 200  # the page again, with its errors
    assert response.context["errors"]  # the inline's error is shown
    assert snapshot(*models_touched) == before


@pytest.fixture
def logged_in(client, admin_user):
    client.force_login(admin_user)
    return client


def test_pages_with_inlines_are_all_covered(rf, admin_user):
    request = rf.get("/")
    request.user = admin_user
    with_inlines = {
        model
        for model, model_admin in admin.site._registry.items()
        if model_admin.inlines or type(model_admin).get_inlines is not admin.ModelAdmin.get_inlines
    }
    # Static list members have their own page (no inline): tests/marketing_lists/test_lists.py.
    assert with_inlines == {ComplianceProfile, Purpose, Lead, Contact}


def test_compliance_profile_with_an_invalid_purpose_inline(logged_in):
    profile = factories.compliance_profile(double_opt_in="always")
    factories.purpose(profile=profile)

    def change_main(data):
        data["double_opt_in"] = "off"  # the case: always → off, with a history row

    def break_inline(page, data):
        prefix = inline_prefix(page, Purpose)
        total = int(data[f"{prefix}-TOTAL_FORMS"])
        data[f"{prefix}-TOTAL_FORMS"] = str(total + 1)
        data[f"{prefix}-{total}-name"] = "New"
        data[f"{prefix}-{total}-required_level"] = "99"  # out of range

    post_and_check(
        logged_in,
        f"/admin/consent/complianceprofile/{profile.pk}/change/",
        change_main,
        break_inline,
        [ComplianceProfile, Purpose],
    )
    profile.refresh_from_db()
    assert profile.double_opt_in == "always"


def test_purpose_with_an_invalid_topic_inline(logged_in):
    purpose = factories.purpose()
    factories.topic(purpose_obj=purpose)

    def change_main(data):
        data["name"] = "Renamed"

    def break_inline(page, data):
        prefix = inline_prefix(page, Topic)
        total = int(data[f"{prefix}-TOTAL_FORMS"])
        data[f"{prefix}-TOTAL_FORMS"] = str(total + 1)
        data[f"{prefix}-{total}-name"] = ""  # required
        data[f"{prefix}-{total}-description"] = "no name"

    post_and_check(
        logged_in,
        f"/admin/consent/purpose/{purpose.pk}/change/",
        change_main,
        break_inline,
        [Purpose, Topic],
    )


@pytest.mark.parametrize("model", [Lead, Contact])
def test_subject_with_an_invalid_consent_inline(logged_in, model, policy):
    subject = (factories.lead if model is Lead else factories.contact)(last_name="Before")
    factories.consent(subject=subject, policy_obj=policy)

    def change_main(data):
        data["last_name"] = "After"  # the case: the name changed, with no log entry

    def break_inline(page, data):
        prefix = inline_prefix(page, DataConsent)
        data[f"{prefix}-TOTAL_FORMS"] = "not a number"  # a tampered management form

    post_and_check(
        logged_in,
        f"/admin/subjects/{model._meta.model_name}/{subject.pk}/change/",
        change_main,
        break_inline,
        [model, DataConsent],
    )
    subject.refresh_from_db()
    assert subject.last_name == "Before"


def test_a_valid_page_still_saves_through_the_service(logged_in):
    profile = factories.compliance_profile(double_opt_in="always")
    url = f"/admin/consent/complianceprofile/{profile.pk}/change/"
    data = page_data(logged_in.get(url))
    data["double_opt_in"] = "off"
    response = logged_in.post(url, data)
    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.double_opt_in == "off"
    assert profile.history.latest().history_change_reason == "edited"
    assert LogEntry.objects.filter(object_id=str(profile.pk)).count() == 1
