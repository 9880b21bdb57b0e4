"""Group auto-enrollment: courses that follow group membership."""

from __future__ import annotations

from collections.abc import Sequence


async def members_added(*, group_id: int, user_ids: Sequence[int], actor: str) -> None:
    """Called inside the membership change's transaction; enrolls the new members where a rule asks for it."""
    # No auto-enrollment rules exist yet: that is issue 7's work.
    return None
