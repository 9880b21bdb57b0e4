"""Auto-enrollment of groups: course rules, and the people a manager removed."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.context import Info
from schema.pagination import page_size
from schema.permissions import CanReadReports, IsAdmin
from schema.types import Course, User
from server import models
from server.services import autoenroll


@strawberry.type(description="Someone a manager removed from a course: auto-enrollment leaves them out until enrolled by hand.")
class RemovedParticipant:
    user: User
    removed_by: str
    removed_at: datetime

    @classmethod
    def from_model(cls, exclusion: models.EnrollmentExclusion) -> RemovedParticipant:
        return cls(user=User.from_model(exclusion.user), removed_by=exclusion.removed_by, removed_at=exclusion.removed_at)


@strawberry.type
class AutoEnrollmentResult:
    course: Course
    enrolled_count: int = strawberry.field(description="Participants enrolled by this change; their links are mailed.")


@strawberry.type
class AutoEnrollQuery:
    @strawberry.field(permission_classes=[CanReadReports], description="People removed from the course by a manager, newest first.")
    async def removed_participants(self, info: Info, course_id: strawberry.ID, first: int | None = 50) -> list[RemovedParticipant]:
        rows = await autoenroll.removed_participants(course_id=course_id, first=page_size(info, first))
        return [RemovedParticipant.from_model(r) for r in rows]


@strawberry.type
class AutoEnrollMutation:
    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Turn auto-enrollment of groups on (current active members are enrolled) or off (participants stay).",
    )
    async def set_auto_enrollment(self, info: Info, course_id: strawberry.ID, groups: list[str], enabled: bool) -> AutoEnrollmentResult:
        actor = (await info.context.principal()).name
        result = await autoenroll.set_auto_enrollment(
            settings=info.context.settings, course_id=course_id, groups=groups, enabled=enabled, actor=actor
        )
        return AutoEnrollmentResult(course=Course.from_model(result.course), enrolled_count=result.enrolled)
