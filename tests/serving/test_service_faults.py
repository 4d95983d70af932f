"""The service under faults, over real HTTP: a slow or locked online store (degraded answers in
budget, the breaker, recovery), a promotion while requests flow, API keys and rate limits.

No test here times anything: a degraded reason says which path answered (``:timeout`` — the
budget cut the store call; ``:circuit_open`` — the store was not called). Latencies under faults
are figures for bench/bench_serving.py."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections import Counter

import httpx
import pytest

from serving.schemas import EXAMPLE_INPUT, ErrorBody
from tests.serving.conftest import SERVER_ENV
from tests.serving.live import order_payloads, running_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BUDGET_S = float(SERVER_ENV["ORDERLENS_SERVING__FEATURE_TIMEOUT_MS"]) / 1000 + 0.002  # 1 order


@contextlib.contextmanager
def slow_store(client: httpx.Client, delay_ms: float):
    assert client.post("/admin/fault", json={"feature_delay_ms": delay_ms}).status_code == 200
    try:
        yield
    finally:
        client.post("/admin/fault", json={"feature_delay_ms": 0})


def _degraded(client: httpx.Client, orders: list[dict]) -> list[str]:
    response = client.post("/predict", json={"orders": orders})
    assert response.status_code == 200, response.text
    return response.json()["predictions"][0]["degraded"]


def _wait_recovered(client: httpx.Client, orders: list[dict], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        degraded = _degraded(client, orders)
        # Recovered: the store answers (a replayed order may still name views it could not
        # use, such as values from after its as_of; those are not the store's fault).
        if not any(d.startswith("online_store:") for d in degraded):
            return
        time.sleep(0.5)
    raise AssertionError(f"still degraded after {timeout} s: {degraded}")


def test_slow_store_degrades_within_budget_then_recovers(client, serving_home):
    orders = order_payloads(serving_home.orders.iloc[100:101], suffix="-slow")
    _wait_recovered(client, orders)
    with slow_store(client, delay_ms=BUDGET_S * 1000 * 3):
        assert _degraded(client, orders) == ["online_store:timeout"]
        # Enough timeouts open the breaker: answers come without calling the store.
        for _ in range(3):
            degraded = _degraded(client, orders)
        assert degraded == ["online_store:circuit_open"]
    # The fault clears: after the cool-down one probe closes the breaker again.
    _wait_recovered(client, orders)


def test_locked_store_degrades_then_recovers(client, serving_home):
    """A real fault: another process holds an exclusive lock on the SQLite online store."""
    orders = order_payloads(serving_home.orders.iloc[200:201], suffix="-locked")
    _wait_recovered(client, orders)
    store = serving_home.settings.feature_repo_dir / "online_store.db"
    lock = sqlite3.connect(store, timeout=1, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        degraded = _degraded(client, orders)
        assert degraded and degraded[0].startswith("online_store:")
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    _wait_recovered(client, orders)


def test_promotion_reloads_models_while_requests_flow(server, serving_home):
    from training.registry import set_champion

    orders = order_payloads(serving_home.orders.iloc[300:310], suffix="-reload")
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()
    answered = {serving_home.champion: threading.Event(), serving_home.candidate: threading.Event()}
    after_swap = threading.Event()  # a second answer on the new models: traffic kept flowing

    def traffic() -> None:
        with server.client() as http:
            while not stop.is_set():
                response = http.post("/predict", json={"orders": orders})
                statuses.append(response.status_code)
                if response.status_code == 200:
                    for p in response.json()["predictions"]:
                        version = p["model_versions"]["model_set"]
                        if version == serving_home.candidate and answered[version].is_set():
                            after_swap.set()
                        versions.add(version)
                        answered.get(version, threading.Event()).set()

    threads = [threading.Thread(target=traffic) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        assert answered[serving_home.champion].wait(60), "no answer on the champion"
        set_champion(serving_home.settings, serving_home.candidate, {"reason": "test"})
        # The service's watcher swaps the models by itself (serving.reload_seconds).
        assert after_swap.wait(60), "requests did not keep flowing on the new models"
    finally:
        stop.set()
        for t in threads:
            t.join()
        set_champion(serving_home.settings, serving_home.champion, {"reason": "test done"})
    assert statuses and set(statuses) == {200}, Counter(statuses)
    assert serving_home.candidate in versions
    with server.client() as http:  # and back, on demand
        http.post("/admin/reload")
        assert http.get("/metadata").json()["model_set"] == serving_home.champion


@pytest.fixture(scope="module")
def guarded_server(serving_home, tmp_path_factory):
    """A second server with API keys and a tight per-client rate limit."""
    log = tmp_path_factory.mktemp("guarded_log") / "server.log"
    env = {
        **SERVER_ENV,
        "ORDERLENS_SERVING__API_KEYS": '["key-one", "key-two"]',
        "ORDERLENS_SERVING__RATE_LIMIT_PER_SECOND": "1",
        "ORDERLENS_SERVING__RATE_LIMIT_BURST": "3",
    }
    with running_server(serving_home.home, log, **env) as running:
        yield running


def test_api_key_required_when_configured(guarded_server):
    with guarded_server.client() as http:
        for headers in ({}, {"X-API-Key": "wrong"}):
            response = http.post("/predict", json=EXAMPLE_INPUT, headers=headers)
            assert response.status_code == 401
            assert ErrorBody.model_validate(response.json()).error.code == "unauthorized"
        ok = http.post("/predict", json=EXAMPLE_INPUT, headers={"X-API-Key": "key-one"})
        assert ok.status_code == 200, ok.text
        assert http.post("/admin/reload").status_code == 401


def test_rate_limit_is_a_429_with_retry_after_per_client(guarded_server):
    with guarded_server.client(headers={"X-API-Key": "key-two"}) as http:
        statuses = [http.post("/predict", json=EXAMPLE_INPUT).status_code for _ in range(6)]
        assert 429 in statuses and statuses[0] == 200, statuses
        limited = http.post("/predict", json=EXAMPLE_INPUT)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert ErrorBody.model_validate(limited.json()).error.code == "rate_limited"
    # Another key is another client with its own bucket.
    with guarded_server.client(headers={"X-API-Key": "key-one"}) as other:
        assert other.post("/predict", json=EXAMPLE_INPUT).status_code == 200
