"""GET /reports/{courseId}.csv: the course report for admins and reports:read tokens, streamed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from server.services import auth, courses, export
from server.services.errors import BadInput, NotFound


def report_csv_endpoint(resolve_principal: Callable[[Request], Awaitable[auth.Principal]]) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint, given how a request's caller is found (Bearer token or session cookie)."""

    async def endpoint(request: Request) -> Response:
        principal = await resolve_principal(request)
        if principal is auth.ANONYMOUS or principal is auth.INVALID:
            return PlainTextResponse(
                "Send an API token (Authorization: Bearer …) or sign in as an admin.\n",
                status_code=401,
                headers={"www-authenticate": "Bearer"},
            )
        if not principal.can_read_reports():
            return PlainTextResponse("Your credential does not allow reading reports.\n", status_code=403)
        try:
            course = await courses.find_course(request.path_params["course_id"])
        except (BadInput, NotFound):  # a malformed or out-of-range id; a busy database is not a missing course
            course = None
        if course is None:
            return PlainTextResponse("There is no such course.\n", status_code=404)
        return StreamingResponse(
            export.report_csv(course_id=course.id),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="course-{course.id}-report.csv"'},
        )

    return endpoint
