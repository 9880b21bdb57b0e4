"""Errors as clients see them: a code in extensions, and nothing unexpected unmasked."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from tortoise.exceptions import ValidationError

from server.services.errors import RosterError

log = logging.getLogger("roster.graphql")
MASKED = "Something went wrong on our side. Quote reference {rid} if you report it."


class ErrorCodes(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = translate_errors(errors, self.execution_context.context)


def translate_errors(errors: list[GraphQLError], context: Any) -> list[GraphQLError]:
    """Each error as the client sees it: a code, and unexpected ones masked (and logged)."""
    return [_translate(error, context) for error in errors]


def _translate(error: GraphQLError, context: Any) -> GraphQLError:
    original = error.original_error
    if isinstance(original, RosterError):
        return GraphQLError(original.message, error.nodes, path=error.path, extensions={"code": original.code})
    if isinstance(original, ValidationError):  # a value that cannot fit its column: only input gets there
        field = str(original).split(":", 1)[0] if ":" in str(original) else "a value"
        message = f"{field[:40]} is too long or not allowed here"
        return GraphQLError(message, error.nodes, path=error.path, extensions={"code": "BAD_USER_INPUT"})
    if original is None:  # parsing, validation: the request is at fault
        code = (error.extensions or {}).get("code") or "GRAPHQL_VALIDATION_FAILED"
        return GraphQLError(error.message, error.nodes, path=error.path, extensions={"code": code})
    if isinstance(original, GraphQLError):  # a variable of the wrong type (an ID given as 3.5): the request is at fault
        code = (error.extensions or {}).get("code") or (original.extensions or {}).get("code") or "BAD_USER_INPUT"
        return GraphQLError(error.message, error.nodes, path=error.path, extensions={"code": code})
    rid = getattr(getattr(context, "request", None), "state", None)
    rid = getattr(rid, "request_id", "-")
    log.error("unexpected error in %s (request %s)", ".".join(map(str, error.path or [])), rid, exc_info=original)
    return GraphQLError(MASKED.format(rid=rid), error.nodes, path=error.path, extensions={"code": "INTERNAL_SERVER_ERROR"})


def code_early_errors(errors: list[GraphQLError]) -> None:
    """Parse and validation errors never reach ErrorCodes.on_operation's result: give them their code here."""
    for error in errors:
        if error.path is not None or (error.extensions or {}).get("code"):
            continue  # execution errors (they have a path) are ErrorCodes' to translate
        original = error.original_error
        if original is not None and not isinstance(original, GraphQLError):
            log.error("unexpected error before execution", exc_info=original)
            error.message = MASKED.format(rid="-")
            error.extensions = {"code": "INTERNAL_SERVER_ERROR"}
        elif error.message.startswith("Syntax Error"):
            error.extensions = {"code": "GRAPHQL_PARSE_FAILED"}
        elif isinstance(original, GraphQLError):  # a variable of the wrong type (an ID given as 3.5)
            error.extensions = {"code": "BAD_USER_INPUT"}
        else:
            error.extensions = {"code": "GRAPHQL_VALIDATION_FAILED"}
