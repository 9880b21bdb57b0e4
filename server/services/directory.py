"""The directory: users, groups, memberships, search and bulk import."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from server.config import Settings
from server.models import Group, Membership, User
from server.services import audit
from server.services.emails import InvalidEmail, normalize_email
from server.services.errors import BadInput, NotFound

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,149}$")
GROUP_RE = re.compile(r"^[^\x00-\x1f]{1,150}$")
CHUNK = 500


def chunks(items: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def clean_username(raw: str) -> str:
    name = raw.strip()
    if not USERNAME_RE.match(name):
        raise BadInput(f"{raw[:60]!r} is not a valid username (letters, digits and . _ @ + -, up to 150)")
    return name


def clean_group_name(raw: str) -> str:
    name = raw.strip()
    if not GROUP_RE.match(name):
        raise BadInput(f"{raw[:60]!r} is not a valid group name (1 to 150 characters, no control characters)")
    return name


async def create_user(*, username: str, display_name: str = "", email: str | None = None, actor: str) -> User:
    name = clean_username(username)
    address = normalize_email(email) if email else None
    if await User.filter(username=name).exists():
        raise BadInput(f"A user named {name!r} already exists")
    if address and await User.filter(email_key=address.key).exists():
        raise BadInput(f"Another user already has the address {address.email}")
    try:
        user = await User.create(
            username=name,
            display_name=display_name.strip()[:200],
            email=address.email if address else None,
            email_key=address.key if address else None,
        )
    except IntegrityError:
        raise BadInput(f"A user named {name!r} or with that address already exists") from None
    await audit.record(actor=actor, action="user.create", target=f"user:{name}")
    return user


async def users_by_username(usernames: Iterable[str]) -> dict[str, User]:
    # A name no user can have (too long, control characters, NUL that PostgreSQL refuses) belongs to nobody: never queried.
    names = [name for name in dict.fromkeys(usernames) if USERNAME_RE.match(name)]
    found: dict[str, User] = {}
    for part in chunks(names):
        for user in await User.filter(username__in=part):
            found[user.username] = user
    return found


async def create_group(*, name: str, members: Sequence[str] = (), actor: str, settings: Settings | None = None) -> Group:
    group_name = clean_group_name(name)
    async with in_transaction():
        if await Group.filter(name=group_name).exists():
            raise BadInput(f"A group named {group_name!r} already exists")
        group = await Group.create(name=group_name)
        await audit.record(actor=actor, action="group.create", target=f"group:{group_name}")
        if members:
            await add_group_members(group=group_name, usernames=members, actor=actor, settings=settings)
    return group


async def _existing_group(name: str) -> Group:
    target = await group_by_name(name)
    if target is None:
        raise NotFound(f"No group named {name.strip()!r}")
    return target


async def _known_users(usernames: Sequence[str]) -> dict[str, User]:
    """The named users; any unknown name is an error naming it, so nothing is half-done."""
    names = [n.strip() for n in usernames if n.strip()]
    users = await users_by_username(names)
    missing = [n for n in names if n not in users]
    if missing:
        raise BadInput(f"Unknown users: {', '.join(missing[:20])}")
    return users


async def add_group_members(*, group: str, usernames: Sequence[str], actor: str, settings: Settings | None = None) -> Group:
    """Add users to a group; unknown usernames are an error naming them, nothing is half-added."""
    target = await _existing_group(group)
    async with in_transaction():
        users = await _known_users(usernames)
        added = await add_memberships(group_id=target.id, user_ids=[u.id for u in users.values()])
        if added:
            await audit.record(actor=actor, action="group.add_members", target=f"group:{target.name}", detail={"added": len(added)})
            await _after_members_added(group=target, user_ids=added, actor=actor, settings=settings)
    return target


async def add_memberships(*, group_id: int, user_ids: Sequence[int]) -> list[int]:
    """Insert the memberships that do not exist yet; return the users newly added."""
    existing: set[int] = set()
    for part in chunks(list(user_ids)):
        existing.update(await Membership.filter(group_id=group_id, user_id__in=part).values_list("user_id", flat=True))
    # Sorted, so concurrent changes to the same group insert (and lock) rows in the same order.
    new = sorted(uid for uid in set(user_ids) if uid not in existing)
    if new:
        await Membership.bulk_create([Membership(group_id=group_id, user_id=uid) for uid in new], batch_size=CHUNK, ignore_conflicts=True)
    return new


async def _after_members_added(*, group: Group, user_ids: Sequence[int], actor: str, settings: Settings | None = None) -> int:
    """Membership changes feed auto-enrollment, in the same transaction; returns how many were enrolled."""
    from server.services import autoenroll

    return await autoenroll.members_added(group_id=group.id, user_ids=user_ids, actor=actor, settings=settings)


async def remove_group_members(*, group: str, usernames: Sequence[str], actor: str) -> Group:
    """Take users out of a group; unknown usernames are an error; their enrollments and progress stay."""
    target = await _existing_group(group)
    async with in_transaction():
        users = await _known_users(usernames)
        removed = 0
        for part in chunks([u.id for u in users.values()]):
            removed += await Membership.filter(group_id=target.id, user_id__in=part).delete()
        if removed:
            await audit.record(actor=actor, action="group.remove_members", target=f"group:{target.name}", detail={"removed": removed})
    return target


async def set_user_active(*, username: str, active: bool, actor: str, settings: Settings | None = None) -> User:
    """Deactivate a user (enrollments stay, none are added) or reactivate one (auto-enrolled groups' courses follow)."""
    from server.services import autoenroll

    name = username.strip()
    async with in_transaction():
        user = await User.get_or_none(username=name)
        if user is None:
            raise NotFound(f"No user named {name[:60]!r}")
        if user.active != active:
            user.active = active
            await user.save(update_fields=["active"])
            await audit.record(actor=actor, action="user.reactivate" if active else "user.deactivate", target=f"user:{name}")
            if active:
                await autoenroll.users_reactivated(user_ids=[user.id], actor=actor, settings=settings)
    return user


async def group_by_name(name: str) -> Group | None:
    """The group of that name; None, without a query, for a name no group can have."""
    name = name.strip()
    return await Group.get_or_none(name=name) if GROUP_RE.match(name) else None


async def search_users(*, search: str | None, first: int) -> list[User]:
    query = User.all()
    if search and "\x00" in search:
        return []  # nothing stored holds a NUL, and PostgreSQL refuses one in a query
    if search and search.strip():
        term = search.strip()
        # One query: OR of Q objects (Tortoise QuerySets cannot be combined with `|`).
        query = query.filter(Q(username__icontains=term) | Q(display_name__icontains=term) | Q(email_key__icontains=term.casefold()))
    return await query.order_by("username").limit(first)


async def search_groups(*, search: str | None, first: int) -> list[Group]:
    query = Group.all()
    if search and "\x00" in search:
        return []
    if search and search.strip():
        query = query.filter(name__icontains=search.strip())
    return await query.order_by("name").limit(first)


# --- import ---------------------------------------------------------------------------


@dataclass
class DirectoryRow:
    line: int
    username: str
    display_name: str
    email: str | None
    groups: list[str]
    active: bool


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    groups_created: int = 0
    memberships_added: int = 0
    memberships_removed: int = 0
    deactivated: int = 0
    auto_enrolled: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    # With --sync, one line per change made, for the person running it.
    changes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"users: {self.created} created, {self.updated} updated, {self.unchanged} unchanged; "
            f"groups: {self.groups_created} created; memberships: {self.memberships_added} added; "
            f"{len(self.errors)} rows rejected"
        )
        if self.memberships_removed or self.deactivated:
            text += f"; sync: {self.memberships_removed} memberships removed, {self.deactivated} users deactivated"
        if self.auto_enrolled:
            text += f"; auto-enrolled: {self.auto_enrolled} participants"
        return text


