"""The orderlens prediction service (BentoML): ``bentoml serve serving.service:OrderLens``.

Routes (all JSON; every error has the one shape of :mod:`serving.http`; ``docs/api.md``):

- ``POST /predict`` ``{"orders": [...]}`` → ``{"predictions": [...]}``: delay probability, hours,
  P90, risk level and reasons; value index, tier, quadrant and dimension scores; actions with the
  action ledger's ``status`` (fired, suppressed, suggested, pending); model versions; feature
  freshness; ``degraded`` reasons. The request model is built at start from the orders contract
  and the settings (:func:`serving.schemas.order_model`); the actions and the prediction-log
  entry are recorded in one ledger step before the answer leaves
  (:func:`serving.prediction_log.record_request`).
- ``GET /suggestions``, ``POST /suggestions/confirm``, ``POST /suggestions/reject``: suggested
  actions and people's decisions on them (:mod:`serving.suggestions`).
- ``GET /metadata``: model versions, training metrics, feature lists, limits.
- ``POST /admin/reload``: check the champion now (the service also checks every
  ``serving.reload_seconds``).
- ``GET /metrics``: Prometheus metrics by route template (:class:`serving.http.RouteMetricsMiddleware`).
- ``GET /healthz``, ``GET /livez`` (alive), ``GET /readyz`` (models loaded, online store present
  and answering), ``GET /docs.json`` (the generated OpenAPI document).

Every route but the health probes passes :class:`serving.guard.GuardMiddleware` (API keys, rate
limits in orders shared by all workers, JSON bodies only).

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
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import bentoml
import orjson
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import PlainTextResponse, Response

from nlp.store import describe_version
from orderlens.records import SuggestionStatus
from serving.capacity import CapacityGate, Overloaded
from serving.guard import NO_PROXY, GuardMiddleware, Refusal
from serving.http import (
    DECISION_RESPONSES,
    GUARDED_RESPONSES,
    JSON,
    NAME_PATTERN,
    PREDICT_RESPONSES,
    TEXT_ROUTE_RESPONSES,
    ErrorShapeMiddleware,
    RouteMetricsMiddleware,
    error_response_body,
    install_request_schema,
    install_security,
    known_query_parameters,
    max_order_bytes,
    metrics_text,
    openapi_document,
    refusal_response,
    request_validation_body,
    route_templates,
)
from serving.ledger import Decision
from serving.prediction_log import record_request
from serving.resilience import online_store_problem
from serving.schemas import (
    EXAMPLE_INPUT,
    PredictResponse,
    RequestError,
    error_body,
    order_model,
    parse_request,
    request_model,
)
from serving.suggestions import (
    DecisionRequest,
    DecisionResponse,
    SuggestionList,
    list_suggestions,
    write_snapshot,
)
from serving.suggestions import decide as decide_suggestions

if TYPE_CHECKING:
    from features.online import OnlineFeatures

logger = logging.getLogger("orderlens.serving")

app = FastAPI(title="orderlens", openapi_url=None, docs_url=None, redoc_url=None)
"""The routes; BentoML mounts them and merges them into its OpenAPI document."""


SUGGESTION_FILTERS = ("status", "action", "tier", "min_age_minutes", "max_age_minutes", "limit")


@app.exception_handler(RequestError)
async def _request_error(request: Request, exc: RequestError) -> Response:
    """Bad input found by a route's dependencies, in the service's error shape."""
    return _json_response(exc.body.model_dump(), exc.status)


@app.exception_handler(RequestValidationError)
async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
    """FastAPI's validation of query parameters and bodies, in the service's error shape (400)."""
    return _json_response(request_validation_body(exc.errors()).model_dump(), 400)


@app.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """FastAPI's own errors (405 on a known route, ...) in the service's error shape, with their
    headers (a 405 says which methods the route has: ``Allow``)."""
    return Response(
        error_response_body(exc.status_code), exc.status_code, exc.headers, media_type=JSON
    )


def _json_response(payload: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(payload), status, headers=headers, media_type=JSON)


def _error(status: int, code: str, message: str, headers: dict | None = None) -> Response:
    return _json_response(error_body(code, message).model_dump(), status, headers)


@bentoml.service(
    name="orderlens",
    traffic={"timeout": 60},
    # HTTP metrics are the service's own (RouteMetricsMiddleware, GET /metrics): BentoML's label
    # series by raw path, which any caller can grow without bound.
    metrics={"enabled": False},
    # uvicorn trusts X-Forwarded-For from loopback unless told otherwise: trust no proxy unless
    # settings name some (serving.launch sets this from serving.trusted_proxies).
    envs=[{"name": "FORWARDED_ALLOW_IPS", "value": NO_PROXY}],
)
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
        from serving.guard import check_trusted_proxies, guard_from_settings
        from serving.ledger import open_ledger
        from serving.policy import load_policy
        from serving.prediction_log import DrainerProcess, PredictionLog
        from serving.resilience import feature_store_breaker

        self.settings = load_settings()
        cfg = self.settings.serving
        self.policy = load_policy(cfg.policy_file)
        self.repo = FeatureRepo(self.settings)
        self.breaker = feature_store_breaker(self.settings)
        self.ledger = open_ledger(self.settings)
        # The journal is drained (and the suggestions snapshot written) by a process beside
        # this worker; it drains first what an earlier run left. The worker's own log only
        # drains what is left at shutdown.
        self.log = PredictionLog.from_settings(self.settings, self.ledger)
        self.log.after_drain = self._write_suggestions_snapshot
        self.drainer = DrainerProcess(self.settings)
        self.drainer.start()
        check_trusted_proxies(self.settings)
        self.online_store_config = self.repo.repo_config().online_store  # for /readyz
        self.guard = guard_from_settings(self.settings)  # applied by GuardMiddleware
        # The request model from the orders contract and the settings: it validates every
        # request and is the request schema /docs.json states.
        # The shop's declared extra order columns are optional order fields of /predict.
        order = order_model(cfg, self.settings.contract, self.settings.features.order_extras)
        self.request_model = request_model(order, cfg.max_orders_per_request)
        self.max_body_bytes = cfg.max_orders_per_request * max_order_bytes(order)
        install_request_schema(app, "/predict", self.request_model, EXAMPLE_INPUT)
        install_security(app, keys_required=self.guard.keys.required)
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
            self.drainer.ensure_running()  # a drainer that died is replaced

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        self._stop.set()
        self.drainer.stop()
        self.log.close()
        self.ledger.close()
        self.breaker.close()
        self.guard.close()

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
        problem = online_store_problem(
            self.online_store_config, redis_url=self.settings.production.redis_url
        )
        if problem is not None:
            logger.warning("not ready: %s", problem)
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
        # The actions and the prediction-log entry: one atomic step in the ledger (durable
        # before the answer leaves).
        record_request(
            self.ledger,
            result.predictions,
            result.actions,
            journal=record,
            request_id=uuid.uuid4().hex,
            received_at=received_at,
            orders=orders,
            columns=columns,
            model_versions=scorer.model_versions,
            latency_ms=(time.perf_counter() - began) * 1000.0,
            scores=result.log_scores,
        )
        return {"predictions": result.predictions}

    def _predict_decoded(self, payload: Any) -> Response:
        try:
            return _json_response(self._predict_payload(payload))
        except RequestError as exc:
            return _json_response(exc.body.model_dump(), exc.status)

    # ---- routes -------------------------------------------------------------------------------

    @app.post(
        "/predict",
        summary="Predict delay risk, value and actions for 1..N orders",
        response_model=PredictResponse,
        responses=PREDICT_RESPONSES,
    )
    async def predict(self, request: Request) -> Response:
        """Score orders: ``{"orders": [Order, ...]}`` → ``{"predictions": [...]}``."""
        import anyio

        limit = self.max_body_bytes
        if int(request.headers.get("content-length") or 0) > limit:
            return _error(413, "too_large", f"request body over {limit} bytes")
        body = await request.body()
        if len(body) > limit:
            return _error(413, "too_large", f"request body over {limit} bytes")
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return _error(400, "invalid_json", f"the body is not valid JSON: {exc}")
        # The caller's bucket pays for the orders before anything is validated or scored.
        charged = self.guard.charge(request.state.caller, self.guard.order_cost(payload))
        if isinstance(charged, Refusal):
            return refusal_response(charged)
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

    @app.get(
        "/metadata",
        summary="Model versions, training metrics, feature lists, limits",
        responses={200: {"description": "the serving model set", "content": {JSON: {}}}}
        | GUARDED_RESPONSES,
    )
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
                "source": Path(self.policy.source).name,  # no server paths in answers
                "rules": [r.name for r in self.policy.rules],
            },
            "limits": {
                "max_orders_per_request": cfg.max_orders_per_request,
                "rate_limit_orders_per_second": cfg.rate_limit_per_second,
                "rate_limit_burst_orders": cfg.rate_limit_burst,
                "explain_value_cost": cfg.explain_value_cost,
                "api_key_required": self.guard.keys.required,
                "feature_timeout_ms": cfg.feature_timeout_ms,
            },
        }

    @app.post(
        "/admin/reload",
        summary="Load the champion model set now if it changed",
        responses={
            200: {"description": "checked (and loaded if it changed)", "content": {JSON: {}}}
        }
        | GUARDED_RESPONSES,
    )
    async def admin_reload(self, request: Request) -> Response:
        import anyio

        reloaded = await anyio.to_thread.run_sync(self.reload)
        return _json_response({"reloaded": reloaded, "model_set": self.scorer.version})

    @app.post("/admin/fault", include_in_schema=False)
    async def admin_fault(self, request: Request) -> Response:
        """Debug only (``serving.debug_faults``): slow every online read by ``feature_delay_ms``."""
        if not self.settings.serving.debug_faults:
            return Response(error_response_body(404), 404, media_type=JSON)
        try:
            delay_ms = float(orjson.loads(await request.body())["feature_delay_ms"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return _error(400, "invalid_request", 'expected {"feature_delay_ms": number}')
        self.fault_delay_s = max(0.0, delay_ms) / 1000.0
        return _json_response({"feature_delay_ms": delay_ms})

    # ---- suggest, then confirm ----------------------------------------------------------------

    def _write_suggestions_snapshot(self) -> None:
        """The suggestions as they stand, for the order-health page (after each log drain)."""
        write_snapshot(self.ledger, self.settings.suggestions_path, datetime.now(UTC))

    @app.get(
        "/suggestions",
        summary="Suggested actions waiting for a person (or decided), oldest first",
        response_model=SuggestionList,
        responses=GUARDED_RESPONSES,
        dependencies=[Depends(known_query_parameters(*SUGGESTION_FILTERS))],
    )
    def suggestions(
        self,
        status: Annotated[SuggestionStatus | Literal["any"], Query()] = "pending",
        action: Annotated[str | None, Query(max_length=64, pattern=NAME_PATTERN)] = None,
        tier: Annotated[str | None, Query(max_length=64, pattern=NAME_PATTERN)] = None,
        min_age_minutes: Annotated[float | None, Query(ge=0, le=525_600)] = None,
        max_age_minutes: Annotated[float | None, Query(ge=0, le=525_600)] = None,
        limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
    ) -> Response:
        found = list_suggestions(
            self.ledger,
            datetime.now(UTC),
            status=status,
            action=action,
            tier=tier,
            min_age_minutes=min_age_minutes,
            max_age_minutes=max_age_minutes,
            limit=limit,
        )
        return _json_response(found.model_dump(mode="json"))

    @app.post(
        "/suggestions/confirm",
        summary="Confirm suggested actions (all or none): each fires exactly once",
        response_model=DecisionResponse,
        responses=DECISION_RESPONSES,
    )
    def confirm_suggestions(self, request: Request, body: DecisionRequest) -> Response:
        return self._decide(request, body, "confirm")

    @app.post(
        "/suggestions/reject",
        summary="Reject suggested actions (all or none)",
        response_model=DecisionResponse,
        responses=DECISION_RESPONSES,
    )
    def reject_suggestions(self, request: Request, body: DecisionRequest) -> Response:
        return self._decide(request, body, "reject")

    def _decide(self, request: Request, body: DecisionRequest, decision: Decision) -> Response:
        try:
            decided = decide_suggestions(
                self.ledger,
                body,
                decision,
                decider=request.state.caller.decider,
                now=datetime.now(UTC),
            )
        except RequestError as exc:
            return _json_response(exc.body.model_dump(), exc.status)
        return _json_response(decided.model_dump(mode="json"))

    @app.get(
        "/metrics",
        summary="Prometheus metrics of every worker (by route template)",
        response_class=PlainTextResponse,
        responses={200: {"description": "Prometheus text format"}} | TEXT_ROUTE_RESPONSES,
    )
    def metrics(self) -> Response:
        body, media_type = metrics_text()
        return Response(body, 200, media_type=media_type)

    @app.get("/docs.json", include_in_schema=False)
    def docs_json(self) -> Response:
        """BentoML's OpenAPI document with the models and an example for every operation."""
        spec = OrderLens.openapi_spec.asdict()
        return _json_response(openapi_document(spec, keys_required=self.guard.keys.required))


# Outermost first: metrics count every answer (refusals too), the error shape applies to
# everything inside, the guard runs before any route.
OrderLens.add_asgi_middleware(RouteMetricsMiddleware, routes=route_templates(app))
OrderLens.add_asgi_middleware(ErrorShapeMiddleware)
OrderLens.add_asgi_middleware(GuardMiddleware)
