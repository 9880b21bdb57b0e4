"""Issue 4's speed claims, measured on the real app in one run:

1. recording a lesson completion by link: completeLesson over GraphQL vs a hand-written Starlette
   endpoint that calls the same service in the same server, both loaded by wrk (the baseline of
   the link-open benchmark, for a write);
2. the CSV export of a 100,000-participant course: download time over HTTP, and, in fresh
   processes, time and peak memory of the streamed export vs the raw sqlite3 floor (time) and
   vs loading every row at once (memory).

Environment: ROSTER_BENCH_QUICK=1 shortens every run; ROSTER_BENCH_POSTGRES_URL names the server on
which a scratch database is created (PostgreSQL figures are skipped when it is unreachable).
"""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from typing import Any

from bench.common import (
    POSTGRES_URL,
    QUICK,
    ROOT,
    WrkResult,
    admin_token,
    bench_settings,
    figure,
    lua_string,
    median,
    post_json,
    postgres_available,
    prepare_database,
    run,
    run_wrk,
    scratch_dir,
    scratch_postgres,
    seed_course,
    seed_participants,
    serve,
    sqlite_settings,
    verdict,
    with_database,
)
from server.config import Settings

EXPORT_SIZE = 20_000 if QUICK else 100_000
ROUNDS = 1 if QUICK else 3
WRK_SECONDS = 2.0 if QUICK else 5.0
WRK_CONNECTIONS = 8

COMPLETE = """
mutation($lesson: ID!, $link: String!) {
  completeLesson(lessonId: $lesson, link: $link) { id status progress lastActivityAt }
}"""


# --- the hand-written endpoint, added to the served app by serve(hook=...) ------------------


