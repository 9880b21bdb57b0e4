"""Mail delivery: the worker that sends the outbox over SMTP (or to the console), and resending a link.

A worker claims due messages in batches with a lease (FOR UPDATE SKIP LOCKED on PostgreSQL, a
conditional UPDATE everywhere), sends them over a few reused SMTP connections in parallel, and
records each outcome: SENT (body scrubbed), a retry with exponential backoff and jitter, or FAILED.
A worker that dies holds its claims only until the lease runs out; then another one sends them.
"""

from __future__ import annotations

import asyncio
import collections
import email
import email.policy
import logging
import os
import random
import secrets
import signal
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import aiosmtplib
import jinja2
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from server import db
from server.config import Settings
from server.models import EmailStatus, OutboxMessage, Participant, ParticipantKind, User
from server.models.outbox import OutboxStatus
from server.services import enrollment
from server.services.emails import InvalidEmail
from server.services.errors import BadInput
from server.services.mail import LinkMail, MailConfigError, Recipient, compose, recipient_address, render_bodies, sender_address

log = logging.getLogger("roster.mail")
MAX_RETRY_DELAY = 6 * 3600.0
MAX_UNREACHABLE_PAUSE = 60.0


@dataclass(frozen=True)
class SmtpTarget:
    hostname: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False  # smtps://: TLS from the first byte
    start_tls: bool | None = None  # True: required; None: when offered; False: never

    def describe(self) -> str:
        mode = "smtps" if self.use_tls else "smtp"
        return f"{mode}://{self.hostname}:{self.port}" + (" (STARTTLS required)" if self.start_tls else "")


