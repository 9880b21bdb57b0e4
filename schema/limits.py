"""Request limits of the GraphQL layer: query shape (depth, aliases) and 429 for rate-limited attempts."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from strawberry.extensions import AddValidationRules, SchemaExtension

from server.services.ratelimit import RateLimited


class RateLimitStatus(SchemaExtension):
    """Listed after ErrorCodes, so it sees the original errors before they are translated."""

    def on_operation(self) -> Iterator[None]:
        yield
        report_rate_limits(getattr(self.execution_context.result, "errors", None) or [], self.execution_context.context)


def report_rate_limits(errors: list[GraphQLError], context: Any) -> None:
    """A rate-limited attempt answers 429 with Retry-After (read from the untranslated errors)."""
    waits = [e.original_error.retry_after for e in errors if isinstance(e.original_error, RateLimited)]
    response = getattr(context, "response", None)
    if waits and response is not None:
        response.status_code = 429
        response.headers["retry-after"] = str(max(waits))


def document_shape(document: DocumentNode) -> tuple[int, int]:
    """(deepest nesting of fields with selections, aliases once fragments are expanded) of a document.

    Each fragment is measured once and its figures reused at every spread, so a chain of fragments that
    each spread the next twice costs linear time, not 2^n as in strawberry's limiters. Unknown and
    cyclic spreads count as nothing here: graphql-core's own rules reject them.
    """
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    measured: dict[str, tuple[int, int]] = {}
    in_progress: set[str] = set()

    def fragment(name: str) -> tuple[int, int]:
        if name in measured:
            return measured[name]
        if name not in fragments or name in in_progress:
            return 0, 0
        in_progress.add(name)
        measured[name] = selections(fragments[name].selection_set)
        in_progress.discard(name)
        return measured[name]

    def selections(selection_set: SelectionSetNode | None) -> tuple[int, int]:
        depth = aliases = 0
        for node in selection_set.selections if selection_set else ():
            if isinstance(node, FieldNode):
                inner_depth, inner_aliases = selections(node.selection_set)
                if node.selection_set and not node.name.value.startswith("__"):  # introspection: MaxIntrospectionDepthRule
                    depth = max(depth, inner_depth + 1)
                aliases += inner_aliases + (1 if node.alias else 0)
            elif isinstance(node, FragmentSpreadNode):
                inner_depth, inner_aliases = fragment(node.name.value)
                depth, aliases = max(depth, inner_depth), aliases + inner_aliases
            elif isinstance(node, InlineFragmentNode):
                inner_depth, inner_aliases = selections(node.selection_set)
                depth, aliases = max(depth, inner_depth), aliases + inner_aliases
        return depth, aliases

    shapes = [selections(d.selection_set) for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return max((d for d, _ in shapes), default=0), sum(a for _, a in shapes)


@functools.cache
def _shape_rule(max_depth: int, max_aliases: int) -> type[ValidationRule]:
    """One rule class per pair of limits: ValidationCache keys on the rule classes, so a class per request would never hit."""

    class QueryShapeRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            depth, aliases = document_shape(context.document)
            if depth > max_depth:
                context.report_error(GraphQLError(f"The query nests {depth} levels deep; at most {max_depth} are allowed"))
            if aliases > max_aliases:
                shown = f"{aliases}" if aliases < 10**6 else "over a million"
                context.report_error(GraphQLError(f"The query uses {shown} aliases; at most {max_aliases} are allowed"))

    return QueryShapeRule


class QueryShapeLimiter(AddValidationRules):
    """Depth and alias limits that see through fragments, in linear time."""

    def __init__(self, *, max_depth: int, max_aliases: int) -> None:
        super().__init__([_shape_rule(max_depth, max_aliases)])
