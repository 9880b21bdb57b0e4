"""A real SMTP server for the tests: aiosmtpd on loopback, recording what reaches the wire."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

LINK_RE = re.compile(r"https?://\S+/learn#[A-Za-z0-9_\-.]+")


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        return body.get_content()

    @property
    def link(self) -> str:
        found = LINK_RE.findall(self.part("plain"))
        assert len(set(found)) == 1, found
        return found[0]


class Inbox:
    """The aiosmtpd handler: refuses the addresses in `refuse` with their reply, records the rest."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refuse: dict[str, str] = {}
        self.delay = 0.0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 2.0.0 Accepted"

    def by_recipient(self) -> dict[str, list[Received]]:
        found: dict[str, list[Received]] = {}
        for r in list(self.received):
            for rcpt in r.rcpt_tos:
                found.setdefault(rcpt, []).append(r)
        return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.inbox = Inbox()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self, login: tuple[str, str] | None = None, **tls) -> SmtpServer:
        """Listen; with login, refuse mail from any client that has not signed in with it; tls: aiosmtpd's TLS options."""
        auth = dict(tls)
        if login is not None:

            def authenticator(server, session, envelope, mechanism, data):
                return AuthResult(success=(data.login, data.password) == (login[0].encode(), login[1].encode()), handled=False)

            auth.update(authenticator=authenticator, auth_required=True, auth_require_tls=False)
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=True, decode_data=False, **auth)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    async def wait_for(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.inbox.received) < count:
            assert time.monotonic() < deadline, f"only {len(self.inbox.received)} of {count} messages arrived"
            await asyncio.sleep(0.02)


def self_signed_certificate(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A certificate for localhost, and the server context holding it (the client trusts the certificate file)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key), "-out", str(cert)),
            *("-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context
