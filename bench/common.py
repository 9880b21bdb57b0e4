"""Helpers every benchmark can reuse: a real server, seeding through the services, wrk, scratch databases.

    settings = sqlite_settings(tmp)                       # or: with scratch_postgres() as url: ...
    run(prepare_database(settings))                       # migrate a fresh database
    token = run(with_database(settings, lambda: admin_token()))
    with serve(settings, hook="bench.bench_core:add_routes") as base_url:
        result = wrk_post(f"{base_url}/graphql", {"query": "{ courses { id } }"}, headers={...})
        print(result.requests_per_sec, result.non_2xx)

The server runs in a subprocess (uvicorn, one worker, uvloop/httptools as `roster serve`
picks them) so the load generator and the measured process do not share an event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from server.config import Settings

ROOT = Path(__file__).resolve().parent.parent
BENCH_KEY = "bench-signing-key-0123456789abcdef0123456789"
# Where scratch PostgreSQL databases are created; the benchmark skips PostgreSQL if unreachable.
POSTGRES_URL = os.environ.get("ROSTER_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
# ROSTER_BENCH_QUICK=1: every benchmark shortens its runs (fewer rounds, shorter loads, smaller data).
QUICK = os.environ.get("ROSTER_BENCH_QUICK", "") not in ("", "0")
T = TypeVar("T")


# --- settings and databases -------------------------------------------------------------


def bench_settings(database_url: str, var_dir: Path, **changes: Any) -> Settings:
    """Settings for a benchmark: a fixed signing key, no mail worker, test mode."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_keys": (BENCH_KEY,),
        "public_url": "http://roster.bench",
        "env": "test",
        "var_dir": var_dir,
        "mail_worker": False,
    }
    values.update(changes)
    return Settings(**values)


def sqlite_settings(folder: Path, name: str = "bench.sqlite3", **changes: Any) -> Settings:
    return bench_settings(f"sqlite://{folder / name}", folder / "var", **changes)


@contextlib.contextmanager
def scratch_dir(prefix: str = "roster-bench-") -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def postgres_available(url: str = POSTGRES_URL) -> bool:
    async def probe() -> bool:
        import asyncpg

        try:
            conn = await asyncpg.connect(url, timeout=3)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


@contextlib.contextmanager
def scratch_postgres(url: str = POSTGRES_URL) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for the block; dropped afterwards. Yields its URL."""
    import asyncpg

    name = f"roster_bench_{uuid.uuid4().hex[:10]}"
    base = url.rsplit("/", 1)[0]

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def prepare_database(settings: Settings) -> None:
    """Apply the migrations to a fresh database."""
    from server import db

    await db.migrate(settings)


async def with_database(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    """Open the ORM, run work (which may call any service), close the ORM; callable many times per process."""
    from tortoise import Tortoise
    from tortoise.backends.base.executor import EXECUTOR_CACHE

    from server import db

    await db.init_db(settings)
    try:
        return await work()
    finally:
        # Also clears Tortoise's global context, so the next benchmark can open another database;
        # the statement cache is keyed by connection name, so a SQLite run must not leak into PostgreSQL.
        await Tortoise.close_connections()
        EXECUTOR_CACHE.clear()


# --- seeding through the services --------------------------------------------------------


async def admin_token(name: str = "bench admin") -> str:
    from server.services import auth

    _, secret = await auth.create_token(name=name, scope="admin", actor="bench")
    return secret


async def seed_course(title: str = "Bench course", *, published: bool = True) -> int:
    from server.services import courses

    return (await courses.create_course(title=title, published=published, actor="bench")).id


async def seed_users(count: int, *, prefix: str = "user", group: str | None = None) -> list[str]:
    """count users (and their group membership) through the directory import, in bulk."""
    from server.services import directory

    names = [f"{prefix}{i:06d}" for i in range(count)]
    rows = [
        directory.DirectoryRow(
            line=i + 1, username=n, display_name=f"User {i}", email=f"{n}@corp.example", groups=[group] if group else [], active=True
        )
        for i, n in enumerate(names)
    ]
    await directory.import_directory(rows=rows, actor="bench")
    return names


async def seed_participants(course_id: int, count: int, *, batch: int = 5_000) -> None:
    """count external participants straight into the table, with varied names, statuses and progress.

    Bulk rows, not the enrollment service: a 100,000-row report course is seeded in seconds.
    """
    from server.models import EmailStatus, Participant, ParticipantKind, ParticipantStatus
    from server.services.security import token_hash

    statuses = list(ParticipantStatus)
    mails = list(EmailStatus)
    rng = secrets.SystemRandom()
    for start in range(0, count, batch):
        rows = []
        for i in range(start, min(count, start + batch)):
            email = f"p{rng.randrange(10**9):09d}.{i}@example.com"
            rows.append(
                Participant(
                    course_id=course_id,
                    kind=ParticipantKind.EXTERNAL,
                    email=email,
                    email_key=email,
                    name=email,
                    link_hash=token_hash(f"bench-{course_id}-{i}-{rng.random()}"),
                    status=statuses[i % len(statuses)],
                    progress=round(rng.random(), 3),
                    email_status=mails[i % len(mails)],
                )
            )
        await Participant.bulk_create(rows, batch_size=1_000)


# --- a real server in a subprocess -------------------------------------------------------


# base URL -> pid of the server process serving it, for profiling (py-spy record --pid).
SERVER_PIDS: dict[str, int] = {}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base_url: str, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the benchmark server exited with code {proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the benchmark server did not answer /healthz within {timeout:.0f}s")


@contextlib.contextmanager
def serve(settings: Settings, *, hook: str | None = None, timeout: float = 30.0) -> Iterator[str]:
    """Serve create_app(settings) with uvicorn in a subprocess on a free loopback port; yield its base URL.

    hook, "module:function", is called in the server process as function(app, settings) after
    create_app: a benchmark adds its comparison routes there, never in production code.
    The server's output goes to a temporary log, shown if it fails to start.
    """
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="roster-bench-server-"))
    settings_path = workdir / "settings.pickle"
    settings_path.write_bytes(pickle.dumps(settings))
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.common", "serve", str(settings_path), str(port), hook or ""],
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
    base_url = f"http://127.0.0.1:{port}"
    SERVER_PIDS[base_url] = proc.pid
    try:
        wait_healthy(base_url, proc, timeout, log_path)
        yield base_url
    finally:
        stop_process(proc, timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
        SERVER_PIDS.pop(base_url, None)


def stop_process(proc: subprocess.Popen, *, timeout: float) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within timeout seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _serve_main(settings_path: str, port: str, hook: str) -> None:
    """The server process: create_app as production does, plus the benchmark's hook."""
    import importlib

    import uvicorn

    from server.app import create_app

    with open(settings_path, "rb") as f:
        settings: Settings = pickle.load(f)  # our own file, written by serve()
    app = create_app(settings)
    if hook:
        module, _, name = hook.partition(":")
        getattr(importlib.import_module(module), name)(app, settings)
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", access_log=False, server_header=False)


