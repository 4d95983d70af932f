"""The main job on the embedded default: the daily flow on a fresh synthetic world, then the
prediction service left answering on localhost."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import typer

from orderlens.settings import Settings


def run_main_job(settings: Settings, orders: int | None, port: int) -> None:
    """Run the daily flow and leave the service answering, then print where things are.

    The service starts as soon as a champion model set exists — right after the promotion gate
    on a fresh home — so it boots while the monitor and the reports still run (on a home that
    already has a champion it answers on that one during the run and reloads the new champion
    by itself).

    Args:
        settings: the run-time settings (home, profile).
        orders: orders to simulate when the home is empty (default: settings).
        port: the port the service answers on.
    """
    from pipelines.runtime import prefect_environment

    began = time.perf_counter()
    prefect_environment(settings)  # before Prefect reads its settings
    from pipelines.flows import FLOWS

    starter = ServiceStarter(settings, port)
    starter.start()
    try:
        result = FLOWS["daily"](home=str(settings.home), orders=orders, smoke=False)
        typer.echo(json.dumps(result.get("seconds", {}), indent=2, default=str))
        flow_seconds = time.perf_counter() - began
        url = starter.wait_ready()
    except BaseException:
        starter.cancel()
        raise
    waiting = send_todays_orders(settings, url)
    typer.echo(
        f"\nmain job done in {time.perf_counter() - began:.0f} s (daily flow "
        f"{flow_seconds:.0f} s); the service answers on {url} (ready "
        f"{starter.ready_after:.0f} s after the start)"
    )
    _print_where_things_are(settings, url)
    typer.echo(f"suggested actions waiting for a person: {waiting} (GET {url}/suggestions)")


class ServiceStarter(threading.Thread):
    """Starts the service once a champion exists, in the background of the daily flow."""

    def __init__(self, settings: Settings, port: int, poll_seconds: float = 1.0) -> None:
        super().__init__(name="service-starter", daemon=True)
        self.settings, self.port, self.poll_seconds = settings, port, poll_seconds
        self.began = time.perf_counter()
        self.ready_after: float = float("nan")
        self._cancelled = threading.Event()
        self._url: str | None = None
        self._error: BaseException | None = None

    def run(self) -> None:
        from training.registry import champion_version

        try:
            while champion_version(self.settings) is None:
                if self._cancelled.wait(self.poll_seconds):
                    return
            self._url = start_service(self.settings, self.port)
            self.ready_after = time.perf_counter() - self.began
        except BaseException as error:  # handed to wait_ready, in the main thread
            self._error = error

    def wait_ready(self) -> str:
        """The service's URL once it answers ``/readyz`` (the flow has finished by now, so a
        champion exists or never will)."""
        from training.registry import champion_version

        if champion_version(self.settings) is None:
            self.cancel()
            raise RuntimeError("no champion model set: the daily flow did not promote one")
        self.join()
        if self._error is not None:
            raise self._error
        assert self._url is not None
        return self._url

    def cancel(self) -> None:
        """Stop waiting and stop the service if it was started."""
        self._cancelled.set()
        self.join(timeout=5)
        stop_service(self.settings)


def start_service(settings: Settings, port: int, timeout: float = 180.0) -> str:
    """Start ``orderlens serve`` detached (stopping one this home started before), wait until
    ``/readyz`` answers, and return its URL. Its log is ``<home>/logs/serve.log``."""
    from serving.launch import serve_command

    stop_service(settings)
    command, env = serve_command(port, "127.0.0.1", 1)
    env = {**env, "ORDERLENS_HOME": str(settings.home)}
    log_path = settings.home / "logs" / "serve.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    _pid_file(settings).write_text(str(process.pid))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with {process.returncode}; see {log_path}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"the service did not become ready in {timeout:.0f} s; see {log_path}")


def stop_service(settings: Settings) -> bool:
    """Stop the service this home started (if it still runs); True when one was stopped."""
    pid_file = _pid_file(settings)
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    pid_file.unlink()
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def _pid_file(settings: Settings) -> Path:
    return settings.home / "serve.pid"


def _print_where_things_are(settings: Settings, url: str) -> None:
    index = settings.reports_dir / "index.html"
    typer.echo(f"reports: {index if index.exists() else f'{settings.reports_dir} (not built)'}")
    typer.echo(f"logs: {settings.home / 'logs'}; stop the service: .venv/bin/orderlens stop")
    typer.echo("a sample request:")
    typer.echo(
        f"  curl -s {url}/predict -H 'content-type: application/json' "
        f"-d '{json.dumps(sample_request(settings), default=str)}'"
    )


def send_todays_orders(settings: Settings, url: str, orders: int = 500) -> int:
    """The live service's first traffic: the world's newest orders, an hour after they were
    placed (what an order system sends all day). The policy's suggest rules leave some actions
    waiting for a person; the order-health page is rebuilt to show them. Returns how many wait.
    """
    from features.lake import has_table, read_lake
    from reports import health_page
    from reports.data import load_inputs
    from reports.evidently_pages import NotBuilt
    from serving.examples import order_payloads
    from serving.ledger import open_ledger
    from serving.suggestions import write_snapshot

    if not has_table(settings, "orders"):
        return 0
    newest = read_lake(settings, "orders").nlargest(orders, "created_at")
    keys = settings.serving.api_keys
    key = next(iter(keys.values() if isinstance(keys, dict) else keys), None)
    headers = {"X-API-Key": key.get_secret_value()} if key is not None else {}
    body = {"orders": order_payloads(newest, hours_after_creation=1.0)}
    httpx.post(f"{url}/predict", json=body, headers=headers, timeout=300).raise_for_status()
    ledger = open_ledger(settings)  # the snapshot now, not at the service's next drain
    try:
        write_snapshot(ledger, settings.suggestions_path, datetime.now(UTC))
    finally:
        ledger.close()
    inputs = load_inputs(settings)
    with contextlib.suppress(NotBuilt):
        health_page.build(inputs, settings.reports_dir / "order-health.html")
    return int((inputs.suggestions["status"] == "pending").sum())


def sample_request(settings: Settings) -> dict[str, Any]:
    """A ``/predict`` body for the newest order in the lake, an hour after it was placed (the
    online store holds the latest days, so its carrier, warehouse and weather features are
    served), or the schema's example when the lake has no orders."""
    from features.lake import has_table, read_lake
    from serving.examples import order_payloads
    from serving.schemas import EXAMPLE_INPUT

    if not has_table(settings, "orders"):
        return EXAMPLE_INPUT
    orders = read_lake(settings, "orders")
    newest = orders.nlargest(1, "created_at")
    return {"orders": order_payloads(newest, hours_after_creation=1.0)}
