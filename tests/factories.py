"""Small factory functions for test data, written through the services like real use."""

from __future__ import annotations

from server.config import Settings
from server.models import Course, Group, User
from server.services import courses, directory, enrollment


async def make_user(username: str, *, email: str | None = None, active: bool = True, display_name: str = "") -> User:
    user = await directory.create_user(username=username, display_name=display_name or username.title(), email=email, actor="test")
    if not active:
        user.active = False
        await user.save(update_fields=["active"])
    return user


async def make_users(count: int, prefix: str = "user") -> list[User]:
    rows = [
        directory.DirectoryRow(
            line=i + 1, username=f"{prefix}{i:05d}", display_name=f"User {i}", email=f"{prefix}{i:05d}@corp.example", groups=[], active=True
        )
        for i in range(count)
    ]
    await directory.import_directory(rows=rows, actor="test")
    return await User.filter(username__startswith=prefix).order_by("username")


async def make_group(name: str, members: list[str]) -> Group:
    return await directory.create_group(name=name, members=members, actor="test")


async def make_course(title: str = "Safety basics", *, published: bool = True) -> Course:
    return await courses.create_course(title=title, published=published, actor="test")


async def enroll_emails(settings: Settings, course: Course, *emails: str) -> enrollment.EnrollmentResult:
    return await enrollment.enroll_external(settings=settings, course_id=course.id, emails=list(emails), send_email=False, actor="test")


async def enroll_usernames(settings: Settings, course: Course, *names: str) -> enrollment.EnrollmentResult:
    return await enrollment.enroll_users(settings=settings, course_id=course.id, usernames=list(names), send_email=False, actor="test")