def post_json(url: str, body: dict[str, Any], headers: dict[str, str] | None = None, timeout: float = 300) -> dict[str, Any]:
    """One POST, for checks before a load run and for single timed requests."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json", **(headers or {})}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def graphql(base_url: str, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    body = post_json(f"{base_url}/graphql", {"query": query, "variables": variables or {}}, headers)
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return body["data"]


# --- wrk ----------------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests: int
    requests_per_sec: float
    non_2xx: int
    socket_errors: int
    latency_avg_ms: float
    output: str = field(repr=False, default="")


def lua_string(text: str) -> str:
    """A double-quoted Lua literal: every byte outside printable ASCII (and quote, backslash) as a decimal escape."""
    out = []
    for byte in text.encode():
        out.append(chr(byte) if 32 <= byte < 127 and byte not in (34, 92) else f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def wrk_script(body: str, headers: dict[str, str] | None = None) -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = {lua_string(body)}", 'wrk.headers["Content-Type"] = "application/json"']
    for name, value in (headers or {}).items():
        lines.append(f"wrk.headers[{lua_string(name)}] = {lua_string(value)}")
    return "\n".join(lines) + "\n"


def _latency_ms(text: str) -> float:
    match = re.search(r"Latency\s+([\d.]+)(us|ms|s)\b", text)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def parse_wrk(text: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if not rps or not total:
        raise RuntimeError(f"cannot read wrk's output:\n{text}")
    return WrkResult(
        requests=int(total.group(1)),
        requests_per_sec=float(rps.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in sock.groups()) if sock else 0,
        latency_avg_ms=_latency_ms(text),
        output=text,
    )


def wrk_post(
    url: str,
    body: dict[str, Any] | str,
    *,
    headers: dict[str, str] | None = None,
    duration: float = 5.0,
    threads: int = 1,
    connections: int = 16,
) -> WrkResult:
    """Load url with POSTs of one JSON body for duration seconds; requests/s and non-2xx counts."""
    text = body if isinstance(body, str) else json.dumps(body)
    return run_wrk(url, wrk_script(text, headers), duration=duration, threads=threads, connections=connections)


def run_wrk(url: str, script: str, *, duration: float, threads: int = 1, connections: int = 16) -> WrkResult:
    """Run wrk with a Lua script against url for duration seconds and parse what it printed."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    with tempfile.NamedTemporaryFile("w", prefix="roster-bench-", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        done = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", "-s", f.name, url],
            capture_output=True,
            text=True,
            timeout=duration + 60,
            check=True,
        )
    finally:
        os.unlink(f.name)
    return parse_wrk(done.stdout)


# --- timing and printing ------------------------------------------------------------------


def timed(work: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    value = work()
    return time.perf_counter() - started, value


async def timed_async(work: Awaitable[T]) -> tuple[float, T]:
    started = time.perf_counter()
    value = await work
    return time.perf_counter() - started, value


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def figure(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<58} {value:>16}  {note}".rstrip(), flush=True)


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "serve":
        _serve_main(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "")
    else:
        sys.exit("usage: python -m bench.common serve SETTINGS_PICKLE PORT [module:hook]")
