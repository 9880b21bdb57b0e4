"""Taking a course: lessons and quiz content, and the progress a participant records.

Status rules (documented in README "Learning"):
- the first recorded action (a lesson completed, a quiz submitted) moves NOT_STARTED to IN_PROGRESS;
- a course without a quiz is COMPLETED once every lesson is completed;
- a course with a quiz is PASSED once an attempt reaches the pass mark, and FAILED once the
  attempt limit is used up without one; lessons then count for progress only;
- a multi-answer question counts as right only when exactly its set of correct choices is chosen.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import nh3
from markdown_it import MarkdownIt
from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from server.config import Settings
from server.models import (
    Choice,
    Lesson,
    LessonCompletion,
    Participant,
    ParticipantKind,
    ParticipantStatus,
    Question,
    Quiz,
    QuizAttempt,
    User,
)
from server.services import audit
from server.services.enrollment import get_course, participant_for_link
from server.services.errors import BadInput, Forbidden, NotFound, Unauthenticated, parse_id

MAX_BODY = 200_000
MAX_QUESTIONS = 200
MAX_CHOICES = 20
FINISHED = (ParticipantStatus.COMPLETED, ParticipantStatus.PASSED, ParticipantStatus.FAILED)
INVALID_LINK = "This link is not valid: it may have been replaced, or the enrollment removed"

# html=False: raw HTML in Markdown is shown as text, never passed through.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")


def now() -> datetime:
    return datetime.now(UTC)


@functools.lru_cache(maxsize=1024)
def render_markdown(body: str) -> str:
    """Lesson Markdown as HTML that is safe to insert into a page: nh3 drops scripts, handlers and javascript: URLs."""
    return nh3.clean(_markdown.render(body), url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer nofollow")


# ---- content (managers) ----------------------------------------------------------------


@dataclass(frozen=True)
class ChoiceSpec:
    text: str
    correct: bool


@dataclass(frozen=True)
class QuestionSpec:
    text: str
    choices: Sequence[ChoiceSpec]


def _clean_lesson(title: str, body: str) -> tuple[str, str]:
    title = title.strip()
    if not title or len(title) > 200 or any(ord(c) < 32 for c in title):
        raise BadInput("A lesson title needs 1 to 200 characters on one line")
    if len(body) > MAX_BODY:
        raise BadInput(f"A lesson body can hold at most {MAX_BODY} characters")
    return title, body


async def get_lesson(lesson_id: str | int) -> Lesson:
    lesson = await Lesson.get_or_none(id=parse_id(lesson_id, what="lesson"))
    if lesson is None:
        raise NotFound(f"No lesson with id {lesson_id}")
    return lesson


async def create_lesson(*, course_id: str | int, title: str, body: str, actor: str) -> Lesson:
    """Append a lesson to a course."""
    title, body = _clean_lesson(title, body)
    course = await get_course(course_id)
    async with in_transaction():
        last = await Lesson.filter(course_id=course.id).order_by("-position").first()
        lesson = await Lesson.create(course_id=course.id, position=(last.position + 1) if last else 0, title=title, body=body)
        await _recount_progress(course.id)
        await audit.record(actor=actor, action="lesson.create", target=f"lesson:{lesson.id}", course_id=course.id, detail={"title": title})
    return lesson


async def update_lesson(*, lesson_id: str | int, title: str, body: str, actor: str) -> Lesson:
    """Change a lesson's title and body."""
    title, body = _clean_lesson(title, body)
    lesson = await get_lesson(lesson_id)
    lesson.title, lesson.body = title, body
    await lesson.save(update_fields=["title", "body"])
    await audit.record(actor=actor, action="lesson.update", target=f"lesson:{lesson.id}", course_id=lesson.course_id)
    return lesson


async def delete_lesson(*, lesson_id: str | int, actor: str) -> bool:
    """Delete a lesson with its completions; every participant's progress is recounted."""
    lesson = await get_lesson(lesson_id)
    async with in_transaction():
        await lesson.delete()
        await _recount_progress(lesson.course_id)
        await audit.record(
            actor=actor, action="lesson.delete", target=f"lesson:{lesson.id}", course_id=lesson.course_id, detail={"title": lesson.title}
        )
    return True


async def reorder_lessons(*, course_id: str | int, lesson_ids: Sequence[str | int], actor: str) -> list[Lesson]:
    """Put a course's lessons in the given order; the list must name each lesson exactly once."""
    course = await get_course(course_id)
    wanted = [parse_id(i, what="lesson") for i in lesson_ids]
    async with in_transaction():
        lessons = {lesson.id: lesson for lesson in await Lesson.filter(course_id=course.id)}
        if sorted(wanted) != sorted(lessons) or len(set(wanted)) != len(wanted):
            raise BadInput("lessonIds must list every lesson of this course exactly once")
        for position, lesson_id in enumerate(wanted):
            lessons[lesson_id].position = position
        if lessons:
            await Lesson.bulk_update(list(lessons.values()), fields=["position"])
        await audit.record(actor=actor, action="lesson.reorder", target=f"course:{course.id}", course_id=course.id)
    return [lessons[i] for i in wanted]


