"""The service's HTTP edges: one error shape for every error response, and the OpenAPI document.

Every error the service answers — a bad field, too many orders, bad JSON, a missing API key, a
rate limit, an unknown route, a wrong method, not ready — has the body of
:class:`serving.schemas.ErrorBody`::

    {"error": {"code": "...", "message": "...", "fields": [{"field": "...", "problem": "..."}]}}

The prediction routes build that body themselves; :class:`ErrorShapeMiddleware` rewrites what
BentoML and Starlette answer on their own (plain-text 404/405/503) into it.

:func:`install_request_schema` and the response tables below document each route from the models
that validate it (FastAPI's generation, merged by BentoML into ``/docs.json``).
:class:`RouteMetricsMiddleware` counts requests by route template for ``/metrics``.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.schemas import ErrorBody, FieldProblem, RequestError, error_body, field_path

JSON = "application/json"
_CODES = {
    404: ("not_found", "no such route"),
    405: ("method_not_allowed", "method not allowed on this route"),
    413: ("too_large", "request body too large"),
    415: ("unsupported_media_type", "send the body as application/json"),
    500: ("internal_error", "unexpected error; it was logged"),
    503: ("not_ready", "the service is not ready (models or online store)"),
}


def refusal_response(refusal: Any) -> Response:
    """A :class:`serving.guard.Refusal` as a response."""
    return Response(refusal.body(), refusal.status, headers=refusal.headers, media_type=JSON)


INFRA_ROUTES = ("/healthz", "/livez", "/readyz", "/schema.json", "/docs.json", "/")
"""Routes BentoML serves itself."""


def route_templates(app: Any) -> tuple[str, ...]:
    """Every route template served: BentoML's own and the mounted app's (also routes BentoML
    regrouped into an included router to bind them to the service instance)."""

    def paths(routes: Any) -> list[str]:
        found = []
        for route in routes:
            if isinstance(getattr(route, "path", None), str):
                found.append(route.path)
            elif (router := getattr(route, "original_router", None)) is not None:
                found += paths(router.routes)
        return found

    return (*INFRA_ROUTES, *paths(app.routes))


def request_validation_body(errors: Any) -> ErrorBody:
    """FastAPI's validation errors (query parameters, bodies) as the service's error body, each
    field named by its path (``suggestion_ids[2]``, ``limit``)."""
    fields = [
        FieldProblem(
            field=field_path(tuple(e["loc"][1:]) if len(e["loc"]) > 1 else tuple(e["loc"])),
            problem=str(e["msg"]).removeprefix("Value error, "),
        )
        for e in errors
    ]
    message = f"{len(fields)} problem(s) in the request: " + "; ".join(
        f"{f.field}: {f.problem}" for f in fields[:5]
    )
    body = error_body("invalid_request", message)
    return body.model_copy(update={"error": body.error.model_copy(update={"fields": fields})})


def known_query_parameters(*names: str) -> Any:
    """A route dependency refusing query parameters other than ``names`` (400 naming each):
    FastAPI ignores them, and a misspelt filter would silently filter nothing."""
    declared = frozenset(names)

    def check(request: Request) -> None:
        unknown = [name for name in request.query_params if name not in declared]
        if unknown:
            body = error_body(
                "invalid_request", f"unknown query parameter(s): {', '.join(unknown)}"
            )
            body.error.fields.extend(
                FieldProblem(field=name, problem="unknown query parameter") for name in unknown
            )
            raise RequestError(body)

    return check


def error_response_body(status: int, message: str | None = None) -> bytes:
    """The error body for an HTTP status without field problems."""
    code, default = _CODES.get(status, (f"http_{status}", f"HTTP {status}"))
    return orjson.dumps(error_body(code, message or default).model_dump())


class ErrorShapeMiddleware:
    """Rewrites error responses that are not JSON (Starlette's plain-text 404/405, BentoML's
    503 from ``/readyz``) into the service's error shape; JSON error bodies pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rewriting: dict[str, Any] = {}

        async def send_shaped(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = dict(message.get("headers") or [])
                is_json = headers.get(b"content-type", b"").startswith(JSON.encode())
                if status >= 400 and not is_json:
                    body = error_response_body(status)
                    kept = [
                        (k, v)
                        for k, v in message.get("headers") or []
                        if k.lower() not in (b"content-type", b"content-length")
                    ]
                    rewriting["start"] = {
                        **message,
                        "headers": [
                            *kept,
                            (b"content-type", JSON.encode()),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                    rewriting["body"] = body
                    return
                await send(message)
            elif message["type"] == "http.response.body" and "body" in rewriting:
                if not message.get("more_body", False):
                    await send(rewriting["start"])
                    await send({"type": "http.response.body", "body": rewriting["body"]})
            else:
                await send(message)

        await self.app(scope, receive, send_shaped)


# ---- metrics ------------------------------------------------------------------------------------

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class RouteMetricsMiddleware:
    """Prometheus request counts and durations labelled by *route template* (the route's path,
    or ``other`` for anything that is not a route), method and status, so the series stay few
    whatever paths callers try. Replaces BentoML's own HTTP metrics, which label by raw path
    (3,000 requests to random paths grew ``/metrics`` from 81 kB to 12.7 MB).

    Args:
        routes: the route templates served (the mounted app's and BentoML's own).
    """

    def __init__(self, app: ASGIApp, routes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.routes = frozenset(routes)
        self._metrics: tuple[Any, Any] | None = None

    def _instruments(self) -> tuple[Any, Any]:
        # Created on first use: prometheus_client must be imported after BentoML has set
        # PROMETHEUS_MULTIPROC_DIR for the worker, so every worker's series are collected.
        if self._metrics is None:
            from prometheus_client import Counter, Histogram

            labels = ("route", "method", "status")
            self._metrics = (
                Counter("orderlens_http_requests", "HTTP requests answered", labels),
                Histogram(
                    "orderlens_http_request_duration_seconds",
                    "HTTP request duration in seconds",
                    labels,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
                ),
            )
        return self._metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        route = path if path in self.routes else "other"
        method = scope["method"] if scope["method"] in _METHODS else "other"
        began = time.perf_counter()
        status = 500

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            requests, duration = self._instruments()
            labels = (route, method, str(status))
            requests.labels(*labels).inc()
            duration.labels(*labels).observe(time.perf_counter() - began)


def metrics_text() -> tuple[bytes, str]:
    """The Prometheus exposition of every worker process's metrics (or this process's when not
    served by BentoML's workers): the body and its content type."""
    import os

    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry), CONTENT_TYPE_LATEST


# ---- OpenAPI ------------------------------------------------------------------------------------
#
# The document is generated, not written: FastAPI builds each route's operation from its
# decorator (``response_model``, ``responses`` below, ``openapi_extra``) and pydantic's schemas of
# the very models that validate; BentoML merges the mounted app's operations with its own health
# routes (``Service.openapi_spec``). The ``/predict`` body is read and validated by the service
# itself (one orjson parse, errors in the service's shape), so its request schema is declared with
# ``openapi_extra`` — FastAPI's documented way for a body a route reads itself — from the
# settings-derived request model (:func:`install_request_schema`, at service start).

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$"
"""Names in query filters (actions, tiers)."""


def _error_response(description: str, **extra: Any) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description, **extra}


_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds until the caller may try again",
        "schema": {"type": "integer", "minimum": 1},
    }
}
GUARDED_RESPONSES: dict[int | str, dict[str, Any]] = {
    # Declared, so FastAPI documents no 422 of its own: validation errors are 400 here.
    "default": _error_response("any other error, in the same shape"),
    401: _error_response(
        "unauthorized: API keys are configured and X-API-Key is missing or unknown"
    ),
    429: _error_response(
        "rate_limited: the caller's token bucket (orders per second) is empty, or its address"
        " sent too many wrong API keys; Retry-After says when to come back",
        headers=_RETRY_AFTER,
    ),
}
"""Every route but the health probes: API key and rate limit (:mod:`serving.guard`)."""
TEXT_ROUTE_RESPONSES = {
    status: {
        "description": response["description"],
        **({"headers": response["headers"]} if "headers" in response else {}),
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    for status, response in GUARDED_RESPONSES.items()
}
"""The same for a route whose answer is text: its errors are still JSON."""
BODY_RESPONSES = {
    **GUARDED_RESPONSES,
    400: _error_response(
        "invalid_request / invalid_json: a field breaks the rules (each named in fields) or the"
        " body is not JSON"
    ),
    415: _error_response("unsupported_media_type: the body is not declared application/json"),
}
"""Routes that read a JSON body."""
PREDICT_RESPONSES = {
    **BODY_RESPONSES,
    413: _error_response("too_large: the body is larger than any request within the order limit"),
    503: _error_response(
        "overloaded: more orders wait to be scored than the service queues; Retry-After says"
        " when to come back",
        headers=_RETRY_AFTER,
    ),
}
DECISION_RESPONSES = {
    **BODY_RESPONSES,
    404: _error_response("unknown_suggestion: an id is not a suggestion (nothing decided)"),
    409: _error_response("already_decided: an id was confirmed or rejected (nothing decided)"),
    410: _error_response("suggestion_expired: an id expired unanswered (nothing decided)"),
}


def install_request_schema(app: Any, path: str, model: type[BaseModel], example: Any) -> None:
    """Declare ``model`` (the one that validates the route's body) as the request body of the
    route at ``path`` (``openapi_extra``), inlined: pydantic's ``$defs`` are not OpenAPI
    components."""
    schema = _inline(model.model_json_schema())
    for route in _routes(app.routes):
        if getattr(route, "path", None) == path:
            route.openapi_extra = {
                **(route.openapi_extra or {}),
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": schema, "example": example}},
                },
            }
            return
    raise KeyError(f"no route {path}")


