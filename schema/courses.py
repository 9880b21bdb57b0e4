"""Course operations."""

from __future__ import annotations

import strawberry

from schema.context import Info
from schema.permissions import IsAdmin
from schema.types import Course
from server.services import courses


@strawberry.input
class CreateCourseInput:
    title: str
    description: str = ""
    published: bool = strawberry.field(default=False, description="Draft courses cannot be opened by participants.")


@strawberry.type
class CourseQuery:
    @strawberry.field(permission_classes=[IsAdmin])
    async def courses(self, info: Info) -> list[Course]:
        return [Course.from_model(c) for c in await courses.list_courses()]

    @strawberry.field(permission_classes=[IsAdmin])
    async def course(self, info: Info, id: strawberry.ID) -> Course | None:
        found = await courses.find_course(id)
        return Course.from_model(found) if found else None


@strawberry.type
class CourseMutation:
    @strawberry.mutation(permission_classes=[IsAdmin])
    async def create_course(self, info: Info, input: CreateCourseInput) -> Course:
        actor = (await info.context.principal()).name
        course = await courses.create_course(title=input.title, description=input.description, published=input.published, actor=actor)
        return Course.from_model(course)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def publish_course(self, info: Info, course_id: strawberry.ID) -> Course:
        actor = (await info.context.principal()).name
        return Course.from_model(await courses.publish_course(course_id=course_id, actor=actor))
