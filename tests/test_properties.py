"""Property-based tests (hypothesis) for the two parsers that take raw outside input: emails and links."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from server.config import Settings
from server.services import links
from server.services.emails import InvalidEmail, normalize_email
from server.services.security import token_hash

SETTINGS = Settings(secret_keys=("property-test-key-0123456789abcdefghijkl",), public_url="https://roster.example")
OTHER_KEY = Settings(secret_keys=("another-property-key-0123456789abcdefghij",), public_url="https://roster.example")
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Addresses people type: ASCII local parts, ordinary and internationalized domains.
local_parts = st.text(alphabet=string.ascii_letters + string.digits + "._+-", min_size=1, max_size=30).filter(
    lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s
)
labels = st.text(alphabet=string.ascii_lowercase + string.digits + "äöüéñ", min_size=1, max_size=12).filter(
    lambda s: not s.startswith("-") and s[0].isalnum()
)
addresses = st.builds(
    lambda local, host, tld: f"{local}@{host}.{tld}", local_parts, labels, st.sampled_from(["com", "de", "example", "org"])
)


@FAST
@given(addresses)
def test_normalizing_is_idempotent(raw):
    first = normalize_email(raw)
    again = normalize_email(first.email)
    assert again == first


@FAST
@given(addresses, st.sampled_from([str.upper, str.lower, str.swapcase, str.title]), st.text(" \t\n", max_size=3))
def test_case_and_surrounding_space_never_make_a_different_person(raw, change_case, space):
    assert normalize_email(space + change_case(raw) + space).key == normalize_email(raw).key


@FAST
@given(addresses)
def test_the_domain_is_lowercased_and_the_key_is_case_folded(raw):
    address = normalize_email(raw.upper())
    assert address.email.split("@")[1] == address.email.split("@")[1].lower()
    assert address.key == address.email.casefold()


@FAST
@given(st.text(max_size=400))
@example("x@y.example\r\nBcc: evil@x.example")
@example("a@b.c\x00")
@example("")
def test_any_text_is_either_an_address_or_a_clear_refusal(raw):
    try:
        address = normalize_email(raw)
    except InvalidEmail as refused:
        assert refused.message
        return
    assert "@" in address.email and len(address.email) <= 320
    assert not any(c in address.email for c in "\r\n\x00 ")


@FAST
@given(st.sampled_from(["value", "url", "padded"]))
def test_a_minted_link_verifies_in_every_accepted_form(form):
    link = links.mint(settings=SETTINGS)
    text = {"value": link.value, "url": link.url, "padded": f"  {link.value}\n"}[form]
    assert links.verified_hash(settings=SETTINGS, link=text) == link.hash


@FAST
@given(st.text(max_size=300))
@example("")
@example("#")
@example("a.b")
@example("é" * 50 + "." + "x" * 43)
def test_any_text_is_a_link_or_nothing_and_never_an_exception(text):
    result = links.verified_hash(settings=SETTINGS, link=text)
    assert result is None or len(result) == 64


URLSAFE = string.ascii_letters + string.digits + "-_"


@FAST
@given(st.text(alphabet=URLSAFE, min_size=43, max_size=43), st.data())
def test_changing_or_cutting_the_token_breaks_the_signature(token, data):
    value = links._signer(SETTINGS.secret_keys).sign(token).decode()
    assert links.verified_hash(settings=SETTINGS, link=value) == token_hash(token)
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from([c for c in URLSAFE if c != token[position]]))
    changed = token[:position] + replacement + token[position + 1 :]
    signature = value.split(".", 1)[1]
    assert links.verified_hash(settings=SETTINGS, link=f"{changed}.{signature}") is None
    cut = data.draw(st.integers(0, len(value) - 1))
    assert links.verified_hash(settings=SETTINGS, link=value[:cut]) is None


@FAST
@given(st.text(alphabet=URLSAFE, min_size=1, max_size=60))
def test_a_token_signed_with_another_key_is_refused(token):
    value = links._signer(OTHER_KEY.secret_keys).sign(token).decode()
    assert links.verified_hash(settings=SETTINGS, link=value) is None
    assert links.verified_hash(settings=OTHER_KEY, link=value) == token_hash(token)
