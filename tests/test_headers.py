"""Security headers on every response, and no link, token, password or session in any log line."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from server.app import STATIC_DIR, create_app
from server.services import auth
from tests.conftest import with_settings
from tests.factories import make_course, make_user
from tests.live import live_server

ENROLL = 'mutation($c: ID!) { enrollExternal(courseId: $c, emails: ["pat@example.com"], sendEmail: true) { enrolled { link } } }'
VIEW = "query($link: String!) { participantView(link: $link) { participant { name } } }"
SIGN_IN = "mutation($u: String!, $p: String!) { signIn(username: $u, password: $p) { username } }"
CREATE_TOKEN = 'mutation { createApiToken(name: "bi", scope: "reports:read") { secret } }'
PASSWORD = "correct horse battery staple"
SQL_LOGGERS = ("tortoise", "aiosqlite", "asyncpg")


def some_static_file() -> str:
    files = sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())
    return "/static/" + files[0].relative_to(STATIC_DIR).as_posix() if files else "/static/missing.js"


async def responses(client: httpx.AsyncClient, admin_token: str, course_id: int) -> dict[str, httpx.Response]:
    bearer = {"authorization": f"Bearer {admin_token}"}
    return {
        "page /": await client.get("/"),
        "page /learn": await client.get("/learn"),
        "page /learning": await client.get("/learning"),
        "graphql": await client.post("/graphql", json={"query": "{ courses { id } }"}, headers=bearer),
        "graphql refused": await client.post("/graphql", data={"query": "{ __typename }"}),
        "report csv": await client.get(f"/reports/{course_id}.csv", headers=bearer),
        "healthz": await client.get("/healthz"),
        "static": await client.get(some_static_file()),
        "not found": await client.get("/no/such/page"),
        "too large": await client.post("/graphql", content=b" " * 2_000_001, headers={"content-type": "application/json"}),
    }


async def test_every_response_carries_the_security_headers(app, client, admin_token):
    course = await make_course()
    for name, response in (await responses(client, admin_token, course.id)).items():
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff", name
        assert headers["referrer-policy"] == "no-referrer", name
        assert "frame-ancestors 'none'" in headers["content-security-policy"], name
        assert headers["x-request-id"], name
        assert "strict-transport-security" not in headers, name  # the public URL is http
        assert "server" not in headers, name


async def test_pages_get_a_strict_csp_and_participant_data_is_never_cached(client, admin_token):
    course = await make_course()
    found = await responses(client, admin_token, course.id)
    for name in ("page /", "page /learn", "page /learning"):
        csp = found[name].headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "'unsafe-inline'" not in csp, name
        assert found[name].headers["cache-control"] == "no-store", name
    for name in ("graphql", "report csv"):
        assert found[name].status_code == 200, name
        assert "no-store" in found[name].headers["cache-control"], name
        assert found[name].headers["content-security-policy"].startswith("default-src 'none'"), name


async def test_hsts_is_sent_when_the_public_url_is_https(settings, admin_token):
    app = create_app(with_settings(settings, public_url="https://roster.example"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://roster.example") as client:
        course = await make_course()
        for name, response in (await responses(client, admin_token, course.id)).items():
            assert response.headers["strict-transport-security"].startswith("max-age="), name


async def secrets_seen_while_using(client: httpx.AsyncClient, admin_token: str) -> list[str]:
    """Enroll, open the link, sign in, use the session and tokens, fail on purpose: return every secret involved."""
    course = await make_course()
    await make_user("alice")
    await auth.set_password(username="alice", password=PASSWORD, actor="test")
    bearer = {"authorization": f"Bearer {admin_token}"}

    enrolled = (await client.post("/graphql", json={"query": ENROLL, "variables": {"c": course.id}}, headers=bearer)).json()
    link = enrolled["data"]["enrollExternal"]["enrolled"][0]["link"]
    value = link.split("#", 1)[1]
    token_part = value.split(".", 1)[0]
    for form in (value, link, value[:-2] + "xx"):
        await client.post("/graphql", json={"query": VIEW, "variables": {"link": form}})
    await client.get(f"/learn?link={value}")  # a careless client puts it in a URL: the access log keeps only the path
    await client.post(f"/graphql?link={value}", json={"query": VIEW, "variables": {"link": value}})

    signed_in = await client.post("/graphql", json={"query": SIGN_IN, "variables": {"u": "alice", "p": PASSWORD}})
    session = signed_in.cookies.get("roster_session")
    assert session, signed_in.text
    await client.post("/graphql", json={"query": "{ viewer { username } }"}, cookies={"roster_session": session})
    await client.post("/graphql", json={"query": SIGN_IN, "variables": {"u": "alice", "p": PASSWORD + "!"}})

    created = (await client.post("/graphql", json={"query": CREATE_TOKEN}, headers=bearer)).json()
    new_token = created["data"]["createApiToken"]["secret"]
    await client.post("/graphql", json={"query": "{ courses { id } }"}, headers={"authorization": f"Bearer {new_token}"})
    await client.post("/graphql", json={"query": "{ courses { id } }"}, headers={"authorization": f"Bearer {admin_token}x"})
    await client.get(f"/reports/{course.id}.csv?token={admin_token}", headers=bearer)
    return [value, token_part, admin_token, admin_token.removeprefix("rst_"), new_token, PASSWORD, session]


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("httpx", "httpcore")):
            return  # the test's own HTTP client, not the server
        self.lines.append(f"{record.name} {self.format(record)}")


async def test_no_secret_reaches_the_application_logs_even_at_debug(client, admin_token):
    capture = Capture()
    capture.setFormatter(logging.Formatter("%(message)s %(exc_info)s"))
    root = logging.getLogger()
    # Everything at DEBUG except the database drivers' SQL logs, which carry values (the outbox holds
    # links) and which production never turns on (asserted below).
    drivers = [logging.getLogger(name) for name in SQL_LOGGERS]
    saved = root.level, [d.level for d in drivers]
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    for driver in drivers:
        driver.setLevel(logging.WARNING)
    try:
        secrets = await secrets_seen_while_using(client, admin_token)
    finally:
        root.removeHandler(capture)
        root.setLevel(saved[0])
        for driver, level in zip(drivers, saved[1], strict=True):
            driver.setLevel(level)
    assert any("POST /graphql" in line for line in capture.lines), "the access log was not captured"
    leaks = [(secret[:8], line[:200]) for secret in secrets for line in capture.lines if secret in line]
    assert leaks == []


async def test_no_secret_reaches_the_live_server_log(settings, admin_token, tmp_path: Path):
    with live_server(settings, tmp_path / "server.log") as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            secrets = await secrets_seen_while_using(client, admin_token)
    log = server.log()
    assert '"POST /graphql" 200' in log and '"GET /learn" 200' in log
    assert "?link=" not in log
    for secret in secrets:
        assert secret not in log, f"secret {secret[:6]}… appears in the server log"
    # Tortoise's DEBUG log carries SQL values (the outbox holds links): production never turns it on.
    assert "INSERT INTO" not in log and "SELECT" not in log


def test_the_cli_keeps_sql_logging_off():
    from server import cli

    saved = [logging.getLogger(name).level for name in SQL_LOGGERS]
    try:
        with pytest.raises(SystemExit):
            cli.main(["--help"])
        for name in (*SQL_LOGGERS, "tortoise.db_client"):
            assert logging.getLogger(name).getEffectiveLevel() > logging.DEBUG, name
    finally:
        for name, level in zip(SQL_LOGGERS, saved, strict=True):
            logging.getLogger(name).setLevel(level)
