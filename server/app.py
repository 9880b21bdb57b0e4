"""create_app(settings): the only place that wires server/ and schema/ together."""

from __future__ import annotations

import contextlib
import gc
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from cross_web.request import StarletteRequestAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData

from schema import build_schema
from schema.context import Context, resolve_principal
from server import db
from server.config import Settings
from server.pgpool import DatabaseBusy
from server.report_csv import report_csv_endpoint
from server.services import autoenroll, ratelimit
from server.services.mailer import MailWorker
from server.web import RosterMiddleware

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
log = logging.getLogger("roster")


class RosterRequestAdapter(StarletteRequestAdapter):
    """strawberry's view of a Starlette request, keeping the request itself at hand."""

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self.starlette = request


class RosterGraphQL(GraphQL):
    """Strawberry's ASGI view, with Roster's per-request context."""

    request_adapter_class = RosterRequestAdapter

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(settings),
            graphql_ide=None if settings.production else "graphiql",
            allow_queries_via_get=False,
            multipart_uploads_enabled=False,
        )
        self.settings = settings
        self.limiter = ratelimit.Limiter(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Link checks and sign-ins in this request count against the client's address.
        address = (scope.get("client") or ("unknown", 0))[0]
        with ratelimit.bind(limiter=self.limiter, address=address):
            if scope["type"] != "http":
                await super().__call__(scope, receive, send)
                return
            request = Request(scope, receive)
            try:  # as strawberry's own __call__, with a shorter way for compiled operations
                response = await self._run_compiled(request) or await self.run(request)
            except HTTPException as e:
                response = PlainTextResponse(e.reason, status_code=e.status_code)
            await response(scope, receive, send)

    async def _run_compiled(self, request: Request) -> Response | None:
        """Answer a POSTed operation that was compiled earlier, without the general path of strawberry's
        view; None for anything else, which then takes that path (the body read here is kept for it)."""
        if request.method != "POST" or self.schema.plans is None:
            return None
        operation = await self._read_operation(RosterRequestAdapter(request))
        if operation is None or operation.extensions or not operation.query:
            return None
        plan = self.schema.plans.get(operation.query, operation.operation_name)
        if plan is None:
            return None
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, sub_response)
        result = await self.schema.run_plan(plan, variable_values=operation.variables, context_value=context)
        return self.create_response(await self.process_result(request, result), sub_response)

    def parse_json(self, data: str | bytes) -> Any:
        # Only a JSON object is a GraphQL request: anything else is the client's mistake (400), never a 500.
        try:
            parsed = super().parse_json(data)
        except UnicodeDecodeError:
            raise HTTPException(400, "The request body is not UTF-8 JSON") from None
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "The request body must be a JSON object")
        # PostgreSQL text cannot hold NUL; refuse it before it reaches a query. Strict JSON has no raw
        # control characters, so without a \u escape in the body there is no NUL to look for.
        if ("\\u" in data if isinstance(data, str) else b"\\u" in data) and _carries_nul(parsed):
            raise HTTPException(400, "NUL characters are not accepted in a request")
        return parsed

    def encode_json(self, data: object) -> bytes:
        # orjson: the same compact JSON (UTF-8 rather than \u escapes), a 10,000-row result in milliseconds.
        return orjson.dumps(data)

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData | list[GraphQLRequestData]:
        return await self._read_operation(request) or await super().parse_http_body(request)

    async def _read_operation(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData | None:
        """The usual request, a POST of one JSON operation, read without strawberry's content negotiation
        (which parses the Content-Type and Accept headers with the email package on every request), and
        read once per request. None for anything else - a stream asked for, a batch, wrong types, a body
        that is not JSON - which strawberry's parse_http_body reads, errors included."""
        state = request.starlette.state if isinstance(request, RosterRequestAdapter) else None
        if state is not None and hasattr(state, "graphql_operation"):
            return state.graphql_operation
        operation = None
        content_type = (request.content_type or "").partition(";")[0].strip().lower()
        accept = request.headers.get("accept", "")
        if request.method == "POST" and content_type == "application/json" and "event-stream" not in accept and "multipart" not in accept:
            try:
                data = self.parse_json(await request.get_body())
            except (ValueError, HTTPException):  # not JSON (JSONDecodeError is a ValueError), or refused: strawberry answers
                data = None
            if isinstance(data, dict):
                query, variables, extensions = data.get("query"), data.get("variables"), data.get("extensions")
                name = data.get("operationName")
                if isinstance(query, str | None) and isinstance(variables, dict | None) and isinstance(extensions, dict | None):
                    operation = GraphQLRequestData(query=query, variables=variables, operation_name=name, extensions=extensions)
        if state is not None:
            state.graphql_operation = operation
        return operation

    async def get_context(self, request: Request, response: Response) -> Context:  # type: ignore[override]
        return Context(request=request, response=response, settings=self.settings)


# A NUL as a JSON string character, or written as a GraphQL escape inside the query text.
_GRAPHQL_NUL = re.compile(r"\\u(0000|\{0+\})")


def _carries_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value or bool(_GRAPHQL_NUL.search(value))
    if isinstance(value, dict):
        return any(_carries_nul(k) or _carries_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_carries_nul(v) for v in value)
    return False


def create_app(settings: Settings) -> Starlette:
    graphql = RosterGraphQL(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        await db.init_db(settings)
        # Delivery runs in the server unless ROSTER_MAIL_WORKER=0 (then `roster mail-worker` runs it).
        mail_worker = MailWorker(settings) if settings.mail_worker else None
        if mail_worker is not None:
            mail_worker.start()
        auto_enroll = autoenroll.start_periodic(settings)
        tune_gc()
        try:
            yield {}
        finally:
            if mail_worker is not None:
                await mail_worker.stop()
            await autoenroll.stop_periodic(auto_enroll)
            await graphql.limiter.close()
            await db.close_db()

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        try:
            pending = await db.pending_migrations_count()
        except Exception:  # noqa: BLE001 -- any failure to reach the database means not ready
            return JSONResponse({"ready": False, "reason": "database unreachable"}, status_code=503)
        if pending:
            return JSONResponse({"ready": False, "reason": "migrations pending"}, status_code=503)
        return JSONResponse({"ready": True})

    def page(name: str) -> Any:
        async def endpoint(request: Request) -> Response:
            return FileResponse(STATIC_DIR / name, headers={"cache-control": "no-store"})

        return endpoint

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/reports/{course_id}.csv", report_csv_endpoint(resolve_principal)),
        Route("/", page("index.html")),
        Route("/learn", page("learn.html")),
        Route("/learning", page("learning.html")),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR, check_dir=False), name="static"),
    ]

    async def database_busy(request: Request, exc: Exception) -> Response:
        # Outside GraphQL (the CSV export), an exhausted pool is a 503 saying when to retry, not a bare 500.
        return PlainTextResponse(f"{exc}\n", status_code=503, headers={"retry-after": "5"})

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={DatabaseBusy: database_busy})
    app.state.settings = settings
    app.add_middleware(RosterMiddleware, settings=settings)
    return app


# Young objects collected every 10,000 allocations instead of 700: a request that builds a
# 10,000-row result is not interrupted by hundreds of collections that each walk what it built.
GC_THRESHOLDS = (10_000, 20, 20)


def tune_gc() -> None:
    """Once the app has started: everything loaded so far (modules, schema, templates) lives for the
    whole process, so it is moved out of the collector's sight, and young collections run less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def app_from_env() -> Starlette:
    """The uvicorn factory: settings from the environment, read once per process."""
    return create_app(Settings.from_env())