async def set_quiz(
    *, course_id: str | int, pass_mark: int, max_attempts: int | None, questions: Sequence[QuestionSpec], actor: str
) -> Quiz:
    """Replace a course's quiz with these questions; earlier attempts keep their scores."""
    course = await get_course(course_id)
    if not 0 <= pass_mark <= 100:
        raise BadInput("passMark is a percentage from 0 to 100")
    if max_attempts is not None and not 1 <= max_attempts <= 1000:
        raise BadInput("maxAttempts must be between 1 and 1000, or null for no limit")
    if not 1 <= len(questions) <= MAX_QUESTIONS:
        raise BadInput(f"A quiz needs 1 to {MAX_QUESTIONS} questions")
    for number, question in enumerate(questions, start=1):
        if not question.text.strip():
            raise BadInput(f"Question {number} has no text")
        if not 2 <= len(question.choices) <= MAX_CHOICES:
            raise BadInput(f"Question {number} needs 2 to {MAX_CHOICES} choices")
        if not any(c.correct for c in question.choices):
            raise BadInput(f"Question {number} needs at least one correct choice")
        if any(not c.text.strip() for c in question.choices):
            raise BadInput(f"Question {number} has a choice without text")
    async with in_transaction():
        quiz = await Quiz.get_or_none(course_id=course.id)
        if quiz is None:
            quiz = await Quiz.create(course_id=course.id, pass_mark=pass_mark, max_attempts=max_attempts)
        else:
            quiz.pass_mark, quiz.max_attempts = pass_mark, max_attempts
            await quiz.save(update_fields=["pass_mark", "max_attempts"])
            await Question.filter(quiz_id=quiz.id).delete()
        await Question.bulk_create([Question(quiz_id=quiz.id, position=i, text=q.text.strip()) for i, q in enumerate(questions)])
        created = await Question.filter(quiz_id=quiz.id).order_by("position")
        await Choice.bulk_create(
            [
                Choice(question_id=row.id, position=j, text=c.text.strip(), correct=c.correct)
                for row, q in zip(created, questions, strict=True)
                for j, c in enumerate(q.choices)
            ]
        )
        await audit.record(
            actor=actor,
            action="quiz.set",
            target=f"course:{course.id}",
            course_id=course.id,
            detail={"questions": len(questions), "passMark": pass_mark, "maxAttempts": max_attempts},
        )
    return quiz


async def _recount_progress(course_id: int) -> None:
    """Progress of every participant of a course after its lessons changed: one UPDATE, whatever the size."""
    total = await Lesson.filter(course_id=course_id).count()
    conn = connections.get("default")
    if total == 0:
        await Participant.filter(course_id=course_id).update(progress=0.0)
        return
    sql = (
        "UPDATE participants SET progress = (SELECT COUNT(*) FROM lesson_completions WHERE participant_id = participants.id) "
        "* 1.0 / CAST($1 AS DOUBLE PRECISION) WHERE course_id = $2"
    )
    if conn.capabilities.dialect != "postgres":
        sql = sql.replace("$1", "?").replace("$2", "?")
    await conn.execute_query(sql, [float(total), course_id])


# ---- acting as a participant --------------------------------------------------------------


async def acting_participant(*, settings: Settings, course_id: int, link: str | None, user: User | None) -> Participant:
    """The participant who acts in a course: the link's own, or the signed-in user's internal one."""
    if link is not None:
        participant = await participant_for_link(settings=settings, link=link)
        if participant is None:
            raise Unauthenticated(INVALID_LINK)
        if participant.course_id != course_id:
            # Same answer as an unknown id: a link learns nothing about other courses.
            raise NotFound("Not found in this course")
        return participant
    if user is None:
        raise Unauthenticated("Open your personal link, or sign in, to take this course")
    participant = await Participant.get_or_none(course_id=course_id, user_id=user.id, kind=ParticipantKind.INTERNAL).select_related(
        "course"
    )
    if participant is None or not participant.course.published:
        raise NotFound("You are not enrolled in this course")
    return participant


async def complete_lesson(*, settings: Settings, lesson_id: str | int, link: str | None, user: User | None) -> Participant:
    """Record a lesson as completed (once, however often it is sent) and update status and progress."""
    lesson = await Lesson.get_or_none(id=parse_id(lesson_id, what="lesson"))
    if lesson is None:
        if link is not None and await participant_for_link(settings=settings, link=link) is None:
            raise Unauthenticated(INVALID_LINK)
        if link is None and user is None:
            raise Unauthenticated("Open your personal link, or sign in, to take this course")
        raise NotFound("Not found in this course")
    participant = await acting_participant(settings=settings, course_id=lesson.course_id, link=link, user=user)
    async with in_transaction():
        # The row lock serializes one participant's actions, so progress counts every completion.
        current = await Participant.select_for_update().get(id=participant.id)
        await LessonCompletion.bulk_create([LessonCompletion(participant_id=current.id, lesson_id=lesson.id)], ignore_conflicts=True)
        done = await LessonCompletion.filter(participant_id=current.id).count()
        total = await Lesson.filter(course_id=lesson.course_id).count()
        has_quiz = await Quiz.exists(course_id=lesson.course_id)
        _record_activity(current)
        current.progress = min(done / total, 1.0) if total else 0.0
        if not has_quiz and done >= total and current.status not in FINISHED:
            current.status = ParticipantStatus.COMPLETED
            current.completed_at = current.last_activity_at
        await current.save(update_fields=["status", "progress", "started_at", "completed_at", "last_activity_at"])
    current.course = participant.course
    return current


