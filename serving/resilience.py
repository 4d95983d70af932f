"""Staying up when a dependency is slow or down, and keeping callers within their share.

- :class:`CircuitBreaker` wraps a call (the online feature store) with a timeout. After
  ``failure_threshold`` failures or timeouts within ``window_s`` it opens: calls are not made and
  the caller's fallback answers at once, marked degraded. After ``cooldown_s`` one probe call is let
  through (half-open) while every other caller still gets the fallback — no stampede on a store
  that is coming back; the probe's success closes the breaker, its failure opens it again.
  Thread-safe (one lock, held only to update state) and usable from asyncio (:meth:`acall`).
- :class:`SQLiteRateLimiter` / :class:`RedisRateLimiter`: token buckets per client shared by every
  worker process (HTTP 429 when empty), costed by the caller (orders, for predictions).
- :class:`ApiKeys`: optional, named API keys (none configured: open).

Clocks are injectable for tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar

from orderlens.settings import Settings

T = TypeVar("T")
State = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class Guarded(Generic[T]):
    """The value of a guarded call, or the fallback with ``degraded`` saying why."""

    value: T
    degraded: str | None = None


class CircuitBreaker:
    """Timeout + circuit breaker around calls to one dependency.

    Args:
        name: the dependency, used in degraded reasons (``"online_store:timeout"``).
        failure_threshold: failures/timeouts within ``window_s`` that open the breaker.
        window_s: the sliding window for counting failures.
        cooldown_s: how long it stays open before a single probe is allowed.
        timeout_s: budget of one call; ``None`` for no timeout.
        clock: monotonic seconds (tests pass a fake).
        max_workers: threads that run synchronous calls under a timeout. A timed-out call keeps
            its thread until it returns; the breaker opening bounds how many pile up.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        window_s: float = 30.0,
        cooldown_s: float = 10.0,
        timeout_s: float | None = 0.08,
        clock: Callable[[], float] = time.monotonic,
        max_workers: int = 8,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        self.name = name
        self.failure_threshold = failure_threshold
        self.window_s = window_s
        self.cooldown_s = cooldown_s
        self.timeout_s = timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state: State = "closed"
        self._failures: deque[float] = deque()
        self._opened_at = 0.0
        self._probe_in_flight = False
        self._probe_started_at = 0.0
        self._max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None

    # ---- state -------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        with self._lock:
            return self._state

    def allow(self) -> bool:
        """Whether a call may go out now. In half-open state only the one probe is allowed;
        a caller that got ``True`` must report :meth:`record_success` or :meth:`record_failure`."""
        with self._lock:
            if self._state == "closed":
                return True
            now = self._clock()
            if self._state == "open" and now - self._opened_at >= self.cooldown_s:
                self._state = "half_open"
                self._probe_in_flight = False
            if self._state == "half_open" and (
                not self._probe_in_flight or now - self._probe_started_at >= self.cooldown_s
            ):
                # One probe at a time; a probe that never reported (caller died) is replaced
                # after another cool-down.
                self._probe_in_flight = True
                self._probe_started_at = now
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            if self._state == "half_open":
                self._state = "closed"
                self._failures.clear()
                self._probe_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            now = self._clock()
            if self._state == "half_open":
                self._open(now)
                return
            if self._state == "open":
                return
            self._failures.append(now)
            while self._failures and self._failures[0] <= now - self.window_s:
                self._failures.popleft()
            if len(self._failures) >= self.failure_threshold:
                self._open(now)

    def _open(self, now: float) -> None:
        self._state = "open"
        self._opened_at = now
        self._probe_in_flight = False
        self._failures.clear()

    # ---- calls -------------------------------------------------------------------------------

    def call(
        self,
        fn: Callable[..., T],
        *args: object,
        fallback: Callable[[], T],
        timeout_s: float | None | Literal["default"] = "default",
    ) -> Guarded[T]:
        """Run ``fn(*args)`` under the timeout; on open breaker, timeout or error return
        ``fallback()`` with a degraded reason (``"<name>:circuit_open"``, ``":timeout"``,
        ``":error:<ExceptionType>"``). ``timeout_s`` overrides the breaker's budget for this
        call (a batch of many orders may take longer than one order); ``None``: no timeout."""
        if not self.allow():
            return Guarded(fallback(), f"{self.name}:circuit_open")
        budget = self.timeout_s if timeout_s == "default" else timeout_s
        try:
            if budget is None:
                value = fn(*args)
            else:
                value = self._pool().submit(fn, *args).result(timeout=budget)
        except FutureTimeout:
            return self._failed(fallback, "timeout")
        except Exception as exc:
            return self._failed(fallback, f"error:{type(exc).__name__}")
        self.record_success()
        return Guarded(value)

    async def acall(
        self, fn: Callable[..., Awaitable[T]], *args: object, fallback: Callable[[], T]
    ) -> Guarded[T]:
        """:meth:`call` for a coroutine function; the timeout cancels the awaited call."""
        if not self.allow():
            return Guarded(fallback(), f"{self.name}:circuit_open")
        try:
            value = await asyncio.wait_for(fn(*args), timeout=self.timeout_s)
        except TimeoutError:
            return self._failed(fallback, "timeout")
        except Exception as exc:
            return self._failed(fallback, f"error:{type(exc).__name__}")
        self.record_success()
        return Guarded(value)

    def _failed(self, fallback: Callable[[], T], reason: str) -> Guarded[T]:
        """Count a failure and answer from the fallback, flagged ``<name>:<reason>``."""
        self.record_failure()
        return Guarded(fallback(), f"{self.name}:{reason}")

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        self._max_workers, thread_name_prefix=f"breaker-{self.name}"
                    )
        return self._executor

    def close(self) -> None:
        """Stop the worker threads (does not wait for calls still hanging)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


# ---- rate limiting ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Bucket:
    """A token bucket's size: ``rate_per_s`` tokens a second up to ``burst``."""

    rate_per_s: float
    burst: float


