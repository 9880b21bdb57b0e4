"""Deployment files agree with the code: every ROSTER_* variable is documented and passed on.

No Docker engine is needed: the compose file is parsed, the Dockerfile read, and the
entrypoint run as the plain script it is.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import yaml

from server.config import ConfigError, Settings

ROOT = Path(__file__).resolve().parent.parent
VARIABLE = re.compile(r"\bROSTER_[A-Z0-9_]+\b")
# Inputs to one command, never configuration: documented with that command in the README.
ONE_OFF = {"ROSTER_ADMIN_PASSWORD"}


class RecordingEnviron(Mapping[str, str]):
    """An environment that remembers every name asked of it."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        return self.values[name]

    def __contains__(self, name: object) -> bool:
        self.asked.add(str(name))
        return name in self.values

    def get(self, name: str, default=None):  # type: ignore[override]
        self.asked.add(name)
        return self.values.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def settings_variables(tmp_path: Path) -> set[str]:
    environ = RecordingEnviron({"ROSTER_SECRET_KEYS": secrets.token_urlsafe(48), "ROSTER_VAR_DIR": str(tmp_path)})
    Settings.from_env(environ)
    return {name for name in environ.asked if name.startswith("ROSTER_")}


def configuration_variables(tmp_path: Path) -> set[str]:
    """What Settings reads, plus what the CLI and the entrypoint read straight from the environment."""
    sources = [*sorted((ROOT / "server").rglob("*.py")), ROOT / "docker" / "entrypoint.sh"]
    named = {name for path in sources for name in VARIABLE.findall(path.read_text())}
    return (settings_variables(tmp_path) | named) - ONE_OFF


def documented_in_env_example() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*(ROSTER_[A-Z0-9_]+)=", text, flags=re.MULTILINE))


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())


def interpolate(value: str, environ: Mapping[str, str]) -> str:
    """Compose's ${NAME:-default} and ${NAME:?message}, innermost first, as compose would with environ."""
    pattern = re.compile(r"\$\{([A-Z0-9_]+)(?::([-?])([^${}]*))?\}")

    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if environ.get(name):
            return environ[name]
        if kind == "?":
            raise AssertionError(f"compose requires {name}: {rest}")
        return rest or ""

    while pattern.search(value):
        value = pattern.sub(one, value)
    return value


def test_settings_are_read_through_the_recording_environment(tmp_path):
    # Given Settings.from_env, when it reads a recording environment, then the core names show up
    # (so the cross-checks below really see what the app reads).
    assert {"ROSTER_DATABASE_URL", "ROSTER_SECRET_KEYS", "ROSTER_DB_POOL_MAX", "ROSTER_DB_POOL_TIMEOUT"} <= settings_variables(tmp_path)


def test_env_example_documents_every_variable_and_nothing_else(tmp_path):
    variables = configuration_variables(tmp_path)
    documented = documented_in_env_example()
    assert variables - documented == set(), "add these to .env.example"
    assert documented - variables == set(), "these in .env.example are read by nothing"