def _record_activity(participant: Participant) -> None:
    at = now()
    participant.last_activity_at = at
    if participant.started_at is None:
        participant.started_at = at
    if participant.status == ParticipantStatus.NOT_STARTED:
        participant.status = ParticipantStatus.IN_PROGRESS


@dataclass
class AttemptResult:
    participant: Participant
    attempt: QuizAttempt
    attempts_left: int | None


def score_answers(*, questions: Sequence[Question], correct: dict[int, set[int]], answers: dict[int, set[int]]) -> int:
    """Whole percent of questions answered exactly right, rounded down so a score compares with the pass mark as the fraction does."""
    right = sum(1 for q in questions if answers.get(q.id, set()) == correct[q.id])
    return (100 * right) // len(questions) if questions else 0


async def submit_quiz(
    *,
    settings: Settings,
    course_id: str | int,
    answers: Sequence[tuple[str | int, Sequence[str | int]]],
    link: str | None,
    user: User | None,
) -> AttemptResult:
    """Score an attempt on the server and record it, within the attempt limit."""
    course_key = parse_id(course_id, what="course")
    if link is None and user is None:
        raise Unauthenticated("Open your personal link, or sign in, to take this course")
    participant = await acting_participant(settings=settings, course_id=course_key, link=link, user=user)
    quiz = await Quiz.get_or_none(course_id=course_key)
    if quiz is None:
        raise NotFound("This course has no quiz")
    questions = await Question.filter(quiz_id=quiz.id).order_by("position", "id")
    choices = await Choice.filter(question__quiz_id=quiz.id)
    options: dict[int, set[int]] = {q.id: set() for q in questions}
    correct: dict[int, set[int]] = {q.id: set() for q in questions}
    for choice in choices:
        options[choice.question_id].add(choice.id)
        if choice.correct:
            correct[choice.question_id].add(choice.id)
    chosen: dict[int, set[int]] = {}
    for raw_question, raw_choices in answers:
        question_id = parse_id(raw_question, what="question")
        if question_id not in options:
            raise BadInput(f"Question {raw_question} is not part of this quiz")
        if question_id in chosen:
            raise BadInput(f"Question {raw_question} is answered more than once")
        picked = {parse_id(c, what="choice") for c in raw_choices}
        if not picked <= options[question_id]:
            raise BadInput(f"A choice given for question {raw_question} does not belong to it")
        chosen[question_id] = picked
    score = score_answers(questions=questions, correct=correct, answers=chosen)
    passed = score >= quiz.pass_mark
    try:
        async with in_transaction():
            current = await Participant.select_for_update().get(id=participant.id)
            if quiz.max_attempts is not None and current.attempts >= quiz.max_attempts:
                raise Forbidden(f"No attempts left: this quiz allows {quiz.max_attempts}")
            attempt = await QuizAttempt.create(
                participant_id=current.id,
                number=current.attempts + 1,
                score=score,
                passed=passed,
                answers={str(q): sorted(c) for q, c in chosen.items()},
            )
            _record_activity(current)
            current.attempts = attempt.number
            current.score = score if current.score is None else max(current.score, score)
            if current.status not in (ParticipantStatus.PASSED, ParticipantStatus.COMPLETED):
                if passed:
                    current.status = ParticipantStatus.PASSED
                    current.completed_at = current.last_activity_at
                elif quiz.max_attempts is not None and current.attempts >= quiz.max_attempts:
                    current.status = ParticipantStatus.FAILED
                    current.completed_at = current.last_activity_at
            await current.save(update_fields=["status", "score", "attempts", "started_at", "completed_at", "last_activity_at"])
    except IntegrityError:
        # unique(participant, number): a concurrent submission took this attempt number.
        raise Forbidden("Another attempt was submitted at the same moment; reload and try again") from None
    current.course = participant.course
    left = None if quiz.max_attempts is None else max(quiz.max_attempts - current.attempts, 0)
    return AttemptResult(participant=current, attempt=attempt, attempts_left=left)


async def my_learning(*, user: User) -> list[Participant]:
    """A user's internal participations in published courses; enrollments by their email (external) are not theirs here."""
    return (
        await Participant.filter(user_id=user.id, kind=ParticipantKind.INTERNAL, course__published=True)
        .select_related("course")
        .order_by("-enrolled_at", "-id")
    )
