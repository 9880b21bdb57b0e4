"""Dataloaders, created per request: one IN query per list field, never one per row."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from server.models import AutoEnrollRule, Choice, Course, Group, Lesson, LessonCompletion, Membership, Question, Quiz, User


async def _users(ids: Sequence[int]) -> list[User | None]:
    found = {u.id: u for u in await User.filter(id__in=list(ids))}
    return [found.get(i) for i in ids]


async def _courses(ids: Sequence[int]) -> list[Course | None]:
    found = {c.id: c for c in await Course.filter(id__in=list(ids))}
    return [found.get(i) for i in ids]


async def _group_members(group_ids: Sequence[int]) -> list[list[User]]:
    members: dict[int, list[User]] = {g: [] for g in group_ids}
    for m in await Membership.filter(group_id__in=list(group_ids)).select_related("user").order_by("user__username"):
        members[m.group_id].append(m.user)
    return [members[g] for g in group_ids]


async def _lessons(course_ids: Sequence[int]) -> list[list[Lesson]]:
    found: dict[int, list[Lesson]] = {c: [] for c in course_ids}
    for lesson in await Lesson.filter(course_id__in=list(course_ids)).order_by("position", "id"):
        found[lesson.course_id].append(lesson)
    return [found[c] for c in course_ids]


async def _quizzes(course_ids: Sequence[int]) -> list[Quiz | None]:
    found = {q.course_id: q for q in await Quiz.filter(course_id__in=list(course_ids))}
    return [found.get(c) for c in course_ids]


async def _questions(quiz_ids: Sequence[int]) -> list[list[Question]]:
    found: dict[int, list[Question]] = {q: [] for q in quiz_ids}
    for question in await Question.filter(quiz_id__in=list(quiz_ids)).order_by("position", "id"):
        found[question.quiz_id].append(question)
    return [found[q] for q in quiz_ids]


async def _choices(question_ids: Sequence[int]) -> list[list[Choice]]:
    found: dict[int, list[Choice]] = {q: [] for q in question_ids}
    for choice in await Choice.filter(question_id__in=list(question_ids)).order_by("position", "id"):
        found[choice.question_id].append(choice)
    return [found[q] for q in question_ids]


async def _completed_lessons(participant_ids: Sequence[int]) -> list[set[int]]:
    found: dict[int, set[int]] = {p: set() for p in participant_ids}
    for participant_id, lesson_id in await LessonCompletion.filter(participant_id__in=list(participant_ids)).values_list(
        "participant_id", "lesson_id"
    ):
        found[participant_id].add(lesson_id)
    return [found[p] for p in participant_ids]


async def _auto_enroll_groups(course_ids: Sequence[int]) -> list[list[Group]]:
    found: dict[int, list[Group]] = {c: [] for c in course_ids}
    for rule in await AutoEnrollRule.filter(course_id__in=list(course_ids)).select_related("group").order_by("id"):
        found[rule.course_id].append(rule.group)
    return [found[c] for c in course_ids]


async def _in_group(keys: Sequence[tuple[int, str]]) -> list[bool]:
    """Keys are (user id, group name): is the user a member of that group now."""
    user_ids = sorted({k[0] for k in keys})
    names = sorted({k[1] for k in keys})
    rows = await Membership.filter(user_id__in=user_ids, group__name__in=names).values_list("user_id", "group__name")
    found = {(uid, name) for uid, name in rows}
    return [k in found for k in keys]


class Loaders:
    def __init__(self) -> None:
        self.user = DataLoader(load_fn=_users)
        self.course = DataLoader(load_fn=_courses)
        self.group_members = DataLoader(load_fn=_group_members)
        self.auto_enroll_groups = DataLoader(load_fn=_auto_enroll_groups)
        self.in_group = DataLoader(load_fn=_in_group)
        self.lessons = DataLoader(load_fn=_lessons)
        self.quiz = DataLoader(load_fn=_quizzes)
        self.questions = DataLoader(load_fn=_questions)
        self.choices = DataLoader(load_fn=_choices)
        self.completed_lessons = DataLoader(load_fn=_completed_lessons)
