"""A live Roster server for tests that need real HTTP: `roster serve` in a subprocess on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from server.config import Settings


@dataclass
class LiveServer:
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def live_server(settings: Settings, log_path: Path, *, port: int | None = None, **env: str) -> Iterator[LiveServer]:
    """Serve the test database exactly as production does (same CLI, same logging), until the block ends.

    Pass port (from free_port) when the environment must name the server's own URL, e.g. ROSTER_PUBLIC_URL.
    """
    port = port or free_port()
    environ = {
        **os.environ,
        "ROSTER_DATABASE_URL": settings.database_url,
        "ROSTER_SECRET_KEYS": ",".join(settings.secret_keys),
        "ROSTER_PUBLIC_URL": settings.public_url,
        "ROSTER_ENV": settings.env,
        "ROSTER_VAR_DIR": str(settings.var_dir),
        "ROSTER_MAIL_WORKER": "0",
        "ROSTER_AUTO_ENROLL_INTERVAL": "0",
        **env,
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", str(port), "--grace", "2"],
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the server exited with {process.returncode}:\n{log_path.read_text()}")
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start in 30 s:\n{log_path.read_text()}")
                time.sleep(0.1)
            yield LiveServer(url=url, log_path=log_path)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