def parse_directory(text: str, *, fmt: str) -> tuple[list[DirectoryRow], list[tuple[int, str]]]:
    """CSV (username, display_name, email, groups separated by ';', active) or JSON; bad rows keep their line number."""
    rows: list[DirectoryRow] = []
    errors: list[tuple[int, str]] = []
    raw_rows: list[tuple[int, dict]] = []
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInput(f"The file is not valid JSON: {exc.msg} at line {exc.lineno}") from None
        users = data.get("users", []) if isinstance(data, dict) else data
        if not isinstance(users, list):
            raise BadInput('JSON must be a list of users or {"users": [...], "groups": [...]}')
        raw_rows = [(i + 1, u) for i, u in enumerate(users)]
        if isinstance(data, dict):
            for group in data.get("groups", []) or []:
                if isinstance(group, dict) and isinstance(group.get("name"), str):
                    for member in group.get("members", []) or []:
                        raw_rows.append((0, {"username": member, "groups": [group["name"]], "_membership_only": True}))
    else:
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "username" not in [f.strip() for f in reader.fieldnames]:
            raise BadInput("The CSV needs a header row with at least a 'username' column")
        raw_rows = [(reader.line_num, {k.strip(): v for k, v in r.items() if k}) for r in reader]
    seen: set[str] = set()
    for line, item in raw_rows:
        if not isinstance(item, dict):
            errors.append((line, "not an object"))
            continue
        try:
            username = clean_username(str(item.get("username") or ""))
            groups_raw = item.get("groups") or []
            groups = groups_raw.split(";") if isinstance(groups_raw, str) else [str(g) for g in groups_raw]
            groups = [clean_group_name(g) for g in groups if g.strip()]
            if item.get("_membership_only"):
                rows.append(DirectoryRow(line, username, "", None, groups, True))
                continue
            if username in seen:
                raise BadInput(f"user {username!r} appears twice")
            seen.add(username)
            email_raw = str(item.get("email") or "").strip()
            email = normalize_email(email_raw).email if email_raw else None
            active_raw = str(item.get("active", "true")).strip().lower()
            if active_raw not in {"true", "false", "1", "0", "yes", "no", ""}:
                raise BadInput(f"active must be true or false, not {active_raw!r}")
            rows.append(
                DirectoryRow(
                    line=line,
                    username=username,
                    display_name=str(item.get("display_name") or item.get("displayName") or "").strip()[:200],
                    email=email,
                    groups=groups,
                    active=active_raw in {"true", "1", "yes", ""},
                )
            )
        except (BadInput, InvalidEmail) as exc:
            errors.append((line, exc.message))
    return rows, errors


