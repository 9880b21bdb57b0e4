"""Email addresses: validated and normalized by email-validator, compared case-insensitively."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from server.services.errors import BadInput


@dataclass(frozen=True)
class Address:
    email: str  # normalized, as shown
    key: str  # case-folded, as compared and stored in unique columns


class InvalidEmail(BadInput):
    pass


def normalize_email(raw: str) -> Address:
    """Validate one address; raise InvalidEmail with a reason a person can act on."""
    text = raw.strip()
    if not text:
        raise InvalidEmail("The address is empty")
    if any(c in text for c in "\r\n\0") or len(text) > 320:
        raise InvalidEmail("The address contains line breaks or is too long")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from None
    return Address(email=result.normalized, key=result.normalized.casefold())
