"""Signing in and out, the signed-in viewer, and My learning."""

from __future__ import annotations

import strawberry

from schema.context import SESSION_COOKIE, Info
from schema.permissions import IsAdmin
from schema.types import ParticipantView, User
from server import models
from server.services import auth, learning


@strawberry.type
class Viewer:
    username: str
    display_name: str
    is_admin: bool
    user: User

    @classmethod
    def from_model(cls, user: models.User) -> Viewer:
        return cls(username=user.username, display_name=user.display_name, is_admin=user.is_admin, user=User.from_model(user))


@strawberry.type
class SessionQuery:
    @strawberry.field(description="The signed-in user, or null.")
    async def viewer(self, info: Info) -> Viewer | None:
        user = (await info.context.principal()).user
        return Viewer.from_model(user) if user else None

    @strawberry.field(description="The signed-in user's internal enrollments in published courses; empty when not signed in.")
    async def my_learning(self, info: Info) -> list[ParticipantView]:
        user = (await info.context.principal()).user
        if user is None:
            return []
        return [ParticipantView.for_participant(p) for p in await learning.my_learning(user=user)]


@strawberry.type
class SessionMutation:
    @strawberry.mutation(description="Check the password and set the session cookie (HttpOnly, SameSite=Lax).")
    async def sign_in(self, info: Info, username: str, password: str) -> Viewer:
        settings = info.context.settings
        user, secret = await auth.sign_in(username=username, password=password, session_days=settings.session_days)
        info.context.response.set_cookie(
            SESSION_COOKIE,
            secret,
            max_age=settings.session_days * 86400,
            path="/",
            httponly=True,
            samesite="lax",
            secure=settings.public_url.startswith("https://"),
        )
        return Viewer.from_model(user)

    @strawberry.mutation(description="End this session on the server and clear the cookie; false when there was none.")
    async def sign_out(self, info: Info) -> bool:
        principal = await info.context.principal()
        info.context.response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
        if principal.session_id is None:
            return False
        await auth.sign_out(session_id=principal.session_id)
        return True

    @strawberry.mutation(permission_classes=[IsAdmin], description="Set a user's password; their other sessions end.")
    async def set_user_password(self, info: Info, username: str, password: str) -> User:
        actor = (await info.context.principal()).name
        return User.from_model(await auth.set_password(username=username, password=password, actor=actor))
