"""Secrets: production refuses missing or known keys; rotating keys keeps old links working."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from server.config import ConfigError, Settings
from server.services import links
from tests.conftest import with_settings
from tests.factories import enroll_emails, make_course

OLD_KEY = "old-signing-key-Qm9sZC1rZXktZm9yLXRlc3Rz-0001"
NEW_KEY = "new-signing-key-bmV3LWtleS1mb3ItdGVzdHM-0002"
REAL_KEY = "k3Jp9vQ2xT7mW4zL8nB5cH1fD6gS0aR3yU9eI2oP7wE"


def production(tmp_path: Path, **env: str) -> Settings:
    base = {"ROSTER_ENV": "production", "ROSTER_VAR_DIR": str(tmp_path), "ROSTER_SMTP_URL": "smtp://mail.example:25"}
    return Settings.from_env({**base, **env})


def test_production_refuses_to_start_without_keys(tmp_path):
    with pytest.raises(ConfigError, match="ROSTER_SECRET_KEYS is required"):
        production(tmp_path)
    with pytest.raises(ConfigError, match="ROSTER_SECRET_KEYS is required"):
        production(tmp_path, ROSTER_SECRET_KEYS=" , ")


@pytest.mark.parametrize(
    "key",
    [
        "change-me-change-me-change-me-change-me",
        "CHANGEME_to_a_long_random_value_of_48_chars",
        "replace-me-with-something-random-0123456789",
        "your-secret-key-goes-here-0123456789abcdef",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "short",
    ],
)
def test_production_refuses_placeholder_and_weak_keys(tmp_path, key):
    with pytest.raises(ConfigError):
        production(tmp_path, ROSTER_SECRET_KEYS=f"{REAL_KEY},{key}")


def test_production_refuses_the_development_key_left_in_var(tmp_path):
    development = Settings.from_env({"ROSTER_ENV": "development", "ROSTER_VAR_DIR": str(tmp_path)})
    generated = development.secret_keys[0]
    assert (tmp_path / "secret_key").read_text().strip() == generated
    with pytest.raises(ConfigError, match="development key"):
        production(tmp_path, ROSTER_SECRET_KEYS=generated)


def test_production_starts_with_real_keys(tmp_path):
    settings = production(tmp_path, ROSTER_SECRET_KEYS=f"{REAL_KEY}, {REAL_KEY[::-1]}")
    assert settings.production and settings.secret_keys == (REAL_KEY, REAL_KEY[::-1])


def test_production_refuses_to_print_mail_with_links_to_the_console(tmp_path):
    with pytest.raises(ConfigError, match="ROSTER_SMTP_URL is required"):
        production(tmp_path, ROSTER_SECRET_KEYS=REAL_KEY, ROSTER_SMTP_URL="")
    # Without delivery in this process there is nothing to print.
    assert production(tmp_path, ROSTER_SECRET_KEYS=REAL_KEY, ROSTER_SMTP_URL="", ROSTER_MAIL_WORKER="0").production


def test_roster_serve_says_why_it_refuses_and_exits_non_zero(tmp_path):
    env = {"ROSTER_ENV": "production", "ROSTER_VAR_DIR": str(tmp_path), "ROSTER_SECRET_KEYS": "change-me", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "server", "serve"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "ROSTER_SECRET_KEYS" in result.stderr and "Traceback" not in result.stderr


def test_rate_limit_settings_are_read_from_the_environment(tmp_path):
    settings = Settings.from_env(
        {"ROSTER_VAR_DIR": str(tmp_path), "ROSTER_RATE_LINK_FAILURES": "5", "ROSTER_RATE_SIGNIN_FAILURES_PER_ACCOUNT": "3"}
    )
    assert settings.rate_link_failures == 5 and settings.rate_signin_failures_per_account == 3
    with pytest.raises(ConfigError, match="ROSTER_RATE_WINDOW_SECONDS"):
        Settings.from_env({"ROSTER_VAR_DIR": str(tmp_path), "ROSTER_RATE_WINDOW_SECONDS": "soon"})


async def test_rotating_keys_keeps_old_links_working(settings):
    before = with_settings(settings, secret_keys=(OLD_KEY,))
    after = with_settings(settings, secret_keys=(OLD_KEY, NEW_KEY))
    course = await make_course()
    old_link = (await enroll_emails(before, course, "old@example.com")).enrolled[0].link
    new_link = (await enroll_emails(after, course, "new@example.com")).enrolled[0].link

    # After rotation, links signed with the old key still open; new links are signed with the newest key.
    assert links.verified_hash(settings=after, link=old_link) is not None
    assert links.verified_hash(settings=after, link=new_link) is not None
    assert links.verified_hash(settings=with_settings(settings, secret_keys=(NEW_KEY,)), link=new_link) is not None
    # A server still on the old key alone does not accept the new link; dropping the old key retires old links.
    assert links.verified_hash(settings=before, link=new_link) is None
    assert links.verified_hash(settings=with_settings(settings, secret_keys=(NEW_KEY,)), link=old_link) is None


def test_a_production_mail_worker_refuses_to_print_links_to_the_console(tmp_path):
    env = {
        "ROSTER_ENV": "production",
        "ROSTER_VAR_DIR": str(tmp_path),
        "ROSTER_SECRET_KEYS": REAL_KEY,
        "ROSTER_MAIL_WORKER": "0",
        "ROSTER_DATABASE_URL": f"sqlite://{tmp_path / 'db.sqlite3'}",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run([sys.executable, "-m", "server", "mail-worker"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "ROSTER_SMTP_URL is required" in result.stderr and "Traceback" not in result.stderr
