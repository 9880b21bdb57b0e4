"""Production behaviour against real PostgreSQL and real server processes.

Each test gets a fresh PostgreSQL database and runs `roster` (or docker/entrypoint.sh, as the
container does) in subprocesses on free loopback ports. Requests are held in flight
deterministically by locking a table from the test, never by sleeping and hoping.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.smtp import SmtpServer

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
PARTICIPANT_VIEW = "query($link: String!) { participantView(link: $link) { participant { name } course { title } } }"


def admin_url() -> str:
    url = os.environ.get("ROSTER_TEST_DATABASE_URL", "").strip()
    return url if url.startswith(("postgres://", "postgresql://")) else "postgres://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    base = admin_url()
    try:
        conn = await asyncpg.connect(base, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        if os.environ.get("ROSTER_CI_REQUIRE_ALL") == "1":
            pytest.fail(f"PostgreSQL is required (ROSTER_CI_REQUIRE_ALL=1) but unreachable at {base}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {base}")
    name = f"roster_deploy_{uuid.uuid4().hex[:10]}"
    await conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base.rsplit('/', 1)[0]}/{name}"
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refuses_connections(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


def environment(database_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    """A production environment, as an operator's .env would give it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        ROSTER_ENV="production",
        ROSTER_SECRET_KEYS=secrets.token_urlsafe(48),
        ROSTER_DATABASE_URL=database_url,
        ROSTER_PUBLIC_URL="https://roster.example",
        ROSTER_VAR_DIR=str(tmp / "var"),
        ROSTER_MAIL_WORKER="0",
        # Production needs a mail server even with the worker off; nothing is sent to this one.
        ROSTER_SMTP_URL="smtp://127.0.0.1:9",
        ROSTER_AUTO_ENROLL_INTERVAL="0",
    )
    env.update(extra)
    return env


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> bool:
        """SIGTERM (unless already sent), then whether the server shut down cleanly within timeout."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the server did not exit within {timeout}s of SIGTERM:\n{self.output()}") from None
        # uvicorn re-raises the signal once it has shut down, so a clean stop ends "killed by SIGTERM".
        assert code in (0, -signal.SIGTERM), self.output()
        assert "Application shutdown complete" in self.output()
        return True


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


def start(servers: list[Server], command: list[str], env: dict[str, str], tmp: Path) -> Server:
    port = free_port()
    log = tmp / f"server-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([*command, "--port", str(port)], env=env, cwd=tmp, stdout=out, stderr=subprocess.STDOUT)
    server = Server(proc, port, log)
    servers.append(server)
    return server


async def wait_for(server: Server, path: str, status: int = 200, timeout: float = 90) -> httpx.Response:
    """Poll path until it answers with status; fail with the server's output if it never does."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
        while True:
            if server.proc.poll() is not None:
                raise AssertionError(f"the server exited with {server.proc.returncode}:\n{server.output()}")
            try:
                response = await client.get(path)
                if response.status_code == status:
                    return response
            except httpx.TransportError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{path} never answered {status}:\n{server.output()}")
            await asyncio.sleep(0.1)


