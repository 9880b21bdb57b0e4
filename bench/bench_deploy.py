"""Issue 8's speed figures, measured on `roster serve` as production runs it, in one run:

1. opening a link (participantView over HTTP, loaded by wrk) on PostgreSQL with 1, 2 and 4
   worker processes, the scaling factor against 1 worker, and SQLite with 1 worker as the baseline;
2. enrolling a 10,000-member group in one enrollParticipants mutation, PostgreSQL vs SQLite.

The worker figures depend on the cores free: on a 2-core machine shared with the load generator,
more than 2 workers cannot scale further. ROSTER_BENCH_QUICK=1 shortens every run; PostgreSQL
figures are skipped when ROSTER_BENCH_POSTGRES_URL (default 127.0.0.1:5432) is unreachable.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.common import (
    BENCH_KEY,
    QUICK,
    ROOT,
    bench_settings,
    figure,
    free_port,
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
    sqlite_settings,
    stop_process,
    wait_healthy,
    with_database,
    wrk_post,
)
from server.config import Settings

WRK_SECONDS = 2.0 if QUICK else 4.0
ROUNDS = 1 if QUICK else 3
WRK_CONNECTIONS = 16
WORKERS = (1, 2, 4)
GROUP_SIZE = 10_000
VIEW = "query($link: String!) { participantView(link: $link) { participant { name status progress } course { title } } }"
ENROLL = """
mutation($course: ID!, $groups: [String!]!) {
  enrollParticipants(courseId: $course, groups: $groups, sendEmail: true) {
    enrolled { link participant { id } }
    skipped { entry reason }
  }
}"""


@contextlib.contextmanager
def roster_serve(settings: Settings, workers: int, timeout: float = 60.0) -> Iterator[str]:
    """`roster serve --workers N` configured through ROSTER_* variables, as an operator runs it; yields its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}
    env.update(
        ROSTER_DATABASE_URL=settings.database_url,
        ROSTER_SECRET_KEYS=BENCH_KEY,
        ROSTER_ENV="test",
        ROSTER_PUBLIC_URL=settings.public_url,
        ROSTER_VAR_DIR=str(settings.var_dir),
        ROSTER_MAIL_WORKER="0",
        ROSTER_AUTO_ENROLL_INTERVAL="0",
        ROSTER_WORKERS=str(workers),
    )
    with tempfile.NamedTemporaryFile(prefix="roster-bench-serve-", suffix=".log", delete=False) as log:
        proc = subprocess.Popen([sys.executable, "-m", "server", "serve", "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, proc, timeout, Path(log.name))
        yield base_url
    finally:
        stop_process(proc, timeout=30)
        os.unlink(log.name)


# --- 1. link-open throughput by worker count ----------------------------------------------------


def _seed_link(settings: Settings) -> str:
    async def seed() -> str:
        from server.services import enrollment

        course = await seed_course("Deploy link course")
        await seed_participants(course, 10_000)
        result = await enrollment.enroll_external(
            settings=settings, course_id=course, emails=["opener@example.com"], send_email=False, actor="bench"
        )
        return result.enrolled[0].link.split("#", 1)[1]

    run(prepare_database(settings))
    return run(with_database(settings, seed))


def bench_link_open_by_workers(pg: bool) -> None:
    print(
        f"\n-- opening a link: participantView over HTTP, wrk {WRK_SECONDS:.0f}s x {WRK_CONNECTIONS} connections, "
        f"median of {ROUNDS} interleaved rounds, {os.cpu_count()} CPUs on this machine",
        flush=True,
    )
    with contextlib.ExitStack() as stack:
        # Every configuration serves at once (idle servers cost nothing) and wrk visits them in
        # turn, round after round, so drifting load on a shared machine hits them all alike.
        sqlite = sqlite_settings(stack.enter_context(scratch_dir()))
        targets = {"SQLite, 1 worker (baseline)": (sqlite, _seed_link(sqlite), 1)}
        if pg:
            postgres = bench_settings(stack.enter_context(scratch_postgres()), stack.enter_context(scratch_dir()) / "var")
            link = _seed_link(postgres)
            for workers in WORKERS:
                targets[f"PostgreSQL, {workers} worker{'s' if workers > 1 else ''}"] = (postgres, link, workers)
        bodies = {label: {"query": VIEW, "variables": {"link": link}} for label, (_, link, _) in targets.items()}
        urls = {label: stack.enter_context(roster_serve(settings, workers)) for label, (settings, _, workers) in targets.items()}
        for label, url in urls.items():
            answer = post_json(f"{url}/graphql", bodies[label])
            assert answer["data"]["participantView"]["participant"]["name"] == "opener@example.com", answer
            wrk_post(f"{url}/graphql", bodies[label], duration=1, connections=WRK_CONNECTIONS, threads=1)  # every worker warm
        rps: dict[str, list[float]] = {label: [] for label in targets}
        errors = dict.fromkeys(targets, 0)
        for _ in range(ROUNDS):
            for label, url in urls.items():
                result = wrk_post(f"{url}/graphql", bodies[label], duration=WRK_SECONDS, connections=WRK_CONNECTIONS, threads=1)
                rps[label].append(result.requests_per_sec)
                errors[label] += result.non_2xx + result.socket_errors
    for label in targets:
        figure(label, f"{median(rps[label]):,.0f} req/s", f"{errors[label]} errors; rounds: {', '.join(f'{r:,.0f}' for r in rps[label])}")
    if not pg:
        print("  PostgreSQL unreachable: worker scaling skipped", flush=True)
        return
    baseline = median(rps["SQLite, 1 worker (baseline)"])
    by_workers = {workers: median(rps[f"PostgreSQL, {workers} worker{'s' if workers > 1 else ''}"]) for workers in WORKERS}
    for workers in WORKERS[1:]:
        figure(f"  scaling, {workers} workers / 1 worker", f"{by_workers[workers] / by_workers[1]:.2f}x")
    figure("  PostgreSQL 1 worker / SQLite 1 worker", f"{by_workers[1] / baseline:.2f}x")
    best = max(by_workers, key=by_workers.__getitem__)
    figure(f"  PostgreSQL best ({best} workers) / SQLite 1 worker", f"{by_workers[best] / baseline:.2f}x")


# --- 2. the 10,000-member group enrollment --------------------------------------------------------


def _group_enrollment_seconds(settings: Settings) -> tuple[float, float]:
    """(seconds to seed the directory, seconds for one enrollParticipants of the whole group over HTTP)."""

    async def seed() -> tuple[str, int]:
        from bench.common import admin_token

        await seed_users(GROUP_SIZE, group="everyone")
        return await admin_token(), await seed_course("Deploy group course")

    run(prepare_database(settings))
    started = time.perf_counter()
    token, course = run(with_database(settings, seed))
    seeded = time.perf_counter() - started
    with roster_serve(settings, 1) as base:
        started = time.perf_counter()
        data = graphql(base, ENROLL, {"course": course, "groups": ["everyone"]}, token=token)
        took = time.perf_counter() - started
    enrolled = data["enrollParticipants"]["enrolled"]
    assert len(enrolled) == GROUP_SIZE, f"expected {GROUP_SIZE} enrolled, got {len(enrolled)}"
    return seeded, took


def bench_group_enrollment(pg: bool) -> None:
    print(f"\n-- enrolling a {GROUP_SIZE:,}-member group in one enrollParticipants mutation (sendEmail: true), over HTTP", flush=True)
    with scratch_dir() as tmp:
        seeded, sqlite_took = _group_enrollment_seconds(sqlite_settings(tmp))
    figure("SQLite", f"{sqlite_took * 1000:,.0f} ms", f"(directory seeded in {seeded:.1f} s)")
    if not pg:
        print("  PostgreSQL unreachable: skipped", flush=True)
        return
    with scratch_postgres() as url, scratch_dir() as tmp:
        seeded, pg_took = _group_enrollment_seconds(bench_settings(url, tmp / "var"))
    figure("PostgreSQL", f"{pg_took * 1000:,.0f} ms", f"(directory seeded in {seeded:.1f} s)")
    figure("  PostgreSQL / SQLite", f"{pg_took / sqlite_took:.2f}x")


def main() -> None:
    pg = postgres_available()
    bench_link_open_by_workers(pg)
    bench_group_enrollment(pg)


if __name__ == "__main__":
    main()
