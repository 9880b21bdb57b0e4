"""Issue 2's speed claims, measured on the real app in one run:

1. enrolling a 10,000-member group in one enrollParticipants mutation vs a raw sqlite3.executemany
   of the same rows (target: at most 5x);
2. opening a link: participantView over GraphQL vs a hand-written Starlette endpoint doing the same
   lookup in the same server process, both loaded by wrk (target: at least 75%);
3. one courseReport page of 100 rows from a 100,000-participant course, on SQLite and PostgreSQL.

Environment: ROSTER_BENCH_QUICK=1 shortens every run; ROSTER_BENCH_POSTGRES_URL names the server on
which a scratch database is created (PostgreSQL figures are skipped when it is unreachable).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import (
    POSTGRES_URL,
    QUICK,
    admin_token,
    bench_settings,
    figure,
    graphql,
    median,
    post_json,
    postgres_available,
    prepare_database,
    run,
    scratch_dir,
    scratch_postgres,
    seed_course,
    seed_participants,
    seed_users,
    serve,
    sqlite_settings,
    verdict,
    with_database,
    wrk_post,
)
from server.config import Settings

GROUP_SIZE = 10_000
WARM_UP_SIZE = 100
REPORT_SIZE = 20_000 if QUICK else 100_000
ROUNDS = 1 if QUICK else 5
LINK_ROUNDS = 1 if QUICK else 5
WRK_SECONDS = 2.0 if QUICK else 5.0
WRK_CONNECTIONS = 8

ENROLL = """
mutation($course: ID!, $groups: [String!]!, $send: Boolean!) {
  enrollParticipants(courseId: $course, groups: $groups, sendEmail: $send) {
    enrolled { link participant { id name enrolledVia } }
    skipped { entry reason }
  }
}"""
VIEW = """
query($link: String!) {
  participantView(link: $link) {
    participant { id kind name status progress emailStatus }
    course { id title }
  }
}"""
REPORT = """
query($course: ID!, $first: Int!, $after: String, $order: ReportOrder!, $descending: Boolean!, $filter: ReportFilter) {
  courseReport(courseId: $course, first: $first, after: $after, orderBy: $order, descending: $descending, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id kind name email status progress enrolledAt emailStatus } }
  }
}"""


# --- the hand-written endpoint, added to the served app by serve(hook=...) ------------------


def add_routes(app: Any, settings: Settings) -> None:
    """The baseline of the link benchmark: the same lookup as participantView, without GraphQL."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from server.models import Participant
    from server.services import links

    async def raw_link(request: Request) -> JSONResponse:
        body = await request.json()
        digest = links.verified_hash(settings=settings, link=str(body.get("link", "")))
        participant = None
        if digest is not None:
            participant = await Participant.get_or_none(link_hash=digest).select_related("course")
        if participant is None or not participant.course.published:
            return JSONResponse({"participantView": None})
        return JSONResponse(
            {
                "participantView": {
                    "participant": {
                        "id": str(participant.id),
                        "kind": participant.kind.value,
                        "name": participant.name,
                        "status": participant.status.value,
                        "progress": participant.progress,
                        "emailStatus": participant.email_status.value,
                    },
                    "course": {"id": str(participant.course.id), "title": participant.course.title},
                }
            }
        )

    app.router.routes.insert(0, Route("/bench/link", raw_link, methods=["POST"]))


# --- 1. group enrollment vs executemany ------------------------------------------------------


def _raw_rows(course_id: int, user_rows: list[tuple[int, str]]) -> list[tuple]:
    from server.services import links

    settings = bench_settings("sqlite://:memory:", Path("var"))
    now = datetime.now(UTC).isoformat()
    return [
        (course_id, "INTERNAL", uid, name, "group:everyone", now, links.mint(settings=settings).hash, "NOT_STARTED", 0.0, 0, "NOT_SENT")
        for uid, name in user_rows
    ]


