"""Audit events: one row per thing a person or integration did."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from server.models import AuditEvent


async def record(*, actor: str, action: str, target: str, course_id: int | None = None, detail: dict[str, Any] | None = None) -> None:
    await AuditEvent.create(actor=actor, action=action, target=target, course_id=course_id, detail=detail or {})


async def record_many(*, actor: str, action: str, course_id: int | None, targets: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Many events in bulk: one INSERT per batch, not per row."""
    events = [AuditEvent(actor=actor, action=action, target=t, course_id=course_id, detail=d) for t, d in targets]
    if events:
        await AuditEvent.bulk_create(events, batch_size=BATCH)


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
