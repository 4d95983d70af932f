"""Deployments against a real Prefect server: ``orderlens flow deploy`` registers them with
their schedules, a process worker runs one, the flow run completes.

Everything Prefect runs in subprocesses with their own ``PREFECT_HOME``, so this test shares
nothing with the session's test harness.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.pipelines.conftest import smoke_world, write_world_to

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIN = Path(sys.executable).parent
SERVER_STARTUP_SECONDS = 120  # ≈15–40 s on two busy cores


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prefect_env(prefect_home: Path, api_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ORDERLENS_"))}
    env |= {"PREFECT_HOME": str(prefect_home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def wait_healthy(url: str, server: subprocess.Popen, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(1)
    return False


@pytest.fixture
def prefect_server(tmp_path):
    """``prefect server start`` on a free loopback port; its API URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [BIN / "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=prefect_env(tmp_path / "server-prefect"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        if not wait_healthy(url, server, SERVER_STARTUP_SECONDS):
            tail = (tmp_path / "server.log").read_text()[-2000:]
            pytest.fail(f"the Prefect server did not start in {SERVER_STARTUP_SECONDS} s:\n{tail}")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_daily_and_ingest_deployments_carry_the_export_options(tmp_path):
    """`orderlens flow deploy --source DIR --mapping FILE`: the daily and ingest deployments run
    with those parameters; the other flows take none."""
    from orderlens.settings import load_settings
    from pipelines.deploy import deployments

    settings = load_settings(home=tmp_path / "home")
    made = {
        d.name: d.parameters
        for d in deployments(settings, source="/data/shop", mapping="/data/shop.yaml")
    }
    own = {"source": "/data/shop", "mapping": "/data/shop.yaml"}
    assert made["daily"] == own and made["ingest"] == own
    assert made["train"] == {} and made["monitor"] == {}


def test_deploy_registers_schedules_and_a_worker_runs_a_deployment(prefect_server, tmp_path):
    home = tmp_path / "home"
    write_world_to(smoke_world(seed=5, start="2025-03-01", n_orders=120), home / "sources")
    client_home = tmp_path / "client-prefect"
    env = prefect_env(client_home, prefect_server) | {
        "ORDERLENS_HOME": str(home),
        "ORDERLENS_PROFILE": "production",
        "ORDERLENS_PRODUCTION__PREFECT_API_URL": prefect_server,
    }

    deployed = subprocess.run(
        [BIN / "orderlens", "flow", "deploy"], env=env, capture_output=True, text=True, timeout=300
    )
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    assert "registered 7 deployments in work pool 'orderlens'" in deployed.stdout

    # Read the schedules and trigger the ingest deployment through the API, as a user would.
    script = f"""
import json
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as client:
    daily = client.read_deployment_by_name("daily/daily")
    monitor = client.read_deployment_by_name("monitor/monitor")
    ingest = client.read_deployment_by_name("ingest/ingest")
    report = client.read_deployment_by_name("report/report")
    run = client.create_flow_run_from_deployment(ingest.id, parameters={{"home": {str(home)!r}}})
    print(json.dumps({{
        "daily": [s.schedule.cron for s in daily.schedules],
        "monitor": [s.schedule.cron for s in monitor.schedules],
        "ingest": [s.schedule.cron for s in ingest.schedules],
        "report": [s.schedule.cron for s in report.schedules],
        "pool": ingest.work_pool_name, "entrypoint": ingest.entrypoint, "run": str(run.id),
    }}))
"""
    created = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert created.returncode == 0, created.stderr[-3000:]
    info = __import__("json").loads(created.stdout.strip().splitlines()[-1])
    assert info["daily"] == ["0 3 * * *"] and info["monitor"] == ["0 6 * * *"]  # daily, after it
    assert info["ingest"] == [] and info["report"] == [] and info["pool"] == "orderlens"
    assert info["entrypoint"] == "pipelines.data.ingest_flow"

    worker = subprocess.run(
        [BIN / "prefect", "worker", "start", "--pool", "orderlens", "--run-once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert worker.returncode == 0, worker.stdout[-3000:] + worker.stderr[-3000:]

    state = subprocess.run(
        [
            sys.executable,
            "-c",
            "from prefect.client.orchestration import get_client\n"
            "with get_client(sync_client=True) as c:\n"
            f"    print(c.read_flow_run({info['run']!r}).state.type.value)",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert state.stdout.strip() == "COMPLETED", worker.stdout[-3000:] + worker.stderr[-3000:]
    assert (home / "lake" / "orders").is_dir()
