"""Course content for managers, and the actions a participant records through a link or signed in."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.content import Lesson, Quiz
from schema.context import Info
from schema.permissions import IsAdmin
from schema.types import Participant
from server import models
from server.services import learning


@strawberry.input
class LessonInput:
    title: str
    body: str = strawberry.field(default="", description="Markdown; raw HTML is shown as text.")


@strawberry.input
class ChoiceInput:
    text: str
    correct: bool = False


@strawberry.input
class QuestionInput:
    text: str
    choices: list[ChoiceInput]


@strawberry.input
class QuizInput:
    pass_mark: int = strawberry.field(default=80, description="Percent of questions to answer right to pass.")
    max_attempts: int | None = strawberry.field(default=None, description="null: any number of attempts.")
    questions: list[QuestionInput] = strawberry.field(default_factory=list)


@strawberry.input
class QuizAnswerInput:
    question_id: strawberry.ID
    choice_ids: list[strawberry.ID]


@strawberry.type
class QuizAttempt:
    number: int
    score: int = strawberry.field(description="Percent of questions answered exactly right.")
    passed: bool
    attempts_left: int | None = strawberry.field(description="null: no limit.")
    submitted_at: datetime
    participant: Participant


async def _user(info: Info) -> models.User | None:
    """The signed-in user a participant action without a link acts as (None for tokens and anonymous callers)."""
    return (await info.context.principal()).user


@strawberry.type
class LearningMutation:
    @strawberry.mutation(permission_classes=[IsAdmin])
    async def create_lesson(self, info: Info, course_id: strawberry.ID, input: LessonInput) -> Lesson:
        actor = (await info.context.principal()).name
        return Lesson.from_model(await learning.create_lesson(course_id=course_id, title=input.title, body=input.body, actor=actor))

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def update_lesson(self, info: Info, lesson_id: strawberry.ID, input: LessonInput) -> Lesson:
        actor = (await info.context.principal()).name
        return Lesson.from_model(await learning.update_lesson(lesson_id=lesson_id, title=input.title, body=input.body, actor=actor))

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def delete_lesson(self, info: Info, lesson_id: strawberry.ID) -> bool:
        actor = (await info.context.principal()).name
        return await learning.delete_lesson(lesson_id=lesson_id, actor=actor)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def reorder_lessons(self, info: Info, course_id: strawberry.ID, lesson_ids: list[strawberry.ID]) -> list[Lesson]:
        actor = (await info.context.principal()).name
        return [
            Lesson.from_model(lesson) for lesson in await learning.reorder_lessons(course_id=course_id, lesson_ids=lesson_ids, actor=actor)
        ]

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def set_quiz(self, info: Info, course_id: strawberry.ID, input: QuizInput) -> Quiz:
        actor = (await info.context.principal()).name
        questions = [
            learning.QuestionSpec(text=q.text, choices=[learning.ChoiceSpec(text=c.text, correct=c.correct) for c in q.choices])
            for q in input.questions
        ]
        quiz = await learning.set_quiz(
            course_id=course_id, pass_mark=input.pass_mark, max_attempts=input.max_attempts, questions=questions, actor=actor
        )
        return Quiz.from_model(quiz)

    @strawberry.mutation(description="Mark a lesson completed, through the participant's link or as the signed-in user.")
    async def complete_lesson(self, info: Info, lesson_id: strawberry.ID, link: str | None = None) -> Participant:
        participant = await learning.complete_lesson(settings=info.context.settings, lesson_id=lesson_id, link=link, user=await _user(info))
        return Participant.from_model(participant)

    @strawberry.mutation(description="Submit a quiz attempt, scored on the server.")
    async def submit_quiz(
        self, info: Info, course_id: strawberry.ID, answers: list[QuizAnswerInput], link: str | None = None
    ) -> QuizAttempt:
        result = await learning.submit_quiz(
            settings=info.context.settings,
            course_id=course_id,
            answers=[(a.question_id, a.choice_ids) for a in answers],
            link=link,
            user=await _user(info),
        )
        return QuizAttempt(
            number=result.attempt.number,
            score=result.attempt.score,
            passed=result.attempt.passed,
            attempts_left=result.attempts_left,
            submitted_at=result.attempt.submitted_at,
            participant=Participant.from_model(result.participant),
        )
