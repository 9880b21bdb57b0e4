"""Mail templates and headers: both wordings, the sharing warning, escaping, operator overrides, safe headers."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from email.headerregistry import Address

import jinja2
import pytest

from server.config import ConfigError, Settings
from server.services.emails import InvalidEmail
from server.services.mail import (
    LinkMail,
    Recipient,
    _header_block,
    compose,
    recipient_address,
    render_bodies,
    render_subject,
    sender_address,
    to_header,
)
from server.services.mailer import parse_smtp_url

SETTINGS = Settings(secret_keys=("k" * 40,))
LINK = "http://roster.test/learn#token.signature"


def bodies(kind: str, title: str = "Fire safety", name: str = "Alice Martin", settings: Settings = SETTINGS) -> tuple[str, str]:
    return render_bodies(settings=settings, mail=LinkMail(kind=kind, recipient_name=name, course_title=title, link=LINK))


def test_internal_and_external_wording_differ_and_both_warn_against_sharing():
    internal_text, internal_html = bodies("INTERNAL")
    external_text, external_html = bodies("EXTERNAL")
    assert "Hello Alice Martin" in internal_text and "My learning" in internal_text and "My learning" in internal_html
    assert "My learning" not in external_text and "My learning" not in external_html
    assert "No account or password is needed" in external_text
    for body in (internal_text, internal_html, external_text, external_html):
        assert LINK in body
        assert "Do not forward" in body and "can open the course as you" in body


def test_the_html_part_is_escaped_and_the_text_part_is_not():
    text, html = bodies("INTERNAL", title="<script>alert(1)</script> & Co", name='<img src=x onerror="x">')
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html
    assert "<img" not in html and "&lt;img" in html
    assert "<script>alert(1)</script> & Co" in text


def test_an_operator_can_override_one_template_and_keep_the_others(tmp_path):
    (tmp_path / "enrollment.txt").write_text("Custom text for {{ course_title }}: {{ link }}\n")
    settings = replace(SETTINGS, mail_templates_dir=tmp_path)
    text, html = bodies("EXTERNAL", settings=settings)
    assert text == f"Custom text for Fire safety: {LINK}\n"
    assert "Keep this link to yourself" in html  # the default HTML template still applies
    assert render_subject(settings=settings, course_title="Fire\r\nBcc: x@evil.example") == (
        "Your personal link to the course Fire Bcc: x@evil.example"
    )


@pytest.mark.parametrize(
    ("address", "name"),
    [
        ("alice@corp.example", "Alice Martin"),
        ("alice@corp.example", ""),
        ("j.smith+tag@mail.corp.example", "J. Smith"),
        ("zoe@example.com", "Zoë Ünicode"),
        ("o'brien@example.com", 'Pat "the boss" O\'Brien, Jr.'),
        ("long.address.for.testing@sub.domain.example.com", "A Rather Long Display Name That Needs Folding Maybe"),
    ],
)
def test_the_to_header_is_what_email_message_writes(address, name):
    recipient = recipient_address(address, name)
    expected = _header_block([("To", Address(display_name=recipient.name, addr_spec=address))])
    assert to_header(recipient) == expected


def test_addresses_and_names_that_could_inject_headers_are_refused_or_flattened():
    for bad in (
        "a@example.com\r\nBcc: spy@evil.example",
        "a@example.com\nBcc: spy@evil.example",
        " a@example.com",
        "A@EXAMPLE.COM>",
        "<a@x.example>",
    ):
        with pytest.raises(InvalidEmail):
            recipient_address(bad)
    recipient = recipient_address("a@example.com", "Eve\r\nBcc: spy@evil.example\u2028Cc: x@evil.example")
    assert recipient == Recipient(address="a@example.com", name="Eve Bcc: spy@evil.example Cc: x@evil.example")
    raw = compose(mail_from=SETTINGS.mail_from, to=recipient, subject="S\r\nBcc: spy@evil.example", text="t", html="<p>h</p>")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Bcc"] is None and message["Cc"] is None
    assert message["To"].addresses[0].addr_spec == "a@example.com"
    assert message["Subject"] == "S Bcc: spy@evil.example"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


def test_the_sender_and_the_smtp_url_are_checked_once_at_start():
    assert sender_address("Roster <no-reply@localhost>").addr_spec == "no-reply@localhost"
    for bad in ("Roster <no-reply@localhost>\r\nBcc: spy@evil.example", "not an address"):
        with pytest.raises(ConfigError):
            sender_address(bad)
    target = parse_smtp_url("smtp://user%40corp:p%3Ass@mail.corp.example:2525?starttls=required")
    assert (target.hostname, target.port, target.username, target.password, target.use_tls, target.start_tls) == (
        "mail.corp.example",
        2525,
        "user@corp",
        "p:ss",
        False,
        True,
    )
    assert parse_smtp_url("smtps://mail.corp.example").port == 465 and parse_smtp_url("smtps://mail.corp.example").use_tls
    assert parse_smtp_url("smtp://localhost").start_tls is None and parse_smtp_url("smtp://localhost").port == 25
    for bad in ("http://mail.example", "smtp://", "smtp://host:notaport", "smtp://host?starttls=maybe", "smtps://host?starttls=required"):
        with pytest.raises(ConfigError):
            parse_smtp_url(bad)


def test_a_broken_override_falls_back_for_the_subject_and_is_reported_for_the_body(tmp_path):
    (tmp_path / "enrollment_subject.txt").write_text("{% if %}")
    (tmp_path / "enrollment.txt").write_text("{{ no_such_variable }}")
    settings = replace(SETTINGS, mail_templates_dir=tmp_path)
    assert render_subject(settings=settings, course_title="Fire safety") == "Your personal link to the course Fire safety"
    with pytest.raises(jinja2.TemplateError):
        bodies("EXTERNAL", settings=settings)
