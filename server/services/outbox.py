"""The mail outbox: one message per participant, written in the enrollment's transaction.

A pending message stores what its body needs (a LinkMail, holding the link) rather than the
rendered body: queuing 10,000 messages stays one small INSERT per batch, and the delivery
worker renders each body just before sending it, then scrubs the stored copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from server.config import Settings
from server.models import Course, EmailStatus, OutboxMessage, Participant, ParticipantKind, User
from server.models.outbox import OutboxStatus
from server.services import bulk
from server.services.links import MintedLink
from server.services.mail import LinkMail, render_subject

BATCH = 500
NO_ADDRESS = "The user has no email address in the directory"


async def queue_link_messages(*, settings: Settings, course: Course, items: Sequence[tuple[Participant, MintedLink]]) -> None:
    """Queue the enrollment email of each participant (in the caller's transaction)."""
    if not items:
        return
    internal_ids = [p.user_id for p, _ in items if p.kind == ParticipantKind.INTERNAL and p.user_id is not None]
    # One query for the whole batch: the caller's participants may or may not carry their user.
    users = {row[0]: row[1:] for row in await User.filter(id__in=internal_ids).values_list("id", "email", "display_name", "username")}
    subject = render_subject(settings=settings, course_title=course.title)
    now = datetime.now(UTC)
    messages: list[dict] = []
    missing: list[int] = []
    for participant, link in items:
        if participant.kind == ParticipantKind.INTERNAL:
            email, display_name, username = users.get(participant.user_id, (None, "", participant.name))
            name = display_name or username
        else:
            email, name = participant.email, participant.name
        # The caller's objects are what the enrollment result shows, so they carry the new status too.
        participant.email_status = EmailStatus.QUEUED if email else EmailStatus.FAILED
        participant.email_error = None if email else NO_ADDRESS
        if not email:
            missing.append(participant.id)
            continue
        body = LinkMail(kind=participant.kind.value, recipient_name=name, course_title=course.title, link=link.url)
        messages.append({"participant_id": participant.id, "to_address": email, "body_text": body.dumps()})
    if messages:
        common = {"to_address": "", "subject": subject, "body_text": "", "body_html": "", "next_attempt_at": now}
        await bulk.insert(OutboxMessage, bulk.new_rows(OutboxMessage, common, messages), batch_size=BATCH)
        await Participant.filter(id__in=[m["participant_id"] for m in messages]).update(email_status=EmailStatus.QUEUED, email_error=None)
    if missing:
        await Participant.filter(id__in=missing).update(email_status=EmailStatus.FAILED, email_error=NO_ADDRESS)


async def cancel_pending(*, participant_ids: Sequence[int]) -> None:
    """A removed participant or a replaced link: messages still holding the old link must never go out."""
    if not participant_ids:
        return
    pending = OutboxMessage.filter(participant_id__in=list(participant_ids), status=OutboxStatus.QUEUED)
    cancelled = set(await pending.values_list("participant_id", flat=True))
    if cancelled:
        await pending.update(status=OutboxStatus.CANCELLED, body_text="", body_html="")
        await Participant.filter(id__in=list(cancelled)).update(email_status=EmailStatus.NOT_SENT)
