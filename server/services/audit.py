"""Audit events: one row per thing a person or integration did."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from server.models import AuditEvent
from server.services import bulk
from server.services.errors import BadInput


async def record(*, actor: str, action: str, target: str, course_id: int | None = None, detail: dict[str, Any] | None = None) -> None:
    await AuditEvent.create(actor=actor, action=action, target=target, course_id=course_id, detail=detail or {})


async def record_enrollments(*, actor: str, participant_ids: Sequence[int]) -> None:
    """A participant.enroll event for each new participant, written by the database from the participant rows:
    one INSERT ... SELECT per batch, no detail encoded here, only the ids sent as parameters."""
    client = bulk.connection(AuditEvent)
    postgres = client.capabilities.dialect == "postgres"
    # The detail: {"name", "kind", "via"} of the participant.
    detail = "jsonb_build_object" if postgres else "json_object"
    for start in range(0, len(participant_ids), BATCH):
        ids = list(participant_ids[start : start + BATCH])
        at, who, what, *marks = bulk.placeholders(client, 3 + len(ids))
        if postgres:
            at, who, what = f"{at}::timestamptz", f"{who}::text", f"{what}::text"
        sql = (
            'INSERT INTO "audit_events" ("at", "actor", "action", "target", "course_id", "detail") '  # noqa: S608
            f'SELECT {at}, {who}, {what}, \'participant:\' || CAST("id" AS TEXT), "course_id", '
            f"{detail}('name', \"name\", 'kind', \"kind\", 'via', \"enrolled_via\") "
            f'FROM "participants" WHERE "id" IN ({", ".join(marks)})'
        )
        await client.execute_query(sql, [datetime.now(UTC), actor, "participant.enroll", *ids])


async def events(
    *, first: int, after: int | None = None, action: str | None = None, course_id: int | None = None, actor: str | None = None
) -> list[AuditEvent]:
    """Newest first, keyset-paginated by id."""
    query = AuditEvent.all()
    if after is not None:
        query = query.filter(id__lt=after)
    if action:
        query = query.filter(action=action)
    if course_id is not None:
        query = query.filter(course_id=course_id)
    if actor:
        query = query.filter(actor=actor)
    return await query.order_by("-id").limit(first)


BATCH = 500


@dataclass(frozen=True)
class Page:
    events: list[AuditEvent]
    has_next: bool


def _cursor_id(after: str | None) -> int | None:
    if after is None or after == "":
        return None
    try:
        value = int(base64.urlsafe_b64decode(after.encode() + b"==").decode().removeprefix("audit:"))
    except (ValueError, UnicodeError, binascii.Error):
        raise BadInput("after is not a cursor this list gave out") from None
    if not 0 < value < 2**31:
        raise BadInput("after is not a cursor this list gave out")
    return value


def cursor(event: AuditEvent) -> str:
    return base64.urlsafe_b64encode(f"audit:{event.id}".encode()).decode().rstrip("=")


async def page(
    *, first: int, after: str | None = None, action: str | None = None, actor: str | None = None, course_id: int | None = None
) -> Page:
    """One page of the audit log, newest first; the cursor is the last event seen."""
    rows = await events(first=first + 1, after=_cursor_id(after), action=action, course_id=course_id, actor=actor)
    return Page(events=rows[:first], has_next=len(rows) > first)
