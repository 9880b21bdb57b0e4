"""Composing enrollment mail: Jinja2 templates, and headers built only from validated values."""

from __future__ import annotations

import binascii
import email.policy
import functools
import json
import logging
import re
import secrets
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path

import jinja2
import orjson

from server.config import ConfigError, Settings
from server.services.emails import InvalidEmail, normalize_email

log = logging.getLogger("roster.mail")
DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "mail"
# Control characters and Unicode line separators: none may reach a header, where they would start a new one.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
MAX_HEADER_TEXT = 200


class MailConfigError(ConfigError):
    """The mail settings (sender, templates) cannot produce a valid message."""


@dataclass(frozen=True)
class LinkMail:
    """What a pending message needs to be rendered at send time; it holds the link, so it is scrubbed once sent."""

    kind: str  # INTERNAL | EXTERNAL
    recipient_name: str
    course_title: str
    link: str

    def dumps(self) -> str:
        values = {"kind": self.kind, "recipient_name": self.recipient_name, "course_title": self.course_title, "link": self.link}
        return orjson.dumps(values).decode()  # compact UTF-8 JSON, queued ten thousand at a time

    @classmethod
    def loads(cls, text: str) -> LinkMail:
        data = json.loads(text)
        return cls(kind=data["kind"], recipient_name=data["recipient_name"], course_title=data["course_title"], link=data["link"])


@functools.cache
def _environment(override: Path | None) -> jinja2.Environment:
    # The operator's folder comes first, so any one template can be overridden and the rest fall back.
    folders = [str(override)] if override else []
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([*folders, str(DEFAULT_TEMPLATES)]),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        auto_reload=False,  # templates are read once per process; a changed override needs a restart
    )


def templates(settings: Settings) -> jinja2.Environment:
    return _environment(settings.mail_templates_dir)


def one_line(text: str, limit: int = MAX_HEADER_TEXT) -> str:
    """Header text on one line: line breaks and control characters become spaces."""
    return " ".join(_CONTROL.sub(" ", text).split())[:limit]


def render_subject(*, settings: Settings, course_title: str) -> str:
    """The subject line of a course's link mail, from the subject template."""
    try:
        text = templates(settings).get_template("enrollment_subject.txt").render(course_title=one_line(course_title))
    except jinja2.TemplateError:
        # A broken override must not fail the enrollment it is queued in: the default subject serves instead.
        log.exception("the mail subject template in %s is broken; using the default", settings.mail_templates_dir)
        text = _environment(None).get_template("enrollment_subject.txt").render(course_title=one_line(course_title))
    return one_line(text, 400)


def render_bodies(*, settings: Settings, mail: LinkMail) -> tuple[str, str]:
    """The plain-text and HTML parts (the HTML one autoescaped)."""
    env = templates(settings)
    values = {
        "internal": mail.kind == "INTERNAL",
        "recipient_name": mail.recipient_name,
        "course_title": mail.course_title,
        "link": mail.link,
    }
    return env.get_template("enrollment.txt").render(values), env.get_template("enrollment.html").render(values)


@functools.cache
def sender_address(mail_from: str) -> Address:
    """ROSTER_MAIL_FROM as a header Address; refused when it could smuggle a header or is not an address."""
    if _CONTROL.search(mail_from):
        raise MailConfigError("ROSTER_MAIL_FROM must be one line")
    name, addr = parseaddr(mail_from)
    if not addr or "@" not in addr:
        raise MailConfigError(f"ROSTER_MAIL_FROM is not an address: {mail_from!r}")
    try:
        return Address(display_name=name, addr_spec=addr)
    except (ValueError, IndexError) as exc:
        raise MailConfigError(f"ROSTER_MAIL_FROM is not an address: {exc}") from None


@dataclass(frozen=True)
class Recipient:
    """A validated envelope recipient, with the display name for its To header."""

    address: str
    name: str = ""

    @property
    def smtputf8(self) -> bool:
        return not self.address.isascii()


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# A normalized ASCII address (dot-atom, lowercase domain): what email-validator stored, recognized without re-running it.
_PLAIN_ADDRESS = re.compile(rf"(?=.{{3,254}}$)(?=[^@]{{1,64}}@){_ATEXT}(?:\.{_ATEXT})*@{_LABEL}(?:\.{_LABEL})+")
_PLAIN_PHRASE = re.compile(rf"{_ATEXT}(?: {_ATEXT})*")


def recipient_address(address: str, name: str = "") -> Recipient:
    """A recipient validated again at send time: a row that was tampered with raises InvalidEmail."""
    if not _PLAIN_ADDRESS.fullmatch(address):
        valid = normalize_email(address)
        if valid.email != address:
            raise InvalidEmail("The address is not in normalized form")
    return Recipient(address=address, name=one_line(name))


def to_header(to: Recipient) -> bytes:
    """The To header line, as EmailMessage writes it."""
    plain = f"To: {to.name} <{to.address}>\r\n" if to.name else f"To: {to.address}\r\n"
    if len(plain) <= 78 and _PLAIN_ADDRESS.fullmatch(to.address) and (not to.name or _PLAIN_PHRASE.fullmatch(to.name)):
        # Plain words and a plain address need no quoting, encoding or folding: the same bytes, without the header parser.
        return plain.encode()
    if not to.address.split("@")[0].isascii():
        # email.headerregistry.Address refuses a non-ASCII local part; such a header goes out bare, as UTF-8 (SMTPUTF8).
        return _header_block([("To", to.address)], utf8=True)
    return _header_block([("To", Address(display_name=to.name, addr_spec=to.address))], utf8=to.smtputf8)


def _header_block(headers: list[tuple[str, Address | str]], utf8: bool = False) -> bytes:
    """Headers through EmailMessage, which encodes and folds them and refuses any line break in a value."""
    message = EmailMessage(policy=email.policy.SMTPUTF8 if utf8 else email.policy.SMTP)
    for name, value in headers:
        message[name] = value
    return message.as_bytes()[:-2]  # without the blank line that ends the header block


@functools.lru_cache(maxsize=256)
def _fixed_headers(mail_from: str, subject: str) -> bytes:
    # The same for every message of a course: encoded once, not 10,000 times.
    return _header_block([("From", sender_address(mail_from)), ("Subject", one_line(subject, 400)), ("Auto-Submitted", "auto-generated")])


def _quoted_printable(text: str) -> bytes:
    return binascii.b2a_qp(text.replace("\r\n", "\n").encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


def compose(*, mail_from: str, to: Recipient, subject: str, text: str, html: str) -> bytes:
    """One message, CRLF-terminated, with a plain-text and an HTML alternative, ready for SMTP DATA."""
    # '=' is always escaped in quoted-printable, so a boundary starting '=_' cannot occur in a part.
    boundary = f"=_roster_{secrets.token_hex(12)}"
    generated = (
        f"Date: {formatdate(usegmt=True)}\r\n"
        f"Message-ID: <{secrets.token_hex(16)}@{sender_address(mail_from).domain}>\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
    ).encode()
    parts = []
    for subtype, body in (("plain", text), ("html", html)):
        head = f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
        parts.append(head.encode() + _quoted_printable(body) + b"\r\n")
    return b"".join(
        [
            _fixed_headers(mail_from, subject),
            to_header(to),
            generated,
            *parts,
            f"--{boundary}--\r\n".encode(),
        ]
    )
