"""Tampered, expired, cross-use and dangling tokens all get the same answer."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from consent.models import ComplianceProfile
from preference_center.tokens import AddressLink, SignUpRequest, UnsubscribeLink
from tests import factories
from tests.preference_center.conftest import row_counts

pytestmark = pytest.mark.django_db
ADDRESS = "jane@example.org"
START = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)


def tokens_for(profile, purpose) -> dict[str, str]:
    return {
        "manage": AddressLink(profile.pk, "email", ADDRESS).dumps(),
        "unsubscribe": UnsubscribeLink(profile.pk, "email", ADDRESS, purpose.pk).dumps(),
        "confirm": SignUpRequest(
            profile.pk, "email", ADDRESS, (purpose.pk,), (), START, "198.51.100.1", "UA"
        ).dumps(),
    }


def tamper(token: str) -> str:
    middle = len(token) // 2
    return token[:middle] + ("x" if token[middle] != "x" else "y") + token[middle + 1 :]


def answers(client, name: str, token: str) -> list[tuple[int, bytes]]:
    path = reverse(f"preference_center:{name}", args=[token])
    responses = [client.get(path), client.post(path, {"List-Unsubscribe": "One-Click"})]
    for response in responses:
        assert response["Referrer-Policy"] == "no-referrer"
        assert "no-store" in response["Cache-Control"]
    return [(r.status_code, r.content) for r in responses]


def test_every_kind_of_bad_token_gets_the_same_404_page(client, profile, newsletter):
    with time_machine.travel(START, tick=False) as traveller:
        valid = tokens_for(profile, newsletter)
        other_profile = factories.compliance_profile()
        gone_purpose = factories.purpose(profile=other_profile)
        dangling = tokens_for(other_profile, gone_purpose)
        gone_purpose.delete()
        other_profile.delete()
        before = row_counts()
        expected = answers(client, "manage", "not-a-token")
        assert expected[0][0] == 404
        assert b"This link is no longer valid" in expected[0][1]
        for name in ("manage", "unsubscribe", "confirm"):
            cross = valid["manage" if name != "manage" else "unsubscribe"]
            for bad in (tamper(valid[name]), cross, dangling[name], "x", "a" * 300):
                assert answers(client, name, bad) == expected, (name, bad)
        traveller.move_to(START + timedelta(days=181))
        for name in ("manage", "unsubscribe", "confirm"):
            assert answers(client, name, valid[name]) == expected, name
        assert row_counts() == before


def test_an_unknown_sign_up_form_gets_the_same_page(client, profile):
    response = client.get(reverse("preference_center:subscribe", args=["no-such-profile"]))
    assert response.status_code == 404
    assert b"This link is no longer valid" in response.content


def test_a_confirmation_link_expires_after_28_days(client, profile, newsletter):
    with time_machine.travel(START, tick=False) as traveller:
        path = reverse(
            "preference_center:confirm", args=[tokens_for(profile, newsletter)["confirm"]]
        )
        assert client.get(path).status_code == 200
        traveller.move_to(START + timedelta(days=29))
        assert client.get(path).status_code == 404
        assert ComplianceProfile.objects.filter(pk=profile.pk).exists()
