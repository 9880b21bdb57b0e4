"""Participant links: minted and verified as DESIGN.md says, with key rotation; no database needed."""

from __future__ import annotations

import hashlib

import pytest
from itsdangerous import Signer

from server.config import Settings
from server.services import links
from server.services.security import token_hash

OLD_KEY = "old-signing-key-0123456789abcdef0123456789"
NEW_KEY = "new-signing-key-0123456789abcdef0123456789"


def keys(*secret_keys: str) -> Settings:
    return Settings(secret_keys=secret_keys, public_url="https://learn.example")


def test_a_minted_link_verifies_to_the_hash_the_database_stores():
    settings = keys(NEW_KEY)

    link = links.mint(settings=settings)

    token, _, signature = link.value.rpartition(".")
    assert len(token) == 43 and signature  # token_urlsafe(32): 32 random bytes
    assert link.url == f"https://learn.example/learn#{link.value}"
    assert link.hash == hashlib.sha256(token.encode()).hexdigest() == token_hash(token)
    assert token not in link.hash
    assert links.verified_hash(settings=settings, link=link.value) == link.hash


def test_every_link_is_fresh():
    settings = keys(NEW_KEY)
    minted = [links.mint(settings=settings) for _ in range(200)] + links.mint_many(settings=settings, count=2_000)
    assert len({m.value for m in minted}) == len({m.hash for m in minted}) == 2_200


def test_links_minted_in_bulk_are_what_itsdangerous_signs_and_verifies():
    # The bulk path signs with hmac.digest behind itsdangerous's algorithm interface: the format must not change.
    settings = keys(NEW_KEY)
    stock = Signer(NEW_KEY, salt=links.LINK_SALT, digest_method=hashlib.sha256)
    for link in links.mint_many(settings=settings, count=50):
        token, _, _ = link.value.rpartition(".")
        assert len(token) == 43 and set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        assert stock.sign(token).decode() == link.value
        assert stock.unsign(link.value).decode() == token
        assert link.hash == token_hash(token) and links.verified_hash(settings=settings, link=link.url) == link.hash
    assert links.mint_many(settings=settings, count=0) == []


def test_the_full_url_and_surrounding_whitespace_are_accepted():
    settings = keys(NEW_KEY)
    link = links.mint(settings=settings)
    for form in (link.url, f"  {link.value}\n", f"http://elsewhere.example/learn#{link.value}"):
        assert links.verified_hash(settings=settings, link=form) == link.hash


@pytest.mark.parametrize(
    "tamper",
    [
        # A middle character: the last one of 43 carries two padding bits base64 ignores.
        lambda v: v[:-5] + ("A" if v[-5] != "A" else "B") + v[-4:],  # signature changed
        lambda v: ("A" if v[0] != "A" else "B") + v[1:],  # token changed
        lambda v: v[: len(v) // 2],  # truncated
        lambda v: v.rpartition(".")[0],  # signature dropped
        lambda v: v + "x",
        lambda v: v.replace(".", ""),
        lambda v: "",
        lambda v: "#",
        lambda v: "x" * 5000,  # over the length limit
        lambda v: v[:-5] + "é" + v[-4:],  # not ASCII
    ],
)
def test_a_tampered_or_truncated_link_is_rejected(tamper):
    settings = keys(NEW_KEY)
    value = links.mint(settings=settings).value

    assert links.verified_hash(settings=settings, link=tamper(value)) is None


def test_a_value_signed_with_another_salt_or_key_is_rejected():
    settings = keys(NEW_KEY)
    token = "t" * 43
    other_salt = Signer(NEW_KEY, salt="roster.something-else", digest_method=hashlib.sha256).sign(token).decode()
    other_key = Signer(OLD_KEY, salt=links.LINK_SALT, digest_method=hashlib.sha256).sign(token).decode()
    right = Signer(NEW_KEY, salt=links.LINK_SALT, digest_method=hashlib.sha256).sign(token).decode()

    assert links.verified_hash(settings=settings, link=other_salt) is None
    assert links.verified_hash(settings=settings, link=other_key) is None
    assert links.verified_hash(settings=settings, link=right) == token_hash(token)


def test_key_rotation_keeps_old_links_while_the_old_key_is_listed():
    old = links.mint(settings=keys(OLD_KEY))

    rotated = keys(OLD_KEY, NEW_KEY)  # newest last
    assert links.verified_hash(settings=rotated, link=old.value) == old.hash
    fresh = links.mint(settings=rotated)
    assert links.verified_hash(settings=keys(NEW_KEY), link=fresh.value) == fresh.hash, "new links use the newest key"

    retired = keys(NEW_KEY)
    assert links.verified_hash(settings=retired, link=old.value) is None
    assert links.verified_hash(settings=retired, link=fresh.value) == fresh.hash
