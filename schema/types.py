"""GraphQL types: plain data built from models with from_model, no hidden queries."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.content import MANAGER, Audience, Lesson, Quiz
from schema.context import Info
from server import models
from server.services import enrollment

ParticipantKind = strawberry.enum(models.ParticipantKind, name="ParticipantKind")
ParticipantStatus = strawberry.enum(models.ParticipantStatus, name="ParticipantStatus")
EmailStatus = strawberry.enum(models.EmailStatus, name="EmailStatus")
SkipReason = strawberry.enum(enrollment.SkipReason, name="SkipReason")


@strawberry.type
class User:
    id: strawberry.ID
    username: str
    display_name: str
    email: str | None
    active: bool

    @classmethod
    def from_model(cls, user: models.User) -> User:
        return cls(
            id=strawberry.ID(str(user.id)), username=user.username, display_name=user.display_name, email=user.email, active=user.active
        )


@strawberry.type
class Group:
    id: strawberry.ID
    name: str
    _model: strawberry.Private[models.Group]

    @strawberry.field(description="Active and inactive members, by username.")
    async def members(self, info: Info) -> list[User]:
        return [User.from_model(u) for u in await info.context.loaders.group_members.load(self._model.id)]

    @classmethod
    def from_model(cls, group: models.Group) -> Group:
        return cls(id=strawberry.ID(str(group.id)), name=group.name, _model=group)


@strawberry.type
class Course:
    id: strawberry.ID
    title: str
    description: str
    published: bool
    created_at: datetime
    _model: strawberry.Private[models.Course]
    _audience: strawberry.Private[Audience] = MANAGER

    @strawberry.field(description="The lessons in their order.")
    async def lessons(self, info: Info) -> list[Lesson]:
        return [Lesson.from_model(lesson, self._audience) for lesson in await info.context.loaders.lessons.load(self._model.id)]

    @strawberry.field(description="The course's quiz, if it has one.")
    async def quiz(self, info: Info) -> Quiz | None:
        quiz = await info.context.loaders.quiz.load(self._model.id)
        return Quiz.from_model(quiz, self._audience) if quiz else None

    @strawberry.field(description="Groups whose active members are enrolled automatically, now and when they join.")
    async def auto_enroll_groups(self, info: Info) -> list[Group]:
        return [Group.from_model(g) for g in await info.context.loaders.auto_enroll_groups.load(self._model.id)]

    @classmethod
    def from_model(cls, course: models.Course, audience: Audience = MANAGER) -> Course:
        return cls(
            id=strawberry.ID(str(course.id)),
            title=course.title,
            description=course.description,
            published=course.published,
            created_at=course.created_at,
            _model=course,
            _audience=audience,
        )


@strawberry.type
class Participant:
    id: strawberry.ID
    kind: ParticipantKind
    name: str = strawberry.field(description="Username (INTERNAL) or email (EXTERNAL), as the report shows it.")
    email: str | None
    enrolled_at: datetime
    enrolled_via: str | None
    status: ParticipantStatus
    progress: float
    score: int | None = strawberry.field(description="Best quiz score in percent.")
    attempts: int
    started_at: datetime | None
    completed_at: datetime | None
    last_activity_at: datetime | None
    email_status: EmailStatus
    email_error: str | None
    email_sent_at: datetime | None
    _model: strawberry.Private[models.Participant]

    @strawberry.field(description="For a participant enrolled through a group: whether they still belong to it (null otherwise).")
    async def in_enrolled_group(self, info: Info) -> bool | None:
        via = self._model.enrolled_via or ""
        if self._model.user_id is None or not via.startswith("group:"):
            return None
        return await info.context.loaders.in_group.load((self._model.user_id, via.removeprefix("group:")))

    @strawberry.field
    async def user(self, info: Info) -> User | None:
        if self._model.user_id is None:
            return None
        user = await info.context.loaders.user.load(self._model.user_id)
        return User.from_model(user) if user else None

    @classmethod
    def from_model(cls, p: models.Participant) -> Participant:
        return cls(
            id=strawberry.ID(str(p.id)),
            kind=p.kind,
            name=p.name,
            email=p.email,
            enrolled_at=p.enrolled_at,
            enrolled_via=p.enrolled_via,
            status=p.status,
            progress=p.progress,
            score=p.score,
            attempts=p.attempts,
            started_at=p.started_at,
            completed_at=p.completed_at,
            last_activity_at=p.last_activity_at,
            email_status=p.email_status,
            email_error=p.email_error,
            email_sent_at=p.email_sent_at,
            _model=p,
        )


@strawberry.type
class EnrolledParticipant:
    participant: Participant
    link: str = strawberry.field(description="The personal link, shown once: it is not stored and cannot be read again.")

    @classmethod
    def from_result(cls, item: enrollment.Enrolled) -> EnrolledParticipant:
        return cls(participant=Participant.from_model(item.participant), link=item.link)


@strawberry.type
class SkippedEntry:
    entry: str
    reason: SkipReason
    message: str
    participant: Participant | None
    suggested_user: User | None


@strawberry.type
class EnrollmentResult:
    enrolled: list[EnrolledParticipant]
    skipped: list[SkippedEntry]

    @classmethod
    def from_result(cls, result: enrollment.EnrollmentResult) -> EnrollmentResult:
        return cls(
            enrolled=[EnrolledParticipant.from_result(e) for e in result.enrolled],
            skipped=[
                SkippedEntry(
                    entry=s.entry,
                    reason=s.reason,
                    message=s.message,
                    participant=Participant.from_model(s.participant) if s.participant else None,
                    suggested_user=User.from_model(s.suggested_user) if s.suggested_user else None,
                )
                for s in result.skipped
            ],
        )


@strawberry.type
class RemovalResult:
    removed: bool
    participant_id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class ParticipantEdge:
    node: Participant
    cursor: str


@strawberry.type
class ParticipantConnection:
    edges: list[ParticipantEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type
class ParticipantView:
    participant: Participant
    course: Course

    @classmethod
    def for_participant(cls, participant: models.Participant) -> ParticipantView:
        """What the participant sees: their own lesson completions, and no answers."""
        audience = Audience(participant_id=participant.id, reveal_answers=False)
        return cls(participant=Participant.from_model(participant), course=Course.from_model(participant.course, audience))
