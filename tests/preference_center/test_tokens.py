from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import signing

from preference_center.tokens import (
    MANAGE_SALT,
    AddressLink,
    InvalidLink,
    SignUpRequest,
    UnsubscribeLink,
)

ADDRESS = "jane.doe@example.org"


def test_each_token_kind_round_trips():
    manage = AddressLink(3, "email", ADDRESS)
    unsubscribe = UnsubscribeLink(3, "email", ADDRESS, 7, 9)
    sign_up = SignUpRequest(
        3,
        "email",
        ADDRESS,
        (7,),
        (9, 10),
        datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        "10.1.2.3",
        "UA",
    )
    assert AddressLink.loads(manage.dumps()) == manage
    assert UnsubscribeLink.loads(unsubscribe.dumps()) == unsubscribe
    assert SignUpRequest.loads(sign_up.dumps()) == sign_up


def test_a_token_shows_neither_the_address_nor_plain_json():
    token = AddressLink(3, "email", ADDRESS).dumps()
    assert ADDRESS not in token and "example" not in token
    assert '"v"' not in token


@pytest.mark.parametrize("position", [0, 10, -1])
def test_a_tampered_token_is_invalid(position):
    token = AddressLink(3, "email", ADDRESS).dumps()
    flipped = "A" if token[position] != "A" else "B"
    tampered = (
        token[:position] + flipped + token[position + 1 :]
        if position != -1
        else token[:-1] + flipped
    )
    with pytest.raises(InvalidLink):
        AddressLink.loads(tampered)


def test_a_token_signed_for_another_use_is_invalid():
    manage_token = AddressLink(3, "email", ADDRESS).dumps()
    unsubscribe_token = UnsubscribeLink(3, "email", ADDRESS, 7).dumps()
    with pytest.raises(InvalidLink):
        UnsubscribeLink.loads(manage_token)
    with pytest.raises(InvalidLink):
        AddressLink.loads(unsubscribe_token)
    with pytest.raises(InvalidLink):
        SignUpRequest.loads(manage_token)


def test_a_correctly_signed_payload_of_the_wrong_shape_is_invalid():
    token = signing.dumps({"p": "3", "c": "email", "v": ADDRESS}, salt=MANAGE_SALT)
    with pytest.raises(InvalidLink):
        AddressLink.loads(token)
    with pytest.raises(InvalidLink):
        AddressLink.loads(signing.dumps([1, 2], salt=MANAGE_SALT))


def test_links_expire_after_the_configured_days(settings):
    settings.PREFERENCE_LINK_MAX_AGE_DAYS = 180
    settings.PREFERENCE_CONFIRM_MAX_AGE_DAYS = 28
    start = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as traveller:
        manage = AddressLink(3, "email", ADDRESS).dumps()
        sign_up = SignUpRequest(3, "email", ADDRESS, (7,), (), start, None, "").dumps()
        traveller.move_to(start + timedelta(days=27))
        assert SignUpRequest.loads(sign_up).value == ADDRESS
        traveller.move_to(start + timedelta(days=29))
        with pytest.raises(InvalidLink):
            SignUpRequest.loads(sign_up)
        assert AddressLink.loads(manage).value == ADDRESS
        traveller.move_to(start + timedelta(days=181))
        with pytest.raises(InvalidLink):
            AddressLink.loads(manage)
