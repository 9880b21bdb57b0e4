"""Enrollment rules: who may be enrolled, how, and what a removal leaves behind."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import ClassVar

from tortoise.transactions import in_transaction

from server.config import Settings
from server.models import Course, EmailStatus, EnrollmentExclusion, Group, Participant, ParticipantKind, ParticipantStatus, User
from server.services import audit, bulk, links, outbox, ratelimit
from server.services.directory import CHUNK, GROUP_RE, chunks, users_by_username
from server.services.emails import InvalidEmail, normalize_email
from server.services.errors import BadInput, NotFound, parse_id


class SkipReason(StrEnum):
    ALREADY_ENROLLED = "ALREADY_ENROLLED"
    UNKNOWN_USER = "UNKNOWN_USER"
    UNKNOWN_GROUP = "UNKNOWN_GROUP"
    INVALID_EMAIL = "INVALID_EMAIL"
    INTERNAL_USER_EMAIL = "INTERNAL_USER_EMAIL"
    INACTIVE_USER = "INACTIVE_USER"
    DUPLICATE_ENTRY = "DUPLICATE_ENTRY"


@dataclass
class Enrolled:
    participant: Participant
    link: str  # the full link URL, shown once


@dataclass
class Skipped:
    entry: str
    reason: SkipReason
    message: str
    participant: Participant | None = None
    suggested_user: User | None = None


@dataclass
class EnrollmentResult:
    enrolled: list[Enrolled] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass
class _Candidate:
    """One row about to be inserted, with the entry that asked for it."""

    entry: str
    kind: ParticipantKind
    name: str
    user: User | None = None
    email: str | None = None
    email_key: str | None = None
    via: str | None = None
    user_id: int | None = None  # set from user when given; a group's members come as ids only
    # An internal user's mail address, when already at hand (a user loaded, a group's member row);
    # None: found by outbox.recipient just before the insert (external people: their own address).
    to: outbox.Recipient | None = None

    def __post_init__(self) -> None:
        if self.user is not None:
            self.user_id = self.user.id
            self.to = outbox.Recipient.of_user(self.user.email, self.user.display_name, self.user.username)


async def get_course(course_id: str | int) -> Course:
    course = await Course.get_or_none(id=parse_id(course_id, what="course"))
    if course is None:
        raise NotFound(f"No course with id {course_id}")
    return course


def _check_size(count: int, settings: Settings) -> None:
    if count > settings.max_bulk_entries:
        raise BadInput(f"At most {settings.max_bulk_entries} entries can be enrolled in one request, not {count}")


async def enroll_users(
    *,
    settings: Settings,
    course_id: str | int,
    usernames: Sequence[str] = (),
    groups: Sequence[str] = (),
    send_email: bool = True,
    actor: str,
) -> EnrollmentResult:
    """Enroll users by name and every active member of the named groups, as internal participants."""
    course = await get_course(course_id)
    _check_size(len(usernames) + len(groups), settings)
    result = EnrollmentResult()
    wanted: dict[int, _Candidate] = {}

    seen_names: set[str] = set()
    names: list[str] = []
    for raw in usernames:
        name = raw.strip()
        if not name:
            result.skipped.append(Skipped(raw, SkipReason.UNKNOWN_USER, "The entry is empty"))
        elif name in seen_names:
            result.skipped.append(Skipped(name, SkipReason.DUPLICATE_ENTRY, f"{name} is listed more than once"))
        else:
            seen_names.add(name)
            names.append(name)
    found = await users_by_username(names)
    for name in names:
        user = found.get(name)
        if user is None:
            result.skipped.append(Skipped(name, SkipReason.UNKNOWN_USER, f"There is no user named {name}"))
        elif not user.active:
            result.skipped.append(Skipped(name, SkipReason.INACTIVE_USER, f"{name} is deactivated"))
        else:
            wanted[user.id] = _Candidate(entry=name, kind=ParticipantKind.INTERNAL, name=name, user=user)

    group_names: list[str] = []
    for raw in groups:
        name = raw.strip()
        if not name:
            result.skipped.append(Skipped(raw, SkipReason.UNKNOWN_GROUP, "The entry is empty"))
        elif name in group_names:
            result.skipped.append(Skipped(name, SkipReason.DUPLICATE_ENTRY, f"Group {name} is listed more than once"))
        else:
            group_names.append(name)
    # A name no group can have (too long, control characters, NUL) names no group: never queried.
    fits = [n for n in group_names if GROUP_RE.match(n)]
    known = {g.name: g for g in await Group.filter(name__in=fits)} if fits else {}
    for name in group_names:
        group = known.get(name)
        if group is None:
            result.skipped.append(Skipped(name, SkipReason.UNKNOWN_GROUP, f"There is no group named {name}"))
            continue
        for user_id, username, to in await active_members(group_id=group.id):
            if user_id not in wanted:
                wanted[user_id] = _Candidate(
                    entry=username, kind=ParticipantKind.INTERNAL, name=username, user_id=user_id, via=f"group:{name}", to=to
                )

    async with in_transaction():
        existing = await _existing_by(course.id, "user_id", list(wanted))
        fresh = []
        for user_id, cand in wanted.items():
            if user_id in existing:
                result.skipped.append(_already(cand.entry, existing[user_id]))
            else:
                fresh.append(cand)
        await _insert(settings=settings, course=course, candidates=fresh, send_email=send_email, actor=actor, result=result)
        # Enrolling by hand lifts a manager's earlier removal, so auto-enrollment may follow them again.
        manual = [p.participant.user_id for p in result.enrolled]
        if manual and await EnrollmentExclusion.filter(course_id=course.id).exists():  # usually none: one query, not one per batch
            for part in chunks(manual):
                await EnrollmentExclusion.filter(course_id=course.id, user_id__in=part).delete()
    return result


async def active_members(*, group_id: int) -> list[tuple[int, str, outbox.Recipient]]:
    """(id, username, where their mail goes) of a group's active members, by username: one plain
    query, no User objects (Tortoise's values_list takes twice as long to hand 10,000 rows over)."""
    client = bulk.connection(User)
    group, active = bulk.placeholders(client, 2)
    sql = (
        'SELECT u."id", u."username", u."email", u."display_name" FROM "users" u '  # noqa: S608 -- placeholders only
        f'JOIN "memberships" m ON m."user_id" = u."id" WHERE m."group_id" = {group} AND u."active" = {active} ORDER BY u."username"'
    )
    rows = await client.execute_query_dict(sql, [group_id, True])
    return [(r["id"], r["username"], outbox.Recipient.of_user(r["email"], r["display_name"], r["username"])) for r in rows]


async def enroll_external(
    *,
    settings: Settings,
    course_id: str | int,
    emails: Sequence[str],
    send_email: bool = True,
    allow_internal: bool = False,
    actor: str,
) -> EnrollmentResult:
    """Enroll people by email as external participants; addresses of internal users are skipped unless allowed."""
    course = await get_course(course_id)
    _check_size(len(emails), settings)
    result = EnrollmentResult()
    wanted: dict[str, _Candidate] = {}
    for raw in emails:
        entry = raw.strip()
        try:
            address = normalize_email(entry)
        except InvalidEmail as exc:
            result.skipped.append(
                Skipped(entry[:320], SkipReason.INVALID_EMAIL, f"{entry[:80]!r} is not a valid email address: {exc.message}")
            )
            continue
        if address.key in wanted:
            result.skipped.append(Skipped(entry, SkipReason.DUPLICATE_ENTRY, f"{address.email} is listed more than once"))
            continue
        wanted[address.key] = _Candidate(
            entry=entry, kind=ParticipantKind.EXTERNAL, name=address.email, email=address.email, email_key=address.key
        )

    if not allow_internal:
        for part in chunks(list(wanted)):
            for user in await User.filter(email_key__in=part):
                cand = wanted.pop(user.email_key or "")
                result.skipped.append(
                    Skipped(
                        cand.entry,
                        SkipReason.INTERNAL_USER_EMAIL,
                        f"{cand.email} belongs to the user {user.username}; enroll the user instead, "
                        "or they will not see the course in My learning",
                        suggested_user=user,
                    )
                )

    async with in_transaction():
        existing = await _existing_by(course.id, "email_key", list(wanted))
        fresh = []
        for key, cand in wanted.items():
            if key in existing:
                result.skipped.append(_already(cand.entry, existing[key]))
            else:
                fresh.append(cand)
        await _insert(settings=settings, course=course, candidates=fresh, send_email=send_email, actor=actor, result=result)
    return result


def _already(entry: str, participant: Participant) -> Skipped:
    return Skipped(entry, SkipReason.ALREADY_ENROLLED, f"{participant.name} is already enrolled in this course", participant=participant)


async def _existing_by(course_id: int, column: str, keys: list) -> dict:
    """The participants of the course whose column is one of keys, by key; usually there are none to load."""
    found = await bulk.rows_where_in(Participant, (column, "id"), column, keys, equal={"course_id": course_id})
    if not found:
        return {}
    by_id = {p.id: p for part in chunks([i for _, i in found]) for p in await Participant.filter(id__in=part)}
    return {key: by_id[i] for key, i in found if i in by_id}


@dataclass(slots=True)
class _Row:
    """One participant row of a batch: who, their new link, and where the link is mailed (if it is)."""

    cand: _Candidate
    link: links.MintedLink
    to: outbox.Recipient | None = None
    email_status: EmailStatus = EmailStatus.NOT_SENT
    email_error: str | None = None

    # What an enrollment writes; the other columns start NULL.
    COLUMNS: ClassVar = (
        "course_id", "kind", "user_id", "email", "email_key", "name", "enrolled_via", "enrolled_at", "link_hash",
        "status", "progress", "attempts", "email_status", "email_error",
    )  # fmt: skip

    def values(self, course_id: int, enrolled_at: datetime) -> tuple:
        c = self.cand
        return (
            course_id, c.kind.value, c.user_id, c.email, c.email_key, c.name, c.via, enrolled_at, self.link.hash,
            ParticipantStatus.NOT_STARTED.value, 0.0, 0, self.email_status.value, self.email_error,
        )  # fmt: skip

    def state(self, participant_id: int) -> dict:
        """The model state of the written row, for the result: no need to read it back."""
        c = self.cand
        return {
            "id": participant_id, "kind": c.kind, "user_id": c.user_id, "email": c.email, "email_key": c.email_key, "name": c.name,
            "enrolled_via": c.via, "link_hash": self.link.hash, "email_status": self.email_status, "email_error": self.email_error,
            "_saved_in_db": True,
        }  # fmt: skip


async def _insert(
    *, settings: Settings, course: Course, candidates: list[_Candidate], send_email: bool, actor: str, result: EnrollmentResult
) -> None:
    """Insert in batches; a row a concurrent request wrote first is reported as already enrolled, not an error.

    Each batch is one INSERT that returns the new ids (so nothing is read back), the audit events
    and, when links are mailed, the outbox messages. The addresses are known before the rows are
    written (the directory is asked only for users who came without one), so each row starts with
    its final email status.
    """
    enrolled_at = datetime.now(UTC)  # one enrollment time for the whole call: its rows are written in one transaction
    common = {"course_id": course.id, "kind": ParticipantKind.INTERNAL, "name": "", "link_hash": "", "enrolled_at": enrolled_at}
    for batch in chunks(candidates, CHUNK):
        rows = [_Row(cand, link) for cand, link in zip(batch, links.mint_many(settings=settings, count=len(batch)), strict=True)]
        if send_email:
            unknown = [c.user_id for c in batch if c.to is None and c.user_id is not None]
            users = await outbox.directory_recipients(user_ids=unknown) if unknown else {}
            for row in rows:
                c = row.cand
                row.to = c.to or outbox.recipient(kind=c.kind, user_id=c.user_id, name=c.name, email=c.email, users=users)
                row.email_status, row.email_error = outbox.delivery_state(row.to)
        values = [row.values(course.id, enrolled_at) for row in rows]
        # A row that meets a unique constraint (a concurrent enrollment won) is not written and not returned.
        written = dict(await bulk.insert_values(Participant, _Row.COLUMNS, values, returning=("link_hash", "id"), ignore_conflicts=True))
        kept = [row for row in rows if row.link.hash in written]
        participants = bulk.new_rows(Participant, common, [row.state(written[row.link.hash]) for row in kept])
        for row, participant in zip(kept, participants, strict=True):
            if row.cand.user is not None:
                participant.user = row.cand.user
            result.enrolled.append(Enrolled(participant=participant, link=row.link.url))
        if len(kept) < len(rows):
            await _report_lost_races(course.id, [row.cand for row in rows if row.link.hash not in written], result)
        if send_email:
            messages = [(p.id, p.kind.value, row.to, row.link.url) for row, p in zip(kept, participants, strict=True)]
            await outbox.queue_messages(settings=settings, course=course, items=messages)
        await audit.record_enrollments(actor=actor, participant_ids=[p.id for p in participants])


async def _report_lost_races(course_id: int, lost: list[_Candidate], result: EnrollmentResult) -> None:
    users = await _existing_by(course_id, "user_id", [c.user_id for c in lost if c.user_id])
    emails = await _existing_by(course_id, "email_key", [c.email_key for c in lost if c.email_key])
    for cand in lost:
        participant = users.get(cand.user_id) if cand.user_id else emails.get(cand.email_key)
        if participant is not None:
            result.skipped.append(_already(cand.entry, participant))
        else:  # pragma: no cover -- the row vanished between insert and read: report, never crash
            result.skipped.append(Skipped(cand.entry, SkipReason.ALREADY_ENROLLED, "Enrolled by another request at the same moment"))


async def get_participant(participant_id: str | int) -> Participant:
    participant = await Participant.get_or_none(id=parse_id(participant_id, what="participant")).select_related("course", "user")
    if participant is None:
        raise NotFound(f"No participant with id {participant_id}")
    return participant


async def remove_participant(*, participant_id: str | int, actor: str) -> int:
    """Delete a participant with their progress and link; the audit event keeps what was removed."""
    async with in_transaction():
        participant = await get_participant(participant_id)
        summary = {
            "name": participant.name,
            "kind": participant.kind.value,
            "status": participant.status.value,
            "progress": participant.progress,
            "score": participant.score,
        }
        await outbox.cancel_pending(participant_ids=[participant.id])
        if participant.user_id is not None:
            await EnrollmentExclusion.filter(course_id=participant.course_id, user_id=participant.user_id).delete()
            await EnrollmentExclusion.create(course_id=participant.course_id, user_id=participant.user_id, removed_by=actor)
        await participant.delete()
        await audit.record(
            actor=actor,
            action="participant.remove",
            target=f"participant:{participant.id}",
            course_id=participant.course_id,
            detail=summary,
        )
    return participant.id


async def regenerate_link(
    *, settings: Settings, participant_id: str | int, send_email: bool, actor: str, action: str = "participant.regenerate_link"
) -> Enrolled:
    """Replace a participant's link: the old one stops working at once."""
    async with in_transaction():
        participant = await get_participant(participant_id)
        link = links.mint(settings=settings)
        participant.link_hash = link.hash
        await participant.save(update_fields=["link_hash"])
        await outbox.cancel_pending(participant_ids=[participant.id])
        if send_email:
            await outbox.queue_link_messages(settings=settings, course=participant.course, items=[(participant, link)])
        await audit.record(
            actor=actor,
            action=action,
            target=f"participant:{participant.id}",
            course_id=participant.course_id,
            detail={"name": participant.name},
        )
    await participant.refresh_from_db()
    return Enrolled(participant=participant, link=link.url)


async def participant_for_link(*, settings: Settings, link: str) -> Participant | None:
    """The participant a link belongs to, or None for a forged, unknown or revoked one (all alike)."""
    started = time.monotonic()
    await ratelimit.check_link()
    digest = links.verified_hash(settings=settings, link=link)
    participant = await Participant.get_or_none(link_hash=digest).select_related("course") if digest else None
    if participant is None or not participant.course.published:
        await ratelimit.record_link_failure(started=started)
        return None
    await ratelimit.record_link_success()
    return participant
