"""HTTP status for a refused attempt: a rate-limited operation answers 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from server.services.ratelimit import RateLimited


class RateLimitStatus(SchemaExtension):
    """Listed after ErrorCodes, so it sees the original errors before they are translated."""

    def on_operation(self) -> Iterator[None]:
        yield
        errors = getattr(self.execution_context.result, "errors", None) or []
        waits = [e.original_error.retry_after for e in errors if isinstance(e.original_error, RateLimited)]
        response = getattr(self.execution_context.context, "response", None)
        if waits and response is not None:
            response.status_code = 429
            response.headers["retry-after"] = str(max(waits))
