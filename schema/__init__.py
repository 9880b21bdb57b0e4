"""The GraphQL face of Roster: thin translation between GraphQL and server.services."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

import strawberry
from strawberry.extensions import (
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.tools import merge_types
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from schema.audit import AuditMutation, AuditQuery
from schema.autoenroll import AutoEnrollMutation, AutoEnrollQuery
from schema.compiled import CompileOperations, Plan, PlanCache
from schema.courses import CourseMutation, CourseQuery
from schema.directory import DirectoryMutation, DirectoryQuery
from schema.enrollment import EnrollmentMutation, EnrollmentQuery
from schema.errors import ErrorCodes, code_early_errors, translate_errors
from schema.learning import LearningMutation
from schema.limits import QueryShapeLimiter, RateLimitStatus, report_rate_limits
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
    def __init__(self, *args: Any, compile_operations: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Operations compiled by CompileOperations; None runs everything through graphql-core.
        self.plans: PlanCache | None = PlanCache(maxsize=512) if compile_operations else None

    async def execute(  # type: ignore[override]
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """A document compiled earlier runs straight away: its parsing, limits and validation passed
        then and cannot change, so the extensions have nothing left to do but translate errors."""
        plan = self.plans.get(query, operation_name) if self.plans is not None and query and not operation_extensions else None
        if plan is None or (allowed_operation_types is not None and plan.operation_type not in allowed_operation_types):
            return await super().execute(
                query, variable_values, context_value, root_value, operation_name, allowed_operation_types, operation_extensions
            )
        return await self.run_plan(plan, variable_values=variable_values, context_value=context_value, root_value=root_value)

    async def run_plan(
        self, plan: Plan, *, variable_values: dict[str, Any] | None, context_value: Any, root_value: Any = None
    ) -> ExecutionResult:
        """Execute a compiled operation and give its errors their codes, as the extensions would."""
        result = await plan.execute(self._schema, root_value=root_value, context_value=context_value, variable_values=variable_values)
        errors = result.errors
        if errors:
            self._process_errors(errors)
            report_rate_limits(errors, context_value)
            errors = translate_errors(errors, context_value)
        return ExecutionResult(data=result.data, errors=errors or None)

    def process_errors(self, errors, execution_context=None) -> None:  # type: ignore[no-untyped-def]
        """Errors are logged by ErrorCodes, once and without request data; early ones get their code here."""
        code_early_errors(errors)


def build_schema(settings: Settings, *, compile_operations: bool = True) -> RosterSchema:
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
    # Last: it runs the operation the others have let through. Once compiled, a document skips all
    # of them (RosterSchema.execute): they only parse, limit and validate, which cannot change for
    # the same text, and translate errors, which execute does itself. An extension with work to do
    # on every request would have to be mirrored there.
    extensions.append(CompileOperations)
    return RosterSchema(query=Query, mutation=Mutation, extensions=extensions, compile_operations=compile_operations)


def sdl() -> str:
    return strawberry.Schema(query=Query, mutation=Mutation).as_str() + "\n"
