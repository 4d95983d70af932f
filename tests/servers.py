"""Real servers for integration tests, started from the installed binaries on loopback.

Each starter yields a connection URL and stops the server afterwards. When a binary is not
installed the test is skipped with the reason on a developer's machine, and fails in CI (``CI``
set), where scripts/install-system-deps.sh has installed every one of them.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

POSTGRES_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def missing_service(reason: str) -> NoReturn:
    """Skip the test for a system service that is not installed (``make system-deps`` installs
    it); in CI, where the services are installed first, fail instead: a skip would hide it."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason} (CI installs it first: scripts/install-system-deps.sh)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server; yields ``redis://127.0.0.1:<port>/0``."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing_service("redis-server is not installed (make system-deps installs it)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster; yields ``postgresql://orderlens@127.0.0.1:<port>/orderlens``.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` user.
    """
    if not POSTGRES_BIN_DIRS:
        missing_service("PostgreSQL is not installed (make system-deps installs it)")
    bin_dir = POSTGRES_BIN_DIRS[0]
    data_dir = Path(tempfile.mkdtemp(prefix="orderlens-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(data_dir, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    run = lambda *cmd: subprocess.run([*as_user, *cmd], check=True, capture_output=True)  # noqa: E731
    run(str(bin_dir / "initdb"), "-D", str(data_dir), "-A", "trust", "-U", "orderlens")
    process = subprocess.Popen(
        [
            *as_user,
            str(bin_dir / "postgres"),
            "-D",
            str(data_dir),
            "-p",
            str(port),
            "-k",
            str(data_dir),
            "-h",
            "127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        # The port opens before the server accepts connections ("the database system is
        # starting up"): on a busy machine createdb would fail in that gap.
        deadline = time.monotonic() + 60
        ready = [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"]
        while subprocess.run(ready, check=False).returncode != 0:
            if time.monotonic() > deadline or process.poll() is not None:
                raise TimeoutError(f"PostgreSQL on port {port} did not accept connections")
            time.sleep(0.2)
        run(
            str(bin_dir / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "orderlens",
            "orderlens",
        )
        yield f"postgresql://orderlens@127.0.0.1:{port}/orderlens"
    finally:
        process.terminate()
        process.wait(timeout=20)
        shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def prefect_server(folder: Path, startup_seconds: float = 180.0) -> Iterator[str]:
    """``prefect server start`` on a free loopback port with its own ``PREFECT_HOME`` under
    ``folder``; yields its API URL (``http://127.0.0.1:<port>/api``)."""
    import sys
    import urllib.request

    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ORDERLENS_"))}
    env |= {
        "PREFECT_HOME": str(folder / "prefect-server"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    log_path = folder / "prefect-server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("prefect")), "server", "start"]
            + ["--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the Prefect server did not start: {log_path.read_text()[-2000:]}"
                )
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{url}/health", timeout=2) as answer,
            ):
                if answer.status == 200:
                    break
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=10)