def roster(*args: str, env: dict[str, str], tmp: Path) -> str:
    done = subprocess.run([str(BIN / "roster"), *args], env=env, cwd=tmp, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class Enrolled:
    token: str
    course_id: str
    links: list[str]


async def enroll_external(server: Server, env: dict[str, str], tmp: Path, emails: list[str], *, send_email: bool) -> Enrolled:
    """An admin token from the CLI, then a published course and its external participants over GraphQL."""
    token = re.search(r"shown once: (\S+)", roster("create-token", "deploy", "--scope", "admin", env=env, tmp=tmp)).group(1)
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as client:
        course = await client.post(
            "/graphql",
            json={"query": 'mutation { createCourse(input: {title: "Deploying", published: true}) { id } }'},
        )
        course_id = course.json()["data"]["createCourse"]["id"]
        enrolled = await client.post(
            "/graphql",
            json={
                "query": "mutation($id: ID!, $emails: [String!]!, $send: Boolean!) {"
                " enrollExternal(courseId: $id, emails: $emails, sendEmail: $send) { enrolled { link } } }",
                "variables": {"id": course_id, "emails": emails, "send": send_email},
            },
        )
        links = [e["link"] for e in enrolled.json()["data"]["enrollExternal"]["enrolled"]]
    return Enrolled(token, course_id, links)


@dataclass
class TableLock:
    """Holds ACCESS EXCLUSIVE on a table, so every request that reads it waits inside the server."""

    database_url: str
    table: str
    conn: asyncpg.Connection | None = None
    tx: object = field(default=None)

    async def __aenter__(self) -> TableLock:
        self.conn = await asyncpg.connect(self.database_url)
        self.tx = self.conn.transaction()
        await self.tx.start()
        await self.conn.execute(f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE")
        return self

    async def waiting(self) -> int:
        """How many other sessions of this database are waiting for a lock."""
        await self.conn.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the view is a snapshot
        return await self.conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )

    async def wait_for_waiters(self, count: int, timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while await self.waiting() < count:
                await asyncio.sleep(0.05)

    async def release(self) -> None:
        if self.conn is not None and not self.conn.is_closed():
            await self.tx.rollback()
            await self.conn.close()

    async def __aexit__(self, *exc: object) -> None:
        await self.release()


def view(link: str) -> dict:
    return {"query": PARTICIPANT_VIEW, "variables": {"link": link}}


# --- start-up ------------------------------------------------------------------------------


async def test_entrypoints_racing_on_a_fresh_database_migrate_once_and_all_serve(pg_url, servers, tmp_path):
    # Given a fresh database (its URL carrying pool options, as an operator may write it),
    # when four containers' entrypoints start at the same moment,
    env = environment(f"{pg_url}?minsize=1&maxsize=4", tmp_path)
    racers = [start(servers, [str(ENTRYPOINT), "serve"], env, tmp_path) for _ in range(4)]

    # then every one of them migrates without error and becomes ready,
    for server in racers:
        await wait_for(server, "/readyz")
    for server in racers:
        server.proc.send_signal(signal.SIGTERM)
    for server in racers:
        assert server.stop()
        output = server.output()
        assert "Database is up to date" in output
        assert "Traceback" not in output and " ERROR " not in output, output

    # and each migration was applied exactly once, leaving the full schema.
    conn = await asyncpg.connect(pg_url)
    try:
        applied = await conn.fetch("SELECT name, count(*) AS times FROM tortoise_migrations GROUP BY name")
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    finally:
        await conn.close()
    migrations = {p.stem for p in (ROOT / "server" / "migrations").glob("[0-9]*.py")}
    assert {r["name"] for r in applied} == migrations
    assert all(r["times"] == 1 for r in applied)
    assert {"courses", "participants", "users", "groups", "outbox_messages", "sessions", "api_tokens"} <= tables


async def readiness_follows_migrations(database_url: str, servers: list[Server], tmp: Path, hidden: list[str]) -> Server:
    # Given a server started on a database nobody has migrated yet,
    env = environment(database_url, tmp)
    server = start(servers, [str(BIN / "roster"), "serve"], env, tmp)
    healthy = await wait_for(server, "/healthz")
    assert healthy.text == "ok"

    # then it is alive but not ready, and says why without naming versions or configuration;
    not_ready = await wait_for(server, "/readyz", status=503)
    assert not_ready.json() == {"ready": False, "reason": "migrations pending"}
    for response in (healthy, not_ready):
        body = response.text.lower()
        assert not any(secret.lower() in body for secret in [*hidden, "version", "0001", "tortoise", "127.0.0.1"])
        assert "server" not in response.headers

    # and once `roster migrate` has run, it is ready without a restart.
    roster("migrate", env=env, tmp=tmp)
    ready = await wait_for(server, "/readyz")
    assert ready.json() == {"ready": True}
    return server


async def test_readiness_on_postgresql_follows_migrations_and_the_database(pg_url, servers, tmp_path):
    name = pg_url.rsplit("/", 1)[1]
    server = await readiness_follows_migrations(pg_url, servers, tmp_path, ["postgres", name])

    # When the database goes away under a running server, it is alive but no longer ready.
    conn = await asyncpg.connect(admin_url())
    try:
        await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await conn.close()
    gone = await wait_for(server, "/readyz", status=503)
    assert gone.json() == {"ready": False, "reason": "database unreachable"}
    assert (await wait_for(server, "/healthz")).text == "ok"
    assert server.stop()


async def test_readiness_on_sqlite_follows_migrations(servers, tmp_path):
    path = tmp_path / "ready.sqlite3"
    server = await readiness_follows_migrations(f"sqlite://{path}", servers, tmp_path, ["sqlite", str(path)])
    assert server.stop()


# --- the connection pool -------------------------------------------------------------------


async def test_exhausted_pool_makes_requests_wait_then_fail_clearly(pg_url, servers, tmp_path):
    # Given a server with two pooled connections and a one-second acquire timeout,
    env = environment(pg_url, tmp_path, ROSTER_DB_POOL_MAX="2", ROSTER_DB_POOL_TIMEOUT="1")
    server = start(servers, [str(ENTRYPOINT)], env, tmp_path)
    await wait_for(server, "/readyz")
    enrolled = await enroll_external(server, env, tmp_path, ["ada@example.com"], send_email=False)
    (link,) = enrolled.links

    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        async with TableLock(pg_url, "participants") as lock:
            # when two slow requests hold both connections,
            holders = [asyncio.create_task(client.post("/graphql", json=view(link))) for _ in range(2)]
            await lock.wait_for_waiters(2)
            # then a third request waits, and is answered with a clear, masked error rather than hanging.
            third = await client.post("/graphql", json=view(link))
            assert third.status_code == 200
            error = third.json()["errors"][0]
            assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
            assert "database is busy" in error["message"].lower()
            assert "traceback" not in third.text.lower() and "asyncpg" not in third.text.lower()
            assert (third.json()["data"] or {}).get("participantView") is None
            # and outside GraphQL, the CSV export answers 503 with the same words and when to retry.
            export = await client.get(f"/reports/{enrolled.course_id}.csv", headers={"authorization": f"Bearer {enrolled.token}"})
            assert export.status_code == 503
            assert "database is busy" in export.text.lower() and export.headers["retry-after"] == "5"
        # When the connections come free, the waiting requests finish and the pool serves again.
        for response in await asyncio.gather(*holders):
            assert response.json()["data"]["participantView"]["participant"]["name"] == "ada@example.com"
        after = await client.post("/graphql", json=view(link))
        assert after.json()["data"]["participantView"]["course"]["title"] == "Deploying"
    assert server.stop()
    assert "Traceback" not in server.output()


# --- graceful shutdown ---------------------------------------------------------------------


@dataclass
class LoadResult:
    ok_before: int = 0
    ok_after: int = 0
    refused: int = 0
    failures: list[str] = field(default_factory=list)


async def load_worker(url: str, link: str, stop_sent: asyncio.Event, result: LoadResult) -> None:
    """Open the link in a loop, as participants would, until the server stops taking requests."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        while True:
            sent_after_stop = stop_sent.is_set()
            try:
                response = await client.post("/graphql", json=view(link))
            except httpx.TransportError as exc:
                if sent_after_stop:  # not taken: refused, or (several workers) reset when the parent exits
                    result.refused += 1
                else:  # a request that was already on its way is lost
                    result.failures.append(f"{type(exc).__name__}: {exc}")
                return
            body = response.json() if response.status_code == 200 else {}
            if response.status_code != 200 or not (body.get("data") or {}).get("participantView"):
                result.failures.append(f"{response.status_code}: {response.text[:200]}")
            elif stop_sent.is_set():
                result.ok_after += 1
            else:
                result.ok_before += 1


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_under_load_finishes_every_in_flight_request(pg_url, servers, tmp_path, workers):
    # Given `roster serve` (one process, or a parent with two workers) under a steady load of link opens,
    env = environment(pg_url, tmp_path, ROSTER_GRACE_SECONDS="20", ROSTER_WORKERS=str(workers))
    server = start(servers, [str(ENTRYPOINT)], env, tmp_path)
    await wait_for(server, "/readyz")
    (link,) = (await enroll_external(server, env, tmp_path, ["ada@example.com"], send_email=False)).links
    stop_sent = asyncio.Event()
    result = LoadResult()
    concurrency = 6
    load = [asyncio.create_task(load_worker(server.url, link, stop_sent, result)) for _ in range(concurrency)]
    while result.ok_before < 50 and not result.failures:
        await asyncio.sleep(0.05)

    async with TableLock(pg_url, "participants") as lock:
        # with one request of every load worker held in flight inside the server,
        await lock.wait_for_waiters(concurrency)
        # when SIGTERM arrives,
        server.proc.send_signal(signal.SIGTERM)
        stop_sent.set()
        # then every server process starts shutting down while those requests are still running
        async with asyncio.timeout(15):
            while server.output().count("Shutting down") < workers:
                await asyncio.sleep(0.05)
        # (a single process closes its socket at once; with workers the parent holds it until it exits),
        if workers == 1:
            assert refuses_connections(server.port)
        assert server.proc.poll() is None, "the server quit with requests in flight"
    # and once they can finish, every one of them is answered in full,
    await asyncio.gather(*load)
    assert result.failures == []
    assert result.ok_after == concurrency
    assert result.refused == concurrency
    # and the server exits cleanly within its grace period.
    assert server.stop(timeout=20)
    assert "Traceback" not in server.output()


async def outbox(database_url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch("SELECT to_address, status, claimed_by, lease_until FROM outbox_messages ORDER BY id")
    finally:
        await conn.close()


async def test_sigterm_during_mail_delivery_loses_and_doubles_no_mail(pg_url, servers, tmp_path):
    smtp = SmtpServer().start()
    smtp.inbox.delay = 0.05  # a slow mail server, so SIGTERM lands while sends are on the wire
    try:
        # Given a server delivering sixty enrollment mails through its lifespan mail worker,
        env = environment(pg_url, tmp_path, ROSTER_MAIL_WORKER="1", ROSTER_SMTP_URL=smtp.url, ROSTER_MAIL_BATCH_SIZE="10")
        server = start(servers, [str(ENTRYPOINT)], env, tmp_path)
        await wait_for(server, "/readyz")
        emails = [f"learner{i:03d}@example.com" for i in range(60)]
        await enroll_external(server, env, tmp_path, emails, send_email=True)

        # when SIGTERM arrives as soon as the first mail reaches the mail server,
        await smtp.wait_for(1)
        assert server.stop(timeout=30)

        # then every mail sent so far was sent once and recorded as sent, and every other one
        # is back in the outbox, unclaimed, for the next server to send at once;
        first = smtp.inbox.by_recipient()
        assert all(len(messages) == 1 for messages in first.values())
        rows = await outbox(pg_url)
        assert len(rows) == len(emails)
        for row in rows:
            if row["to_address"] in first:
                assert row["status"] == "SENT", row
            else:
                assert row["status"] == "QUEUED" and row["claimed_by"] is None and row["lease_until"] is None, row

        # and once a server runs again, each participant has received exactly one mail.
        again = start(servers, [str(ENTRYPOINT)], env, tmp_path)
        await wait_for(again, "/readyz")
        await smtp.wait_for(len(emails), timeout=60)
        async with asyncio.timeout(30):
            while any(row["status"] != "SENT" for row in await outbox(pg_url)):
                await asyncio.sleep(0.1)
        assert again.stop()
        received = smtp.inbox.by_recipient()
        assert sorted(received) == emails
        assert all(len(messages) == 1 for messages in received.values())
    finally:
        smtp.stop()
