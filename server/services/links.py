"""Participant links: a random token, signed, of which only the sha256 is stored."""

from __future__ import annotations

import functools
import hashlib
import hmac
from typing import NamedTuple

from itsdangerous import BadSignature, Signer
from itsdangerous.signer import HMACAlgorithm

from server.config import Settings
from server.services.security import new_token, token_hash

LINK_SALT = "roster.participant-link"
# token_urlsafe(32) is 43 characters; the signature adds a separator and 43 more (sha256).
MAX_LINK_LENGTH = 200


class _OneShotHMAC(HMACAlgorithm):
    """itsdangerous's HMAC signatures, computed by the standard library's one-shot hmac.digest."""

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.digest(key, value, self.digest_method)


class _Signer(Signer):
    """A Signer that derives each key once instead of on every call: links are minted in bulk."""

    @functools.cache  # noqa: B019 -- one signer per settings, kept for the process
    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:  # type: ignore[override]
        return super().derive_key(secret_key)


class MintedLink(NamedTuple):  # a tuple: minted ten thousand at a time
    value: str  # the signed value that goes after '#'
    url: str
    hash: str  # what the database stores


@functools.cache
def _signer(keys: tuple[str, ...]) -> _Signer:
    # itsdangerous signs with the last key and verifies with any: rotation, newest last.
    return _Signer(list(keys), salt=LINK_SALT, digest_method=hashlib.sha256, algorithm=_OneShotHMAC(hashlib.sha256))


def mint(*, settings: Settings) -> MintedLink:
    """A fresh link for one participant."""
    return mint_many(settings=settings, count=1)[0]


def mint_many(*, settings: Settings, count: int) -> list[MintedLink]:
    """count fresh links: the signer and the URL prefix are looked up once, not per link."""
    sign = _signer(settings.secret_keys).sign
    prefix = link_url(settings=settings, value="")
    minted = []
    for _ in range(count):
        token = new_token()
        value = sign(token).decode()
        minted.append(MintedLink(value, prefix + value, token_hash(token)))
    return minted


def link_url(*, settings: Settings, value: str) -> str:
    return f"{settings.public_url}/learn#{value}"


def verified_hash(*, settings: Settings, link: str) -> str | None:
    """The stored hash a link points to, or None when its signature does not hold (no database needed)."""
    value = link.strip()
    if "#" in value:
        value = value.rsplit("#", 1)[1]
    if not value or len(value) > MAX_LINK_LENGTH or not value.isascii():
        return None
    try:
        token = _signer(settings.secret_keys).unsign(value).decode()
    except BadSignature:
        return None
    return token_hash(token)