class SharedRateLimiter(Protocol):
    """Token buckets every worker process shares (one per client key)."""

    def take(self, client: str, cost: float, bucket: Bucket) -> RateDecision:
        """Take ``cost`` tokens from the client's bucket if it has them, else refuse with the
        seconds until it will. A cost above the burst needs a full bucket and leaves it in debt
        (below zero) for the rest, so large requests are held to the rate too: a client never
        gets more than ``burst + rate x elapsed`` plus one request's excess over the burst. A
        bucket with ``rate_per_s == 0`` never refuses."""
        ...

    def close(self) -> None: ...


_BUCKETS = """
CREATE TABLE IF NOT EXISTS buckets (
    client TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    at     REAL NOT NULL       -- unix seconds of the last take
) WITHOUT ROWID
"""
# One statement, so one atomic step across processes: refill by the time passed, take if enough
# (:need, the cost up to the burst), paying the whole :cost (the bucket may go into debt).
_TAKE = """
INSERT INTO buckets (client, tokens, at) VALUES (:client, :burst - :cost, :now)
ON CONFLICT (client) DO UPDATE SET
    tokens = min(:burst, tokens + max(0.0, :now - at) * :rate) - :cost,
    at = :now
WHERE min(:burst, tokens + max(0.0, :now - at) * :rate) >= :need
RETURNING tokens
"""
_TOKENS = (
    "SELECT min(:burst, tokens + max(0.0, :now - at) * :rate) FROM buckets WHERE client = :client"
)


class SQLiteRateLimiter:
    """Token buckets in a SQLite file every worker process opens (local profile).

    Bucket state is not precious (a lost update after a power cut only refills a bucket), so the
    file is written without fsync. Buckets idle for an hour are pruned now and then.

    Args:
        path: the database file (``settings.rate_limit_path``).
        clock: wall-clock seconds, shared by every process (tests pass a fake).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout_s: float = 5.0,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._takes = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connection().execute(_BUCKETS)

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        conn = sqlite3.connect(
            self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        self._local.conn, self._local.pid = conn, os.getpid()
        with self._lock:
            self._connections.append(conn)
        return conn

    def take(self, client: str, cost: float, bucket: Bucket) -> RateDecision:
        if bucket.rate_per_s == 0:
            return RateDecision(True)
        need = min(cost, bucket.burst)
        args = {
            "client": client,
            "cost": cost,
            "need": need,
            "burst": bucket.burst,
            "rate": bucket.rate_per_s,
            "now": self._clock(),
        }
        conn = self._connection()
        if conn.execute(_TAKE, args).fetchone() is not None:
            self._takes += 1
            if self._takes % 10_000 == 0:
                conn.execute("DELETE FROM buckets WHERE at < ?", (args["now"] - 3600,))
            return RateDecision(True)
        (tokens,) = conn.execute(_TOKENS, args).fetchone() or (0.0,)
        return RateDecision(False, max(0.0, need - tokens) / bucket.rate_per_s)

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()


# Redis's own clock (TIME) keeps hosts with skewed clocks fair.
_REDIS_TAKE = """
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local need = math.min(cost, burst)
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local h = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(h[1]) or burst
local at = tonumber(h[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
if tokens >= need then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - cost), 'at', tostring(now))
  redis.call('EXPIRE', KEYS[1], 3600)
  return {1, tostring(tokens - cost)}
