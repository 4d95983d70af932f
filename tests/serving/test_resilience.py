"""Circuit breaker, rate limiter and API keys."""

from __future__ import annotations

import asyncio
import threading

import pytest

from orderlens.settings import load_settings
from serving.resilience import (
    ApiKeys,
    Bucket,
    CircuitBreaker,
    RedisRateLimiter,
    SQLiteRateLimiter,
    api_keys,
    feature_store_breaker,
    online_store_problem,
    rate_limiter,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _boom() -> str:
    raise ConnectionError("store down")


def _fallback() -> str:
    return "defaults"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock):
    b = CircuitBreaker(
        "online_store",
        failure_threshold=3,
        window_s=10,
        cooldown_s=5,
        timeout_s=None,
        clock=clock,
    )
    yield b
    b.close()


def test_success_passes_through(breaker: CircuitBreaker):
    result = breaker.call(lambda x: x * 2, 21, fallback=lambda: 0)
    assert (result.value, result.degraded) == (42, None)
    assert breaker.state == "closed"


def test_opens_after_k_failures_and_stops_calling(breaker: CircuitBreaker):
    for _ in range(2):
        result = breaker.call(_boom, fallback=_fallback)
        assert result.value == "defaults"
        assert result.degraded == "online_store:error:ConnectionError"
        assert breaker.state == "closed"
    breaker.call(_boom, fallback=_fallback)
    assert breaker.state == "open"

    calls = []
    result = breaker.call(lambda: calls.append(1), fallback=_fallback)
    assert result.degraded == "online_store:circuit_open"
    assert calls == []  # not called while open


def test_failures_outside_the_window_do_not_open(breaker: CircuitBreaker, clock: FakeClock):
    for _ in range(5):
        breaker.call(_boom, fallback=_fallback)
        clock.advance(6)  # at most 2 failures within any 10 s
    assert breaker.state == "closed"


def test_half_open_lets_exactly_one_probe_through_then_closes(
    breaker: CircuitBreaker, clock: FakeClock
):
    for _ in range(3):
        breaker.call(_boom, fallback=_fallback)
    clock.advance(4.9)
    assert breaker.call(lambda: "fresh", fallback=_fallback).degraded == "online_store:circuit_open"
    clock.advance(0.2)

    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow_store() -> str:
        calls.append(1)
        started.set()
        release.wait(5)
        return "fresh"

    probe_result = {}
    probe = threading.Thread(
        target=lambda: probe_result.update(r=breaker.call(slow_store, fallback=_fallback))
    )
    probe.start()
    assert started.wait(5)
    assert breaker.state == "half_open"
    # While the probe is out, 20 concurrent callers get the fallback at once: no stampede.
    others = [breaker.call(slow_store, fallback=_fallback) for _ in range(20)]
    assert {r.degraded for r in others} == {"online_store:circuit_open"}
    release.set()
    probe.join(5)
    assert probe_result["r"].value == "fresh"
    assert calls == [1]
    assert breaker.state == "closed"
    assert breaker.call(lambda: "again", fallback=_fallback).value == "again"


def test_failed_probe_reopens_for_another_cooldown(breaker: CircuitBreaker, clock: FakeClock):
    for _ in range(3):
        breaker.call(_boom, fallback=_fallback)
    clock.advance(5)
    assert breaker.call(_boom, fallback=_fallback).degraded.startswith("online_store:error")
    assert breaker.state == "open"
    clock.advance(4)
    assert breaker.call(lambda: "x", fallback=_fallback).degraded == "online_store:circuit_open"
    clock.advance(1)
    assert breaker.call(lambda: "x", fallback=_fallback).value == "x"
    assert breaker.state == "closed"


def test_probe_that_never_reports_is_replaced_after_a_cooldown(
    breaker: CircuitBreaker, clock: FakeClock
):
    for _ in range(3):
        breaker.record_failure()
    clock.advance(5)
    assert breaker.allow() is True  # the probe; its caller vanishes without reporting
    assert breaker.allow() is False
    clock.advance(5)
    assert breaker.allow() is True


def test_timeout_counts_as_failure_and_answers_without_waiting_for_the_store():
    breaker = CircuitBreaker("online_store", failure_threshold=2, timeout_s=0.05)
    release, finished = threading.Event(), threading.Event()

    def stuck_store() -> None:  # a store call that only ends when the test releases it
        release.wait(60)
        finished.set()

    try:
        result = breaker.call(stuck_store, fallback=lambda: None)
        # The fallback answered while the store call was still blocked: the breaker did not
        # wait for it (no clock involved: the call cannot finish before `release`).
        assert not finished.is_set()
        assert result.degraded == "online_store:timeout"
        breaker.call(stuck_store, fallback=lambda: None)
        assert breaker.state == "open"
    finally:
        release.set()
        breaker.close()


def test_async_call_times_out_and_opens():
    breaker = CircuitBreaker("online_store", failure_threshold=2, timeout_s=0.05, cooldown_s=60)

    async def slow() -> str:  # never answers: only the breaker's timeout ends it
        await asyncio.Event().wait()
        return "late"

    async def fast() -> str:
        return "ok"

    async def scenario() -> list[str | None]:
        first = await breaker.acall(fast, fallback=_fallback)
        assert first.value == "ok"
        results = [await breaker.acall(slow, fallback=_fallback) for _ in range(3)]
        return [r.degraded for r in results]

    assert asyncio.run(scenario()) == [
        "online_store:timeout",
        "online_store:timeout",
        "online_store:circuit_open",
    ]


def test_breaker_from_settings():
    settings = load_settings(serving={"breaker_failures": 7, "feature_timeout_ms": 25})
    breaker = feature_store_breaker(settings)
    assert (breaker.failure_threshold, breaker.timeout_s) == (7, 0.025)


