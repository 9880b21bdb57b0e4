"""Database wiring: the Tortoise config, start-up, and migrations."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api import migrate as tortoise_migrate

from server.config import Settings

MODELS = ["server.models"]
# Any fixed 64-bit number: all Roster processes agree on it, nothing else uses it.
MIGRATION_LOCK_ID = 0x526F73746572


def database_url(settings: Settings) -> str:
    """The configured URL, with the pool size applied and SQLite's folder created."""
    url = settings.database_url
    if url.startswith("sqlite://") and url != "sqlite://:memory:":
        path = Path(url.removeprefix("sqlite://").split("?", 1)[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        return url
    if url.startswith(("postgres://", "postgresql://", "asyncpg://")):
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        query.setdefault("maxsize", str(settings.db_pool_max))
        query.setdefault("minsize", "1")
        return urlunsplit(parts._replace(query=urlencode(query)))
    return url


def connection_config(settings: Settings) -> str | dict[str, Any]:
    """Tortoise's connection entry; PostgreSQL goes through server.pgpool for its bounded acquire."""
    url = database_url(settings)
    if settings.is_sqlite:
        return url
    expanded = expand_db_url(url)
    if expanded["engine"] != "tortoise.backends.asyncpg":
        return url
    credentials = {**expanded["credentials"], "acquire_timeout": settings.db_pool_timeout}
    return {"engine": "server.pgpool", "credentials": credentials}


def tortoise_config(settings: Settings) -> dict[str, Any]:
    return {
        "connections": {"default": connection_config(settings)},
        "apps": {
            "models": {
                "models": MODELS,
                "default_connection": "default",
                "migrations": "server.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _config_from_env() -> dict[str, Any]:
    return tortoise_config(Settings.from_env())


def __getattr__(name: str) -> Any:
    # `tortoise -c server.db.TORTOISE_ORM makemigrations` reads this; computed on use, so importing
    # server.db never reads the environment (a bad production config is reported by `roster`, not a traceback).
    if name == "TORTOISE_ORM":
        return _config_from_env()
    raise AttributeError(name)


async def init_db(settings: Settings) -> None:
    """Open the ORM for this process; request tasks see it through the global fallback."""
    await Tortoise.init(config=tortoise_config(settings), _enable_global_fallback=True)


async def close_db() -> None:
    await connections.close_all()


def is_postgres() -> bool:
    return connections.get("default").capabilities.dialect == "postgres"


# Query options Tortoise's asyncpg client consumes itself; asyncpg.connect would send them to the server as settings.
TORTOISE_ONLY_OPTIONS = {"minsize", "maxsize", "max_queries", "max_inactive_connection_lifetime", "schema", "application_name"}


def lock_dsn(settings: Settings) -> str:
    """The database URL as asyncpg.connect takes it, for the migration lock's own session."""
    parts = urlsplit(settings.database_url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key not in TORTOISE_ONLY_OPTIONS]
    return urlunsplit(parts._replace(scheme="postgres", query=urlencode(query)))


async def migrate(settings: Settings) -> None:
    """Apply every pending migration; on PostgreSQL, under an advisory lock so racing processes migrate once."""
    config = tortoise_config(settings)
    if settings.is_sqlite:
        try:
            await tortoise_migrate(config=config)
        finally:
            await close_db()
        return
    import asyncpg

    conn = await asyncpg.connect(lock_dsn(settings))
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        try:
            await tortoise_migrate(config=config)
        finally:
            await close_db()
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    finally:
        await conn.close()


async def pending_migrations_count() -> int:
    """How many migrations the open database still lacks (0 when the schema is current)."""
    from tortoise.migrations.executor import MigrationExecutor

    connection = connections.get("default")
    # Tortoise reads the applied list as empty when the query fails, so an unreachable database
    # would pass for an unmigrated one: ask it something first, and let that failure raise.
    await connection.execute_query("SELECT 1")
    executor = MigrationExecutor(connection, {"models": {"migrations": "server.migrations", "models": MODELS}})
    return len(await executor.plan(None))


def describe(settings: Settings) -> str:
    """The database in words, without credentials."""
    parts = urlsplit(settings.database_url)
    if settings.is_sqlite:
        return f"SQLite {settings.database_url.removeprefix('sqlite://')}"
    return f"PostgreSQL {parts.hostname}:{parts.port or 5432}{parts.path}"


class StatementCounter(logging.Handler):
    """The SQL statements Tortoise sends, read from its debug log (one line per statement)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not message.startswith(("Created connection", "Closed connection")):
            self.statements.append(message[:200])

    @property
    def count(self) -> int:
        return len(self.statements)


@contextlib.contextmanager
def count_statements() -> Iterator[StatementCounter]:
    """Count the SQL statements sent to the database inside the block (tests and benchmarks assert on it)."""
    logger = logging.getLogger("tortoise.db_client")
    counter = StatementCounter()
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(level)
