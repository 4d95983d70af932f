"""A real prediction service for the tests: a smoke-size home with a champion and a spare
candidate, ``bentoml serve`` in a subprocess on a free loopback port, and order payloads."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from orderlens.settings import PROJECT_ROOT
from serving.examples import order_payloads
from serving.launch import serve_command
from tests.servers import free_port

SMOKE_ORDERS = 3_000
SMOKE_SEED = 5


@dataclass
class ServingHome:
    """A home with a promoted champion, a registered candidate and the world's orders."""

    home: Path
    settings: Any
    champion: str
    candidate: str
    orders: pd.DataFrame


def build_home(home: Path) -> ServingHome:
    """simulate → ingest → features build + materialize → train twice (smoke) → promote one."""
    from features.ingest import ingest_sources
    from features.store import FeatureRepo
    from orderlens.settings import load_settings
    from simulator.world import WorldConfig, simulate_world, write_world
    from training.data import load_training_data
    from training.train import promote, train_model_set

    settings = load_settings(home=home)
    world = simulate_world(WorldConfig(n_orders=SMOKE_ORDERS, seed=SMOKE_SEED, days=120))
    write_world(world, settings.sources_dir)
    ingest_sources(settings.sources_dir, settings)
    repo = FeatureRepo(settings)
    repo.build()
    repo.materialize()
    data = load_training_data(settings)
    champion = train_model_set(settings, data, smoke=True, log=lambda _: None).version
    assert promote(settings, champion)["promote"]
    candidate = train_model_set(settings, data, smoke=True, log=lambda _: None).version
    return ServingHome(home, settings, champion, candidate, world["orders"])


SERVED_PARTS = ("feature_repo", "registry", "models", "bentoml", "nlp")


def copy_serving_home(source: Path, target: Path) -> Path:
    """A fresh home serving ``source``'s models and features with an empty ledger and log."""
    import shutil

    for name in SERVED_PARTS:
        if (source / name).exists():
            shutil.copytree(source / name, target / name, symlinks=True)
    return target


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0, **kwargs)


@contextlib.contextmanager
def running_server(home: Path, log: Path, *, workers: int = 1, **env: str) -> Iterator[Server]:
    """``bentoml serve serving.service:OrderLens`` on a free port with ``ORDERLENS_*`` ``env``;
    yields once ``/readyz`` answers 200, stops the server afterwards."""
    port = free_port()
    from orderlens.settings import load_settings

    command, base_env = serve_command(
        port, "127.0.0.1", workers=workers, settings=load_settings(home=home)
    )
    full_env = {**base_env, "ORDERLENS_HOME": str(home), **env}
    full_env.pop("ORDERLENS_SETTINGS", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_ready(server, timeout=180.0)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=10)


def kill_hard(server: Server) -> None:
    """SIGKILL the server and every worker at once, as a crash would. (The workers run in sessions
    of their own: killing the server's process group alone would leave them serving.)"""
    import psutil

    parent = psutil.Process(server.process.pid)
    processes = [parent, *parent.children(recursive=True)]
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(processes, timeout=30)


def _wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited: {server.log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/readyz", timeout=5.0).status_code == 200:
                return
        time.sleep(0.5)
    raise TimeoutError(f"not ready after {timeout} s: {server.log.read_text()[-3000:]}")


SCHEMATHESIS_SUMMARY = re.compile(r"(\d+) generated, (\d+) passed")


def schemathesis(
    url: str, workdir: Path, *args: str, timeout: float = 1_200
) -> tuple[int, int, str]:
    """Run ``schemathesis run <url>/docs.json --checks all --mode all ...`` in ``workdir`` (where
    it keeps its caches) with :mod:`tests.serving.fuzz_hooks`; asserts it exits 0 and returns the
    cases generated, the cases passed and the output."""
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{url}/docs.json",
        "--checks",
        "all",
        "--mode",
        "all",
        "--no-color",
        "--workers",
        "2",
        "--request-timeout",
        "120",
        *args,
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "SCHEMATHESIS_HOOKS": "tests.serving.fuzz_hooks",
    }
    done = subprocess.run(
        command, env=env, cwd=workdir, capture_output=True, text=True, timeout=timeout
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    found = SCHEMATHESIS_SUMMARY.search(output)
    assert found, output[-3000:]
    return int(found.group(1)), int(found.group(2)), output


__all__ = [
    "ServingHome",
    "Server",
    "build_home",
    "copy_serving_home",
    "kill_hard",
    "order_payloads",
    "running_server",
    "schemathesis",
]
