"""Courses and their content: ordered lessons and an optional quiz."""

from tortoise import fields
from tortoise.models import Model


class Course(Model):
    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    published = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "courses"


class Lesson(Model):
    id = fields.IntField(primary_key=True)
    course: fields.ForeignKeyRelation[Course] = fields.ForeignKeyField("models.Course", related_name="lessons", on_delete=fields.CASCADE)
    position = fields.IntField()
    title = fields.CharField(max_length=200)
    body = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "lessons"
        ordering = ["position", "id"]


class Quiz(Model):
    id = fields.IntField(primary_key=True)
    course: fields.OneToOneRelation[Course] = fields.OneToOneField("models.Course", related_name="quiz", on_delete=fields.CASCADE)
    pass_mark = fields.IntField(default=80)
    max_attempts = fields.IntField(null=True)

    class Meta:
        table = "quizzes"


class Question(Model):
    id = fields.IntField(primary_key=True)
    quiz: fields.ForeignKeyRelation[Quiz] = fields.ForeignKeyField("models.Quiz", related_name="questions", on_delete=fields.CASCADE)
    position = fields.IntField()
    text = fields.TextField()

    class Meta:
        table = "questions"
        ordering = ["position", "id"]


class Choice(Model):
    id = fields.IntField(primary_key=True)
    question: fields.ForeignKeyRelation[Question] = fields.ForeignKeyField(
        "models.Question", related_name="choices", on_delete=fields.CASCADE
    )
    position = fields.IntField()
    text = fields.TextField()
    correct = fields.BooleanField(default=False)

    class Meta:
        table = "choices"
        ordering = ["position", "id"]
