"""The audit log and API tokens, for admins."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from schema.context import Info
from schema.pagination import page_size
from schema.permissions import IsAdmin
from schema.types import PageInfo
from server import models
from server.services import audit, auth
from server.services.errors import parse_id


@strawberry.type
class AuditEvent:
    id: strawberry.ID
    at: datetime
    actor: str = strawberry.field(description="Who did it: user:<name>, token:<name>, cli, system …")
    action: str = strawberry.field(description="What was done, e.g. participant.enroll, signin.failure, token.revoke.")
    target: str
    course_id: strawberry.ID | None
    detail: JSON

    @classmethod
    def from_model(cls, event: models.AuditEvent) -> AuditEvent:
        course = strawberry.ID(str(event.course_id)) if event.course_id is not None else None
        return cls(
            id=strawberry.ID(str(event.id)),
            at=event.at,
            actor=event.actor,
            action=event.action,
            target=event.target,
            course_id=course,
            detail=event.detail,
        )


@strawberry.type
class AuditEventEdge:
    node: AuditEvent
    cursor: str


@strawberry.type
class AuditEventConnection:
    edges: list[AuditEventEdge]
    page_info: PageInfo


@strawberry.input
class AuditFilter:
    action: str | None = None
    actor: str | None = None
    course_id: strawberry.ID | None = None


@strawberry.type
class ApiToken:
    id: strawberry.ID
    name: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_model(cls, token: models.ApiToken) -> ApiToken:
        return cls(
            id=strawberry.ID(str(token.id)),
            name=token.name,
            scope=token.scope,
            created_at=token.created_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
        )


@strawberry.type
class CreatedApiToken:
    token: ApiToken
    secret: str = strawberry.field(description="The token itself, shown once: only its hash is kept.")


@strawberry.type
class AuditQuery:
    @strawberry.field(permission_classes=[IsAdmin], description="Audit events, newest first.")
    async def audit_log(
        self, info: Info, first: int | None = 50, after: str | None = None, filter: AuditFilter | None = None
    ) -> AuditEventConnection:
        flt = filter or AuditFilter()
        course_id = parse_id(flt.course_id, what="course") if flt.course_id is not None else None
        found = await audit.page(first=page_size(info, first), after=after, action=flt.action, actor=flt.actor, course_id=course_id)
        edges = [AuditEventEdge(node=AuditEvent.from_model(e), cursor=audit.cursor(e)) for e in found.events]
        return AuditEventConnection(
            edges=edges, page_info=PageInfo(has_next_page=found.has_next, end_cursor=edges[-1].cursor if edges else None)
        )

    @strawberry.field(permission_classes=[IsAdmin], description="API tokens, without their secret.")
    async def api_tokens(self, info: Info) -> list[ApiToken]:
        return [ApiToken.from_model(t) for t in await auth.list_tokens()]


@strawberry.type
class AuditMutation:
    @strawberry.mutation(permission_classes=[IsAdmin], description="A new API token (scope admin or reports:read), shown once.")
    async def create_api_token(self, info: Info, name: str, scope: str) -> CreatedApiToken:
        actor = (await info.context.principal()).name
        token, secret = await auth.create_token(name=name, scope=scope, actor=actor)
        return CreatedApiToken(token=ApiToken.from_model(token), secret=secret)

    @strawberry.mutation(permission_classes=[IsAdmin], description="Revoke an API token; it stops working at once.")
    async def revoke_api_token(self, info: Info, id: strawberry.ID) -> ApiToken:
        actor = (await info.context.principal()).name
        return ApiToken.from_model(await auth.revoke_token(token_id=parse_id(id, what="API token"), actor=actor))
