"""Courses: creation, listing and publishing."""

from __future__ import annotations

from server.models import Course
from server.services import audit
from server.services.errors import BadInput, NotFound, parse_id


def clean_title(raw: str) -> str:
    title = raw.strip()
    if not title or len(title) > 200 or any(ord(c) < 32 for c in title):
        raise BadInput("A course title needs 1 to 200 characters on one line")
    return title


async def create_course(*, title: str, description: str = "", published: bool = False, actor: str) -> Course:
    course = await Course.create(title=clean_title(title), description=description.strip()[:20_000], published=published)
    await audit.record(
        actor=actor, action="course.create", target=f"course:{course.id}", course_id=course.id, detail={"title": course.title}
    )
    return course


async def list_courses() -> list[Course]:
    return await Course.all().order_by("-id")


async def find_course(course_id: str | int) -> Course | None:
    return await Course.get_or_none(id=parse_id(course_id, what="course"))


async def publish_course(*, course_id: str | int, actor: str) -> Course:
    course = await find_course(course_id)
    if course is None:
        raise NotFound(f"No course with id {course_id}")
    if not course.published:
        course.published = True
        await course.save(update_fields=["published"])
        await audit.record(actor=actor, action="course.publish", target=f"course:{course.id}", course_id=course.id)
    return course