end
return {0, tostring(tokens)}
"""


class RedisRateLimiter:
    """Token buckets in Redis (production profile): one Lua script per take."""

    def __init__(self, client: Any, *, prefix: str = "orderlens:rate") -> None:
        self.client = client
        self.prefix = prefix
        self._take = client.register_script(_REDIS_TAKE)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisRateLimiter:
        import redis

        return cls(redis.Redis.from_url(url, socket_timeout=2.0), **kwargs)

    def take(self, client: str, cost: float, bucket: Bucket) -> RateDecision:
        if bucket.rate_per_s == 0:
            return RateDecision(True)
        ok, tokens = self._take(
            keys=[f"{self.prefix}:{client}"], args=[bucket.rate_per_s, bucket.burst, cost]
        )
        if ok:
            return RateDecision(True)
        need = min(cost, bucket.burst)
        return RateDecision(False, max(0.0, need - float(tokens)) / bucket.rate_per_s)

    def close(self) -> None:
        self.client.close()


# ---- API keys -----------------------------------------------------------------------------------


class ApiKeys:
    """Optional API keys, each with a name (recorded as who decided a suggestion). No keys
    configured: every request is allowed.

    Keys are kept as SHA-256 digests and compared in constant time.

    Args:
        keys: ``{name: key}``, or keys alone (each then named ``key-<first 8 hex of its digest>``).
    """

    def __init__(self, keys: Mapping[str, str] | Iterable[str]) -> None:
        named = keys.items() if isinstance(keys, Mapping) else ((None, k) for k in keys)
        self._keys = tuple(
            (_digest(key), name or f"key-{_digest(key).hex()[:8]}") for name, key in named if key
        )

    @property
    def required(self) -> bool:
        return bool(self._keys)

    def name_of(self, presented: str | None) -> str | None:
        """The name of the presented key, or None when it is missing or unknown (also with no
        keys configured)."""
        if not presented:
            return None
        digest = _digest(presented)
        name = None
        for known, key_name in self._keys:  # no early exit: the same time for every key
            if hmac.compare_digest(digest, known):
                name = key_name
        return name

    def check(self, presented: str | None) -> bool:
        """Whether a request presenting ``presented`` (the ``X-API-Key`` header) may pass."""
        return not self._keys or self.name_of(presented) is not None


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


# ---- readiness ----------------------------------------------------------------------------------


def online_store_problem(online_store: Any, *, redis_url: str | None = None) -> str | None:
    """Why the configured online store cannot be read right now, or None when it can.

    The service's own reader keeps its connection open, and an open SQLite file keeps answering
    after the file was moved or deleted; readiness must look at the store as it is *now*. SQLite:
    the file at the configured path exists and opens read-only as a database. Redis: it answers
    ``PING``.

    Args:
        online_store: the Feast ``online_store`` config (``type``, ``path`` / ``connection_string``);
            SQLite: Feast's own or a plug-in whose config extends it.
        redis_url: the production profile's Redis URL, for a Redis online store.
    """
    from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig

    kind = getattr(online_store, "type", None)
    # Feast's own SQLite store or a plug-in built on it (features.online_sqlite).
    if kind == "sqlite" or isinstance(online_store, SqliteOnlineStoreConfig):
        path = Path(online_store.path)
        if not path.is_file():
            return f"the online store file is missing ({path.name})"
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
            try:
                conn.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            return f"the online store does not open: {exc}"
        return None
    if kind == "redis" and redis_url is not None:
        import redis

        try:
            client = redis.Redis.from_url(redis_url, socket_timeout=1.0)
            try:
                client.ping()
            finally:
                client.close()
        except redis.RedisError as exc:
            return f"the online store (Redis) does not answer: {type(exc).__name__}"
        return None
    return None  # another store: the breaker's read is the test


# ---- from settings ------------------------------------------------------------------------------


def feature_store_breaker(settings: Settings, name: str = "online_store") -> CircuitBreaker:
    """The breaker around online feature reads, configured from ``settings.serving``."""
    cfg = settings.serving
    return CircuitBreaker(
        name,
        failure_threshold=cfg.breaker_failures,
        window_s=cfg.breaker_window_seconds,
        cooldown_s=cfg.breaker_cooldown_seconds,
        timeout_s=cfg.feature_timeout_ms / 1000.0,
    )


def rate_limiter(settings: Settings) -> SharedRateLimiter:
    """The shared buckets the settings ask for: ``serving.limiter`` or, on ``auto``, SQLite for
    the local profile and Redis (``production.redis_url``) for the production profile."""
    backend = settings.serving.limiter
    if backend == "auto":
        backend = "redis" if settings.profile == "production" else "sqlite"
    if backend == "redis":
        return RedisRateLimiter.from_url(settings.production.redis_url)
    return SQLiteRateLimiter(settings.rate_limit_path)


def api_keys(settings: Settings) -> ApiKeys:
    """The API keys from ``settings.serving.api_keys`` (none: open)."""
    keys = settings.serving.api_keys
    if isinstance(keys, Mapping):
        return ApiKeys({name: k.get_secret_value() for name, k in keys.items()})
    return ApiKeys(k.get_secret_value() for k in keys)
