"""Group auto-enrollment: courses that follow group membership."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from server.config import Settings
from server.models import AutoEnrollRule, Course, EnrollmentExclusion, Group, Membership, Participant, ParticipantKind
from server.services import audit
from server.services.directory import chunks, clean_group_name
from server.services.enrollment import EnrollmentResult, _Candidate, _insert, get_course
from server.services.errors import BadInput, NotFound

log = logging.getLogger("roster.autoenroll")
MAX_GROUPS = 100
# Any fixed 32-bit number: on PostgreSQL, catch-up rounds in several processes take turns per course.
CATCH_UP_LOCK = 0x41555445
# The periodic catch-up also runs this soon after start, so a crash before a restart is made up for quickly.
FIRST_ROUND_DELAY = 30.0


@dataclass
class AutoEnrollment:
    course: Course
    groups: list[Group]
    enrolled: int


@dataclass
class CatchUpReport:
    rules: int = 0
    courses: int = 0
    enrolled: int = 0
    busy: int = 0
    by_course: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        text = f"checked {self.rules} auto-enrollment rules in {self.courses} courses; {self.enrolled} participants enrolled"
        if self.by_course:
            text += " (" + ", ".join(f"{title}: {n}" for title, n in self.by_course.items()) + ")"
        if self.busy:
            text += f"; {self.busy} courses left to another process catching up at the same moment"
        return text


def _settings(settings: Settings | None) -> Settings:
    # Directory changes made without settings at hand (scripts, factories) use the process's environment.
    return settings if settings is not None else Settings.from_env()


async def members_added(*, group_id: int, user_ids: Sequence[int], actor: str, settings: Settings | None = None) -> int:
    """Called inside the membership change's transaction; enrolls the new members where a rule asks for it."""
    if not user_ids:
        return 0
    rules = await AutoEnrollRule.filter(group_id=group_id).select_related("course").order_by("course_id")
    enrolled = 0
    for rule in rules:
        enrolled += await _enroll_members(
            settings=_settings(settings), course=rule.course, group_ids=[group_id], user_ids=user_ids, actor=actor
        )
    return enrolled


async def users_reactivated(*, user_ids: Sequence[int], actor: str, settings: Settings | None = None) -> int:
    """Reactivated users join the courses their auto-enrolled groups follow (inside the caller's transaction)."""
    if not user_ids:
        return 0
    rules: list[AutoEnrollRule] = []
    for part in chunks(sorted(set(user_ids))):
        rules += await AutoEnrollRule.filter(group__memberships__user_id__in=part).distinct().select_related("course")
    by_course: dict[int, tuple[Course, list[int]]] = {}
    for rule in sorted({r.id: r for r in rules}.values(), key=lambda r: r.id):
        by_course.setdefault(rule.course_id, (rule.course, []))[1].append(rule.group_id)
    enrolled = 0
    for course_id in sorted(by_course):
        course, group_ids = by_course[course_id]
        enrolled += await _enroll_members(settings=_settings(settings), course=course, group_ids=group_ids, user_ids=user_ids, actor=actor)
    return enrolled


async def _enroll_members(
    *, settings: Settings, course: Course, group_ids: Sequence[int], user_ids: Sequence[int] | None, actor: str
) -> int:
    """Enroll the active members of the groups not yet enrolled nor removed by a manager; the earlier group in group_ids wins."""
    if not group_ids:
        return 0
    members = Membership.filter(group_id__in=list(group_ids), user__active=True)
    enrolled = Participant.filter(course_id=course.id, user_id__isnull=False)
    removed = EnrollmentExclusion.filter(course_id=course.id)
    columns = ("id", "user_id", "group_id", "user__username", "group__name")
    rows: list[tuple[int, int, int, str, str]] = []
    if user_ids is None:
        # Whole groups: the database leaves out who is enrolled or removed, so an idle catch-up reads nothing.
        pending = members.exclude(user_id__in=Subquery(enrolled.values("user_id"))).exclude(user_id__in=Subquery(removed.values("user_id")))
        rows = list(await pending.values_list(*columns))
    else:
        # New members: three indexed reads per batch, whatever the size of the course.
        for part in chunks(sorted(set(user_ids))):
            found = await members.filter(user_id__in=part).values_list(*columns)
            if found:
                taken = set(await enrolled.filter(user_id__in=part).values_list("user_id", flat=True))
                taken.update(await removed.filter(user_id__in=part).values_list("user_id", flat=True))
                rows += [r for r in found if r[1] not in taken]
    rank = {gid: i for i, gid in enumerate(group_ids)}
    first: dict[int, tuple[str, str]] = {}
    for _, user_id, _, username, group_name in sorted(rows, key=lambda r: (rank[r[2]], r[0])):
        first.setdefault(user_id, (username, group_name))
    # Inserting in user order keeps concurrent transactions from locking the same rows in opposite orders.
    candidates = [
        _Candidate(entry=username, kind=ParticipantKind.INTERNAL, name=username, user_id=user_id, via=f"group:{group_name}")
        for user_id, (username, group_name) in sorted(first.items())
    ]
    if not candidates:
        return 0
    result = EnrollmentResult()
    await _insert(settings=settings, course=course, candidates=candidates, send_email=True, actor=actor, result=result)
    return len(result.enrolled)


