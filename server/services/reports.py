"""The course report: participants with status and progress, keyset-paginated."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from tortoise.expressions import Q

from server.models import EmailStatus, Participant, ParticipantKind, ParticipantStatus
from server.services.errors import BadInput


class ReportOrder(StrEnum):
    ENROLLED = "id"
    NAME = "name"
    PROGRESS = "progress"
    STATUS = "status"
    LAST_ACTIVITY = "last_activity_at"
    SCORE = "score"


# Columns that may be NULL: their NULL rows come after every valued row, in either direction.
NULLABLE = {ReportOrder.LAST_ACTIVITY, ReportOrder.SCORE}


@dataclass(frozen=True)
class ReportFilter:
    status: ParticipantStatus | None = None
    kind: ParticipantKind | None = None
    search: str | None = None
    email_status: EmailStatus | None = None


@dataclass
class ReportPage:
    rows: list[Participant]
    has_next: bool
    total: int
    cursors: list[str]


def encode_cursor(value: Any, row_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([value, row_id], separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str) -> tuple[Any, int]:
    try:
        value, row_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(row_id, int) or isinstance(value, (dict, list)):
            raise ValueError
        return value, row_id
    except (ValueError, TypeError, UnicodeError):
        raise BadInput("The cursor is not one this report gave out") from None


def _filtered(course_id: int, flt: ReportFilter):
    query = Participant.filter(course_id=course_id)
    if flt.status:
        query = query.filter(status=flt.status)
    if flt.kind:
        query = query.filter(kind=flt.kind)
    if flt.email_status:
        query = query.filter(email_status=flt.email_status)
    if flt.search and flt.search.strip():
        term = flt.search.strip()
        # name is the username or, for external people, the email itself: one column to scan, not two.
        query = query.filter(name__icontains=term)
    return query


async def course_report(
    *, course_id: int, first: int, after: str | None, flt: ReportFilter, order: ReportOrder = ReportOrder.ENROLLED, descending: bool = False
) -> ReportPage:
    """One page of the report in a stable order; two queries whatever the page or course size."""
    if after:
        decode_cursor(after)  # a bad cursor is refused whatever the filter
    if flt.search and "\x00" in flt.search:
        return ReportPage(rows=[], has_next=False, total=0, cursors=[])  # nothing stored holds a NUL; PostgreSQL refuses one
    query = _filtered(course_id, flt)
    total = await query.count()
    if order in NULLABLE:
        rows, has_next = await _nullable_page(query, order.value, first=first, after=after, descending=descending)
        cursors = [encode_cursor(_plain(getattr(r, order.value)), r.id) for r in rows]
        return ReportPage(rows=rows, has_next=has_next, total=total, cursors=cursors)
    column = order.value
    if after:
        value, row_id = decode_cursor(after)
        if column == "id":
            query = query.filter(id__lt=row_id) if descending else query.filter(id__gt=row_id)
        else:
            op = "lt" if descending else "gt"
            query = query.filter(Q(**{f"{column}__{op}": value}) | Q(**{column: value, f"id__{op}": row_id}))
    direction = "-" if descending else ""
    ordering = [f"{direction}id"] if column == "id" else [f"{direction}{column}", f"{direction}id"]
    rows = await query.order_by(*ordering).limit(first + 1)
    has_next = len(rows) > first
    rows = rows[:first]
    cursors = [encode_cursor(None if column == "id" else _plain(getattr(r, column)), r.id) for r in rows]
    return ReportPage(rows=rows, has_next=has_next, total=total, cursors=cursors)


async def _nullable_page(query, column: str, *, first: int, after: str | None, descending: bool) -> tuple[list[Participant], bool]:
    """Valued rows in order, then NULL rows by id: the same on SQLite and PostgreSQL, which sort NULLs differently."""
    op = "lt" if descending else "gt"
    direction = "-" if descending else ""
    in_nulls = False
    valued = query.filter(**{f"{column}__isnull": False})
    nulls = query.filter(**{f"{column}__isnull": True})
    if after:
        raw, row_id = decode_cursor(after)
        if raw is None:
            in_nulls = True
            nulls = nulls.filter(**{f"id__{op}": row_id})
        else:
            value = _parse_datetime(raw) if column.endswith("_at") else raw
            valued = valued.filter(Q(**{f"{column}__{op}": value}) | Q(**{column: value, f"id__{op}": row_id}))
    rows: list[Participant] = []
    if not in_nulls:
        rows = await valued.order_by(f"{direction}{column}", f"{direction}id").limit(first + 1)
    if len(rows) <= first:
        rows += await nulls.order_by(f"{direction}id").limit(first + 1 - len(rows))
    return rows[:first], len(rows) > first


def _parse_datetime(raw: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(raw))
    except ValueError:
        raise BadInput("The cursor is not one this report gave out") from None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value.value if isinstance(value, StrEnum) else value
