import base64
import re
import string
import zlib
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from preference_center.tokens import (
    MANAGE,
    AddressLink,
    InvalidLink,
    SignUpRequest,
    UnsubscribeLink,
    encrypt,
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


BASE64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


@pytest.mark.parametrize("position", [0, 10, -1])
def test_a_tampered_token_is_invalid(position):
    token = AddressLink(3, "email", ADDRESS).dumps()
    body = token.rstrip("=")
    position %= len(body)  # -1: the last character that carries data
    # Flip the top bit of the character's six: it always carries data (the low bits of the
    # last character can be padding, so another letter there may decode to the same bytes).
    flipped = BASE64URL[BASE64URL.index(body[position]) ^ 0b100000]
    tampered = token[:position] + flipped + token[position + 1 :]
    assert tampered != token
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


def test_a_correctly_encrypted_payload_of_the_wrong_shape_is_invalid():
    with pytest.raises(InvalidLink):
        AddressLink.loads(encrypt({"p": "3", "c": "email", "v": ADDRESS}, MANAGE))
    with pytest.raises(InvalidLink):
        AddressLink.loads(encrypt([1, 2], MANAGE))


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


def _every_decoding(token: str) -> bytes:
    """What anyone can read from a token without the key: each base64 part, and that inflated."""
    readable = []
    for part in re.split(r"[:.]", token):
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        readable.append(raw)
        for start in range(len(raw)):
            try:
                readable.append(zlib.decompress(raw[start:]))
            except zlib.error:
                continue
    return b"\n".join(readable)


def test_decoding_a_token_reveals_neither_the_address_nor_the_ip_nor_the_user_agent():
    user_agent = "Mozilla/5.0 (X11; Linux x86_64) SecretBrowser/1.0"
    tokens = [
        AddressLink(3, "email", ADDRESS).dumps(),
        UnsubscribeLink(3, "email", ADDRESS, 7, 9).dumps(),
        SignUpRequest(
            3, "email", ADDRESS, (7,), (9,), datetime.now(UTC), "203.0.113.77", user_agent
        ).dumps(),
    ]
    for token in tokens:
        decoded = _every_decoding(token)
        for secret in (b"jane.doe", b"example.org", b"203.0.113.77", b"SecretBrowser"):
            assert secret not in decoded, (token, secret)


def test_tokens_of_two_addresses_of_similar_length_are_the_same_length():
    short = AddressLink(3, "email", "a@example.org").dumps()
    longer = AddressLink(3, "email", "abcdefghij@example.org").dumps()
    assert len(short) == len(longer)


def test_keys_rotate_the_first_encrypts_and_every_one_decrypts(settings):
    settings.PREFERENCE_LINK_KEYS = ["old-key-" + "o" * 40]
    old_token = AddressLink(3, "email", ADDRESS).dumps()
    settings.PREFERENCE_LINK_KEYS = ["new-key-" + "n" * 40, "old-key-" + "o" * 40]
    new_token = AddressLink(3, "email", ADDRESS).dumps()
    assert AddressLink.loads(old_token).value == ADDRESS
    assert AddressLink.loads(new_token).value == ADDRESS
    settings.PREFERENCE_LINK_KEYS = ["new-key-" + "n" * 40]  # the old key retired
    assert AddressLink.loads(new_token).value == ADDRESS
    with pytest.raises(InvalidLink):
        AddressLink.loads(old_token)


def test_a_token_made_with_an_unknown_key_is_invalid(settings):
    settings.PREFERENCE_LINK_KEYS = ["somebody-elses-key-" + "x" * 40]
    foreign = AddressLink(3, "email", ADDRESS).dumps()
    settings.PREFERENCE_LINK_KEYS = ["our-key-" + "y" * 40]
    with pytest.raises(InvalidLink):
        AddressLink.loads(foreign)


@pytest.mark.parametrize("junk", ["", "x", "%00", "a" * 5000, "gAAAAA", "é" * 10])
def test_garbage_is_an_invalid_link(junk):
    for kind in (AddressLink, UnsubscribeLink, SignUpRequest):
        with pytest.raises(InvalidLink):
            kind.loads(junk)


def test_an_opt_out_only_manage_link_says_so_and_cannot_be_upgraded():
    link = AddressLink(3, "email", ADDRESS, opt_out_only=True)
    token = link.dumps()
    assert AddressLink.loads(token).opt_out_only is True
    assert AddressLink.loads(AddressLink(3, "email", ADDRESS).dumps()).opt_out_only is False
