"""The course report as CSV: every column, streamed in keyset batches so no course is held in memory."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from enum import Enum
from typing import Any

from server.models import Participant

BATCH = 2_000
# Report columns in order: (CSV header, Participant column).
COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("kind", "kind"),
    ("email", "email"),
    ("enrolled_at", "enrolled_at"),
    ("enrolled_via", "enrolled_via"),
    ("status", "status"),
    ("progress", "progress"),
    ("score", "score"),
    ("attempts", "attempts"),
    ("started_at", "started_at"),
    ("completed_at", "completed_at"),
    ("last_activity_at", "last_activity_at"),
    ("email_status", "email_status"),
    ("email_sent_at", "email_sent_at"),
    ("email_error", "email_error"),
]
# A cell starting with one of these is a formula to spreadsheet programs; a leading quote keeps it text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


async def report_csv(*, course_id: int, batch_size: int = BATCH) -> AsyncIterator[bytes]:
    """The whole report of a course, header first, in enrollment order; one query per batch of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([header for header, _ in COLUMNS])
    fields = [column for _, column in COLUMNS]
    last_id = 0
    while True:
        rows = await Participant.filter(course_id=course_id, id__gt=last_id).order_by("id").limit(batch_size).values_list(*fields)
        for row in rows:
            writer.writerow([cell(v) for v in row])
        if rows:
            last_id = rows[-1][0]
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < batch_size:
            return
