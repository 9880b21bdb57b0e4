"""HTTP plumbing that is not GraphQL: request ids, security headers, body limits, access log."""

from __future__ import annotations

import logging
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.config import Settings

access_log = logging.getLogger("roster.access")

# Pages are our own static files: scripts and styles only from this origin, nothing inline.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
# GraphiQL (development only) loads its bundle from strawberry's CDN choice; never in production.
GRAPHIQL_CSP = "frame-ancestors 'none'"


class RosterMiddleware:
    """One pure-ASGI layer for every response: cheap enough to sit on the hot path."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.max_body = settings.max_body_bytes
        self.hsts = settings.public_url.startswith("https://")
        self.graphiql = not settings.production

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder = [0]
        headers_in = dict(scope["headers"])
        length = headers_in.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _plain(send, 413, b"The request body is too large.", self._security_headers(scope["path"], request_id, set()))
            self._log(scope, 413, started, request_id)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge
            return message

        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                names = {k.lower() for k, _ in headers}
                headers += self._security_headers(path, request_id, names, page=scope["method"] == "GET")
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except BodyTooLarge:
            await _plain(send, 413, b"The request body is too large.", self._security_headers(path, request_id, set()))
            status_holder[0] = 413
        self._log(scope, status_holder[0], started, request_id)

    def _security_headers(self, path: str, request_id: str, present: set[bytes], page: bool = False) -> list[tuple[bytes, bytes]]:
        is_graphiql = self.graphiql and page and path == "/graphql"  # the GraphiQL page only, not API answers
        csp = GRAPHIQL_CSP if is_graphiql else (API_CSP if path.startswith(("/graphql", "/reports", "/healthz", "/readyz")) else PAGE_CSP)
        headers = [
            (b"x-request-id", request_id.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"content-security-policy", csp.encode()),
        ]
        if b"cache-control" not in present:
            # Anything that can carry participant data or credentials is never cached.
            headers.append((b"cache-control", b"no-store"))
        if self.hsts:
            headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
        return headers

    def _log(self, scope: Scope, status: int, started: float, request_id: str) -> None:
        # The path only: no query string, no headers, so no token or link can reach the log.
        client = scope.get("client") or ("-", 0)
        access_log.info(
            '%s "%s %s" %s %.1fms rid=%s',
            client[0],
            scope["method"],
            scope["path"],
            status,
            (time.perf_counter() - started) * 1000,
            request_id,
        )


class BodyTooLarge(Exception):
    pass


async def _plain(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    # The security headers (request id included) go on refusals too.
    start = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start + headers})
    await send({"type": "http.response.body", "body": body})
