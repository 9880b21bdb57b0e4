"""The course report, for managers and integrations."""

from __future__ import annotations

import strawberry

from schema.context import Info
from schema.pagination import page_size
from schema.permissions import CanReadReports
from schema.types import EmailStatus, PageInfo, Participant, ParticipantConnection, ParticipantEdge, ParticipantKind, ParticipantStatus
from server.services import enrollment, reports

ReportOrder = strawberry.enum(reports.ReportOrder, name="ReportOrder")


@strawberry.input
class ReportFilter:
    status: ParticipantStatus | None = None
    kind: ParticipantKind | None = None
    search: str | None = None
    email_status: EmailStatus | None = None


@strawberry.type
class ReportQuery:
    @strawberry.field(permission_classes=[CanReadReports])
    async def course_report(
        self,
        info: Info,
        course_id: strawberry.ID,
        first: int | None = 50,
        after: str | None = None,
        filter: ReportFilter | None = None,
        order_by: ReportOrder = ReportOrder.ENROLLED,
        descending: bool = False,
    ) -> ParticipantConnection:
        course = await enrollment.get_course(course_id)
        flt = filter or ReportFilter()
        page = await reports.course_report(
            course_id=course.id,
            first=page_size(info, first),
            after=after,
            flt=reports.ReportFilter(status=flt.status, kind=flt.kind, search=flt.search, email_status=flt.email_status),
            order=order_by,
            descending=descending,
        )
        edges = [ParticipantEdge(node=Participant.from_model(p), cursor=c) for p, c in zip(page.rows, page.cursors, strict=True)]
        return ParticipantConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.cursors[-1] if page.cursors else None),
            total_count=page.total,
        )
