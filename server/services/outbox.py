"""The mail outbox: one message per participant, written in the enrollment's transaction."""

from __future__ import annotations

from collections.abc import Sequence

from server.config import Settings
from server.models import Course, OutboxMessage, Participant
from server.models.outbox import OutboxStatus
from server.services.links import MintedLink


async def queue_link_messages(*, settings: Settings, course: Course, items: Sequence[tuple[Participant, MintedLink]]) -> None:
    """Queue the enrollment email of each participant (in the caller's transaction)."""
    # Rendering and delivery belong to the mail work (issue 3); until then nothing is queued.
    return None


async def cancel_pending(*, participant_ids: Sequence[int]) -> None:
    """A removed participant or a replaced link: messages still holding the old link must never go out."""
    if participant_ids:
        await OutboxMessage.filter(participant_id__in=list(participant_ids), status=OutboxStatus.QUEUED).update(
            status=OutboxStatus.CANCELLED, body_text="", body_html=""
        )
