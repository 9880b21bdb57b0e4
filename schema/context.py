"""Per-request context: settings, the caller (resolved lazily), dataloaders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from strawberry.types import Info as StrawberryInfo

from schema.dataloaders import Loaders
from server.config import Settings
from server.services import auth

SESSION_COOKIE = "roster_session"


@dataclass
class Context:
    request: Request
    response: Response
    settings: Settings
    _principal: auth.Principal | None = None
    _loaders: Loaders | None = None

    @property
    def loaders(self) -> Loaders:
        """Created on first use: a link open or a mutation without list fields never builds them."""
        if self._loaders is None:
            self._loaders = Loaders()
        return self._loaders

    async def principal(self) -> auth.Principal:
        """The caller, from a Bearer token or the session cookie; looked up once, only when asked."""
        if self._principal is None:
            self._principal = await resolve_principal(self.request)
        return self._principal

    def set_principal(self, principal: auth.Principal) -> None:
        self._principal = principal


async def resolve_principal(request: Request) -> auth.Principal:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() == "bearer" and secret.strip():
            return await auth.principal_for_token(secret.strip()) or auth.INVALID
        return auth.INVALID
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return await auth.principal_for_session(cookie) or auth.ANONYMOUS
    return auth.ANONYMOUS


Info = StrawberryInfo[Context, Any]
