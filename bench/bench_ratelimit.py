"""Rate limits under attack: 1,000 forged links from one address and from 100 addresses, and password guessing.

Requests go through the real app (create_app, in-process over ASGI) so each one can carry its own client
address; the figures are what an attacker sees: how many guesses were answered, how many refused (429).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from dataclasses import replace

import httpx

from bench.common import figure, prepare_database, scratch_dir, sqlite_settings
from server import db
from server.app import create_app
from server.config import Settings
from server.services import auth, directory

FORGED = "dGhpcyBpcyBub3QgYSByZWFsIHRva2VuIGF0IGFsbCBzb3JyeQ.c2lnbmF0dXJlLWZvcmdlZC1ieS1zb21lb25lLWVsc2U"
VIEW = "query($link: String!) { participantView(link: $link) { participant { id } } }"
SIGN_IN = "mutation($u: String!, $p: String!) { signIn(username: $u, password: $p) { username } }"
CONCURRENCY = 50
REDIS_URL = os.environ.get("ROSTER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


async def attack(app, requests: list[tuple[str, dict]]) -> tuple[Counter, float]:
    """Send (address, body) pairs, CONCURRENCY at a time; count the answers by status."""
    clients: dict[str, httpx.AsyncClient] = {}
    statuses: Counter = Counter()
    started = time.perf_counter()

    async def one(address: str, body: dict) -> None:
        if address not in clients:
            clients[address] = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 50000)), base_url="http://bench")
        response = await clients[address].post("/graphql", json=body)
        statuses[response.status_code] += 1

    for start in range(0, len(requests), CONCURRENCY):
        await asyncio.gather(*(one(a, b) for a, b in requests[start : start + CONCURRENCY]))
    elapsed = time.perf_counter() - started
    for client in clients.values():
        await client.aclose()
    return statuses, elapsed


def forged(addresses: int, per_address: int, block: int) -> list[tuple[str, dict]]:
    """Each scenario attacks from its own block of addresses, so counters shared in Redis do not carry over."""
    return [
        (f"10.{block}.{i // 250}.{i % 250}", {"query": VIEW, "variables": {"link": FORGED}})
        for i in range(addresses)
        for _ in range(per_address)
    ]


def describe(statuses: Counter, elapsed: float) -> str:
    return f"{statuses[200]} answered (null), {statuses[429]} refused with 429, other {sum(statuses.values()) - statuses[200] - statuses[429]}; {elapsed:.1f}s"


async def scenarios(settings: Settings, backend: str) -> None:
    app = create_app(settings)
    statuses, elapsed = await attack(app, forged(1, 1000, 1))
    figure(f"[{backend}] 1,000 forged links, 1 address", describe(statuses, elapsed))
    statuses, elapsed = await attack(create_app(settings), forged(100, 10, 2))
    figure(f"[{backend}] 1,000 forged links, 100 addresses x 10", describe(statuses, elapsed))
    statuses, elapsed = await attack(create_app(settings), forged(100, 40, 3))
    figure(f"[{backend}] 4,000 forged links, 100 addresses x 40", describe(statuses, elapsed))

    username = f"victim{uuid.uuid4().hex[:6]}"
    await directory.create_user(username=username, display_name="Victim", email=None, actor="bench")
    await auth.set_password(username=username, password="the real password 123", actor="bench")
    guesses = [(f"203.0.113.{i % 100}", {"query": SIGN_IN, "variables": {"u": username, "p": f"guess {i}"}}) for i in range(100)]
    statuses, elapsed = await attack(create_app(settings), guesses)
    figure(
        f"[{backend}] 100 password guesses on one account from 100 addresses",
        describe(statuses, elapsed).replace("(null)", "(wrong password)"),
    )


async def run_all(settings: Settings) -> None:
    await prepare_database(settings)
    await db.init_db(settings)
    try:
        figure(
            "thresholds",
            f"link failures {settings.rate_link_failures}/address, sign-in failures {settings.rate_signin_failures_per_address}/address "
            f"and {settings.rate_signin_failures_per_account}/account, per {settings.rate_window_seconds}s window; "
            f"failed link answers take at least {settings.link_failure_floor_ms} ms",
        )
        await scenarios(settings, "memory")
        try:
            import redis.asyncio as redis

            probe = redis.from_url(REDIS_URL, socket_connect_timeout=1)
            await probe.flushdb()  # database 14 belongs to this benchmark
            await probe.aclose()
        except (OSError, redis.RedisError) as exc:
            figure("[redis]", f"skipped: Redis not reachable at {REDIS_URL} ({exc})")
        else:
            await scenarios(replace(settings, redis_url=REDIS_URL), "redis")
    finally:
        await db.close_db()


def main() -> None:
    with scratch_dir() as folder:
        asyncio.run(run_all(sqlite_settings(folder)))


if __name__ == "__main__":
    main()
