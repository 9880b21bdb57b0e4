"""Audit events: one row per thing a person or integration did."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from server.models import AuditEvent
from server.services import bulk
from server.services.errors import BadInput


async def record(*, actor: str, action: str, target: str, course_id: int | None = None, detail: dict[str, Any] | None = None) -> None:
    await AuditEvent.create(actor=actor, action=action, target=target, course_id=course_id, detail=detail or {})


async def record_many(*, actor: str, action: str, course_id: int | None, targets: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Many events in bulk: one INSERT per batch, not per row."""
    common = {"actor": actor, "action": action, "target": "", "course_id": course_id}
    events = bulk.new_rows(AuditEvent, common, ({"target": t, "detail": d} for t, d in targets))
    await bulk.insert(AuditEvent, events, batch_size=BATCH)


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
