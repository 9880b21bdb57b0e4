"""Directory sync: `roster import-directory --sync` makes users and memberships match the file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from server.models import Membership, User
from server.services import audit
from server.services.directory import chunks

if TYPE_CHECKING:
    from server.services.directory import DirectoryRow, ImportReport


async def apply(
    *,
    rows: Sequence[DirectoryRow],
    users: dict[str, User],
    new_users: Sequence[User],
    added_by_group: dict[str, list[int]],
    actor: str,
    report: ImportReport,
) -> None:
    """After the import's additions: deactivate users the file leaves out, drop memberships it does not list, report each change."""
    names_by_id = {u.id: u.username for u in users.values()}
    report.changes += [f"created user {u.username}" for u in new_users]
    for group, user_ids in added_by_group.items():
        report.changes += [f"added {names_by_id[uid]} to {group}" for uid in user_ids]

    listed = {r.username for r in rows}
    missing = [
        (uid, name, admin)
        for uid, name, admin in await User.filter(active=True).values_list("id", "username", "is_admin")
        if name not in listed
    ]
    # An admin left out of an HR export keeps the ability to sign in and repair things.
    kept = sorted(name for _, name, admin in missing if admin)
    deactivate = sorted((name, uid) for uid, name, admin in missing if not admin)
    for part in chunks([uid for _, uid in deactivate]):
        await User.filter(id__in=part).update(active=False)
    report.deactivated = len(deactivate)
    report.changes += [f"deactivated {name} (not in the file)" for name, _ in deactivate]
    report.changes += [f"kept admin {name} active (not in the file)" for name in kept]

    wanted = {(group, r.username) for r in rows for group in r.groups}
    current = await Membership.all().order_by("id").values_list("id", "group__name", "user__username")
    extra = [(mid, group, name) for mid, group, name in current if (group, name) not in wanted]
    for part in chunks([mid for mid, _, _ in extra]):
        await Membership.filter(id__in=part).delete()
    report.memberships_removed = len(extra)
    report.changes += [f"removed {name} from {group}" for _, group, name in sorted(extra, key=lambda e: (e[1], e[2]))]

    if deactivate or extra:
        await audit.record(
            actor=actor,
            action="directory.sync",
            target="directory",
            detail={"deactivated": [name for name, _ in deactivate], "memberships_removed": [[g, n] for _, g, n in extra]},
        )
