"""The `roster` command, run as a user runs it: a subprocess on its own SQLite file."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOKEN_RE = re.compile(r"rst_[A-Za-z0-9_-]{43}")


class Roster:
    """`python -m server …` against one SQLite file in a temporary folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.database = folder / "roster.sqlite3"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}
        self.env.update(
            ROSTER_DATABASE_URL=f"sqlite://{self.database}",
            ROSTER_VAR_DIR=str(folder / "var"),
            ROSTER_ENV="development",
            ROSTER_MAIL_WORKER="0",
        )

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "server", *args], cwd=ROOT, env=self.env, input=stdin, capture_output=True, text=True, timeout=120
        )

    def query(self, sql: str, *params: object) -> list[tuple]:
        with sqlite3.connect(self.database) as conn:
            return conn.execute(sql, params).fetchall()


@pytest.fixture
def roster(tmp_path: Path) -> Roster:
    cli = Roster(tmp_path)
    done = cli("migrate")
    assert done.returncode == 0, done.stderr
    return cli


def assert_clean_failure(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.startswith("roster: ") or "rejected" in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def test_migrate_reports_the_database_and_is_repeatable(roster: Roster):
    again = roster("migrate")
    assert again.returncode == 0
    assert "up to date" in again.stdout and str(roster.database) in again.stdout
    assert roster.query("SELECT COUNT(*) FROM participants") == [(0,)]


def test_demo_seeds_once_and_prints_its_token_once(roster: Roster):
    first = roster("demo", "--if-empty")
    assert first.returncode == 0, first.stderr
    tokens = TOKEN_RE.findall(first.stdout)
    assert len(tokens) == 1 and "shown once" in first.stdout
    assert len(first.stdout.strip().splitlines()) == 1, "one readable line"

    second = roster("demo", "--if-empty")
    assert second.returncode == 0 and TOKEN_RE.findall(second.stdout) == []

    assert roster.query("SELECT COUNT(*) FROM courses") == [(1,)]
    assert roster.query("SELECT COUNT(*) FROM users WHERE NOT is_admin") == [(12,)]
    assert roster.query("SELECT username FROM users WHERE is_admin") == [("admin",)]
    assert roster.query("SELECT COUNT(*) FROM lessons") == [(2,)]
    assert roster.query("SELECT COUNT(*) FROM questions") == [(2,)]
    assert "sign in to the web UI as admin with password" in first.stdout
    assert sorted(roster.query("SELECT name FROM groups")) == [("engineering",), ("sales",)]
    assert roster.query("SELECT COUNT(*) FROM api_tokens WHERE scope = 'admin'") == [(1,)]
    assert tokens[0] not in str(roster.query("SELECT * FROM api_tokens")), "only the hash is stored"


CHECK_TOKEN = textwrap.dedent(
    """
    import asyncio, json, sys
    import httpx
    from server import db
    from server.app import create_app
    from server.config import Settings

    async def main():
        settings = Settings.from_env()
        app = create_app(settings)
        await db.init_db(settings)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://roster.test") as client:
                response = await client.post("/graphql", json={"query": "{ courses { title } }"},
                                             headers={"authorization": "Bearer " + sys.argv[1]})
                print(json.dumps(response.json()))
        finally:
            await db.close_db()

    asyncio.run(main())
    """
)


def test_a_created_token_works_and_a_revoked_one_does_not(roster: Roster):
    created = roster("create-token", "hr sync", "--scope", "admin")
    assert created.returncode == 0, created.stderr
    (token,) = TOKEN_RE.findall(created.stdout)

    def ask() -> dict:
        done = subprocess.run(
            [sys.executable, "-c", CHECK_TOKEN, token], cwd=ROOT, env=roster.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert ask() == {"data": {"courses": []}}
    listed = roster("list-tokens")
    assert "hr sync" in listed.stdout and token not in listed.stdout

    token_id = roster.query("SELECT id FROM api_tokens WHERE name = 'hr sync'")[0][0]
    assert roster("revoke-token", str(token_id)).returncode == 0
    assert ask()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_create_token_refuses_a_bad_scope_clearly(roster: Roster):
    done = roster("create-token", "x", "--scope", "superuser")
    assert done.returncode != 0 and "Traceback" not in done.stderr and "invalid choice" in done.stderr
    assert roster.query("SELECT COUNT(*) FROM api_tokens") == [(0,)]


def test_import_directory_imports_good_rows_and_names_bad_lines(roster: Roster, tmp_path: Path):
    people = tmp_path / "people.csv"
    people.write_text("username,display_name,email,groups,active\nalice,Alice,alice@corp.example,sales,\nbad name,,,,\nbob,Bob,,sales,\n")

    done = roster("import-directory", str(people))

    assert done.returncode == 0, done.stderr
    assert "users: 2 created" in done.stdout and "1 rows rejected" in done.stdout
    assert f"{people}:3: rejected" in done.stderr and "Traceback" not in done.stderr
    again = roster("import-directory", str(people))
    assert "users: 0 created, 0 updated, 2 unchanged" in again.stdout
    assert roster.query("SELECT COUNT(*) FROM memberships") == [(2,)]


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("missing.csv", None, ["cannot read"]),
        ("broken.json", '{"users": [', ["not valid JSON"]),
        ("shape.json", '{"users": 5}', ["JSON must be"]),
        ("noheader.csv", "alice,Alice\n", ["header"]),
        ("binary.csv", b"\xff\xfe\x00garbage", ["cannot read"]),
    ],
)
def test_import_directory_refuses_a_bad_file_clearly(roster: Roster, tmp_path: Path, name, content, words):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)

    done = roster("import-directory", str(path))

    assert_clean_failure(done, *words)
    assert roster.query("SELECT COUNT(*) FROM users") == [(0,)]


def test_create_admin_reads_the_password_from_stdin(roster: Roster):
    done = roster("create-admin", "root", "--password-stdin", stdin="a long enough password\n")
    assert done.returncode == 0, done.stderr
    assert "Created admin root" in done.stdout and "a long enough password" not in done.stdout + done.stderr
    ((is_admin, password_hash),) = roster.query("SELECT is_admin, password_hash FROM users WHERE username = 'root'")
    assert is_admin == 1 and password_hash.startswith("$argon2")

    again = roster("create-admin", "root", "--password-stdin", stdin="another long password\n")
    assert again.returncode == 0 and "Updated admin root" in again.stdout

    short = roster("create-admin", "shorty", "--password-stdin", stdin="short\n")
    assert_clean_failure(short, "at least")


def test_commands_fail_clearly_without_a_database(tmp_path: Path):
    cli = Roster(tmp_path)
    cli.env["ROSTER_DATABASE_URL"] = "postgres://nobody@127.0.0.1:1/nothing"
    done = cli("create-token", "x", "--scope", "admin")
    assert done.returncode != 0 and "Traceback" not in done.stderr and done.stderr.startswith("roster: ")