def test_env_example_with_every_default_spelled_out_is_a_valid_configuration(tmp_path):
    # Given .env.example with every commented default switched on and a real key filled in,
    text = re.sub(r"^# (ROSTER_[A-Z0-9_]+=)", r"\1", (ROOT / ".env.example").read_text(), flags=re.MULTILINE)
    text = text.replace("ROSTER_SECRET_KEYS=\n", f"ROSTER_SECRET_KEYS={secrets.token_urlsafe(48)}\n")
    (tmp_path / ".env").write_text(text)
    # when a shell loads it as the README says (`set -a; . ./.env`),
    done = subprocess.run(["sh", "-c", "set -a; . ./.env; env"], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    environ = dict(line.split("=", 1) for line in done.stdout.splitlines() if line.startswith("ROSTER_"))
    # then every documented variable arrives, and Settings accepts the values as they are documented.
    assert documented_in_env_example() <= set(environ)
    settings = Settings.from_env({**environ, "ROSTER_VAR_DIR": str(tmp_path / "var")})
    assert settings.production
    assert settings.mail_from == "Roster <no-reply@localhost>"


def test_readme_configuration_table_names_every_variable(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    missing = configuration_variables(tmp_path) - set(VARIABLE.findall(rows))
    assert missing == set(), "add these to the README's configuration table"
    assert ONE_OFF <= set(VARIABLE.findall(readme)), "document these with their command in the README"


def test_compose_parses_and_passes_every_variable_to_the_app(tmp_path):
    services = compose()["services"]
    app_env = services["app"]["environment"]
    assert configuration_variables(tmp_path) - set(app_env) == set(), "add these to docker/compose.yaml's app environment"
    assert app_env["ROSTER_HOST"] == "0.0.0.0"


def test_compose_runs_postgres_with_a_volume_and_a_mail_catcher():
    spec = compose()
    services = spec["services"]
    assert services["db"]["image"].startswith("postgres:")
    volume = services["db"]["volumes"][0].split(":")[0]
    assert volume in spec["volumes"]
    assert "mailpit" in services["mail"]["image"]
    assert services["app"]["depends_on"]["db"]["condition"] == "service_healthy"
    build = services["app"]["build"]
    assert (ROOT / "docker" / build["context"] / build["dockerfile"]).is_file()


def test_compose_environment_with_only_the_secret_set_is_a_valid_production_configuration(tmp_path):
    # Given an .env holding nothing but a signing key, when compose fills in its defaults,
    # then Settings accepts the result as a production configuration on PostgreSQL.
    given = {"ROSTER_SECRET_KEYS": secrets.token_urlsafe(48)}
    environ = {name: interpolate(str(value), given) for name, value in compose()["services"]["app"]["environment"].items()}
    environ["ROSTER_VAR_DIR"] = str(tmp_path)
    settings = Settings.from_env(environ)
    assert settings.production
    assert settings.database_url.startswith("postgres://")
    assert settings.smtp_url == "smtp://mail:1025"


def test_compose_refuses_to_start_without_a_signing_key():
    environment = compose()["services"]["app"]["environment"]
    try:
        interpolate(environment["ROSTER_SECRET_KEYS"], {})
    except AssertionError as exc:
        assert "ROSTER_SECRET_KEYS" in str(exc)
    else:
        raise AssertionError("compose would start without ROSTER_SECRET_KEYS")


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "docker" / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_dockerfile_builds_a_slim_non_root_image_that_migrates_and_checks_health():
    instructions = dockerfile_instructions()
    values = {}
    for keyword, argument in instructions:
        values.setdefault(keyword, []).append(argument)
    assert values["FROM"] == ["python:3.11-slim"]
    assert values["USER"][-1] not in {"root", "0"}
    assert "/healthz" in values["HEALTHCHECK"][0]
    assert "roster-entrypoint" in values["ENTRYPOINT"][0]
    assert any("ROSTER_HOST=0.0.0.0" in env for env in values["ENV"])
    # Every file the image copies exists in the repository.
    for argument in values["COPY"]:
        if argument.startswith("--from"):
            continue
        for source in argument.split()[:-1]:
            assert (ROOT / source).exists(), source


def test_entrypoint_passes_other_commands_to_roster(tmp_path):
    # Given the entrypoint outside a container, when it is asked for another command,
    # then it runs that `roster` command (here: migrate a fresh SQLite database).
    environ = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "ROSTER_DATABASE_URL": f"sqlite://{tmp_path / 'entry.sqlite3'}",
        "ROSTER_VAR_DIR": str(tmp_path / "var"),
        "ROSTER_ENV": "development",
    }
    done = subprocess.run(
        [str(ROOT / "docker" / "entrypoint.sh"), "migrate"], env=environ, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "Database is up to date" in done.stdout
    assert (tmp_path / "entry.sqlite3").is_file()


def test_pool_timeout_must_be_a_positive_number_of_seconds(tmp_path):
    base = {"ROSTER_SECRET_KEYS": secrets.token_urlsafe(48), "ROSTER_VAR_DIR": str(tmp_path)}
    assert Settings.from_env({**base, "ROSTER_DB_POOL_TIMEOUT": "2.5"}).db_pool_timeout == 2.5
    for bad in ("soon", "0", "-1"):
        try:
            Settings.from_env({**base, "ROSTER_DB_POOL_TIMEOUT": bad})
        except ConfigError as exc:
            assert "ROSTER_DB_POOL_TIMEOUT" in str(exc)
        else:
            raise AssertionError(f"ROSTER_DB_POOL_TIMEOUT={bad!r} was accepted")


def test_postgres_connections_go_through_the_bounded_pool_engine(tmp_path):
    # The pool's acquire timeout only exists in server.pgpool: a PostgreSQL URL must be routed there.
    from server import db

    settings = Settings(database_url="postgres://roster:secret@db:5432/roster", secret_keys=("k" * 40,), db_pool_max=3, db_pool_timeout=2.0)
    connection = db.tortoise_config(settings)["connections"]["default"]
    assert connection["engine"] == "server.pgpool"
    assert connection["credentials"]["acquire_timeout"] == 2.0
    assert int(connection["credentials"]["maxsize"]) == 3


def test_the_migration_lock_session_gets_the_url_without_tortoise_pool_options():
    from server import db

    settings = Settings(database_url="asyncpg://u:p@db:5432/roster?maxsize=20&minsize=2&sslmode=require", secret_keys=("k" * 40,))
    assert db.lock_dsn(settings) == "postgres://u:p@db:5432/roster?sslmode=require"


def test_dockerfile_dependency_step_lists_the_project_dependencies(tmp_path):
    # The image installs dependencies from pyproject before copying the code; run that step here.
    script = re.search(r'RUN python -c "([^"]+)" > /tmp/requirements.txt', (ROOT / "docker" / "Dockerfile").read_text()).group(1)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    requirements = done.stdout.splitlines()
    assert any(r.startswith("tortoise-orm[asyncpg]") for r in requirements)
    assert any(r.startswith("uvicorn[standard]") for r in requirements)
    assert not any(r.startswith(("pytest", "ruff")) for r in requirements), "dev tools stay out of the image"