async def import_directory(
    *, rows: Sequence[DirectoryRow], actor: str, sync: bool = False, settings: Settings | None = None
) -> ImportReport:
    """Create or update users and memberships in bulk, in one transaction; running it twice changes nothing.

    With sync, the directory is made to match the file: see server.services.directory_sync.
    """
    report = ImportReport()
    reactivated: list[int] = []
    user_rows = [r for r in rows if r.line != 0 or r.display_name or r.email]
    async with in_transaction():
        existing = await users_by_username(r.username for r in user_rows)
        new_users = [
            User(
                username=r.username,
                display_name=r.display_name,
                email=r.email,
                email_key=r.email.casefold() if r.email else None,
                active=r.active,
            )
            for r in user_rows
            if r.username not in existing
        ]
        # An address already in the directory, or claimed by an earlier row of this file, is refused.
        claimed = await _taken_email_keys([u.email_key for u in new_users if u.email_key])
        lines = {r.username: r.line for r in user_rows}
        accepted: list[User] = []
        for user in new_users:
            if user.email_key and user.email_key in claimed:
                report.errors.append((lines[user.username], f"the address {user.email} belongs to another user"))
                continue
            if user.email_key:
                claimed.add(user.email_key)
            accepted.append(user)
        new_users = accepted
        if new_users:
            await User.bulk_create(new_users, batch_size=CHUNK)
        report.created = len(new_users)
        for r in user_rows:
            user = existing.get(r.username)
            if user is None:
                continue
            key = r.email.casefold() if r.email else None
            if (user.display_name, user.email_key, user.active) == (r.display_name, key, r.active):
                report.unchanged += 1
                continue
            was_active = user.active
            user.display_name, user.email, user.email_key, user.active = r.display_name, r.email, key, r.active
            try:
                async with in_transaction():
                    await user.save(update_fields=["display_name", "email", "email_key", "active"])
                report.updated += 1
                if r.active and not was_active:
                    reactivated.append(user.id)
                if sync:
                    turned = " (reactivated)" if r.active and not was_active else " (deactivated)" if was_active and not r.active else ""
                    report.changes.append(f"updated user {user.username}{turned}")
            except IntegrityError:
                report.errors.append((r.line, f"the address {r.email} belongs to another user"))
        all_users = await users_by_username(r.username for r in rows)
        group_names = sorted({g for r in rows for g in r.groups})
        groups = {g.name: g for g in await Group.filter(name__in=group_names)} if group_names else {}
        missing_groups = [Group(name=n) for n in group_names if n not in groups]
        if missing_groups:
            await Group.bulk_create(missing_groups, batch_size=CHUNK)
            groups = {g.name: g for g in await Group.filter(name__in=group_names)}
        report.groups_created = len(missing_groups)
        by_group: dict[str, list[int]] = {}
        for r in rows:
            if r.username in all_users:
                for g in r.groups:
                    by_group.setdefault(g, []).append(all_users[r.username].id)
        added_by_group: dict[str, list[int]] = {}
        for name, user_ids in by_group.items():
            added = await add_memberships(group_id=groups[name].id, user_ids=user_ids)
            report.memberships_added += len(added)
            added_by_group[name] = added
            if added:
                report.auto_enrolled += await _after_members_added(group=groups[name], user_ids=added, actor=actor, settings=settings)
        if sync:
            from server.services import directory_sync

            await directory_sync.apply(
                rows=rows, users=all_users, new_users=new_users, added_by_group=added_by_group, actor=actor, report=report
            )
        if reactivated:
            from server.services import autoenroll

            report.auto_enrolled += await autoenroll.users_reactivated(user_ids=reactivated, actor=actor, settings=settings)
        await audit.record(actor=actor, action="directory.import", target="directory", detail={"summary": report.summary()})
    return report


async def _taken_email_keys(keys: list[str]) -> set[str]:
    taken: set[str] = set()
    for part in chunks(keys):
        taken.update(await User.filter(email_key__in=part).values_list("email_key", flat=True))
    return taken