def parse_smtp_url(url: str) -> SmtpTarget:
    """ROSTER_SMTP_URL: smtp://[user:pass@]host[:port][?starttls=required|off], or smtps:// for implicit TLS."""
    parts = urlsplit(url.strip())
    if parts.scheme not in {"smtp", "smtps"}:
        raise MailConfigError("ROSTER_SMTP_URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise MailConfigError("ROSTER_SMTP_URL names no host")
    try:
        port = parts.port
    except ValueError:
        raise MailConfigError("ROSTER_SMTP_URL has an invalid port") from None
    query = dict(parse_qsl(parts.query))
    starttls = query.get("starttls", "auto").lower()
    if starttls not in {"required", "off", "auto"}:
        raise MailConfigError("ROSTER_SMTP_URL: starttls must be required, off or auto")
    use_tls = parts.scheme == "smtps"
    if use_tls and starttls == "required":
        raise MailConfigError("ROSTER_SMTP_URL: smtps:// is already TLS; drop ?starttls=required")
    return SmtpTarget(
        hostname=parts.hostname,
        port=port or (465 if use_tls else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=use_tls,
        start_tls={"required": True, "off": False}.get(starttls, False if use_tls else None),
    )


class Connection(Protocol):
    async def open(self) -> bool: ...  # True when a new connection was made

    async def send(self, data: bytes, *, sender: str, recipient: Recipient) -> None: ...

    async def drop(self) -> None: ...

    async def close(self) -> None: ...


class SmtpConnection:
    """One reused SMTP connection; reopened after an error."""

    def __init__(self, target: SmtpTarget, timeout: float) -> None:
        self.target = target
        self.timeout = timeout
        self.client: aiosmtplib.SMTP | None = None

    async def open(self) -> bool:
        if self.client is not None and self.client.is_connected:
            return False
        t = self.target
        client = aiosmtplib.SMTP(
            hostname=t.hostname,
            port=t.port,
            username=t.username,
            password=t.password,
            use_tls=t.use_tls,
            start_tls=t.start_tls,
            timeout=self.timeout,
        )
        await client.connect()
        self.client = client
        return True

    async def send(self, data: bytes, *, sender: str, recipient: Recipient) -> None:
        assert self.client is not None
        options = ["SMTPUTF8"] if recipient.smtputf8 else None
        await self.client.sendmail(sender, [recipient.address], data, mail_options=options)

    async def drop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    async def close(self) -> None:
        if self.client is not None and self.client.is_connected:
            try:
                await asyncio.wait_for(self.client.quit(), timeout=5)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                pass
        await self.drop()


class ConsoleConnection:
    """Development without SMTP: each message is printed to stdout and written as a .eml file under var/mail/."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def open(self) -> bool:
        return False

    async def send(self, data: bytes, *, sender: str, recipient: Recipient) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        path = self.folder / f"{stamp}-{secrets.token_hex(3)}.eml"
        await asyncio.to_thread(path.write_bytes, data)
        message = email.message_from_bytes(data, policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",))
        headers = "".join(f"{k}: {v}\n" for k, v in message.items() if k in {"From", "To", "Subject"})
        # The console is the development mailbox: stdout on purpose, never the log, which could be shipped elsewhere.
        print(
            f"\n----- mail to {recipient.address} (saved as {path}) -----\n{headers}\n{text.get_content() if text else ''}-----", flush=True
        )

    async def drop(self) -> None:
        return None

    async def close(self) -> None:
        return None


class Outcome(StrEnum):
    SENT = "SENT"
    RETRY = "RETRY"  # counts as an attempt; tried again after a backoff
    FAILED = "FAILED"  # permanent: refused with 5xx, invalid address, or out of attempts
    RELEASE = "RELEASE"  # not attempted (server unreachable, or stopping): claim given back
    CANCEL = "CANCEL"  # its participant is gone (course or user deleted): the link no longer works


@dataclass
class Result:
    message: OutboxMessage
    outcome: Outcome
    error: str | None = None


@dataclass
class Stats:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    unreachable: bool = False


def _reply(exc: BaseException) -> tuple[int | None, str]:
    """The SMTP reply code and text of an error, as the manager will read it."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code, f"{exc.code} {exc.message}".strip()
    return None, f"{type(exc).__name__}: {exc}".strip().rstrip(":")


class Mailer:
    """A delivery worker: `await run()` until `stop()`; `run(until_idle=True)` returns when nothing is due."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.worker_id = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"
        self.sender = sender_address(settings.mail_from)
        self.target = parse_smtp_url(settings.smtp_url) if settings.smtp_url else None
        self.stats = Stats()
        self._stopping = asyncio.Event()
        self._claims = 0
        self._held: set[str] = set()  # claim tokens whose messages this worker still has to record

    def describe(self) -> str:
        return self.target.describe() if self.target else f"the console and {self.settings.var_dir / 'mail'}"

    def _connection(self) -> Connection:
        if self.target is None:
            return ConsoleConnection(self.settings.var_dir / "mail")
        return SmtpConnection(self.target, self.settings.mail_send_timeout)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """Ask run() to finish the sends in flight, give back the rest of its claims, and return."""
        self._stopping.set()

    async def run(self, *, until_idle: bool = False) -> Stats:
        """Claim, send and record batches until stopped (or, with until_idle, until nothing is due or the server is down)."""
        # The console prints one message at a time; SMTP sends over several connections in parallel.
        lanes = [self._connection() for _ in range(self.settings.mail_connections if self.target else 1)]
        claiming: asyncio.Task | None = asyncio.create_task(self._claim())
        recording: asyncio.Task | None = None
        unreachable_in_a_row = 0
        self.stats.unreachable = False
        keeping = asyncio.create_task(self._keep_leases())
        try:
            while claiming is not None:
                batch = await claiming
                claiming = None
                if self._stopping.is_set():
                    await self._record([Result(m, Outcome.RELEASE) for m in batch])
                    break
                if not batch:
                    if until_idle:
                        break
                    await self.pause(self.settings.mail_poll_seconds)
                    if not self._stopping.is_set():
                        claiming = asyncio.create_task(self._claim())
                    continue
                # Claim the next batch while this one is on the wire.
                claiming = asyncio.create_task(self._claim())
                results = await self._send_batch(batch, lanes)
                if recording is not None:
                    await recording
                recording = asyncio.create_task(self._record(results))
                unreachable = next((r.error for r in results if r.outcome == Outcome.RELEASE and r.error), None)
                if unreachable is None:
                    unreachable_in_a_row = 0
                    continue
                # The server is down: give the next batch back too, and wait longer each time before trying again.
                self.stats.unreachable = True
                unreachable_in_a_row += 1
                await self._record([Result(m, Outcome.RELEASE, unreachable) for m in await claiming])
                claiming = None
                if until_idle:
                    break
                pause = min(MAX_UNREACHABLE_PAUSE, self.settings.mail_poll_seconds * 2**unreachable_in_a_row)
                await self.pause(pause * random.uniform(0.5, 1.0))
                if not self._stopping.is_set():
                    claiming = asyncio.create_task(self._claim())
        finally:
            if recording is not None:
                await recording
            if claiming is not None:
                await self._record([Result(m, Outcome.RELEASE) for m in await claiming])
            keeping.cancel()
            await asyncio.gather(*(lane.close() for lane in lanes))
        return self.stats

    async def _keep_leases(self) -> None:
        """Extend the leases this worker holds, so a slow batch is never taken over while it is still being sent."""
        while True:
            await asyncio.sleep(self.settings.mail_lease_seconds / 3)
            if not self._held:
                continue
            lease = datetime.now(UTC) + timedelta(seconds=self.settings.mail_lease_seconds)
            try:
                await OutboxMessage.filter(claimed_by__in=list(self._held), status=OutboxStatus.QUEUED).update(lease_until=lease)
            except Exception:  # a database hiccup: try again at the next beat, well before the lease ends
                log.exception("could not extend the mail leases")

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake at once when asked to stop."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _claim(self) -> list[OutboxMessage]:
        """Take up to a batch of due messages under a lease; two workers never hold the same message."""
        now = datetime.now(UTC)
        self._claims += 1
        token = f"{self.worker_id}/{self._claims}"
        lease = now + timedelta(seconds=self.settings.mail_lease_seconds)
        due = Q(status=OutboxStatus.QUEUED, next_attempt_at__lte=now) & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        async with in_transaction() as conn:
            query = OutboxMessage.filter(due).order_by("next_attempt_at", "id").limit(self.settings.mail_batch_size).using_db(conn)
            if db.is_postgres():
                # Rows another worker has locked are skipped, not waited for; the locks hold until this claim commits.
                rows = list(await query.select_for_update(skip_locked=True))
                if rows:
                    await OutboxMessage.filter(id__in=[m.id for m in rows]).using_db(conn).update(claimed_by=token, lease_until=lease)
                    self._held.add(token)
                for m in rows:
                    m.claimed_by, m.lease_until = token, lease
                return rows
            ids = list(await query.values_list("id", flat=True))
            if not ids:
                return []
            # SQLite has no row locks: the WHERE re-checks the lease, so a row another process claimed meanwhile is not taken twice.
            await OutboxMessage.filter(due, id__in=ids).using_db(conn).update(claimed_by=token, lease_until=lease)
            self._held.add(token)
            return list(await OutboxMessage.filter(id__in=ids, claimed_by=token).using_db(conn).order_by("id"))

    async def _send_batch(self, batch: Sequence[OutboxMessage], lanes: Sequence[Connection]) -> list[Result]:
        waiting = collections.deque(batch)
        results: list[Result] = []

        async def lane_loop(lane: Connection) -> None:
            while waiting and not self._stopping.is_set():
                result = await self._deliver(lane, waiting.popleft())
                results.append(result)
                if result.outcome == Outcome.RELEASE:
                    return  # this connection cannot reach the server: leave the rest to the batch's release

        await asyncio.gather(*(lane_loop(lane) for lane in lanes[: len(batch)]))
        unreachable = next((r.error for r in results if r.outcome == Outcome.RELEASE), None)
        results.extend(Result(m, Outcome.RELEASE, unreachable) for m in waiting)
        return results

    def _prepare(self, message: OutboxMessage) -> tuple[bytes, Recipient]:
        mail = LinkMail.loads(message.body_text)
        name = mail.recipient_name if mail.kind == ParticipantKind.INTERNAL else ""
        to = recipient_address(message.to_address, name)
        text, html = render_bodies(settings=self.settings, mail=mail)
        return compose(mail_from=self.settings.mail_from, to=to, subject=message.subject, text=text, html=html), to

    async def _deliver(self, lane: Connection, message: OutboxMessage) -> Result:
        """Send one message within the overall timeout and say what became of it."""
        if message.participant_id is None:
            return Result(message, Outcome.CANCEL)
        try:
            data, recipient = self._prepare(message)
        except InvalidEmail as exc:
            return Result(message, Outcome.FAILED, f"Invalid recipient address: {exc.message}")
        except (ValueError, KeyError, jinja2.TemplateError) as exc:
            return self._retry(message, f"The message could not be built: {type(exc).__name__}: {exc}")
        stage = "connect"
        try:
            async with asyncio.timeout(self.settings.mail_send_timeout):
                fresh = await lane.open()
                stage = "send"
                try:
                    await lane.send(data, sender=self.sender.addr_spec, recipient=recipient)
                except aiosmtplib.SMTPServerDisconnected:
                    if fresh:
                        raise
                    # The server closed an idle connection: reconnect once, without counting an attempt.
                    await lane.drop()
                    stage = "connect"
                    await lane.open()
                    stage = "send"
                    await lane.send(data, sender=self.sender.addr_spec, recipient=recipient)
        except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as exc:
            code, text = _reply(exc)
            if code is not None and code >= 500:
                return Result(message, Outcome.FAILED, text)
            return self._retry(message, text)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await lane.drop()
            _, text = _reply(exc)
            if isinstance(exc, TimeoutError):
                text = f"No answer from the mail server within {self.settings.mail_send_timeout:g} s"
            if stage == "connect":
                return Result(message, Outcome.RELEASE, f"Could not connect or sign in to the mail server, will retry: {text}")
            return self._retry(message, text)
        return Result(message, Outcome.SENT)

    def _retry(self, message: OutboxMessage, error: str) -> Result:
        if message.attempts + 1 >= self.settings.mail_max_attempts:
            return Result(message, Outcome.FAILED, f"Gave up after {message.attempts + 1} attempts: {error}")
        return Result(message, Outcome.RETRY, error)

    def _retry_at(self, attempts: int, now: datetime) -> datetime:
        delay = min(MAX_RETRY_DELAY, self.settings.mail_retry_seconds * 2 ** max(attempts - 1, 0))
        return now + timedelta(seconds=delay * random.uniform(0.5, 1.5))

    async def _record(self, results: Sequence[Result]) -> None:
        """Write what became of each message, and the participant's email status with it."""
        if not results:
            return
        now = datetime.now(UTC)
        by_outcome: dict[Outcome, list[Result]] = collections.defaultdict(list)
        for r in results:
            by_outcome[r.outcome].append(r)
        async with in_transaction():
            if sent := by_outcome[Outcome.SENT]:
                await self._record_sent(sent, now)
            if released := by_outcome[Outcome.RELEASE]:
                for token, ids in _ids_by_claim(released).items():
                    await OutboxMessage.filter(id__in=ids, claimed_by=token, status=OutboxStatus.QUEUED).update(
                        claimed_by=None, lease_until=None
                    )
                if error := released[0].error:
                    await Participant.filter(id__in=[r.message.participant_id for r in released], email_status=EmailStatus.QUEUED).update(
                        email_error=error[:1000]
                    )
            if cancelled := by_outcome[Outcome.CANCEL]:
                await OutboxMessage.filter(id__in=[r.message.id for r in cancelled], status=OutboxStatus.QUEUED).update(
                    status=OutboxStatus.CANCELLED, lease_until=None, body_text="", body_html=""
                )
            for r in by_outcome[Outcome.RETRY]:
                attempts = r.message.attempts + 1
                changed = await OutboxMessage.filter(id=r.message.id, claimed_by=r.message.claimed_by, status=OutboxStatus.QUEUED).update(
                    attempts=attempts, next_attempt_at=self._retry_at(attempts, now), claimed_by=None, lease_until=None, last_error=r.error
                )
                if changed:
                    await Participant.filter(id=r.message.participant_id).update(
                        email_error=f"Attempt {attempts} failed, will retry: {r.error}"[:1000]
                    )
            for r in by_outcome[Outcome.FAILED]:
                changed = await OutboxMessage.filter(id=r.message.id, claimed_by=r.message.claimed_by, status=OutboxStatus.QUEUED).update(
                    status=OutboxStatus.FAILED, attempts=F("attempts") + 1, lease_until=None, last_error=r.error, body_text="", body_html=""
                )
                if changed:
                    await Participant.filter(id=r.message.participant_id).update(email_status=EmailStatus.FAILED, email_error=r.error)
        self._held.difference_update(r.message.claimed_by for r in results)
        self.stats.sent += len(by_outcome[Outcome.SENT])
        self.stats.failed += len(by_outcome[Outcome.FAILED])
        self.stats.retried += len(by_outcome[Outcome.RETRY])
        for r in by_outcome[Outcome.FAILED]:
            # The reply text, never the body: the body held the link.
            log.warning("mail %s to participant %s failed: %s", r.message.id, r.message.participant_id, r.error)

    async def _record_sent(self, sent: Sequence[Result], now: datetime) -> None:
        # Only rows still QUEUED under this claim: a message cancelled while on the wire stays CANCELLED.
        for token, ids in _ids_by_claim(sent).items():
            await OutboxMessage.filter(id__in=ids, claimed_by=token, status=OutboxStatus.QUEUED).update(
                status=OutboxStatus.SENT,
                sent_at=now,
                attempts=F("attempts") + 1,
                lease_until=None,
                last_error=None,
                body_text="",
                body_html="",
            )
            done = await OutboxMessage.filter(id__in=ids, claimed_by=token, status=OutboxStatus.SENT).values_list(
                "participant_id", flat=True
            )
            await Participant.filter(id__in=[p for p in done if p is not None]).update(
                email_status=EmailStatus.SENT, email_sent_at=now, email_error=None
            )


def _ids_by_claim(results: Sequence[Result]) -> dict[str | None, list[int]]:
    by_claim: dict[str | None, list[int]] = collections.defaultdict(list)
    for r in results:
        by_claim[r.message.claimed_by].append(r.message.id)
    return by_claim


async def resend_link(*, settings: Settings, participant_id: str | int, actor: str) -> Participant:
    """Issue a fresh link and queue a new email with it; the old link stops working at once."""
    participant = await enrollment.get_participant(participant_id)
    address = participant.email
    if participant.kind == ParticipantKind.INTERNAL:
        user = await User.get_or_none(id=participant.user_id)
        address = user.email if user else None
    if not address:
        raise BadInput(f"{participant.name} has no email address; add one in the directory first")
    result = await enrollment.regenerate_link(
        settings=settings, participant_id=participant.id, send_email=True, actor=actor, action="participant.resend_link"
    )
    return result.participant


class MailWorker:
    """The worker as a background task of the server: started and stopped by the app's lifespan."""

    def __init__(self, settings: Settings) -> None:
        self.mailer = Mailer(settings)
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="roster-mail-worker")

    async def _run(self) -> None:
        while True:
            try:
                await self.mailer.run()
                return
            except Exception:  # a database hiccup must not end delivery for the life of the server
                log.exception("mail worker error; restarting in 5 s")
                await self.mailer.pause(5)
                if self.mailer.stopping:
                    return

    async def stop(self) -> None:
        self.mailer.stop()
        if self.task is not None:
            await self.task


async def run_standalone(settings: Settings) -> str:
    """`roster mail-worker`: deliver until SIGTERM or Ctrl-C, then finish the sends in flight."""
    mailer = Mailer(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, mailer.stop)
    print(f"Mail worker {mailer.worker_id} delivering through {mailer.describe()}", flush=True)
    stats = await mailer.run()
    return f"Mail worker stopped: {stats.sent} sent, {stats.failed} failed, {stats.retried} to retry later"
