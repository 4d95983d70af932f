"""Who may call, and how much: API keys on every route, failed keys limited, rate limits by orders.

:class:`GuardMiddleware` runs in front of every route BentoML serves (the mounted app's and its
own: ``/metadata``, ``/docs.json``, ``/metrics``, ``/schema.json``, the docs page, ...):

- the health probes (``/healthz``, ``/livez``, ``/readyz``) are always open; the docs
  (``/docs.json`` and the docs page) too when ``serving.open_docs`` is set;
- with API keys configured, every other route needs a known ``X-API-Key``. A wrong or missing key
  costs its client address a token of a small bucket (``serving.auth_failures_per_minute``):
  once that is empty the address gets 429 *before* any key is checked, so keys cannot be guessed
  faster than that;
- each caller — its API key's name, or without keys its address — has a token bucket of
  ``serving.rate_limit_per_second`` *orders* a second (burst ``serving.rate_limit_burst``),
  shared by every worker process (:func:`serving.resilience.rate_limiter`). ``/predict`` costs
  its orders (an order with ``explain_value`` costs ``serving.explain_value_cost``), charged
  after the body is read and before it is validated; any other route costs 1;
- a body that is not declared JSON (``Content-Type: application/json``) is refused with 415.

The client address is the connecting one unless it is one of ``serving.trusted_proxies``, whose
``X-Forwarded-For`` then names the client — uvicorn applies this (``FORWARDED_ALLOW_IPS``, set
from the same setting by :mod:`serving.launch` and the service's ``envs``), so a forged header
from anyone else changes nothing.

Refusals remember when the caller may come back (``Retry-After``): until then its requests are
refused at the door without touching the shared buckets or reading the body.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from orderlens.settings import ServingSettings, Settings
from serving.resilience import ApiKeys, Bucket, SharedRateLimiter
from serving.schemas import error_body

HEALTH_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
DOCS_PATHS = frozenset({"/docs.json", "/"})
DOCS_PREFIXES = ("/static_content/", "/assets/")
COSTED_BY_ROUTE = frozenset({"/predict"})
"""Routes that charge their own cost (orders) once the body is read."""
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the rate-limit identity and the API key's name (None without keys)."""

    client: str
    key_name: str | None = None

    @property
    def decider(self) -> str:
        """How a decision by this caller is recorded."""
        return self.key_name or "anonymous (no API keys configured)"


@dataclass(frozen=True, slots=True)
class Refusal:
    """An error answer: status, the error body's code and message, extra headers."""

    status: int
    code: str
    message: str
    headers: Mapping[str, str] | None = None

    def body(self) -> bytes:
        return orjson.dumps(error_body(self.code, self.message).model_dump())


class Guard:
    """API keys and rate limits for one worker process (state shared through ``limiter``).

    Args:
        keys: the accepted API keys (none: open).
        limiter: the shared token buckets.
        settings: ``settings.serving`` (rates, costs, ``open_docs``).
        clock: monotonic seconds, for remembering refusals in this process.
    """

    def __init__(
        self,
        keys: ApiKeys,
        limiter: SharedRateLimiter,
        settings: ServingSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        remembered: int = 10_000,
    ) -> None:
        self.keys = keys
        self.limiter = limiter
        self.open_docs = settings.open_docs
        self.explain_value_cost = settings.explain_value_cost
        self.orders = Bucket(settings.rate_limit_per_second, settings.rate_limit_burst)
        self.failures = Bucket(
            settings.auth_failures_per_minute / 60.0, settings.auth_failures_burst
        )
        self._clock = clock
        self._refused_until: OrderedDict[str, float] = OrderedDict()
        self._remembered = remembered

    def admit(self, path: str, api_key: str | None, address: str) -> Caller | Refusal:
        """Whether a request to ``path`` may go on: the caller, or the refusal to answer."""
        if path in HEALTH_PATHS:
            return Caller("health")
        if self.open_docs and (path in DOCS_PATHS or path.startswith(DOCS_PREFIXES)):
            return Caller("docs")
        if self.keys.required:
            failures = f"auth:{address}"
            if (refused := self._still_refused(failures)) is not None:
                return refused
            name = self.keys.name_of(api_key)
            if name is None:
                decision = self.limiter.take(failures, 1.0, self.failures)
                if not decision.allowed:
                    return self._refuse(
                        failures, decision.retry_after_s, "too many requests with a wrong API key"
                    )
                return Refusal(401, "unauthorized", "missing or unknown X-API-Key header")
            caller = Caller(f"key:{name}", name)
        else:
            caller = Caller(f"addr:{address}")
        if (refused := self._still_refused(caller.client)) is not None:
            return refused
        if path not in COSTED_BY_ROUTE:
            return self.charge(caller, 1.0)
        return caller

    def charge(self, caller: Caller, cost: float) -> Caller | Refusal:
        """Take ``cost`` tokens (orders) from the caller's bucket."""
        decision = self.limiter.take(caller.client, cost, self.orders)
        if decision.allowed:
            return caller
        return self._refuse(caller.client, decision.retry_after_s, "rate limit exceeded")

    def order_cost(self, payload: Any) -> float:
        """What a ``/predict`` payload costs: its orders, ``explain_value`` ones weighted. Read
        from the decoded JSON before validation (a malformed payload costs 1)."""
        orders = payload.get("orders") if isinstance(payload, dict) else None
        if not isinstance(orders, list) or not orders:
            return 1.0
        explained = sum(1 for o in orders if isinstance(o, dict) and o.get("explain_value") is True)
        return len(orders) + explained * (self.explain_value_cost - 1.0)

    def _refuse(self, client: str, retry_after_s: float, why: str) -> Refusal:
        until = self._clock() + retry_after_s
        self._refused_until[client] = until
        self._refused_until.move_to_end(client)
        while len(self._refused_until) > self._remembered:
            self._refused_until.popitem(last=False)
        return _too_many(retry_after_s, why)

    def _still_refused(self, client: str) -> Refusal | None:
        until = self._refused_until.get(client)
        if until is None:
            return None
        left = until - self._clock()
        if left <= 0:
            del self._refused_until[client]
            return None
        return _too_many(left, "rate limit exceeded")

    def close(self) -> None:
        self.limiter.close()


