"""Who may call what: declared next to each field with permission_classes."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from schema.context import Info
from server.services import auth
from server.services.errors import Forbidden, Unauthenticated


async def require(info: Info, check: str) -> auth.Principal:
    principal = await info.context.principal()
    if principal is auth.ANONYMOUS:
        raise Unauthenticated("Sign in or send an API token (Authorization: Bearer …)")
    if principal is auth.INVALID:
        raise Unauthenticated("The API token or session is not valid (revoked, expired or mistyped)")
    allowed = principal.is_admin if check == "admin" else principal.can_read_reports()
    if not allowed:
        raise Forbidden("Your credential does not allow this operation")
    return principal


class IsAdmin(BasePermission):
    """Management operations: an admin token or an admin's session."""

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        await require(info, "admin")
        return True


class CanReadReports(BasePermission):
    """The course report: admin, or a reports:read token."""

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        await require(info, "reports")
        return True
