"""Demo data for a first start: a course with content, a dozen users, two groups, a manager and an admin token."""

from __future__ import annotations

import secrets

from server.config import Settings
from server.models import Course
from server.services import auth, courses, directory, learning

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
LESSONS = [
    ("Your personal link", "Your link opens this course **without signing in** and never expires.\n\nDo not forward or share it."),
    ("Finding your courses", "Internal users also see their courses on the *My learning* page."),
]
QUIZ = [
    learning.QuestionSpec(
        text="Who may use your personal link?",
        choices=[learning.ChoiceSpec("Only me", True), learning.ChoiceSpec("Anyone I forward it to", False)],
    ),
    learning.QuestionSpec(
        text="Does the link expire?",
        choices=[learning.ChoiceSpec("No, never", True), learning.ChoiceSpec("Yes, after a week", False)],
    ),
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
    for title, body in LESSONS:
        await learning.create_lesson(course_id=course.id, title=title, body=body, actor="demo")
    await learning.set_quiz(course_id=course.id, pass_mark=50, max_attempts=3, questions=QUIZ, actor="demo")
    # A manager for the web UI; the password, like the token, is shown once and only its hash is kept.
    password = secrets.token_urlsafe(12)
    admin = await directory.create_user(username="admin", display_name="Demo manager", actor="demo")
    admin.is_admin = True
    await admin.save(update_fields=["is_admin"])
    await auth.set_password(username="admin", password=password, actor="demo")
    _, secret = await auth.create_token(name="demo admin", scope="admin", actor="demo")
    return (
        f"Demo ready: course {course.id} {course.title!r} (2 lessons, a quiz), {len(DEMO_USERS)} users, groups {', '.join(GROUPS)}; "
        f"sign in to the web UI as admin with password {password} and use the admin API token {secret} (both shown once)"
    )
