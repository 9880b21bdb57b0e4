"""Directory operations: users and groups."""

from __future__ import annotations

import strawberry

from schema.context import Info
from schema.pagination import page_size
from schema.permissions import IsAdmin
from schema.types import Group, User
from server.services import directory


@strawberry.input
class CreateUserInput:
    username: str
    display_name: str = ""
    email: str | None = None


@strawberry.type
class DirectoryQuery:
    @strawberry.field(permission_classes=[IsAdmin])
    async def users(self, info: Info, search: str | None = None, first: int | None = 50) -> list[User]:
        rows = await directory.search_users(search=search, first=page_size(info, first))
        return [User.from_model(u) for u in rows]

    @strawberry.field(permission_classes=[IsAdmin])
    async def groups(self, info: Info, search: str | None = None, first: int | None = 50) -> list[Group]:
        rows = await directory.search_groups(search=search, first=page_size(info, first))
        return [Group.from_model(g) for g in rows]


@strawberry.type
class DirectoryMutation:
    @strawberry.mutation(permission_classes=[IsAdmin])
    async def create_user(self, info: Info, input: CreateUserInput) -> User:
        actor = (await info.context.principal()).name
        user = await directory.create_user(username=input.username, display_name=input.display_name, email=input.email, actor=actor)
        return User.from_model(user)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def create_group(self, info: Info, name: str, members: list[str] = []) -> Group:  # noqa: B006
        actor = (await info.context.principal()).name
        return Group.from_model(await directory.create_group(name=name, members=members, actor=actor, settings=info.context.settings))

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def add_group_members(self, info: Info, group: str, usernames: list[str]) -> Group:
        actor = (await info.context.principal()).name
        group_model = await directory.add_group_members(group=group, usernames=usernames, actor=actor, settings=info.context.settings)
        return Group.from_model(group_model)

    @strawberry.mutation(permission_classes=[IsAdmin], description="Take users out of a group; their enrollments and progress stay.")
    async def remove_group_members(self, info: Info, group: str, usernames: list[str]) -> Group:
        actor = (await info.context.principal()).name
        return Group.from_model(await directory.remove_group_members(group=group, usernames=usernames, actor=actor))

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Deactivate a user (they keep their enrollments, get no new ones and cannot sign in) or reactivate them.",
    )
    async def set_user_active(self, info: Info, username: str, active: bool) -> User:
        actor = (await info.context.principal()).name
        user = await directory.set_user_active(username=username, active=active, actor=actor, settings=info.context.settings)
        return User.from_model(user)
