"""Auto-enrollment at scale: 10,000 users imported in one import into a group a course follows.

For SQLite and PostgreSQL (a scratch database, dropped afterwards), each in a fresh database:
  baseline  the same import into a group no course follows (users and memberships only);
  followed  the import into a followed group: each new member enrolled, link minted, mail queued;
  turn-on   setAutoEnrollment for a second course on that group of 10,000 members;
  catch-up  `roster sync-enrollments` with nothing to do, then after 1,000 enrollments were lost.
Prints wall time, SQL statements and the ratio to the baseline measured in the same run.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.common import (
    bench_settings,
    postgres_available,
    prepare_database,
    run,
    scratch_dir,
    scratch_postgres,
    sqlite_settings,
    with_database,
)
from server import db
from server.config import Settings

USERS = 10_000


@dataclass
class Figure:
    seconds: float
    statements: int
    enrolled: int


async def _measure(work: Callable[[], Awaitable[int]]) -> Figure:
    with db.count_statements() as counter:
        started = time.perf_counter()
        enrolled = await work()
        seconds = time.perf_counter() - started
    return Figure(seconds, counter.count, enrolled)


def _rows(prefix: str, group: str):
    from server.services.directory import DirectoryRow

    return [DirectoryRow(i + 1, f"{prefix}{i:05d}", f"User {i}", f"{prefix}{i:05d}@corp.example", [group], True) for i in range(USERS)]


async def _baseline(settings: Settings) -> dict[str, Figure]:
    from server.services import directory

    await directory.create_group(name="plain", actor="bench")
    return {"baseline": await _measure(lambda: _import(settings, "plain", "plain"))}


async def _import(settings: Settings, prefix: str, group: str) -> int:
    from server.services import directory

    report = await directory.import_directory(rows=_rows(prefix, group), actor="bench", settings=settings)
    return report.auto_enrolled


async def _followed(settings: Settings) -> dict[str, Figure]:
    from server.models import OutboxMessage, Participant
    from server.services import autoenroll, courses, directory

    figures: dict[str, Figure] = {}
    course = await courses.create_course(title="Bench course", published=True, actor="bench")
    await directory.create_group(name="staff", actor="bench")
    await autoenroll.set_auto_enrollment(settings=settings, course_id=course.id, groups=["staff"], enabled=True, actor="bench")
    figures["followed"] = await _measure(lambda: _import(settings, "staff", "staff"))
    assert await Participant.filter(course_id=course.id).count() == USERS
    print(f"  (mail messages queued by the followed import: {await OutboxMessage.all().count():,})")

    other = await courses.create_course(title="Second course", published=True, actor="bench")

    async def turn_on() -> int:
        result = await autoenroll.set_auto_enrollment(settings=settings, course_id=other.id, groups=["staff"], enabled=True, actor="bench")
        return result.enrolled

    figures["turn-on"] = await _measure(turn_on)

    async def catch_up() -> int:
        return (await autoenroll.catch_up(settings=settings, actor="bench")).enrolled

    figures["catch-up idle"] = await _measure(catch_up)
    lost = await Participant.filter(course_id=course.id).order_by("id").limit(1_000).values_list("id", flat=True)
    await Participant.filter(id__in=list(lost)).delete()
    figures["catch-up 1,000"] = await _measure(catch_up)
    return figures


async def _fresh(settings: Settings, scenario: Callable[[Settings], Awaitable[dict[str, Figure]]]) -> dict[str, Figure]:
    await prepare_database(settings)
    return await with_database(settings, lambda: scenario(settings))


def _print(backend: str, figures: dict[str, Figure]) -> None:
    base = figures["baseline"]
    print(f"{backend}: {USERS:,} users imported in one import")
    for name, f in figures.items():
        ratio = f" ({f.seconds / base.seconds:.2f}x baseline time)" if name != "baseline" else ""
        rate = f", {f.enrolled / f.seconds:,.0f} enrollments/s" if f.enrolled else ""
        print(f"  {name:<14} {f.seconds:7.2f} s  {f.statements:5d} statements  {f.enrolled:6,d} enrolled{rate}{ratio}")


def main() -> None:
    # Each scenario gets a fresh database: a second import into a table the first filled measures the directory, not this.
    with scratch_dir() as folder:
        figures = run(_fresh(sqlite_settings(folder, "baseline.sqlite3"), _baseline))
        figures |= run(_fresh(sqlite_settings(folder, "followed.sqlite3"), _followed))
        _print("SQLite", figures)
    if not postgres_available():
        print("PostgreSQL: not reachable, skipped")
        return
    with scratch_dir() as folder:
        with scratch_postgres() as url:
            figures = run(_fresh(bench_settings(url, folder / "var"), _baseline))
        with scratch_postgres() as url:
            figures |= run(_fresh(bench_settings(url, folder / "var"), _followed))
        _print("PostgreSQL", figures)


if __name__ == "__main__":
    main()