API_KEY_SCHEME = {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
"""How callers authenticate when the service has API keys."""


def install_security(app: Any, *, keys_required: bool) -> None:
    """State on every route of ``app`` (all are guarded: the health probes are BentoML's)
    whether it needs an API key: ``security`` in its operation, when keys are configured."""
    for route in _routes(app.routes):
        if getattr(route, "include_in_schema", False):
            extra = dict(route.openapi_extra or {})
            extra.pop("security", None)
            if keys_required:
                extra["security"] = [{name: []} for name in API_KEY_SCHEME]
            route.openapi_extra = extra or None


def _routes(routes: Any) -> list[Any]:
    found = []
    for route in routes:
        if (router := getattr(route, "original_router", None)) is not None:
            found += _routes(router.routes)
        else:
            found.append(route)
    return found


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its ``$defs`` references replaced by the definitions themselves."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(copy.deepcopy(defs[ref.removeprefix("#/$defs/")]))
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


def max_order_bytes(order: type[BaseModel]) -> int:
    """The most bytes one order of ``order`` can take as compact JSON: each field's name and its
    longest value (strings counted at 6 bytes a character, as ``\\uXXXX`` escapes). A request
    within its order limit is never refused for its size."""
    total = 2  # {}
    for name, prop in _inline(order.model_json_schema())["properties"].items():
        total += len(name) + 4 + _max_value_bytes(prop)  # "name": value,
    return total


def _max_value_bytes(schema: dict[str, Any]) -> int:
    options = schema.get("anyOf") or [schema]
    longest = 4  # null
    for option in options:
        kind = option.get("type")
        if "enum" in option or "const" in option:
            values = option.get("enum") or [option.get("const")]
            size = max(len(orjson.dumps(v)) for v in values)
        elif kind == "string":
            size = 2 + 6 * option.get("maxLength", 64)
        elif kind == "array":
            size = 2 + option.get("maxItems", 16) * (1 + _max_value_bytes(option["items"]))
        else:  # numbers, booleans
            size = 32
        longest = max(longest, size)
    return longest


def openapi_document(spec: dict[str, Any], *, keys_required: bool = False) -> dict[str, Any]:
    """BentoML's generated document as served. Its operations and schemas are FastAPI's and
    pydantic's (JSON Schema 2020-12, ``anyOf`` with ``null``), which is OpenAPI 3.1; BentoML
    labels the whole document 3.0.2, so the label is corrected to what it holds. With API keys
    configured, the scheme the operations' ``security`` names (:func:`install_security`)."""
    doc = {**spec, "openapi": "3.1.0"}
    if keys_required:
        components = dict(doc.get("components") or {})
        components["securitySchemes"] = API_KEY_SCHEME
        doc["components"] = components
    return doc
