"""The `roster` command: each subcommand prints what it did in one line, or fails clearly."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from server import db
from server.config import ConfigError, Settings
from server.services.errors import RosterError


class CommandError(Exception):
    """A failure the user can fix; printed without a traceback."""


def _settings() -> Settings:
    return Settings.from_env()


def _run(work: Callable[[Settings], Awaitable[str | None]]) -> int:
    try:
        settings = _settings()

        async def main() -> str | None:
            await db.init_db(settings)
            try:
                return await work(settings)
            finally:
                await db.close_db()

        message = asyncio.run(main())
    except (CommandError, ConfigError, RosterError) as exc:
        print(f"roster: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"roster: cannot reach the database or a file: {exc}", file=sys.stderr)
        return 1
    if message:
        print(message)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    try:
        settings = _settings()
        asyncio.run(db.migrate(settings))
    except (ConfigError, OSError) as exc:
        print(f"roster: migration failed: {exc}", file=sys.stderr)
        return 1
    print(f"Database is up to date ({db.describe(settings)})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    try:
        _settings()  # fail here, clearly, rather than in every worker
    except ConfigError as exc:
        print(f"roster: {exc}", file=sys.stderr)
        return 1
    uvicorn.run(
        "server.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
        access_log=False,
        server_header=False,  # RosterMiddleware logs requests without query strings
        proxy_headers=args.proxy_headers,
        timeout_graceful_shutdown=args.grace,
    )
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if os.environ.get("ROSTER_ADMIN_PASSWORD"):
        return os.environ["ROSTER_ADMIN_PASSWORD"]
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask for a password: use --password-stdin")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise CommandError("the two passwords differ")
    return first


def cmd_create_admin(args: argparse.Namespace) -> int:
    from server.models import User
    from server.services import directory
    from server.services.auth import set_password

    password = _read_password(args)

    async def work(settings: Settings) -> str:
        user = await User.get_or_none(username=args.username.strip())
        created = user is None
        if user is None:
            user = await directory.create_user(username=args.username, display_name=args.username, email=args.email, actor="cli")
        user.is_admin = True
        await user.save(update_fields=["is_admin"])
        await set_password(username=user.username, password=password, actor="cli")
        return f"{'Created' if created else 'Updated'} admin {user.username}"

    return _run(work)


def cmd_set_password(args: argparse.Namespace) -> int:
    from server.services.auth import set_password

    password = _read_password(args)

    async def work(settings: Settings) -> str:
        user = await set_password(username=args.username, password=password, actor="cli")
        return f"Password set for {user.username}; their other sessions were signed out"

    return _run(work)


def cmd_create_token(args: argparse.Namespace) -> int:
    from server.services.auth import create_token

    async def work(settings: Settings) -> str:
        token, secret = await create_token(name=args.name, scope=args.scope, actor="cli")
        return f"Created token {token.id} {token.name!r} ({token.scope}); it is shown once: {secret}"

    return _run(work)


def cmd_revoke_token(args: argparse.Namespace) -> int:
    from server.services.auth import revoke_token

    async def work(settings: Settings) -> str:
        token = await revoke_token(token_id=args.id, actor="cli")
        return f"Revoked token {token.id} {token.name!r}"

    return _run(work)


def cmd_list_tokens(args: argparse.Namespace) -> int:
    from server.services.auth import list_tokens

    async def work(settings: Settings) -> str:
        rows = await list_tokens()
        lines = [f"{t.id}\t{t.name}\t{t.scope}\t{'revoked' if t.revoked_at else 'active'}\t{t.created_at:%Y-%m-%d}" for t in rows]
        return "\n".join(lines) if lines else "No API tokens"

    return _run(work)


def cmd_audit(args: argparse.Namespace) -> int:
    import json

    from server.services import audit

    async def work(settings: Settings) -> str:
        if not 0 < args.first <= 10_000:
            raise CommandError("--first must be between 1 and 10000")
        found = await audit.page(first=args.first, action=args.action, actor=args.actor, course_id=args.course)
        lines = [
            f"{e.at:%Y-%m-%d %H:%M:%S}\t{e.actor}\t{e.action}\t{e.target}\t"
            + (f"course:{e.course_id}\t" if e.course_id is not None else "")
            + json.dumps(e.detail, ensure_ascii=False, sort_keys=True)
            for e in found.events
        ]
        more = f"\n… more: raise --first (showing the newest {args.first})" if found.has_next else ""
        return "\n".join(lines) + more if lines else "No audit events match"

    return _run(work)


def cmd_import_directory(args: argparse.Namespace) -> int:
    from server.services import directory

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"roster: cannot read {path}: {exc}", file=sys.stderr)
        return 1
    fmt = "json" if path.suffix.lower() == ".json" else "csv"

    async def work(settings: Settings) -> str:
        rows, errors = directory.parse_directory(text, fmt=fmt)
        if args.sync and errors:
            for line, message in errors:
                print(f"{path}:{line}: rejected: {message}", file=sys.stderr)
            # A rejected row would read as a user missing from the file, and be deactivated.
            raise CommandError(f"--sync changes nothing while {path.name} has rejected rows; fix them and run it again")
        report = await directory.import_directory(rows=rows, actor="cli:import-directory", sync=args.sync, settings=settings)
        report.errors = errors + report.errors
        for line, message in report.errors:
            print(f"{path}:{line}: rejected: {message}", file=sys.stderr)
        for change in report.changes:
            print(change)
        return f"Imported {path.name}: {report.summary()}"

    return _run(work)


def cmd_sync_enrollments(args: argparse.Namespace) -> int:
    from server.services import autoenroll

    async def work(settings: Settings) -> str:
        report = await autoenroll.catch_up(settings=settings, actor="cli:sync-enrollments")
        return f"Auto-enrollment: {report.summary()}"

    return _run(work)


def cmd_mail_worker(args: argparse.Namespace) -> int:
    from server.services.mailer import run_standalone

    async def work(settings: Settings) -> str:
        if settings.production and not settings.smtp_url:
            # The console mailbox would print every link to stdout, which production ships as a log.
            raise CommandError("ROSTER_SMTP_URL is required to deliver mail when ROSTER_ENV=production")
        return await run_standalone(settings)

    return _run(work)


def cmd_demo(args: argparse.Namespace) -> int:
    from server.services import demo

    async def work(settings: Settings) -> str | None:
        return await demo.seed(settings=settings, only_if_empty=args.if_empty)

    return _run(work)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roster", description="Roster: course enrollment with personal links.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="serve the web UI and GraphQL API")
    p.add_argument("--host", default=os.environ.get("ROSTER_HOST") or "127.0.0.1", help="address to listen on (ROSTER_HOST)")
    p.add_argument("--port", type=int, default=os.environ.get("ROSTER_PORT") or 8000, help="port (ROSTER_PORT)")
    # String defaults from the environment go through type=int, so a bad value is a clean usage error.
    p.add_argument("--workers", type=int, default=os.environ.get("ROSTER_WORKERS") or 1, help="server processes (ROSTER_WORKERS)")
    p.add_argument(
        "--grace",
        type=int,
        default=os.environ.get("ROSTER_GRACE_SECONDS") or 20,
        help="seconds to finish in-flight work on SIGTERM (ROSTER_GRACE_SECONDS)",
    )
    p.add_argument("--proxy-headers", action="store_true", help="trust X-Forwarded-For from a proxy")
    p.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    p = sub.add_parser("create-admin", help="create an admin user, or make a user admin, and set the password")
    p.add_argument("username")
    p.add_argument("--email")
    p.add_argument("--password-stdin", action="store_true")
    p.set_defaults(func=cmd_create_admin)

    p = sub.add_parser("set-password", help="set a user's password (signs out their sessions)")
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true")
    p.set_defaults(func=cmd_set_password)

    p = sub.add_parser("create-token", help="create an API token (printed once)")
    p.add_argument("name")
    p.add_argument("--scope", required=True, choices=["admin", "reports:read"])
    p.set_defaults(func=cmd_create_token)

    p = sub.add_parser("revoke-token", help="revoke an API token by id")
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_revoke_token)

    sub.add_parser("list-tokens", help="list API tokens (never their secret)").set_defaults(func=cmd_list_tokens)

    p = sub.add_parser("audit", help="print audit events, newest first")
    p.add_argument("--first", type=int, default=50, help="how many events (default 50)")
    p.add_argument("--action", help="only this action, e.g. signin.failure")
    p.add_argument("--actor", help="only this actor, e.g. user:alice or token:hr-sync")
    p.add_argument("--course", type=int, help="only events of this course id")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("import-directory", help="load users and groups from CSV or JSON")
    p.add_argument("file")
    p.add_argument("--sync", action="store_true", help="make the directory match the file")
    p.set_defaults(func=cmd_import_directory)

    p = sub.add_parser("sync-enrollments", help="re-check every auto-enrollment rule and enroll whoever was missed")
    p.set_defaults(func=cmd_sync_enrollments)

    sub.add_parser("mail-worker", help="deliver queued mail until stopped (SIGTERM/Ctrl-C)").set_defaults(func=cmd_mail_worker)

    p = sub.add_parser("demo", help="seed a demo course, users, groups and an admin token")
    p.add_argument("--if-empty", action="store_true", help="do nothing when the database already has courses")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for name in ("tortoise", "aiosqlite", "asyncpg"):  # their DEBUG logs carry SQL values: outbox bodies hold links
        logging.getLogger(name).setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
