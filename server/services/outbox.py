"""The mail outbox: one message per participant, written in the enrollment's transaction.

A pending message stores what its body needs (a LinkMail, holding the link) rather than the
rendered body: queuing 10,000 messages stays one small INSERT per batch, and the delivery
worker renders each body just before sending it, then scrubs the stored copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from server.config import Settings
from server.models import Course, EmailStatus, OutboxMessage, Participant, ParticipantKind, User
from server.models.outbox import OutboxStatus
from server.services import bulk
from server.services.directory import chunks
from server.services.links import MintedLink
from server.services.mail import LinkMail, render_subject

BATCH = 500
NO_ADDRESS = "The user has no email address in the directory"


@dataclass(frozen=True, slots=True)
class Recipient:
    address: str | None  # None: the user has no email address, the message cannot be queued
    name: str

    @classmethod
    def of_user(cls, email: str | None, display_name: str | None, username: str) -> Recipient:
        """An internal user's: their directory address, greeted by display name (or username)."""
        return cls(email or None, display_name or username)


async def directory_recipients(*, user_ids: Sequence[int]) -> dict[int, Recipient]:
    """The address and greeting of each internal user, from the directory: one query per 500 users."""
    rows = await bulk.rows_where_in(User, ("id", "email", "display_name", "username"), "id", list(user_ids))
    return {user_id: Recipient.of_user(email, display_name, username) for user_id, email, display_name, username in rows}


def recipient(*, kind: ParticipantKind, user_id: int | None, name: str, email: str | None, users: dict[int, Recipient]) -> Recipient:
    """Where a participant's link goes: their directory address (internal) or the address they were enrolled by."""
    if kind == ParticipantKind.INTERNAL:
        return users.get(user_id or 0, Recipient(None, name))
    return Recipient(email, name)


def delivery_state(to: Recipient) -> tuple[EmailStatus, str | None]:
    """The email status (and error) a participant starts with when their link is to be mailed."""
    return (EmailStatus.QUEUED, None) if to.address else (EmailStatus.FAILED, NO_ADDRESS)


_COLUMNS = ("participant_id", "to_address", "subject", "body_text", "body_html", "status", "attempts", "next_attempt_at", "created_at")


async def queue_messages(*, settings: Settings, course: Course, items: Sequence[tuple[int, str, Recipient, str]]) -> None:
    """Queue (participant id, kind, recipient, link URL) messages in the caller's transaction: one INSERT per batch.

    Recipients without an address are left out: their participant row already says FAILED.
    """
    subject = render_subject(settings=settings, course_title=course.title)
    now = datetime.now(UTC)
    queued = OutboxStatus.QUEUED.value
    rows = [
        (
            pid,
            to.address,
            subject,
            LinkMail(kind=kind, recipient_name=to.name, course_title=course.title, link=url).dumps(),
            "",
            queued,
            0,
            now,
            now,
        )
        for pid, kind, to, url in items
        if to.address
    ]
    await bulk.insert_values(OutboxMessage, _COLUMNS, rows, batch_size=BATCH)


async def queue_link_messages(*, settings: Settings, course: Course, items: Sequence[tuple[Participant, MintedLink]]) -> None:
    """Queue the enrollment email of participants already written (a new link, a resend), and record their email status."""
    if not items:
        return
    users = await directory_recipients(user_ids=[p.user_id for p, _ in items if p.kind == ParticipantKind.INTERNAL and p.user_id])
    messages = []
    for participant, link in items:
        to = recipient(kind=participant.kind, user_id=participant.user_id, name=participant.name, email=participant.email, users=users)
        # The caller's objects are what the result shows, so they carry the new status too.
        participant.email_status, participant.email_error = delivery_state(to)
        messages.append((participant.id, participant.kind.value, to, link.url))
    await queue_messages(settings=settings, course=course, items=messages)
    by_state: dict[tuple[EmailStatus, str | None], list[int]] = {}
    for participant, _ in items:
        by_state.setdefault((participant.email_status, participant.email_error), []).append(participant.id)
    for (status, error), ids in by_state.items():
        for part in chunks(ids, BATCH):
            await Participant.filter(id__in=part).update(email_status=status, email_error=error)


async def cancel_pending(*, participant_ids: Sequence[int]) -> None:
    """A removed participant or a replaced link: messages still holding the old link must never go out."""
    if not participant_ids:
        return
    pending = OutboxMessage.filter(participant_id__in=list(participant_ids), status=OutboxStatus.QUEUED)
    cancelled = set(await pending.values_list("participant_id", flat=True))
    if cancelled:
        await pending.update(status=OutboxStatus.CANCELLED, body_text="", body_html="")
        await Participant.filter(id__in=list(cancelled)).update(email_status=EmailStatus.NOT_SENT)
