"""Enrollment operations: translate GraphQL to server.services.enrollment and back."""

from __future__ import annotations

from typing import Annotated

import strawberry

from schema.context import Info
from schema.permissions import IsAdmin
from schema.types import EnrolledParticipant, EnrollmentResult, ParticipantView, RemovalResult
from server.services import enrollment


@strawberry.type
class EnrollmentQuery:
    @strawberry.field(description="The participant and course a link belongs to; null for any link that is not valid.")
    async def participant_view(self, info: Info, link: str) -> ParticipantView | None:
        participant = await enrollment.participant_for_link(settings=info.context.settings, link=link)
        if participant is None:
            return None
        return ParticipantView.for_participant(participant)


@strawberry.type
class EnrollmentMutation:
    @strawberry.mutation(permission_classes=[IsAdmin])
    async def enroll_participants(
        self,
        info: Info,
        course_id: strawberry.ID,
        usernames: list[str] = [],  # noqa: B006 -- GraphQL default, never mutated
        groups: list[str] = [],  # noqa: B006
        send_email: bool = True,
    ) -> EnrollmentResult:
        actor = (await info.context.principal()).name
        result = await enrollment.enroll_users(
            settings=info.context.settings,
            course_id=course_id,
            usernames=usernames,
            groups=groups,
            send_email=send_email,
            actor=actor,
        )
        return EnrollmentResult.from_result(result)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def enroll_external(
        self,
        info: Info,
        course_id: strawberry.ID,
        emails: list[str],
        send_email: bool = True,
        allow_internal_emails: Annotated[
            bool,
            strawberry.argument(description="Enroll internal users' addresses as external anyway (no My learning for them)."),
        ] = False,
    ) -> EnrollmentResult:
        actor = (await info.context.principal()).name
        result = await enrollment.enroll_external(
            settings=info.context.settings,
            course_id=course_id,
            emails=emails,
            send_email=send_email,
            allow_internal=allow_internal_emails,
            actor=actor,
        )
        return EnrollmentResult.from_result(result)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def remove_participant(self, info: Info, participant_id: strawberry.ID) -> RemovalResult:
        actor = (await info.context.principal()).name
        removed = await enrollment.remove_participant(participant_id=participant_id, actor=actor)
        return RemovalResult(removed=True, participant_id=strawberry.ID(str(removed)))

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def regenerate_link(self, info: Info, participant_id: strawberry.ID, send_email: bool = True) -> EnrolledParticipant:
        actor = (await info.context.principal()).name
        result = await enrollment.regenerate_link(
            settings=info.context.settings, participant_id=participant_id, send_email=send_email, actor=actor
        )
        return EnrolledParticipant.from_result(result)
