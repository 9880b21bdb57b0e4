"""Demo data for a first start: a course, a dozen users, two groups, an admin token."""

from __future__ import annotations

from server.config import Settings
from server.models import Course
from server.services import auth, courses, directory

DEMO_USERS = [
    ("alice", "Alice Martin"),
    ("bob", "Bob Nguyen"),
    ("carol", "Carol Diaz"),
    ("dave", "Dave Okafor"),
    ("erin", "Erin Kowalski"),
    ("frank", "Frank Moreau"),
    ("grace", "Grace Lee"),
    ("heidi", "Heidi Schmidt"),
    ("ivan", "Ivan Petrov"),
    ("judy", "Judy Haddad"),
    ("mallory", "Mallory Jones"),
    ("oscar", "Oscar Silva"),
]
GROUPS = {"sales": DEMO_USERS[:6], "engineering": DEMO_USERS[6:]}


async def seed(*, settings: Settings, only_if_empty: bool) -> str | None:
    if only_if_empty and await Course.exists():
        return None
    rows = [
        directory.DirectoryRow(
            line=i + 1,
            username=name,
            display_name=display,
            email=f"{name}@example.com",
            groups=[g for g, members in GROUPS.items() if (name, display) in members],
            active=True,
        )
        for i, (name, display) in enumerate(DEMO_USERS)
    ]
    await directory.import_directory(rows=rows, actor="demo")
    course = await courses.create_course(
        title="Welcome to Roster",
        description="A short demo course: two lessons and a quiz.",
        published=True,
        actor="demo",
    )
    _, secret = await auth.create_token(name="demo admin", scope="admin", actor="demo")
    return (
        f"Demo ready: course {course.id} {course.title!r}, {len(DEMO_USERS)} users, groups {', '.join(GROUPS)}; "
        f"admin API token (shown once): {secret}"
    )
