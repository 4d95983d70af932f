"""The service's HTTP edges: one error shape for every error response, and the OpenAPI document.

Every error the service answers — a bad field, too many orders, bad JSON, a missing API key, a
rate limit, an unknown route, a wrong method, not ready — has the body of
:class:`serving.schemas.ErrorBody`::

    {"error": {"code": "...", "message": "...", "fields": [{"field": "...", "problem": "..."}]}}

The prediction routes build that body themselves; :class:`ErrorShapeMiddleware` rewrites what
BentoML and Starlette answer on their own (plain-text 404/405/503) into it.

:func:`openapi_document` extends the document BentoML generates (``/docs.json``) with the
request/response models and an example for every operation.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.schemas import EXAMPLE_INPUT, ErrorBody, PredictRequest, PredictResponse, error_body

JSON = "application/json"
_CODES = {
    404: ("not_found", "no such route"),
    405: ("method_not_allowed", "method not allowed on this route"),
    413: ("too_large", "request body too large"),
    500: ("internal_error", "unexpected error; it was logged"),
    503: ("not_ready", "the service is not ready (models or online store)"),
}


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


# ---- OpenAPI ------------------------------------------------------------------------------------

_REF = "#/components/schemas/{model}"


def _schemas(request: type[BaseModel] = PredictRequest) -> dict[str, Any]:
    """JSON schemas of the request, response and error models, keyed by model name."""
    out: dict[str, Any] = {}
    for model in (request, PredictResponse, ErrorBody):
        schema = model.model_json_schema(ref_template=_REF)
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


def _json(schema_ref: str | None, example: Any, description: str) -> dict[str, Any]:
    content: dict[str, Any] = {"example": example}
    if schema_ref:
        content["schema"] = {"$ref": _REF.format(model=schema_ref)}
    return {"description": description, "content": {JSON: content}}


def _error(code: str, message: str, description: str, fields: list | None = None) -> dict:
    example = {"error": {"code": code, "message": message, "fields": fields or []}}
    return _json("ErrorBody", example, description)


_BAD_FIELD = _error(
    "invalid_request",
    "1 problem(s) in the request: orders[0].promised_at: must be after created_at",
    "bad input: JSON that does not parse or a field that breaks the schema (each named)",
    [{"field": "orders[0].promised_at", "problem": "must be after created_at"}],
)
_TOO_MANY = _error(
    "too_many_orders", "at most 5000 orders per request, got 5001", "too many orders"
)
_UNAUTHORIZED = _error("unauthorized", "missing or unknown X-API-Key", "API key required")
_RATE_LIMITED = _error(
    "rate_limited", "rate limit exceeded; retry after 0.2 s", "per-client rate limit (Retry-After)"
)
_NOT_READY = _error("not_ready", "the service is not ready (models or online store)", "not ready")


def openapi_document(
    base: dict[str, Any],
    *,
    example_response: dict[str, Any],
    example_metadata: dict[str, Any],
    request: type[BaseModel] = PredictRequest,
) -> dict[str, Any]:
    """BentoML's generated document with the service's models and an example on every operation.

    Args:
        base: ``Service.openapi_spec.asdict()`` (infra routes and the mounted routes).
        example_response: a real ``/predict`` answer to :data:`EXAMPLE_INPUT`.
        example_metadata: a real ``/metadata`` answer.
        request: the deployment's request model (with the shop's extra order columns).
    """
    doc = copy.deepcopy(base)
    # Pydantic writes JSON Schema 2020-12 (``anyOf`` with ``null``), which is OpenAPI 3.1.
    doc["openapi"] = "3.1.0"
    doc.setdefault("components", {}).setdefault("schemas", {}).update(_schemas(request))
    paths = doc.setdefault("paths", {})
    predict = paths.setdefault("/predict", {}).setdefault("post", {})
    predict["requestBody"] = {
        "required": True,
        "content": {
            JSON: {
                "schema": {"$ref": _REF.format(model="PredictRequest")},
                "example": EXAMPLE_INPUT,
            }
        },
    }
    predict["responses"] = {
        "200": _json("PredictResponse", example_response, "one prediction per order, in order"),
        "400": _BAD_FIELD,
        "401": _UNAUTHORIZED,
        "413": _TOO_MANY,
        "429": _RATE_LIMITED,
    }
    metadata = paths.setdefault("/metadata", {}).setdefault("get", {})
    metadata["responses"] = {"200": _json(None, example_metadata, "models, metrics, features")}
    reload_op = paths.setdefault("/admin/reload", {}).setdefault("post", {})
    reload_op["responses"] = {
        "200": _json(
            None,
            {"reloaded": False, "model_set": example_metadata.get("model_set")},
            "the champion was checked (and loaded if it changed)",
        ),
        "401": _UNAUTHORIZED,
        "429": _RATE_LIMITED,
    }
    plain = {"description": "OK", "content": {"text/plain": {"example": "\n"}}}
    for route in ("/healthz", "/livez"):
        for op in paths.get(route, {}).values():
            op["responses"] = {"200": plain}
    for op in paths.get("/readyz", {}).values():
        op["responses"] = {"200": plain, "503": _NOT_READY}
    for op in paths.get("/metrics", {}).values():
        op["responses"] = {
            "200": {
                "description": "Prometheus metrics",
                "content": {"text/plain": {"example": "# HELP bentoml_service_request_total"}},
            }
        }
    for item in paths.values():
        for op in item.values():
            if isinstance(op, dict):
                op.setdefault("responses", {}).setdefault(
                    "404", _error("not_found", "no such route", "unknown route")
                )
    return doc