# ---- rate limiter -------------------------------------------------------------------------------


@pytest.fixture
def limiter(tmp_path, clock: FakeClock):
    store = SQLiteRateLimiter(tmp_path / "rates.sqlite3", clock=clock)
    yield store
    store.close()


def test_token_bucket_allows_burst_then_429s_then_refills(limiter, clock: FakeClock):
    bucket = Bucket(rate_per_s=2, burst=3)
    assert [limiter.take("a", 1, bucket).allowed for _ in range(3)] == [True] * 3
    denied = limiter.take("a", 1, bucket)
    assert not denied.allowed
    assert denied.retry_after_s == pytest.approx(0.5)
    assert limiter.take("b", 1, bucket).allowed  # clients are independent
    clock.advance(0.5)
    assert limiter.take("a", 1, bucket).allowed
    assert not limiter.take("a", 1, bucket).allowed
    clock.advance(100)
    assert [limiter.take("a", 1, bucket).allowed for _ in range(4)] == [True, True, True, False]


def test_costs_in_orders_and_a_disabled_bucket(limiter, clock: FakeClock):
    bucket = Bucket(rate_per_s=1, burst=10)
    assert limiter.take("a", 8, bucket).allowed
    refused = limiter.take("a", 8, bucket)
    assert not refused.allowed and refused.retry_after_s == pytest.approx(6)
    assert limiter.take("b", 1_000, bucket).allowed  # above the burst: needs a full bucket ...
    in_debt = limiter.take("b", 1, bucket)
    assert not in_debt.allowed  # ... and pays all of it: 990 orders of debt, 991 s to wait
    assert in_debt.retry_after_s == pytest.approx(991)
    clock.advance(990)
    assert not limiter.take("b", 1, bucket).allowed
    clock.advance(1)
    assert limiter.take("b", 1, bucket).allowed
    off = Bucket(rate_per_s=0, burst=1)
    assert all(limiter.take("a", 5, off).allowed for _ in range(100))


def test_every_process_shares_the_buckets(tmp_path, clock: FakeClock):
    """Two limiters on one file (as two worker processes have) draw from the same bucket."""
    bucket = Bucket(rate_per_s=1, burst=4)
    first = SQLiteRateLimiter(tmp_path / "rates.sqlite3", clock=clock)
    second = SQLiteRateLimiter(tmp_path / "rates.sqlite3", clock=clock)
    taken = [lim.take("a", 1, bucket).allowed for lim in (first, second) * 3]
    assert taken == [True] * 4 + [False] * 2
    first.close()
    second.close()


def test_limiters_follow_settings(tmp_path):
    local = rate_limiter(load_settings(home=tmp_path))
    assert isinstance(local, SQLiteRateLimiter)
    assert local.path == tmp_path / "serving" / "rate_limits.sqlite3"
    local.close()
    production = rate_limiter(load_settings(home=tmp_path, profile="production"))
    assert isinstance(production, RedisRateLimiter)  # connects lazily
    production.close()


def test_redis_buckets(tmp_path):
    from tests.servers import redis_server

    with redis_server() as url:
        limiter = RedisRateLimiter.from_url(url, prefix="t")
        bucket = Bucket(rate_per_s=0.001, burst=3)
        assert [limiter.take("a", 1, bucket).allowed for _ in range(4)] == [True] * 3 + [False]
        refused = limiter.take("a", 2, bucket)
        assert not refused.allowed and refused.retry_after_s > 1000
        assert limiter.take("b", 3, bucket).allowed
        assert limiter.take("c", 30, bucket).allowed  # above the burst: a full bucket, in debt
        in_debt = limiter.take("c", 1, bucket)
        assert not in_debt.allowed and in_debt.retry_after_s == pytest.approx(28_000, rel=0.01)
        limiter.close()


# ---- API keys -----------------------------------------------------------------------------------


def test_no_keys_means_open():
    keys = ApiKeys([])
    assert not keys.required
    assert keys.check(None) and keys.check("whatever")
    assert keys.name_of("whatever") is None


def test_keys_are_checked_and_named():
    keys = ApiKeys({"oms": "s3cret", "cs-lead": "other"})
    assert keys.required
    assert keys.check("s3cret") and keys.check("other")
    assert not keys.check("S3CRET") and not keys.check("") and not keys.check(None)
    assert (keys.name_of("s3cret"), keys.name_of("other"), keys.name_of("x")) == (
        "oms",
        "cs-lead",
        None,
    )
    unnamed = ApiKeys(["s3cret"])
    assert unnamed.name_of("s3cret").startswith("key-")
    assert "s3cret" not in unnamed.name_of("s3cret")


def test_keys_from_settings_are_secret():
    settings = load_settings(serving={"api_keys": ["k-123"]})
    assert "k-123" not in repr(settings.serving)
    assert api_keys(settings).check("k-123")
    named = load_settings(serving={"api_keys": {"oms": "k-456"}})
    assert "k-456" not in repr(named.serving)
    assert api_keys(named).name_of("k-456") == "oms"


def test_online_store_problem_looks_at_the_sqlite_file_as_it_is_now(tmp_path):
    """The service's store is a plug-in on Feast's SQLite store (its config extends Feast's):
    readiness must see the file missing or broken, whatever the open reader still answers."""
    import sqlite3

    from features.online_sqlite import FastSqliteOnlineStoreConfig

    path = tmp_path / "online_store.db"
    config = FastSqliteOnlineStoreConfig(path=str(path))
    assert "missing" in online_store_problem(config)
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    assert online_store_problem(config) is None
    path.write_bytes(b"not a database at all" * 100)
    assert "does not open" in online_store_problem(config)
