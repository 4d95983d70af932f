"""Staying up when a dependency is slow or down, and keeping callers within their share.

- :class:`CircuitBreaker` wraps a call (the online feature store) with a timeout. After
  ``failure_threshold`` failures or timeouts within ``window_s`` it opens: calls are not made and
  the caller's fallback answers at once, marked degraded. After ``cooldown_s`` one probe call is let
  through (half-open) while every other caller still gets the fallback — no stampede on a store
  that is coming back; the probe's success closes the breaker, its failure opens it again.
  Thread-safe (one lock, held only to update state) and usable from asyncio (:meth:`acall`).
- :class:`RateLimiter`: a token bucket per client (HTTP 429 when empty).
- :class:`ApiKeys`: optional API keys (none configured: open).

All in-process and pure apart from the clock, which tests replace.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

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


class RateLimiter:
    """A token bucket per client: ``rate_per_s`` tokens a second up to ``burst``.

    ``rate_per_s == 0`` turns limiting off. At most ``max_clients`` buckets are kept (least
    recently used dropped: a dropped client starts again with a full bucket).
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        if rate_per_s < 0 or burst < 1:
            raise ValueError("rate_per_s must be >= 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = float(burst)
        self._clock = clock
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    def allow(self, client: str, cost: float = 1.0) -> RateDecision:
        """Take ``cost`` tokens from the client's bucket if it has them. A cost above the burst
        size counts as the burst size (such a request needs a full bucket)."""
        if self.rate_per_s == 0:
            return RateDecision(True)
        cost = min(cost, self.burst)
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate_per_s)
            allowed = tokens >= cost
            if allowed:
                tokens -= cost
            self._buckets[client] = (tokens, now)
            if len(self._buckets) > self._max_clients:
                self._buckets.popitem(last=False)
        if allowed:
            return RateDecision(True)
        return RateDecision(False, (cost - tokens) / self.rate_per_s)


# ---- API keys -----------------------------------------------------------------------------------


class ApiKeys:
    """Optional API keys. No keys configured: every request is allowed.

    Keys are kept as SHA-256 digests and compared in constant time.
    """

    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = tuple(_digest(k) for k in keys if k)

    @property
    def required(self) -> bool:
        return bool(self._digests)

    def check(self, presented: str | None) -> bool:
        """Whether a request presenting ``presented`` (e.g. the ``X-API-Key`` header) may pass."""
        if not self._digests:
            return True
        if not presented:
            return False
        digest = _digest(presented)
        return any(hmac.compare_digest(digest, d) for d in self._digests)

    def client_id(self, presented: str | None, remote: str) -> str:
        """A rate-limit identity: a short digest of the key when keys are on, else the address."""
        if self._digests and presented:
            return "key:" + _digest(presented).hex()[:16]
        return "addr:" + remote


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


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


def rate_limiter(settings: Settings) -> RateLimiter:
    """The per-client request limiter configured from ``settings.serving``."""
    cfg = settings.serving
    return RateLimiter(cfg.rate_limit_per_second, cfg.rate_limit_burst)


def api_keys(settings: Settings) -> ApiKeys:
    """The API keys from ``settings.serving.api_keys`` (none: open)."""
    return ApiKeys(k.get_secret_value() for k in settings.serving.api_keys)
