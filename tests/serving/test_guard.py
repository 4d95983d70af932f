"""The guard: keys on every route but health, failed keys limited per address, buckets by orders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orderlens.settings import load_settings
from serving.guard import (
    Caller,
    Guard,
    Refusal,
    check_trusted_proxies,
    forwarded_allow_ips,
)
from serving.resilience import ApiKeys, SQLiteRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _guard(tmp_path: Path, clock: Clock, keys=(), **serving) -> Guard:
    settings = load_settings(home=tmp_path, serving=serving)
    limiter = SQLiteRateLimiter(settings.rate_limit_path, clock=clock)
    return Guard(ApiKeys(keys), limiter, settings.serving, clock=clock)


def test_health_is_open_and_everything_else_needs_a_key(tmp_path, clock):
    guard = _guard(tmp_path, clock, {"oms": "k1"})
    for path in ("/healthz", "/livez", "/readyz"):
        assert isinstance(guard.admit(path, None, "10.0.0.1"), Caller)
    for path in ("/metadata", "/docs.json", "/metrics", "/schema.json", "/", "/suggestions"):
        refused = guard.admit(path, None, "10.0.0.1")
        assert isinstance(refused, Refusal) and refused.status == 401, path
    assert guard.admit("/metadata", "k1", "10.0.0.1") == Caller("key:oms", "oms")
    assert guard.admit("/predict", "k1", "10.0.0.1").decider == "oms"


def test_settings_may_open_the_docs(tmp_path, clock):
    guard = _guard(tmp_path, clock, {"oms": "k1"}, open_docs=True)
    assert isinstance(guard.admit("/docs.json", None, "10.0.0.1"), Caller)
    assert isinstance(guard.admit("/static_content/swagger.js", None, "10.0.0.1"), Caller)
    assert guard.admit("/metadata", None, "10.0.0.1").status == 401


def test_wrong_keys_are_limited_per_address_even_before_a_right_one(tmp_path, clock):
    guard = _guard(
        tmp_path, clock, {"oms": "k1"}, auth_failures_per_minute=6, auth_failures_burst=3
    )
    statuses = [guard.admit("/predict", f"guess{i}", "10.0.0.9").status for i in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    # Blocked: the address may not try even the right key until the bucket refills ...
    blocked = guard.admit("/predict", "k1", "10.0.0.9")
    assert blocked.status == 429 and int(blocked.headers["Retry-After"]) >= 1
    # ... while another address is not affected.
    assert isinstance(guard.admit("/predict", "k1", "10.0.0.10"), Caller)
    clock.now += 10  # one failure token back (6 a minute)
    assert isinstance(guard.admit("/predict", "k1", "10.0.0.9"), Caller)


def test_predictions_cost_their_orders_and_explanations_more(tmp_path, clock):
    guard = _guard(tmp_path, clock, rate_limit_per_second=100, rate_limit_burst=200)
    caller = guard.admit("/predict", None, "10.0.0.1")
    assert caller == Caller("addr:10.0.0.1")
    orders = [{"order_id": str(i)} for i in range(10)] + [{"explain_value": True}]
    assert guard.order_cost({"orders": orders}) == 10 + 20
    assert guard.order_cost({"orders": "junk"}) == 1 and guard.order_cost([1]) == 1
    assert isinstance(guard.charge(caller, 150), Caller)
    refused = guard.charge(caller, 100)
    assert refused.status == 429 and refused.headers["Retry-After"] == "1"  # 50 short at 100/s
    # Remembered: refused at the door until then, whatever it costs ...
    assert guard.admit("/metadata", None, "10.0.0.1").status == 429
    clock.now += 0.5
    assert isinstance(guard.charge(caller, 100), Caller)  # ... and served once it refilled


def test_without_keys_callers_are_told_apart_by_address(tmp_path, clock):
    guard = _guard(tmp_path, clock, rate_limit_per_second=1, rate_limit_burst=2)
    assert [guard.admit("/metadata", None, "10.0.0.1").__class__ for _ in range(3)] == [
        Caller,
        Caller,
        Refusal,
    ]
    assert isinstance(guard.admit("/metadata", None, "10.0.0.2"), Caller)


def test_uvicorn_may_trust_no_more_proxies_than_the_settings(tmp_path, monkeypatch):
    open_settings = load_settings(home=tmp_path)
    assert forwarded_allow_ips(open_settings) == "none"
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    check_trusted_proxies(open_settings)
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    with pytest.raises(RuntimeError, match="trusts more proxies"):
        check_trusted_proxies(open_settings)
    proxied = load_settings(home=tmp_path, serving={"trusted_proxies": ["10.1.0.0/16"]})
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", forwarded_allow_ips(proxied))
    check_trusted_proxies(proxied)
    assert os.environ["FORWARDED_ALLOW_IPS"] == "10.1.0.0/16"


def test_the_server_is_told_its_model_store_and_its_proxies(tmp_path, monkeypatch):
    """`bentoml serve` fixes its model store before the service runs: the home's store must be
    in the server's environment (unless one is set), as must the trusted proxies."""
    from serving.launch import serve_command

    settings = load_settings(home=tmp_path, serving={"trusted_proxies": ["10.0.0.0/8"]})
    monkeypatch.delenv("BENTOML_HOME", raising=False)
    _, env = serve_command(3000, "127.0.0.1", 1, settings)
    assert env["BENTOML_HOME"] == str(tmp_path / "bentoml")
    assert env["FORWARDED_ALLOW_IPS"] == "10.0.0.0/8"
    monkeypatch.setenv("BENTOML_HOME", "/srv/models")
    assert serve_command(3000, "127.0.0.1", 1, settings)[1]["BENTOML_HOME"] == "/srv/models"
