"""Tortoise models, one module per aggregate."""

from server.models.audit import AuditEvent
from server.models.auth import ApiToken, Session
from server.models.courses import Choice, Course, Lesson, Question, Quiz
from server.models.directory import Group, Membership, User
from server.models.outbox import OutboxMessage
from server.models.participants import (
    AutoEnrollRule,
    EmailStatus,
    EnrollmentExclusion,
    LessonCompletion,
    Participant,
    ParticipantKind,
    ParticipantStatus,
    QuizAttempt,
)

__all__ = [
    "ApiToken",
    "AuditEvent",
    "AutoEnrollRule",
    "Choice",
    "Course",
    "EmailStatus",
    "EnrollmentExclusion",
    "Group",
    "Lesson",
    "LessonCompletion",
    "Membership",
    "OutboxMessage",
    "Participant",
    "ParticipantKind",
    "ParticipantStatus",
    "Question",
    "Quiz",
    "QuizAttempt",
    "Session",
    "User",
]
