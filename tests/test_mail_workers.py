"""`roster mail-worker` as real processes: a killed worker's messages are sent by the next, two workers share one queue."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import pytest

from server.models import OutboxMessage
from server.services.mailer import Mailer
from tests.conftest import TEST_KEY, with_settings
from tests.factories import make_course
from tests.smtp import SmtpServer

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("ROSTER_TEST_DATABASE_URL", "").strip()
if not PG_URL.startswith("postgres"):
    PG_URL = "postgres://postgres@127.0.0.1:5432/postgres"
ENROLL_EXTERNAL = "mutation($course: ID!, $emails: [String!]!) { enrollExternal(courseId: $course, emails: $emails) { enrolled { link } } }"
SEED = """
import asyncio, sys
from server import db
from server.config import Settings
from server.services import courses, enrollment

async def main() -> None:
    settings = Settings.from_env()
    await db.init_db(settings)
    course = await courses.create_course(title="Two workers", published=True, actor="test")
    emails = [f"p{i:03d}@example.com" for i in range(int(sys.argv[1]))]
    await enrollment.enroll_external(settings=settings, course_id=course.id, emails=emails, actor="test")
    await db.close_db()

asyncio.run(main())
"""


def worker_env(database_url: str, smtp: SmtpServer, tmp: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ROSTER_DATABASE_URL=database_url,
        ROSTER_SECRET_KEYS=TEST_KEY,
        ROSTER_PUBLIC_URL="http://roster.test",
        ROSTER_SMTP_URL=smtp.url,
        ROSTER_ENV="test",
        ROSTER_VAR_DIR=str(tmp),
        ROSTER_MAIL_BATCH_SIZE="10",
        ROSTER_MAIL_CONNECTIONS="2",
    )
    env.update(extra)
    return env


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "server", "mail-worker"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


async def test_a_worker_killed_mid_batch_leaves_nothing_undelivered(gql, settings, tmp_path):
    smtp = SmtpServer().start()
    smtp.inbox.delay = 0.05
    try:
        course = await make_course()
        emails = [f"p{i:02d}@example.com" for i in range(60)]
        await gql.data(ENROLL_EXTERNAL, {"course": course.id, "emails": emails})
        worker = start_worker(worker_env(settings.database_url, smtp, tmp_path, ROSTER_MAIL_LEASE_SECONDS="1"))
        try:
            await smtp.wait_for(12)
        finally:
            worker.send_signal(signal.SIGKILL)  # no chance to finish or give anything back
            worker.wait(10)
        held = await OutboxMessage.filter(status="QUEUED", claimed_by__not_isnull=True).count()
        assert held > 0, "the worker should have died holding a claimed batch"
        assert len(smtp.inbox.by_recipient()) < 60

        await asyncio.sleep(1.2)  # the dead worker's lease runs out
        smtp.inbox.delay = 0
        await Mailer(with_settings(settings, smtp_url=smtp.url, mail_poll_seconds=0.05)).run(until_idle=True)

        received = smtp.inbox.by_recipient()
        assert sorted(received) == emails
        # Each message arrives; one the dead worker sent but had not yet recorded may arrive twice, with the same link.
        assert all(len({m.link for m in messages}) == 1 for messages in received.values())
        assert await OutboxMessage.filter(status="SENT").count() == 60
    finally:
        smtp.stop()


async def scratch_database() -> tuple[str, str]:
    admin = PG_URL.rsplit("/", 1)[0] + "/postgres"
    name = f"roster_mail_{uuid.uuid4().hex[:10]}"
    try:
        conn = await asyncpg.connect(admin, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("ROSTER_CI_REQUIRE_ALL") == "1":
            pytest.fail(f"PostgreSQL is required for this test and unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return admin, name


async def test_two_workers_on_postgresql_send_each_message_exactly_once(tmp_path):
    admin, name = await scratch_database()
    url = admin.rsplit("/", 1)[0] + f"/{name}"
    smtp = SmtpServer().start()
    smtp.inbox.delay = 0.01
    workers: list[subprocess.Popen] = []
    try:
        env = worker_env(url, smtp, tmp_path, ROSTER_MAIL_BATCH_SIZE="5")
        subprocess.run([sys.executable, "-m", "server", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
        subprocess.run([sys.executable, "-c", SEED, "200"], cwd=ROOT, env=env, check=True, capture_output=True)
        workers = [start_worker(env), start_worker(env)]

        conn = await asyncpg.connect(url)
        try:
            deadline = time.monotonic() + 90
            while await conn.fetchval("SELECT count(*) FROM outbox_messages WHERE status <> 'SENT'"):
                assert time.monotonic() < deadline, "delivery did not finish"
                assert all(w.poll() is None for w in workers), workers[0].stderr
                await asyncio.sleep(0.1)
            senders = {row["w"] for row in await conn.fetch("SELECT DISTINCT split_part(claimed_by, '/', 1) AS w FROM outbox_messages")}
            statuses = {row["email_status"] for row in await conn.fetch("SELECT DISTINCT email_status FROM participants")}
        finally:
            await conn.close()
        for w in workers:
            w.send_signal(signal.SIGTERM)
        outputs = [w.communicate(timeout=20) for w in workers]
        assert [w.returncode for w in workers] == [0, 0], outputs
        assert all("Mail worker stopped" in out for out, _ in outputs)

        received = smtp.inbox.by_recipient()
        assert sorted(received) == [f"p{i:03d}@example.com" for i in range(200)]
        assert all(len(messages) == 1 for messages in received.values())
        assert len(senders) == 2, "both workers should have taken part"
        assert statuses == {"SENT"}
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
        smtp.stop()
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