def add_routes(app: Any, settings: Settings) -> None:
    """The baseline: the same service call as completeLesson, answered as JSON without GraphQL."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from server.services import learning
    from server.services.errors import RosterError

    async def raw_complete(request: Request) -> JSONResponse:
        body = await request.json()
        try:
            p = await learning.complete_lesson(settings=settings, lesson_id=str(body.get("lesson")), link=str(body.get("link")), user=None)
        except RosterError as exc:
            return JSONResponse({"error": exc.code}, status_code=400)
        last = p.last_activity_at.isoformat() if p.last_activity_at else None
        return JSONResponse({"completeLesson": {"id": str(p.id), "status": p.status.value, "progress": p.progress, "lastActivityAt": last}})

    app.router.routes.insert(0, Route("/bench/complete", raw_complete, methods=["POST"]))


# --- 1. lesson completion by link --------------------------------------------------------------


LEARNERS = 50 if QUICK else 200
LESSONS = 10


def wrk_rotating(url: str, bodies: list[str], *, duration: float, connections: int) -> WrkResult:
    """Like wrk_post, but each request sends the next of many JSON bodies: many learners, not one row under load."""
    table = ",\n".join(lua_string(b) for b in bodies)
    script = (
        f"local bodies = {{\n{table}\n}}\nlocal n = 0\n"
        "request = function()\n  n = n + 1\n"
        '  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[(n % #bodies) + 1])\nend\n'
    )
    return run_wrk(url, script, duration=duration, connections=connections)


def _completion(settings: Settings, label: str) -> None:
    run(prepare_database(settings))

    async def seed() -> tuple[list[str], list[str]]:
        from server.services import enrollment, learning

        course = await seed_course("Completion course")
        lessons = [await learning.create_lesson(course_id=course, title=f"Lesson {i}", body="Read.", actor="bench") for i in range(LESSONS)]
        await seed_participants(course, 10_000)
        emails = [f"learner{i}@example.com" for i in range(LEARNERS)]
        result = await enrollment.enroll_external(settings=settings, course_id=course, emails=emails, send_email=False, actor="bench")
        return [str(lesson.id) for lesson in lessons], [e.link.split("#", 1)[1] for e in result.enrolled]

    lessons, links = run(with_database(settings, seed))
    # Learner by learner, lesson by lesson: the first pass records completions, later passes record them again.
    pairs = [(lesson, link) for lesson in lessons for link in links]
    gql_bodies = [json.dumps({"query": COMPLETE, "variables": {"lesson": lesson, "link": link}}) for lesson, link in pairs]
    raw_bodies = [json.dumps({"lesson": lesson, "link": link}) for lesson, link in pairs]
    with serve(settings, hook="bench.bench_learning:add_routes") as base:
        via_graphql = post_json(f"{base}/graphql", json.loads(gql_bodies[0]))
        via_raw = post_json(f"{base}/bench/complete", json.loads(raw_bodies[0]))
        assert via_graphql["data"]["completeLesson"]["progress"] == via_raw["completeLesson"]["progress"] == 1 / LESSONS, (
            via_graphql,
            via_raw,
        )
        wrk_rotating(f"{base}/graphql", gql_bodies, duration=1, connections=WRK_CONNECTIONS)
        wrk_rotating(f"{base}/bench/complete", raw_bodies, duration=1, connections=WRK_CONNECTIONS)
        gql_rps: list[float] = []
        raw_rps: list[float] = []
        errors = 0
        for _ in range(ROUNDS):
            r = wrk_rotating(f"{base}/bench/complete", raw_bodies, duration=WRK_SECONDS, connections=WRK_CONNECTIONS)
            g = wrk_rotating(f"{base}/graphql", gql_bodies, duration=WRK_SECONDS, connections=WRK_CONNECTIONS)
            raw_rps.append(r.requests_per_sec)
            gql_rps.append(g.requests_per_sec)
            errors += r.non_2xx + g.non_2xx + r.socket_errors + g.socket_errors
    raw_m, gql_m = median(raw_rps), median(gql_rps)
    figure(
        f"{label}: hand-written Starlette endpoint",
        f"{raw_m:,.0f} req/s",
        f"(median of {ROUNDS} x {WRK_SECONDS:.0f}s, {WRK_CONNECTIONS} connections)",
    )
    figure(f"{label}: completeLesson over GraphQL", f"{gql_m:,.0f} req/s")
    figure("  GraphQL / hand-written (target >= 75%)", f"{gql_m / raw_m:.0%}", verdict(gql_m / raw_m >= 0.75))
    figure("  non-2xx responses and socket errors", f"{errors}")


def bench_completion() -> None:
    print("\n-- recording a lesson completion by link: completeLesson vs the same service behind a raw Starlette route (wrk)", flush=True)
    print(
        f"   {LEARNERS} learners x {LESSONS} lessons in turn; each request is the whole write:"
        " link check, row lock, completion insert (idempotent), counts, update",
        flush=True,
    )
    with scratch_dir() as tmp:
        _completion(sqlite_settings(tmp), "SQLite")
        if postgres_available():
            with scratch_postgres() as url:
                _completion(bench_settings(url, tmp / "var"), "PostgreSQL")
        else:
            print(f"  PostgreSQL skipped: {POSTGRES_URL} is unreachable", flush=True)


# --- 2. CSV export of a large course -----------------------------------------------------------


def _child(settings_path: str, course_id: str, mode: str, trace: bool) -> None:
    """One measurement in a fresh process, so its peak memory is its own; prints JSON. Tracing slows it: time untraced runs."""
    import asyncio

    from server.services import export

    with open(settings_path, "rb") as f:
        settings: Settings = pickle.load(f)  # our own file, written by _measure
    course = int(course_id)
    sink = open(os.devnull, "wb")

    async def streamed() -> int:
        size = 0
        async for chunk in export.report_csv(course_id=course):
            size += len(chunk)
            sink.write(chunk)
        return size

    async def all_at_once() -> int:
        from server.models import Participant

        rows = await Participant.filter(course_id=course).order_by("id").values_list(*[c for _, c in export.COLUMNS])
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerows([[export.cell(v) for v in row] for row in rows])
        data = buffer.getvalue().encode()
        sink.write(data)
        return len(data)

    async def main() -> int:
        from bench.common import with_database

        async def work() -> int:
            if mode == "idle":
                return 0
            return await (streamed() if mode == "streamed" else all_at_once())

        return await with_database(settings, work)

    if mode == "raw":
        path = settings.database_url.removeprefix("sqlite://")
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        conn = sqlite3.connect(path)
        cursor = conn.execute(
            f"SELECT {', '.join(c for _, c in export.COLUMNS)} FROM participants WHERE course_id = ? ORDER BY id",
            (course,),
        )
        writer = csv.writer(io.TextIOWrapper(sink, encoding="utf-8", newline=""), lineterminator="\r\n")
        size = 0
        for row in cursor:
            writer.writerow(row)
            size += 1
        took = time.perf_counter() - started
    else:
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        size = asyncio.run(main())
        took = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    print(
        json.dumps({"seconds": took, "bytes": size, "traced_peak": peak, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss})
    )


def _measure(settings: Settings, course: int, mode: str, *, trace: bool) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(prefix="roster-bench-settings-", suffix=".pickle", delete=False) as f:
        pickle.dump(settings, f)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.bench_learning", "child", f.name, str(course), mode, "trace" if trace else "time"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
    finally:
        os.unlink(f.name)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _download(base: str, course: int, token: str) -> tuple[float, int, int]:
    request = urllib.request.Request(f"{base}/reports/{course}.csv", headers={"authorization": f"Bearer {token}"})
    started = time.perf_counter()
    size = lines = 0
    with urllib.request.urlopen(request, timeout=600) as response:
        while chunk := response.read(1 << 16):
            size += len(chunk)
            lines += chunk.count(b"\n")
    return time.perf_counter() - started, size, lines


def _export(settings: Settings, label: str, *, raw_floor: bool) -> None:
    run(prepare_database(settings))

    async def seed() -> tuple[str, int]:
        token = await admin_token()
        course = await seed_course("Export course")
        await seed_participants(course, EXPORT_SIZE)
        return token, course

    started = time.perf_counter()
    token, course = run(with_database(settings, seed))
    figure(f"{label}: seeding {EXPORT_SIZE:,} participants in bulk", f"{time.perf_counter() - started:.1f} s")
    with serve(settings) as base:
        # The first download also pays the server's warm-up (lazy imports, start-up tasks): time the later ones.
        runs = [_download(base, course, token) for _ in range(1 + ROUNDS)][1:]
        took, size, lines = min(runs)
    assert lines == EXPORT_SIZE + 1, f"expected {EXPORT_SIZE + 1} CSV lines, got {lines}"
    figure(f"{label}: GET /reports/{{id}}.csv over HTTP", f"{took:.2f} s", f"{size / 1e6:.1f} MB, {EXPORT_SIZE / took:,.0f} rows/s")

    idle = _measure(settings, course, "idle", trace=True)
    streamed_time = _measure(settings, course, "streamed", trace=False)
    streamed = _measure(settings, course, "streamed", trace=True)
    whole = _measure(settings, course, "whole", trace=True)
    base_trace, base_rss = idle["traced_peak"], idle["maxrss_kb"]
    figure(
        f"{label}: streamed export (service, no HTTP)",
        f"{streamed_time['seconds']:.2f} s",
        f"{EXPORT_SIZE / streamed_time['seconds']:,.0f} rows/s",
    )
    figure(
        "  peak Python memory above opening the database (tracemalloc)",
        f"{(streamed['traced_peak'] - base_trace) / 1e6:.1f} MB",
        f"peak RSS {streamed['maxrss_kb'] / 1024:.0f} MB (idle process {base_rss / 1024:.0f} MB)",
    )
    figure(
        f"{label}: loading every row at once (the naive way), memory",
        f"{(whole['traced_peak'] - base_trace) / 1e6:.1f} MB",
        f"peak RSS {whole['maxrss_kb'] / 1024:.0f} MB",
    )
    ratio = (streamed["traced_peak"] - base_trace) / max(whole["traced_peak"] - base_trace, 1)
    figure("  streamed / all-at-once peak memory (target <= 10%)", f"{ratio:.1%}", verdict(ratio <= 0.10))
    if raw_floor:
        raw = _measure(settings, course, "raw", trace=False)
        figure(f"{label}: raw sqlite3 cursor + csv.writer (the floor)", f"{raw['seconds']:.2f} s")
        figure("  streamed export / raw floor", f"{streamed_time['seconds'] / raw['seconds']:.1f}x")


def bench_export() -> None:
    print(f"\n-- CSV export of a {EXPORT_SIZE:,}-participant course", flush=True)
    with scratch_dir() as tmp:
        _export(sqlite_settings(tmp), "SQLite", raw_floor=True)
        if postgres_available():
            with scratch_postgres() as url:
                _export(bench_settings(url, tmp / "var"), "PostgreSQL", raw_floor=False)
        else:
            print(f"  PostgreSQL skipped: {POSTGRES_URL} is unreachable", flush=True)


def main() -> None:
    print(json.dumps({"quick": QUICK, "rounds": ROUNDS, "cpus": os.cpu_count(), "load": os.getloadavg()}), flush=True)
    bench_completion()
    bench_export()


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "child":
        _child(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == "trace")
    else:
        main()
