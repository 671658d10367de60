"""The admin's "Check an address" page and a subject's "Check as of…" page."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from tests import factories

CHECK_URL = "admin:consent_contactpointconsent_check"
START = timezone.now() + timedelta(days=1)


@pytest.fixture
def checker(make_user):
    return make_user("checker", perms=["consent.check_consent", "subjects.view_contact"])


def test_check_an_address_shows_the_decision_in_words(client, checker, commercial):
    maud = factories.contact(first_name="Maud", last_name="Wagner", email="maud@example.org")
    factories.consent(subject=maud, policy_obj=factories.policy(consent_level=1))
    factories.cp_consent(value="maud@example.org", purpose_obj=commercial, status="opted_in")
    client.force_login(checker)

    page = client.get(
        reverse(CHECK_URL),
        {"channel": "email", "value": "Maud@Example.org", "purpose": commercial.pk},
    ).text

    assert "✘ Will not send" in page
    assert "needs (4) Marketing; Maud Wagner holds (1) Consent" in page
    assert "rule 5 of the decision table" in page
    assert "(1) Consent ✘ below (4) Marketing" in page  # the subjects table
    assert "Opted in" in page and "Internal" in page  # the record read, in labels


def test_check_an_address_as_of_a_past_instant(client, checker, commercial):
    with time_machine.travel(START, tick=False):
        factories.cp_consent(value="ann@example.org", purpose_obj=commercial, status="opted_out")
    with time_machine.travel(START + timedelta(hours=2), tick=False):
        factories.cp_consent(value="ann@example.org", purpose_obj=commercial, status="opted_in")
    client.force_login(checker)
    query = {"channel": "email", "value": "ann@example.org", "purpose": commercial.pk}

    with time_machine.travel(START + timedelta(hours=3), tick=False):
        as_of = timezone.localtime(START + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
        then = client.get(reverse(CHECK_URL), {**query, "as_of": as_of}).text
        future = timezone.localtime(START + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M")
        refused = client.get(reverse(CHECK_URL), {**query, "as_of": future}).text

    assert "✘ Will not send" in then and "opted out of Commercial on " in then
    assert "This instant is in the future" in refused and "Will not send" not in refused


def test_checking_needs_the_check_permission(client, make_user, commercial):
    client.force_login(make_user("viewer", perms=["consent.view_contactpointconsent"]))
    assert client.get(reverse(CHECK_URL)).status_code == 403
    changelist = client.get(reverse("admin:consent_contactpointconsent_changelist")).text
    assert "Check an address" not in changelist


def test_subject_check_as_of_replays_its_consent_center(client, checker, commercial):
    with time_machine.travel(START, tick=False):
        contact = factories.contact(first_name="Cleo", email="cleo@example.org", phone=None)
        factories.consent(subject=contact, policy_obj=factories.policy(consent_level=5))
    with time_machine.travel(START + timedelta(hours=2), tick=False):
        factories.cp_consent(value="cleo@example.org", purpose_obj=commercial, status="opted_in")
    client.force_login(checker)
    change = client.get(reverse("admin:subjects_contact_change", args=[contact.pk])).text
    url = reverse("admin:subjects_contact_check_as_of", args=[contact.pk])
    assert url in change

    with time_machine.travel(START + timedelta(hours=3), tick=False):
        before = timezone.localtime(START + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
        after = timezone.localtime(START + timedelta(hours=2, minutes=30)).strftime(
            "%Y-%m-%dT%H:%M:%S"
        )
        then, later = (client.get(url, {"as_of": instant}).text for instant in (before, after))

    def commercial_row(page):  # the matrix row of the purpose itself (e-mail is the one column)
        rows = page.split('class="purpose-row"')[1:]
        return next(row.split("</tr>")[0] for row in rows if "Commercial" in row.split("<td")[0])

    row = commercial_row(then)
    assert "✘ Won't send" in row and "no opt-in to Commercial" in row
    row = commercial_row(later)
    assert "✔ Will send" in row and "opted in to Commercial on " in row