def _too_many(retry_after_s: float, why: str) -> Refusal:
    seconds = max(1, int(retry_after_s + 0.999))
    return Refusal(
        429,
        "rate_limited",
        f"{why}; retry after {retry_after_s:.1f} s",
        {"Retry-After": str(seconds)},
    )


NO_PROXY = "none"
"""``FORWARDED_ALLOW_IPS`` that trusts no proxy (no address is called ``none``)."""


def forwarded_allow_ips(settings: Settings) -> str:
    """uvicorn's ``FORWARDED_ALLOW_IPS`` for ``serving.trusted_proxies``."""
    return ",".join(settings.serving.trusted_proxies) or NO_PROXY


def check_trusted_proxies(settings: Settings) -> None:
    """Refuse to start when uvicorn would trust ``X-Forwarded-For`` from more proxies than
    ``serving.trusted_proxies`` names (e.g. ``FORWARDED_ALLOW_IPS=*`` left in the environment):
    a forged header would then choose the client address the limits apply to."""
    import os

    configured = {p.strip() for p in forwarded_allow_ips(settings).split(",")}
    actual = {p.strip() for p in os.environ.get("FORWARDED_ALLOW_IPS", NO_PROXY).split(",")}
    if not actual <= configured:
        raise RuntimeError(
            f"FORWARDED_ALLOW_IPS={os.environ.get('FORWARDED_ALLOW_IPS')!r} trusts more proxies"
            f" than serving.trusted_proxies={list(settings.serving.trusted_proxies)}; start the"
            " service with `orderlens serve` or set both alike"
        )


def guard_from_settings(settings: Settings) -> Guard:
    """The guard for a worker process, from the settings."""
    from serving.resilience import api_keys, rate_limiter

    return Guard(api_keys(settings), rate_limiter(settings), settings.serving)


# ---- ASGI ---------------------------------------------------------------------------------------


class GuardMiddleware:
    """Applies the service instance's :class:`Guard` (``bentoml.get_current_service().guard``)
    to every HTTP request, and refuses bodies that are not JSON. The admitted :class:`Caller` is
    left in ``scope["state"]["caller"]`` (``request.state.caller`` in a route)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        guard = _current_guard()
        if guard is None:
            await send_refusal(send, Refusal(503, "not_ready", "the service is starting"))
            return
        client = scope.get("client")
        admitted = guard.admit(
            scope["path"],
            headers.get(b"x-api-key", b"").decode("latin-1") or None,
            client[0] if client else "unknown",
        )
        if isinstance(admitted, Refusal):
            await send_refusal(send, admitted)
            return
        if scope["method"] in ("POST", "PUT", "PATCH") and _has_body(headers):
            media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if media_type != JSON.encode():
                await send_refusal(
                    send,
                    Refusal(415, "unsupported_media_type", "send the body as application/json"),
                )
                return
        scope.setdefault("state", {})["caller"] = admitted
        await self.app(scope, receive, send)


def _has_body(headers: Mapping[bytes, bytes]) -> bool:
    return headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers


def _current_guard() -> Guard | None:
    import bentoml

    try:
        return bentoml.get_current_service().guard
    except Exception:  # not instantiated yet (starting), or no guard: closed
        return None


async def send_refusal(send: Send, refusal: Refusal) -> None:
    """Answer with a refusal in the service's error shape."""
    body = refusal.body()
    headers = [(b"content-type", JSON.encode()), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in (refusal.headers or {}).items()]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
