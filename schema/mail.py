"""Mail operations: translate GraphQL to server.services.mailer and back."""

from __future__ import annotations

import strawberry

from schema.context import Info
from schema.permissions import IsAdmin
from schema.types import Participant
from server.services import mailer


@strawberry.type
class MailMutation:
    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Issue a fresh link and queue a new email with it (emailStatus becomes QUEUED); the old link stops working.",
    )
    async def resend_link(self, info: Info, participant_id: strawberry.ID) -> Participant:
        actor = (await info.context.principal()).name
        participant = await mailer.resend_link(settings=info.context.settings, participant_id=participant_id, actor=actor)
        return Participant.from_model(participant)
