"""Shared fixtures: a real database (SQLite file or PostgreSQL), the app, and factories.

ROSTER_TEST_DATABASE_URL picks the database: unset means a SQLite file in a temporary
folder; a postgres:// URL names a server on which a fresh database is created per run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import httpx
import pytest
from tortoise import connections

from server import db
from server.app import create_app
from server.config import Settings
from server.services import auth

TEST_KEY = "test-signing-key-0123456789abcdef0123456789"


def _database_url(tmp: Path) -> tuple[str, str | None]:
    url = os.environ.get("ROSTER_TEST_DATABASE_URL", "").strip()
    if not url or url.startswith("sqlite"):
        return f"sqlite://{tmp / 'roster-test.sqlite3'}", None
    name = f"roster_test_{uuid.uuid4().hex[:10]}"
    base = url.rsplit("/", 1)[0]
    return f"{base}/{name}", name


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    tmp = tmp_path_factory.mktemp("roster")
    url, _ = _database_url(tmp)
    yield Settings(
        database_url=url,
        secret_keys=(TEST_KEY,),
        public_url="http://roster.test",
        env="test",
        var_dir=tmp / "var",
        mail_worker=False,
    )


@pytest.fixture(scope="session")
async def database(base_settings: Settings) -> AsyncIterator[Settings]:
    """Create (on PostgreSQL), migrate and open the test database once per run."""
    url = base_settings.database_url
    admin_url = None
    if not base_settings.is_sqlite:
        admin_url = url.rsplit("/", 1)[0] + "/postgres"
        name = url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(admin_url)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
    await db.migrate(base_settings)
    await db.init_db(base_settings)
    yield base_settings
    await db.close_db()
    if admin_url:
        conn = await asyncpg.connect(admin_url)
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        await conn.close()


TABLES = [
    "outbox_messages",
    "quiz_attempts",
    "lesson_completions",
    "enrollment_exclusions",
    "auto_enroll_rules",
    "participants",
    "choices",
    "questions",
    "quizzes",
    "lessons",
    "courses",
    "sessions",
    "api_tokens",
    "audit_events",
    "memberships",
    "groups",
    "users",
]


async def wipe() -> None:
    conn = connections.get("default")
    if db.is_postgres():
        await conn.execute_script(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    else:
        await conn.execute_script("".join(f"DELETE FROM {t};" for t in TABLES) + "DELETE FROM sqlite_sequence;")


@pytest.fixture
async def settings(database: Settings) -> AsyncIterator[Settings]:
    """A clean database for every test."""
    await wipe()
    yield database


@pytest.fixture
def app(settings: Settings):
    return create_app(settings)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://roster.test") as c:
        yield c


@pytest.fixture
async def admin_token(settings: Settings) -> str:
    _, secret = await auth.create_token(name="test admin", scope="admin", actor="test")
    return secret


@pytest.fixture
async def reports_token(settings: Settings) -> str:
    _, secret = await auth.create_token(name="test reports", scope="reports:read", actor="test")
    return secret


class GraphQLClient:
    """Posts GraphQL as a browser or integration would, with an optional credential."""

    def __init__(self, client: httpx.AsyncClient, token: str | None = None) -> None:
        self.client = client
        self.token = token

    async def raw(self, query: str, variables: dict | None = None, token: str | None = None) -> httpx.Response:
        headers = {}
        if token or self.token:
            headers["authorization"] = f"Bearer {token or self.token}"
        return await self.client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)

    async def __call__(self, query: str, variables: dict | None = None, token: str | None = None) -> dict:
        response = await self.raw(query, variables, token)
        assert response.status_code == 200, response.text
        return response.json()

    async def data(self, query: str, variables: dict | None = None, token: str | None = None) -> dict:
        body = await self(query, variables, token)
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture
def gql(client: httpx.AsyncClient, admin_token: str) -> GraphQLClient:
    return GraphQLClient(client, admin_token)


def error_code(body: dict) -> str:
    assert body.get("errors"), f"expected an error, got {body}"
    return body["errors"][0]["extensions"]["code"]


# Statement counts asserted by the tests, as the benchmarks count them.
count_queries = db.count_statements


def with_settings(settings: Settings, **changes) -> Settings:
    return replace(settings, **changes)
