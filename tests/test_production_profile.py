"""The production profile on one machine, following docs/operations.md step by step: Redis,
PostgreSQL and a Prefect server started from the installed binaries (step 2, 3), the home's
settings file (step 4), data and one daily run reported to the server (step 5), the deployments
(step 6), the service (step 7) answering from Redis with the Redis action ledger.

Everything runs through the ``orderlens`` command in subprocesses, as a newcomer would type it,
at smoke size (a 400-order world, a few boosting rounds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from tests.servers import free_port, postgres_server, prefect_server, redis_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIN = Path(sys.executable).parent
ORDERS = 400


def _run(env: dict[str, str], *args: str, timeout: float = 900) -> str:
    result = subprocess.run(
        [str(BIN / args[0]), *args[1:]], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{args}: {result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _python(env: dict[str, str], code: str) -> str:
    return _run(env, "python", "-c", code, timeout=120)


@pytest.fixture(scope="module")
def production_home(tmp_path_factory):
    """Steps 2-6 of docs/operations.md; yields ``(env, home, servers)``."""
    root = tmp_path_factory.mktemp("production")
    with (
        redis_server() as redis_url,
        postgres_server() as postgres_dsn,
        prefect_server(root) as api_url,
    ):
        home = root / "home"
        home.mkdir()
        (home / "settings.yaml").write_text(
            yaml.safe_dump(
                {
                    "profile": "production",
                    "production": {
                        "redis_url": redis_url,
                        "postgres_dsn": postgres_dsn,
                        "prefect_api_url": api_url,
                    },
                    # the smoke size of a test: a short world
                    "simulation": {"days": 60, "start": "2025-03-01"},
                }
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ORDERLENS_"))}
        env |= {
            "ORDERLENS_HOME": str(home),
            "PREFECT_HOME": str(root / "client-prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        _run(env, "orderlens", "simulate", "--orders", str(ORDERS))
        daily = _run(env, "orderlens", "flow", "run", "daily", "--smoke")
        deployed = _run(env, "orderlens", "flow", "deploy")
        yield (
            env,
            home,
            {"redis": redis_url, "postgres": postgres_dsn, "prefect": api_url},
            (
                daily,
                deployed,
            ),
        )


def test_daily_run_is_recorded_on_the_prefect_server(production_home):
    env, home, servers, (daily, deployed) = production_home
    result = json.loads(daily[daily.index("{\n") : daily.rindex("}") + 1])
    assert result["steps"]["ingest"]["orders"]["added"] == ORDERS
    assert result["steps"]["train"]["promotion"]["promote"]
    assert "registered 7 deployments in work pool 'orderlens'" in deployed
    # The run is on the server, as the Prefect UI shows it (its REST API).
    answer = httpx.post(
        f"{servers['prefect']}/flow_runs/filter",
        json={"limit": 50, "sort": "START_TIME_DESC"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    states = {run["name"].split("-")[0]: run["state_type"] for run in answer.json()}
    assert states.get("daily") == "COMPLETED", states
    assert {"ingest", "nlp", "features", "train", "monitor", "report"} <= set(states)


def test_feature_registry_in_postgres_and_online_features_in_redis(production_home):
    env, home, servers, _ = production_home
    import redis
    import sqlalchemy

    online = redis.Redis.from_url(servers["redis"])
    try:
        assert online.dbsize() > ORDERS  # materialized entity rows of the feature views
    finally:
        online.close()
    engine = sqlalchemy.create_engine(
        servers["postgres"].replace("postgresql://", "postgresql+psycopg://")
    )
    with engine.connect() as connection:
        views = connection.execute(sqlalchemy.text("select count(*) from feature_views")).scalar()
    engine.dispose()
    assert views > 0


def test_the_service_answers_in_production(production_home, tmp_path):
    env, home, servers, _ = production_home
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(BIN / "orderlens"), "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, server, tmp_path / "serve.log")
        body = json.loads(
            _python(
                env,
                "import json\nfrom cli.demo import sample_request\n"
                "from orderlens.settings import load_settings\n"
                "print(json.dumps(sample_request(load_settings())))",
            )
        )
        answer = httpx.post(f"{url}/predict", json=body, timeout=60)
        assert answer.status_code == 200, answer.text
        prediction = answer.json()["predictions"][0]
        # The online store (Redis) answered: no `online_store:` degradation. A simulated order
        # of the past may still name views that are stale or newer than its as_of (the
        # service's freshness checks): those are facts about the order, not the store.
        degraded = prediction["degraded"]
        assert not [d for d in degraded if d.startswith("online_store:")], degraded
        assert 0 <= prediction["delay"]["probability"] <= 1
        champion = json.loads((home / "registry/orderlens_model_set/champion.json").read_text())
        assert prediction["model_versions"]["model_set"] == champion["version"]
        import redis

        ledger = redis.Redis.from_url(servers["redis"])
        try:
            fired = [a for a in prediction["actions"] if a["fired"]]
            keys = ledger.keys("orderlens:ledger:*")
            assert len(keys) >= len(fired)  # fired actions are claimed in the Redis ledger
        finally:
            ledger.close()
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)
        log.close()


def _wait_ready(url: str, server: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"not ready in {timeout} s: {log.read_text()[-3000:]}")