async def _groups_named(names: Sequence[str]) -> list[Group]:
    cleaned = list(dict.fromkeys(clean_group_name(n) for n in names))
    if not cleaned:
        raise BadInput("Name at least one group")
    if len(cleaned) > MAX_GROUPS:
        raise BadInput(f"At most {MAX_GROUPS} groups at a time, not {len(cleaned)}")
    found = {g.name: g for g in await Group.filter(name__in=cleaned)}
    missing = [n for n in cleaned if n not in found]
    if missing:
        raise NotFound(f"No group named {', '.join(repr(n) for n in missing[:20])}")
    return [found[n] for n in cleaned]


async def set_auto_enrollment(
    *, settings: Settings, course_id: str | int, groups: Sequence[str], enabled: bool, actor: str
) -> AutoEnrollment:
    """Turn a course's auto-enrollment of groups on (enrolling current active members) or off (participants stay)."""
    course = await get_course(course_id)
    named = await _groups_named(groups)
    ids = [g.id for g in named]
    enrolled = 0
    async with in_transaction():
        if enabled:
            await AutoEnrollRule.bulk_create([AutoEnrollRule(course_id=course.id, group_id=gid) for gid in ids], ignore_conflicts=True)
            enrolled = await _enroll_members(settings=settings, course=course, group_ids=ids, user_ids=None, actor=actor)
        else:
            await AutoEnrollRule.filter(course_id=course.id, group_id__in=ids).delete()
        await audit.record(
            actor=actor,
            action="course.auto_enroll_on" if enabled else "course.auto_enroll_off",
            target=f"course:{course.id}",
            course_id=course.id,
            detail={"groups": [g.name for g in named], "enrolled": enrolled},
        )
    return AutoEnrollment(course=course, groups=await auto_enroll_groups(course_id=course.id), enrolled=enrolled)


async def auto_enroll_groups(*, course_id: int) -> list[Group]:
    """The groups a course follows, in the order their rules were made."""
    return [r.group for r in await AutoEnrollRule.filter(course_id=course_id).select_related("group").order_by("id")]


async def removed_participants(*, course_id: str | int, first: int) -> list[EnrollmentExclusion]:
    """People a manager removed from a course, newest first: auto-enrollment leaves them out until enrolled by hand."""
    course = await get_course(course_id)
    return await EnrollmentExclusion.filter(course_id=course.id).select_related("user").order_by("-removed_at", "-id").limit(first)


async def catch_up(*, settings: Settings, actor: str = "auto-enroll") -> CatchUpReport:
    """Re-check every rule and enroll whoever a rule should have brought in; running it twice changes nothing."""
    report = CatchUpReport()
    rules = await AutoEnrollRule.all().select_related("course").order_by("id")
    report.rules = len(rules)
    by_course: dict[int, tuple[Course, list[int]]] = {}
    for rule in rules:
        by_course.setdefault(rule.course_id, (rule.course, []))[1].append(rule.group_id)
    report.courses = len(by_course)
    for course_id in sorted(by_course):
        course, group_ids = by_course[course_id]
        # One transaction per course: a failure in one course leaves the others done.
        async with in_transaction() as conn:
            if not await _our_turn(conn, course.id):
                report.busy += 1
                continue
            enrolled = await _enroll_members(settings=settings, course=course, group_ids=group_ids, user_ids=None, actor=actor)
            if enrolled:
                await audit.record(
                    actor=actor,
                    action="course.auto_enroll_catch_up",
                    target=f"course:{course.id}",
                    course_id=course.id,
                    detail={"enrolled": enrolled},
                )
        if enrolled:
            report.enrolled += enrolled
            report.by_course[f"{course.title} (#{course.id})"] = enrolled
    return report


async def _our_turn(conn: BaseDBAsyncClient, course_id: int) -> bool:
    """On PostgreSQL, one process at a time catches up a course (until its transaction ends); SQLite writers queue anyway."""
    if conn.capabilities.dialect != "postgres":
        return True
    rows = await conn.execute_query_dict("SELECT pg_try_advisory_xact_lock($1, $2) AS ours", [CATCH_UP_LOCK, course_id])
    return bool(rows[0]["ours"])


async def run_periodically(*, settings: Settings, interval: float) -> None:
    """The server's catch-up loop: a round soon after start, then every interval seconds, until cancelled."""
    delay = min(interval, FIRST_ROUND_DELAY)
    while True:
        await asyncio.sleep(delay)
        delay = interval
        try:
            report = await catch_up(settings=settings)
        except Exception:  # a failed round is logged and retried at the next interval
            log.exception("auto-enrollment catch-up failed; retrying in %.0f s", interval)
            continue
        if report.enrolled:
            log.info("auto-enrollment catch-up: %s", report.summary())


def start_periodic(settings: Settings) -> asyncio.Task | None:
    """Start the catch-up loop when ROSTER_AUTO_ENROLL_INTERVAL is above 0."""
    if settings.auto_enroll_interval <= 0:
        return None
    return asyncio.create_task(run_periodically(settings=settings, interval=settings.auto_enroll_interval), name="roster-auto-enroll")


async def stop_periodic(task: asyncio.Task | None) -> None:
    """Cancel the loop; a round in progress rolls back its open transaction."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
