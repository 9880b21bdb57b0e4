"""One frozen Settings object, read once from ROSTER_* environment variables."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite://var/roster.sqlite3"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
DEFAULT_MAIL_FROM = "Roster <no-reply@localhost>"


class ConfigError(Exception):
    """The environment does not describe a runnable Roster."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    secret_keys: tuple[str, ...] = ()
    public_url: str = DEFAULT_PUBLIC_URL
    smtp_url: str | None = None
    mail_from: str = DEFAULT_MAIL_FROM
    env: str = "development"
    var_dir: Path = Path("var")
    redis_url: str | None = None
    # GraphQL limits: a page and a query can never ask for more than these.
    max_page_size: int = 500
    max_query_depth: int = 12
    max_aliases: int = 30
    max_query_tokens: int = 2000
    max_body_bytes: int = 1_000_000
    max_bulk_entries: int = 10_000
    db_pool_max: int = 10
    db_pool_timeout: float = 10.0  # seconds a request waits for a free connection
    mail_worker: bool = True
    mail_batch_size: int = 100
    mail_max_attempts: int = 6
    mail_connections: int = 4
    mail_send_timeout: float = 30.0
    mail_lease_seconds: float = 120.0
    mail_poll_seconds: float = 1.0
    # First retry delay; each further attempt doubles it (with jitter).
    mail_retry_seconds: float = 30.0
    mail_templates_dir: Path | None = None
    auto_enroll_interval: float = 3600.0
    session_days: int = 14
    # Rate limits on failures (see server/services/ratelimit.py); 0 turns a limit off.
    rate_window_seconds: int = 900
    rate_link_failures: int = 30
    rate_signin_failures_per_address: int = 30
    rate_signin_failures_per_account: int = 10
    link_failure_floor_ms: int = 50
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the environment; refuse a production start without real secrets."""
        env = os.environ if environ is None else environ
        var_dir = Path(env.get("ROSTER_VAR_DIR", "var"))
        mode = env.get("ROSTER_ENV", "development").strip().lower()
        if mode not in {"development", "production", "test"}:
            raise ConfigError(f"ROSTER_ENV must be development, production or test, not {mode!r}")
        keys = tuple(k.strip() for k in env.get("ROSTER_SECRET_KEYS", "").split(",") if k.strip())
        if mode == "production":
            if not keys:
                raise ConfigError("ROSTER_SECRET_KEYS is required when ROSTER_ENV=production")
            if any(len(k) < 32 for k in keys):
                raise ConfigError("every ROSTER_SECRET_KEYS entry must be at least 32 characters")
            _refuse_development_keys(keys, var_dir)
            if not env.get("ROSTER_SMTP_URL") and env.get("ROSTER_MAIL_WORKER", "1") not in {"0", "false", "no"}:
                # Without SMTP the worker prints each mail, link included, to stdout: in production, a log.
                raise ConfigError(
                    "ROSTER_SMTP_URL is required when ROSTER_ENV=production and this process delivers mail "
                    "(set ROSTER_MAIL_WORKER=0 to run without delivery)"
                )
        elif not keys:
            keys = (_development_key(var_dir),)
        templates = env.get("ROSTER_MAIL_TEMPLATES")
        return cls(
            database_url=env.get("ROSTER_DATABASE_URL", DEFAULT_DATABASE_URL),
            secret_keys=keys,
            public_url=env.get("ROSTER_PUBLIC_URL", DEFAULT_PUBLIC_URL).rstrip("/"),
            smtp_url=env.get("ROSTER_SMTP_URL") or None,
            mail_from=env.get("ROSTER_MAIL_FROM", DEFAULT_MAIL_FROM),
            env=mode,
            var_dir=var_dir,
            redis_url=env.get("ROSTER_REDIS_URL") or None,
            max_page_size=_int(env, "ROSTER_MAX_PAGE_SIZE", 500),
            db_pool_max=_int(env, "ROSTER_DB_POOL_MAX", 10),
            db_pool_timeout=_seconds(env, "ROSTER_DB_POOL_TIMEOUT", 10.0),
            mail_worker=env.get("ROSTER_MAIL_WORKER", "1") not in {"0", "false", "no"},
            mail_max_attempts=_int(env, "ROSTER_MAIL_MAX_ATTEMPTS", 6),
            mail_batch_size=max(1, _int(env, "ROSTER_MAIL_BATCH_SIZE", 100)),
            mail_connections=max(1, _int(env, "ROSTER_MAIL_CONNECTIONS", 4)),
            mail_send_timeout=_seconds(env, "ROSTER_MAIL_SEND_TIMEOUT", 30.0),
            mail_lease_seconds=_seconds(env, "ROSTER_MAIL_LEASE_SECONDS", 120.0),
            mail_retry_seconds=_seconds(env, "ROSTER_MAIL_RETRY_SECONDS", 30.0),
            mail_templates_dir=Path(templates) if templates else None,
            auto_enroll_interval=float(_int(env, "ROSTER_AUTO_ENROLL_INTERVAL", 3600)),
            rate_window_seconds=_int(env, "ROSTER_RATE_WINDOW_SECONDS", 900),
            rate_link_failures=_int(env, "ROSTER_RATE_LINK_FAILURES", 30),
            rate_signin_failures_per_address=_int(env, "ROSTER_RATE_SIGNIN_FAILURES_PER_ADDRESS", 30),
            rate_signin_failures_per_account=_int(env, "ROSTER_RATE_SIGNIN_FAILURES_PER_ACCOUNT", 10),
            link_failure_floor_ms=_int(env, "ROSTER_LINK_FAILURE_FLOOR_MS", 50),
        )


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be more than 0 seconds, not {raw!r}")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None


# Values from .env.example, docs and tutorials: a key anyone can read is no key.
PLACEHOLDER_MARKERS = ("change-me", "changeme", "change_me", "replace-me", "your-secret", "secret-key-here", "example", "placeholder")


def _refuse_development_keys(keys: tuple[str, ...], var_dir: Path) -> None:
    """Production must not sign links with a placeholder or with the development key left in var/."""
    for key in keys:
        lowered = key.lower()
        if any(marker in lowered for marker in PLACEHOLDER_MARKERS) or len(set(key)) < 8:
            raise ConfigError(
                "ROSTER_SECRET_KEYS holds a placeholder value: generate one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
    dev_key = var_dir / "secret_key"
    try:
        dev = dev_key.read_text().strip() if dev_key.exists() else ""
    except OSError:
        dev = ""
    if dev and dev in keys:
        raise ConfigError(f"ROSTER_SECRET_KEYS holds the development key from {dev_key}: production needs its own")


def _development_key(var_dir: Path) -> str:
    """Generate the development signing key once, so links survive restarts."""
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key
