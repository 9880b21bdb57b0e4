"""The GraphQL face of Roster: thin translation between GraphQL and server.services."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import strawberry
from strawberry.extensions import (
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.tools import merge_types

from schema.audit import AuditMutation, AuditQuery
from schema.autoenroll import AutoEnrollMutation, AutoEnrollQuery
from schema.courses import CourseMutation, CourseQuery
from schema.directory import DirectoryMutation, DirectoryQuery
from schema.enrollment import EnrollmentMutation, EnrollmentQuery
from schema.errors import ErrorCodes, code_early_errors
from schema.learning import LearningMutation
from schema.limits import QueryShapeLimiter, RateLimitStatus
from schema.mail import MailMutation
from schema.reports import ReportQuery
from schema.session import SessionMutation, SessionQuery
from server.config import Settings

SDL_PATH = Path(__file__).with_name("schema.graphql")

Query = merge_types("Query", (CourseQuery, AutoEnrollQuery, DirectoryQuery, ReportQuery, EnrollmentQuery, SessionQuery, AuditQuery))
Mutation = merge_types(
    "Mutation",
    (
        DirectoryMutation,
        AutoEnrollMutation,
        CourseMutation,
        EnrollmentMutation,
        LearningMutation,
        SessionMutation,
        AuditMutation,
        MailMutation,
    ),
)


class RosterSchema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:  # type: ignore[no-untyped-def]
        """Errors are logged by ErrorCodes, once and without request data; early ones get their code here."""
        code_early_errors(errors)


def build_schema(settings: Settings) -> strawberry.Schema:
    # Factories, so each request gets fresh extension state; the parse and validation caches
    # are module-level and shared. The token limit sets the parser's option, so it runs first.
    extensions: list = [
        ErrorCodes,
        RateLimitStatus,
        partial(MaxTokensLimiter, max_token_count=settings.max_query_tokens),
        partial(ParserCache, maxsize=512),
        partial(QueryShapeLimiter, max_depth=settings.max_query_depth, max_aliases=settings.max_aliases),
        partial(ValidationCache, maxsize=512),
    ]
    if settings.production:
        extensions.append(DisableIntrospection)
    return RosterSchema(query=Query, mutation=Mutation, extensions=extensions)


def sdl() -> str:
    return strawberry.Schema(query=Query, mutation=Mutation).as_str() + "\n"