def _executemany(path: Path, rows: list[tuple]) -> float:
    conn = sqlite3.connect(path)
    try:
        started = time.perf_counter()
        with conn:
            conn.executemany(
                "INSERT INTO participants (course_id, kind, user_id, name, enrolled_via, enrolled_at, link_hash, status, progress,"
                " attempts, email_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return time.perf_counter() - started
    finally:
        conn.close()


def bench_group_enrollment() -> None:
    print(f"\n-- enrolling a group of {GROUP_SIZE:,} members in one enrollParticipants mutation (SQLite)", flush=True)
    with scratch_dir() as tmp:
        settings = sqlite_settings(tmp)
        run(prepare_database(settings))

        async def seed() -> tuple[str, list[int]]:
            await seed_users(GROUP_SIZE, group="everyone")
            await seed_users(WARM_UP_SIZE, prefix="warm", group="warm-up")
            token = await admin_token()
            courses = [await seed_course(f"Group course {i}") for i in range(3 * ROUNDS + 2)]
            return token, courses

        started = time.perf_counter()
        token, course_ids = run(with_database(settings, seed))
        figure("seeding 10,000 users in one group", f"{time.perf_counter() - started:.1f} s")
        user_rows = [tuple(r) for r in sqlite3.connect(tmp / "bench.sqlite3").execute("SELECT id, username FROM users ORDER BY id")]

        # Each round measures the raw insert and both mutations back to back, so all three see the same machine load.
        mutation: dict[bool, list[float]] = {False: [], True: []}
        ratios: dict[bool, list[float]] = {False: [], True: []}
        raw: list[float] = []
        queued: dict[bool, int] = {}
        with serve(settings) as base:
            # A server in service has run this mutation before: warm it up with a small group first.
            for send, course in zip((False, True), course_ids[-2:], strict=True):
                graphql(base, ENROLL, {"course": course, "groups": ["warm-up"], "send": send}, token=token)
            for round_no in range(ROUNDS):
                raw.append(_executemany(tmp / "bench.sqlite3", _raw_rows(course_ids[3 * round_no + 2], user_rows)))
                for send in (False, True):
                    course = course_ids[3 * round_no + (1 if send else 0)]
                    started = time.perf_counter()
                    data = graphql(base, ENROLL, {"course": course, "groups": ["everyone"], "send": send}, token=token)
                    mutation[send].append(time.perf_counter() - started)
                    ratios[send].append(mutation[send][-1] / raw[-1])
                    enrolled = data["enrollParticipants"]["enrolled"]
                    assert len(enrolled) == GROUP_SIZE, f"expected {GROUP_SIZE} enrolled, got {len(enrolled)}"
                    queued[send] = _outbox_count(tmp / "bench.sqlite3", course)

    figure("raw sqlite3.executemany of the same 10,000 rows", f"{median(raw) * 1000:.0f} ms", f"(median of {ROUNDS})")
    for send in (False, True):
        ratio = median(ratios[send])
        note = f"{queued[send]:,} outbox messages queued" if send else ""
        figure(f"enrollParticipants, sendEmail: {str(send).lower()}, over HTTP", f"{median(mutation[send]) * 1000:.0f} ms", note)
        figure("  ratio to executemany, median of rounds (target <= 5x)", f"{ratio:.1f}x", verdict(ratio <= 5))
    if not queued[True]:
        print("  note: the mail outbox queues nothing yet, so sendEmail: true costs the same as false", flush=True)


def _outbox_count(path: Path, course_id: int) -> int:
    conn = sqlite3.connect(path)
    try:
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM outbox_messages m JOIN participants p ON p.id = m.participant_id WHERE p.course_id = ?", (course_id,)
        ).fetchone()
        return int(count)
    finally:
        conn.close()


# --- 2. opening a link --------------------------------------------------------------------------


