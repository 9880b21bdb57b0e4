"""Dataloaders, created per request: one IN query per list field, never one per row."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from server.models import Course, Membership, User


async def _users(ids: Sequence[int]) -> list[User | None]:
    found = {u.id: u for u in await User.filter(id__in=list(ids))}
    return [found.get(i) for i in ids]


async def _courses(ids: Sequence[int]) -> list[Course | None]:
    found = {c.id: c for c in await Course.filter(id__in=list(ids))}
    return [found.get(i) for i in ids]


async def _group_members(group_ids: Sequence[int]) -> list[list[User]]:
    members: dict[int, list[User]] = {g: [] for g in group_ids}
    for m in await Membership.filter(group_id__in=list(group_ids)).select_related("user").order_by("user__username"):
        members[m.group_id].append(m.user)
    return [members[g] for g in group_ids]


class Loaders:
    def __init__(self) -> None:
        self.user = DataLoader(load_fn=_users)
        self.course = DataLoader(load_fn=_courses)
        self.group_members = DataLoader(load_fn=_group_members)
