"""The orderlens prediction service (BentoML): ``bentoml serve serving.service:OrderLens``.

Routes (all JSON; every error has the one shape of :mod:`serving.http`):

- ``POST /predict`` ``{"orders": [...]}`` → ``{"predictions": [...]}``: delay probability, hours,
  P90, risk level and reasons; value index, tier, quadrant and dimension scores; actions (after
  the action ledger: ``fired`` is false when the same action already fired in its window); model
  versions; feature freshness; ``degraded`` reasons.
- ``GET /metadata``: model versions, training metrics, feature lists, limits.
- ``POST /admin/reload``: check the champion now (the service also checks every
  ``serving.reload_seconds``); behind the API key when keys are configured.
- ``GET /healthz`` (alive), ``GET /readyz`` (models loaded and online store reachable),
  ``GET /docs.json`` (OpenAPI with examples), ``GET /metrics`` (Prometheus) from BentoML.

The routes live on a FastAPI app mounted into the BentoML service (``@bentoml.asgi_app``):
``/predict`` reads the raw body and validates it once with :func:`serving.schemas.parse_request`
(BentoML's own validation would answer in another error shape), and encodes the answer once with
orjson. Measured against a typed ``@bentoml.api`` taking ``list[Order]`` (1,000-order requests,
server CPU per order, shared 2-core machine at load ~11): parsing costs the same (20.5 vs
22.5 µs), but returning the predictions through the typed API's serializer cost 142 µs per order
against 20 µs for the whole ASGI route — more than the whole scoring budget at 15,000 orders/s,
so the service stays an ASGI app. Nothing is loaded at import; ``__init__`` loads settings,
the champion model set, the feature store, the policy, the ledger and the prediction log.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import bentoml
import orjson
from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from nlp.store import describe_version
from serving.capacity import CapacityGate, Overloaded
from serving.http import JSON, ErrorShapeMiddleware, error_response_body, openapi_document
from serving.schemas import (
    EXAMPLE_INPUT,
    RequestError,
    error_body,
    parse_request,
    request_model,
)

if TYPE_CHECKING:
    from features.online import OnlineFeatures

logger = logging.getLogger("orderlens.serving")

app = FastAPI(title="orderlens", openapi_url=None, docs_url=None, redoc_url=None)
"""The routes; BentoML mounts them and merges them into its OpenAPI document."""

BYTES_PER_ORDER = 4_096
"""Bodies larger than this × the order limit are refused (413) before they are parsed."""


@app.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """FastAPI's own errors (405 on a known route, ...) in the service's error shape."""
    return Response(error_response_body(exc.status_code), exc.status_code, media_type=JSON)


def _json_response(payload: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(payload), status, headers=headers, media_type=JSON)


def _error(status: int, code: str, message: str, headers: dict | None = None) -> Response:
    return _json_response(error_body(code, message).model_dump(), status, headers)


@bentoml.service(name="orderlens", traffic={"timeout": 60})
@bentoml.asgi_app(app, path="/")
class OrderLens:
    """Delay risk, value scores and proactive actions for orders, over HTTP."""

    def __init__(self) -> None:
        # LightGBM's OpenMP threads fight the server's own threads (and other processes) for
        # the cores: one thread per predict call measured 10-25x faster on a busy 2-core box.
        # Must be set before lightgbm loads; `orderlens serve` also sets it for the workers.
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        from features.store import FeatureRepo
        from orderlens.settings import load_settings
        from serving.ledger import open_ledger
        from serving.policy import load_policy
        from serving.prediction_log import PredictionLog
        from serving.resilience import api_keys, feature_store_breaker, rate_limiter

        self.settings = load_settings()
        cfg = self.settings.serving
        self.policy = load_policy(cfg.policy_file)
        # The shop's declared extra order columns are optional order fields of /predict.
        self.request_model = request_model(self.settings.features.order_extras)
        self.repo = FeatureRepo(self.settings)
        self.breaker = feature_store_breaker(self.settings)
        self.ledger = open_ledger(self.settings)
        self.log = PredictionLog.from_settings(self.settings)
        self.limiter = rate_limiter(self.settings)
        self.keys = api_keys(self.settings)
        self.gate = CapacityGate(
            cfg.max_concurrent_scoring, cfg.max_queued_orders, cfg.max_queue_wait_ms / 1000.0
        )
        self.fault_delay_s = 0.0
        self._reload_lock = threading.Lock()
        self.scorer = self._load_scorer()
        self._warm_online_store()
        self._example_response = self._predict_payload(EXAMPLE_INPUT, record=False)
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch_champion, daemon=True)
        self._watcher.start()
        # Everything loaded so far (Feast registry, models, libraries) lives as long as the
        # worker: move it out of the collector's generations so that a full collection,
        # triggered by a request's garbage, does not walk it (a tail-latency cost).
        gc.collect()
        gc.freeze()

    # ---- models -------------------------------------------------------------------------------

    def _load_scorer(self, version: str | None = None):
        from serving.scoring import Scorer
        from training.registry import champion_version, load_model_set

        version = version or champion_version(self.settings)
        if version is None:
            raise RuntimeError("no champion model set: run `orderlens train --promote` first")
        from serving.compiled import compiled_model_set

        models = load_model_set(self.settings, version)
        return Scorer(
            models,
            self.policy,
            explain_all_up_to=self.settings.serving.explain_all_up_to,
            fast=compiled_model_set(models),
            display_names=self.settings.display.names,
            promotions=self.settings.business.promotions,
        )

    def reload(self) -> bool:
        """Load the champion if it changed and swap it in; requests in flight finish on the
        model set they started with (they hold their own reference). Returns whether it swapped."""
        from training.registry import champion_version

        with self._reload_lock:
            version = champion_version(self.settings)
            if version is None or version == self.scorer.version:
                return False
            scorer = self._load_scorer(version)
            self.scorer = scorer  # one reference assignment: atomic for readers
            # The new model set out of the collector's generations, as at start: unfrozen, every
            # full collection a request's garbage triggers walks it (score CPU 48 -> 68 us per
            # order on 1,000-order batches). The old set's memory is freed by reference count
            # once its last request ends.
            gc.collect()
            gc.freeze()
            logger.info("serving model set %s", version)
            return True

    def _watch_champion(self) -> None:
        while not self._stop.wait(self.settings.serving.reload_seconds):
            try:
                self.reload()
            except Exception:  # keep serving the current models; try again next round
                logger.exception(
                    "loading the new champion failed; still serving %s", self.scorer.version
                )

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        self._stop.set()
        self.log.close()
        self.ledger.close()
        self.breaker.close()

    def _warm_online_store(self) -> None:
        """One online read before serving, outside the breaker: the first read loads the Feast
        registry and the store's libraries (seconds on a busy machine), far over the breaker's
        budget. Made under it, that read and the readiness probes behind it timed out, opened
        the breaker and answered the first batches degraded (seen in bench_serving)."""
        from serving.scoring import request_columns

        try:
            self._online_read(request_columns(parse_request(EXAMPLE_INPUT).orders))
        except Exception:  # the store is down: serve degraded, the breaker takes it from here
            logger.exception("the online store could not be read at start")

    # ---- health -------------------------------------------------------------------------------

    def __is_ready__(self) -> bool:
        """Ready when models are loaded and the online store answers one read in budget."""
        from serving.scoring import request_columns

        if getattr(self, "scorer", None) is None:
            return False
        orders = parse_request(EXAMPLE_INPUT).orders
        guarded = self.breaker.call(
            self._online_read, request_columns(orders), fallback=lambda: None
        )
        return guarded.degraded is None

    # ---- the hot path -------------------------------------------------------------------------

    def _online_read(self, columns: dict[str, Any]) -> OnlineFeatures:
        if self.fault_delay_s:
            time.sleep(self.fault_delay_s)  # debug only (serving.debug_faults)
        return self.repo.online_feature_values(
            "delay_v1", columns, skip_views=("order_attributes",)
        )

    def _predict_payload(self, payload: Any, *, record: bool = True) -> dict[str, Any]:
        """Score a decoded request; raises :class:`RequestError` for bad input."""
        from serving.scoring import request_columns

        began = time.perf_counter()
        received_at = datetime.now(UTC)
        cfg = self.settings.serving
        request = parse_request(
            payload, max_orders=cfg.max_orders_per_request, model=self.request_model
        )
        orders = request.orders
        scorer = self.scorer  # one model set for the whole request, even if a reload swaps
        columns = request_columns(orders)
        budget = (cfg.feature_timeout_ms + cfg.feature_timeout_ms_per_order * len(orders)) / 1e3
        guarded = self.breaker.call(
            self._online_read, columns, fallback=lambda: None, timeout_s=budget
        )
        degraded = [] if guarded.degraded is None else [guarded.degraded]
        result = scorer.score(columns, guarded.value, degraded)
        flat = [a for actions in result.actions for a in actions]
        fired = iter(self.ledger.claim(flat, received_at) if record else [True] * len(flat))
        for prediction, actions in zip(result.predictions, result.actions, strict=True):
            prediction["actions"] = [
                {
                    "action": a.action,
                    "rule": a.rule,
                    "params": a.params,
                    "reason": a.reason,
                    "fired": next(fired),
                }
                for a in actions
            ]
        if record:
            self.log.log(
                request_id=uuid.uuid4().hex,
                received_at=received_at,
                orders=orders,
                predictions=result.predictions,
                model_versions=scorer.model_versions,
                latency_ms=(time.perf_counter() - began) * 1000.0,
            )
        return {"predictions": result.predictions}

    def _admit(self, request: Request) -> Response | None:
        """API key and rate limit: an error response, or None to go on."""
        presented = request.headers.get("x-api-key")
        if not self.keys.check(presented):
            return _error(401, "unauthorized", "missing or unknown X-API-Key header")
        remote = request.client.host if request.client else "unknown"
        decision = self.limiter.allow(self.keys.client_id(presented, remote))
        if not decision.allowed:
            retry = max(1, round(decision.retry_after_s + 0.5))
            return _error(
                429,
                "rate_limited",
                f"rate limit exceeded; retry after {decision.retry_after_s:.1f} s",
                {"Retry-After": str(retry)},
            )
        return None

    def _predict_decoded(self, payload: Any) -> Response:
        try:
            return _json_response(self._predict_payload(payload))
        except RequestError as exc:
            return _json_response(exc.body.model_dump(), exc.status)

    # ---- routes -------------------------------------------------------------------------------

    @app.post("/predict", summary="Predict delay risk, value and actions for 1..N orders")
    async def predict(self, request: Request) -> Response:
        """Score orders: ``{"orders": [Order, ...]}`` → ``{"predictions": [...]}``."""
        import anyio

        refused = self._admit(request)
        if refused is not None:
            return refused
        limit = self.settings.serving.max_orders_per_request * BYTES_PER_ORDER
        if int(request.headers.get("content-length") or 0) > limit:
            return _error(413, "too_large", f"request body over {limit} bytes")
        body = await request.body()
        if len(body) > limit:
            return _error(413, "too_large", f"request body over {limit} bytes")
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return _error(400, "invalid_json", f"the body is not valid JSON: {exc}")
        orders = payload.get("orders") if isinstance(payload, dict) else None
        try:
            # At most a few requests score at once; beyond a bounded queue the request is shed
            # now (503) rather than answered late or without its features (serving.capacity).
            async with self.gate.slot(len(orders) if isinstance(orders, list) else 1):
                # CPU-bound and blocking (feature store, ledger): off the event loop.
                return await anyio.to_thread.run_sync(self._predict_decoded, payload)
        except Overloaded as exc:
            return _error(
                503,
                "overloaded",
                f"over capacity ({exc.queued_orders} orders waiting); retry after "
                f"{exc.retry_after_s:.0f} s",
                {"Retry-After": str(round(exc.retry_after_s))},
            )
        except Exception:
            logger.exception("predict failed")
            return Response(error_response_body(500), 500, media_type=JSON)

    @app.get("/metadata", summary="Model versions, training metrics, feature lists")
    def metadata(self) -> Response:
        return _json_response(self.metadata_dict())

    def metadata_dict(self) -> dict[str, Any]:
        from training.value import value_metadata

        scorer = self.scorer
        models = scorer.models
        manifest = models.manifest
        cfg = self.settings.serving
        return {
            "service": "orderlens",
            "model_set": scorer.version,
            "versions": models.versions,
            "promoted_from": manifest.get("data_window"),
            "metrics": manifest.get("metrics", {}),
            # Which delay model scores orders at creation (trees, blend or the logistic
            # regression) and why; the baselines it was judged against on the same test rows.
            "delay_model": manifest.get("served", {}).get("delay", {"model": "lightgbm"}),
            "baselines": manifest.get("metrics", {}).get("delay", {}).get("baselines", {}),
            "value_dimensions": manifest.get("value_dimensions"),
            "order_extras": manifest.get("order_extras", []),
            # The ticket-text version behind the ticket features: its label set is the user's.
            "ticket_text": describe_version(self.settings, manifest.get("nlp_version")),
            "value": value_metadata(models.value),
            "features": {
                "delay": list(models.delay.spec.names),
                "value": list(models.value.spec.names),
                "skipped_views": list(models.delay.spec.skipped_views),
            },
            "policy": {
                "source": str(self.policy.source),
                "rules": [r.name for r in self.policy.rules],
            },
            "limits": {
                "max_orders_per_request": cfg.max_orders_per_request,
                "rate_limit_per_second": cfg.rate_limit_per_second,
                "api_key_required": self.keys.required,
                "feature_timeout_ms": cfg.feature_timeout_ms,
            },
        }

    @app.post("/admin/reload", summary="Load the champion model set now if it changed")
    async def admin_reload(self, request: Request) -> Response:
        import anyio

        refused = self._admit(request)
        if refused is not None:
            return refused
        reloaded = await anyio.to_thread.run_sync(self.reload)
        return _json_response({"reloaded": reloaded, "model_set": self.scorer.version})

    @app.post("/admin/fault", include_in_schema=False)
    async def admin_fault(self, request: Request) -> Response:
        """Debug only (``serving.debug_faults``): slow every online read by ``feature_delay_ms``."""
        if not self.settings.serving.debug_faults:
            return Response(error_response_body(404), 404, media_type=JSON)
        refused = self._admit(request)
        if refused is not None:
            return refused
        try:
            delay_ms = float(orjson.loads(await request.body())["feature_delay_ms"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return _error(400, "invalid_request", 'expected {"feature_delay_ms": number}')
        self.fault_delay_s = max(0.0, delay_ms) / 1000.0
        return _json_response({"feature_delay_ms": delay_ms})

    @app.get("/docs.json", include_in_schema=False)
    def docs_json(self) -> Response:
        """BentoML's OpenAPI document with the models and an example for every operation."""
        return _json_response(
            openapi_document(
                OrderLens.openapi_spec.asdict(),
                example_response=self._example_response,
                example_metadata=self.metadata_dict(),
                request=self.request_model,
            )
        )


OrderLens.add_asgi_middleware(ErrorShapeMiddleware)