def bench_link_open() -> None:
    print("\n-- opening a link: participantView over GraphQL vs a hand-written Starlette endpoint (same server, wrk)", flush=True)
    with scratch_dir() as tmp:
        settings = sqlite_settings(tmp)
        run(prepare_database(settings))

        async def seed() -> str:
            from server.services import enrollment

            course = await seed_course("Link course")
            await seed_participants(course, 10_000)
            emails = [f"open{i}@example.com" for i in range(100)]
            result = await enrollment.enroll_external(settings=settings, course_id=course, emails=emails, send_email=False, actor="bench")
            return result.enrolled[42].link.split("#", 1)[1]

        link = run(with_database(settings, seed))
        body = {"query": VIEW, "variables": {"link": link}}
        with serve(settings, hook="bench.bench_core:add_routes") as base:
            via_graphql = post_json(f"{base}/graphql", body)
            via_raw = post_json(f"{base}/bench/link", {"link": link})
            assert via_graphql["data"] == via_raw, (via_graphql, via_raw)
            assert via_raw["participantView"]["participant"]["name"] == "open42@example.com"
            # Warm both paths (caches, connection), then alternate so both see the same machine load.
            wrk_post(f"{base}/graphql", body, duration=1, connections=WRK_CONNECTIONS)
            wrk_post(f"{base}/bench/link", {"link": link}, duration=1, connections=WRK_CONNECTIONS)
            gql_rps: list[float] = []
            raw_rps: list[float] = []
            ratios: list[float] = []
            errors = 0
            for _ in range(LINK_ROUNDS):
                r = wrk_post(f"{base}/bench/link", {"link": link}, duration=WRK_SECONDS, connections=WRK_CONNECTIONS)
                g = wrk_post(f"{base}/graphql", body, duration=WRK_SECONDS, connections=WRK_CONNECTIONS)
                raw_rps.append(r.requests_per_sec)
                gql_rps.append(g.requests_per_sec)
                ratios.append(g.requests_per_sec / r.requests_per_sec)
                errors += r.non_2xx + g.non_2xx + r.socket_errors + g.socket_errors
    ratio = median(ratios)
    rounds = f"(median of {LINK_ROUNDS} x {WRK_SECONDS:.0f}s, {WRK_CONNECTIONS} connections)"
    figure("hand-written Starlette endpoint", f"{median(raw_rps):,.0f} req/s", rounds)
    figure("participantView over GraphQL", f"{median(gql_rps):,.0f} req/s")
    figure("  GraphQL / hand-written, median of rounds (target >= 75%)", f"{ratio:.0%}", verdict(ratio >= 0.75))
    figure("  non-2xx responses and socket errors", f"{errors}")


# --- 3. a report page from a 100,000-participant course ------------------------------------------


def _report_pages(settings: Settings, label: str) -> None:
    run(prepare_database(settings))

    async def seed() -> tuple[str, int]:
        token = await admin_token()
        course = await seed_course("Report course")
        await seed_participants(course, REPORT_SIZE)
        return token, course

    started = time.perf_counter()
    token, course = run(with_database(settings, seed))
    figure(f"{label}: seeding {REPORT_SIZE:,} participants in bulk", f"{time.perf_counter() - started:.1f} s")
    if not settings.is_sqlite:
        run(_vacuum_analyze(settings.database_url))  # what autovacuum does after a bulk load: planner statistics
    with serve(settings) as base:
        from server.services.reports import encode_cursor

        # Participant ids start at 1 in the fresh database: this cursor points half-way through.
        cursor = encode_cursor(None, REPORT_SIZE // 2)
        cases = [
            ("first page, order ENROLLED", _report_vars(course)),
            ("a page half-way through (after a cursor)", _report_vars(course, after=cursor)),
            ("first page, order NAME", _report_vars(course, order="NAME")),
            ("first page, order PROGRESS descending", _report_vars(course, order="PROGRESS", descending=True)),
            ("first page, filter status COMPLETED", _report_vars(course, filter={"status": "COMPLETED"})),
            ("first page, search '00.1' (name or email)", _report_vars(course, filter={"search": "00.1"})),
        ]
        for name, variables in cases:
            times = []
            for _ in range(3 if QUICK else 7):
                started = time.perf_counter()
                data = graphql(base, REPORT, variables, token)
                times.append(time.perf_counter() - started)
            page = data["courseReport"]
            assert len(page["edges"]) == 100 or not page["pageInfo"]["hasNextPage"], name
            figure(f"{label}: {name}", f"{median(times) * 1000:.1f} ms", f"totalCount {page['totalCount']:,}")


async def _vacuum_analyze(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("VACUUM ANALYZE participants")
    finally:
        await conn.close()


def _report_vars(
    course: int, *, first: int = 100, after: str | None = None, order: str = "ENROLLED", descending: bool = False, filter: Any = None
) -> dict[str, Any]:
    return {"course": course, "first": first, "after": after, "order": order, "descending": descending, "filter": filter}


def bench_report() -> None:
    print(f"\n-- one courseReport page of 100 rows from a {REPORT_SIZE:,}-participant course (over HTTP, median)", flush=True)
    with scratch_dir() as tmp:
        _report_pages(sqlite_settings(tmp), "SQLite")
        if postgres_available():
            with scratch_postgres() as url:
                _report_pages(bench_settings(url, tmp / "var"), "PostgreSQL")
        else:
            print(f"  PostgreSQL skipped: {POSTGRES_URL} is unreachable", flush=True)


def main() -> None:
    print(json.dumps({"quick": QUICK, "rounds": ROUNDS, "cpus": os.cpu_count(), "load": os.getloadavg()}), flush=True)
    bench_group_enrollment()
    bench_link_open()
    bench_report()


if __name__ == "__main__":
    main()
