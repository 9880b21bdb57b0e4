"""Composing enrollment mail: Jinja2 templates, and headers built only from validated values."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import asdict, dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path

import jinja2

from server.config import ConfigError, Settings
from server.services.emails import InvalidEmail, normalize_email

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
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

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
    )


def templates(settings: Settings) -> jinja2.Environment:
    return _environment(settings.mail_templates_dir)


def one_line(text: str, limit: int = MAX_HEADER_TEXT) -> str:
    """Header text on one line: line breaks and control characters become spaces."""
    return " ".join(_CONTROL.sub(" ", text).split())[:limit]


def render_subject(*, settings: Settings, course_title: str) -> str:
    """The subject line of a course's link mail, from the subject template."""
    text = templates(settings).get_template("enrollment_subject.txt").render(course_title=one_line(course_title))
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


def recipient_address(address: str, name: str = "") -> Address:
    """A recipient validated again at send time: a row that was tampered with raises InvalidEmail."""
    valid = normalize_email(address)
    if valid.email != address.strip():
        raise InvalidEmail("The address is not in normalized form")
    return Address(display_name=one_line(name), addr_spec=valid.email)


def build_message(*, sender: Address, to: Address, subject: str, text: str, html: str, domain: str) -> EmailMessage:
    """One message with a text and an HTML alternative."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = one_line(subject, 400)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message
