"""A Tortoise engine for PostgreSQL whose pool waits a bounded time for a free connection.

Tortoise's asyncpg client acquires with `await pool.acquire()` and no timeout, so when every
connection is busy a request would queue forever. This engine is Tortoise's own asyncpg
client with one change: acquiring waits at most `acquire_timeout` seconds, then raises
DatabaseBusy, which clients see as a GraphQL error with code SERVICE_UNAVAILABLE.
Tortoise finds the class through this module's `client_class` (config `"engine": "server.pgpool"`).
"""

from __future__ import annotations

from typing import Any

import asyncpg
from asyncpg.pool import Pool
from tortoise.backends.asyncpg.client import AsyncpgDBClient

from server.services.errors import RosterError

DEFAULT_ACQUIRE_TIMEOUT = 10.0


class DatabaseBusy(RosterError):
    code = "SERVICE_UNAVAILABLE"

    def __init__(self, waited: float) -> None:
        super().__init__(f"The database is busy: no connection became free within {waited:g} seconds. Try again shortly.")


class BoundedPool(Pool):
    """asyncpg's pool, with a default acquire timeout that ends in DatabaseBusy rather than TimeoutError."""

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    async def _acquire(self, timeout: float | None) -> Any:  # noqa: ASYNC109 -- asyncpg's own signature
        waited = self.acquire_timeout if timeout is None else timeout
        try:
            return await super()._acquire(waited)
        except TimeoutError:
            raise DatabaseBusy(waited) from None


class BoundedAsyncpgClient(AsyncpgDBClient):
    def __init__(self, *args: Any, acquire_timeout: float | str = DEFAULT_ACQUIRE_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = float(acquire_timeout)

    async def create_pool(self, **kwargs: Any) -> asyncpg.Pool:
        # The same defaults as asyncpg.create_pool, which offers no way to choose the pool class.
        kwargs.setdefault("max_queries", 50000)
        kwargs.setdefault("max_inactive_connection_lifetime", 300.0)
        kwargs.setdefault("connection_class", asyncpg.Connection)
        kwargs.setdefault("record_class", asyncpg.Record)
        return await BoundedPool(None, acquire_timeout=self.acquire_timeout, **kwargs)


client_class = BoundedAsyncpgClient
