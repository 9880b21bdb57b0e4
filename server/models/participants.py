"""Participants of a course, their progress, and the rules that enroll them."""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class ParticipantKind(StrEnum):
    INTERNAL = "INTERNAL"
    EXTERNAL = "EXTERNAL"


class ParticipantStatus(StrEnum):
    NOT_STARTED = "NOT_STARTED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    PASSED = "PASSED"
    FAILED = "FAILED"


class EmailStatus(StrEnum):
    NOT_SENT = "NOT_SENT"
    QUEUED = "QUEUED"
    SENT = "SENT"
    FAILED = "FAILED"


class Participant(Model):
    id = fields.IntField(primary_key=True)
    course = fields.ForeignKeyField("models.Course", related_name="participants", on_delete=fields.CASCADE)
    kind = fields.CharEnumField(ParticipantKind, max_length=8)
    user = fields.ForeignKeyField("models.User", related_name="participations", null=True, on_delete=fields.CASCADE)
    # External participants: the normalized address; email_key is its case-folded form.
    email = fields.CharField(max_length=320, null=True)
    email_key = fields.CharField(max_length=320, null=True)
    # What the report shows: the username (internal) or the email (external).
    name = fields.CharField(max_length=320)
    enrolled_via = fields.CharField(max_length=200, null=True)
    enrolled_at = fields.DatetimeField(auto_now_add=True)
    # sha256 of the link's token; the token itself is never stored.
    link_hash = fields.CharField(max_length=64, unique=True)
    status = fields.CharEnumField(ParticipantStatus, max_length=12, default=ParticipantStatus.NOT_STARTED)
    progress = fields.FloatField(default=0.0)
    score = fields.IntField(null=True)
    attempts = fields.IntField(default=0)
    started_at = fields.DatetimeField(null=True)
    completed_at = fields.DatetimeField(null=True)
    last_activity_at = fields.DatetimeField(null=True)
    email_status = fields.CharEnumField(EmailStatus, max_length=8, default=EmailStatus.NOT_SENT)
    email_error = fields.TextField(null=True)
    email_sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "participants"
        # One (course, user) and one (course, email): a double enrollment cannot be written.
        unique_together = (("course", "user"), ("course", "email_key"))
        # The report's orders: a page reads 100 rows from an index instead of sorting the whole course.
        indexes = (("course_id", "name"), ("course_id", "status"), ("course_id", "id"), ("course_id", "progress"))


class LessonCompletion(Model):
    id = fields.IntField(primary_key=True)
    participant = fields.ForeignKeyField("models.Participant", related_name="completions", on_delete=fields.CASCADE)
    lesson = fields.ForeignKeyField("models.Lesson", related_name="completions", on_delete=fields.CASCADE)
    completed_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "lesson_completions"
        unique_together = (("participant", "lesson"),)


class QuizAttempt(Model):
    id = fields.IntField(primary_key=True)
    participant = fields.ForeignKeyField("models.Participant", related_name="quiz_attempts", on_delete=fields.CASCADE)
    number = fields.IntField()
    score = fields.IntField()
    passed = fields.BooleanField()
    answers = fields.JSONField(default=dict)
    submitted_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "quiz_attempts"
        # The attempt limit holds under concurrent submissions.
        unique_together = (("participant", "number"),)


class AutoEnrollRule(Model):
    id = fields.IntField(primary_key=True)
    course = fields.ForeignKeyField("models.Course", related_name="auto_enroll_rules", on_delete=fields.CASCADE)
    group = fields.ForeignKeyField("models.Group", related_name="auto_enroll_rules", on_delete=fields.CASCADE)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "auto_enroll_rules"
        unique_together = (("course", "group"),)


class EnrollmentExclusion(Model):
    """A user a manager removed from a course: auto-enrollment must not bring them back."""

    id = fields.IntField(primary_key=True)
    course = fields.ForeignKeyField("models.Course", related_name="exclusions", on_delete=fields.CASCADE)
    user = fields.ForeignKeyField("models.User", related_name="exclusions", on_delete=fields.CASCADE)
    removed_by = fields.CharField(max_length=200)
    removed_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "enrollment_exclusions"
        unique_together = (("course", "user"),)
