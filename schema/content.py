"""Course content types: lessons and the quiz, as managers and participants see them."""

from __future__ import annotations

from dataclasses import dataclass

import strawberry

from schema.context import Info
from server import models
from server.services import learning


@dataclass(frozen=True)
class Audience:
    """Who a course is shown to: managers see the answers, participants never do."""

    participant_id: int | None = None
    reveal_answers: bool = False


MANAGER = Audience(reveal_answers=True)


@strawberry.type
class Lesson:
    id: strawberry.ID
    position: int
    title: str
    body: str = strawberry.field(description="Markdown, as written by the manager.")
    _model: strawberry.Private[models.Lesson]
    _audience: strawberry.Private[Audience]

    @strawberry.field(description="The body rendered to safe HTML (no scripts, no raw HTML).")
    def html(self) -> str:
        return learning.render_markdown(self._model.body)

    @strawberry.field(description="Whether this participant completed the lesson; null outside a participant's view.")
    async def completed(self, info: Info) -> bool | None:
        if self._audience.participant_id is None:
            return None
        return self._model.id in await info.context.loaders.completed_lessons.load(self._audience.participant_id)

    @classmethod
    def from_model(cls, lesson: models.Lesson, audience: Audience = MANAGER) -> Lesson:
        return cls(
            id=strawberry.ID(str(lesson.id)),
            position=lesson.position,
            title=lesson.title,
            body=lesson.body,
            _model=lesson,
            _audience=audience,
        )


@strawberry.type
class Choice:
    id: strawberry.ID
    text: str
    _correct: strawberry.Private[bool]
    _audience: strawberry.Private[Audience]

    @strawberry.field(description="Managers only: null through a link or My learning.")
    async def correct(self, info: Info) -> bool | None:
        if not self._audience.reveal_answers or not (await info.context.principal()).is_admin:
            return None
        return self._correct


@strawberry.type
class Question:
    id: strawberry.ID
    position: int
    text: str
    _model: strawberry.Private[models.Question]
    _audience: strawberry.Private[Audience]

    @strawberry.field
    async def choices(self, info: Info) -> list[Choice]:
        rows = await info.context.loaders.choices.load(self._model.id)
        return [Choice(id=strawberry.ID(str(c.id)), text=c.text, _correct=c.correct, _audience=self._audience) for c in rows]


@strawberry.type
class Quiz:
    id: strawberry.ID
    pass_mark: int = strawberry.field(description="Percent of questions to answer right to pass.")
    max_attempts: int | None = strawberry.field(description="null: any number of attempts.")
    _model: strawberry.Private[models.Quiz]
    _audience: strawberry.Private[Audience]

    @strawberry.field
    async def questions(self, info: Info) -> list[Question]:
        rows = await info.context.loaders.questions.load(self._model.id)
        return [Question(id=strawberry.ID(str(q.id)), position=q.position, text=q.text, _model=q, _audience=self._audience) for q in rows]

    @classmethod
    def from_model(cls, quiz: models.Quiz, audience: Audience = MANAGER) -> Quiz:
        return cls(
            id=strawberry.ID(str(quiz.id)), pass_mark=quiz.pass_mark, max_attempts=quiz.max_attempts, _model=quiz, _audience=audience
        )
