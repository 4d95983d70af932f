"""Request and response models of the prediction service, its one error shape, and an example.

A request is ``{"orders": [Order, ...]}``. :class:`Order` carries the order fields of the ORDERS
source contract (:data:`orderlens.contracts.ORDERS`: types, allowed values and ranges come from
there) plus optional request-time fields. Bad input is refused with one documented error body::

    {"error": {"code": "invalid_request", "message": "...",
               "fields": [{"field": "orders[0].promised_at", "problem": "..."}]}}

:func:`parse_request` validates a decoded JSON payload against a per-deployment order limit and
raises :class:`RequestError` carrying that body; :func:`validation_error_body` turns any pydantic
``ValidationError`` into it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from orderlens.contracts import ORDERS
from orderlens.dimensions import DIMENSION_NAMES
from orderlens.reasons import ReasonGroup
from orderlens.records import CONTACT_CHANNELS, ContactChannel, Stage, Tier

if TYPE_CHECKING:
    from orderlens.settings import OrderExtra

HARD_MAX_ORDERS = 10_000
"""Ceiling on orders per request whatever the settings say (settings may only lower it)."""

# Vocabularies are data (orderlens.vocab): a categorical field takes any trimmed string; a value
# the models never saw is scored as an unseen category, not refused.
CategoryValue = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)
]
Channel = ServiceLevel = Category = PaymentMethod = CategoryValue
RiskLevel = Literal["low", "medium", "high", "critical"]


def _bounds(name: str) -> dict[str, float]:
    """``ge``/``le`` for a field from the ORDERS contract: one source for the ranges."""
    column = ORDERS.column(name)
    bounds: dict[str, float] = {}
    if column.min is not None:
        bounds["ge"] = column.min
    if column.max is not None:
        bounds["le"] = column.max
    return bounds


_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$"
_Id = Field(min_length=1, max_length=64, pattern=_ID_PATTERN)
# Warehouse and carrier ids are categories of the shop's own naming: any text.
_OptionalId = Field(None, min_length=1, max_length=64)


class Order(BaseModel):
    """One order as the caller knows it, plus optional request-time context.

    Timestamps must carry a timezone. The core of the orders contract is required (ids, the two
    times, the value and a destination: ``dest_region`` and/or ``dest_lat`` + ``dest_lon``);
    every other order field is optional (``None``: unknown, as in the shop's own export).
    ``stage``, ``push_dismissals`` and ``contact_preferences`` default to ``None``: unknown here,
    so the service takes them from the online store, and a policy condition on an unknown value
    does not fire.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    order_id: str = _Id
    customer_id: str = _Id
    created_at: AwareDatetime
    channel: Channel | None = None
    warehouse_id: str | None = _OptionalId
    dest_region: str | None = Field(None, min_length=1, max_length=64)
    dest_lat: float | None = Field(None, **_bounds("dest_lat"))
    dest_lon: float | None = Field(None, **_bounds("dest_lon"))
    origin_region: str | None = Field(None, min_length=1, max_length=64)
    origin_lat: float | None = Field(None, **_bounds("origin_lat"))
    origin_lon: float | None = Field(None, **_bounds("origin_lon"))
    carrier_id: str | None = _OptionalId
    service_level: ServiceLevel | None = None
    promised_at: AwareDatetime
    n_items: int | None = Field(None, **_bounds("n_items"))
    category: Category | None = None
    order_value: float = Field(**_bounds("order_value"))
    discount: float | None = Field(None, **_bounds("discount"))
    freight_cost: float | None = Field(None, **_bounds("freight_cost"))
    cogs: float | None = Field(None, **_bounds("cogs"))
    payment_method: PaymentMethod | None = None
    is_presale: bool | None = None
    needs_customization: bool | None = None
    cold_chain: bool | None = None
    has_gift: bool | None = None
    is_b2b: bool | None = None
    # Request-time fields.
    as_of: AwareDatetime = Field(
        default_factory=lambda: datetime.now(UTC),
        description="prediction time; default: when the request arrives",
    )
    stage: Stage | None = None
    push_dismissals: int | None = Field(None, ge=0, le=10_000)
    contact_preferences: tuple[ContactChannel, ...] | None = Field(
        None,
        max_length=len(CONTACT_CHANNELS),
        description="channels the customer accepts, best first",
    )
    explain_value: bool = Field(False, description="also explain the value dimension scores")

    # Cross-field checks are field validators on the later field, so the error names that field
    # (fields validate in declaration order; a failed earlier field is absent from info.data).
    @field_validator("promised_at")
    @classmethod
    def _promise_after_creation(cls, value: datetime, info: ValidationInfo) -> datetime:
        created_at = info.data.get("created_at")
        if created_at is not None and value <= created_at:
            raise ValueError("must be after created_at")
        return value

    @field_validator("discount")
    @classmethod
    def _discount_within_value(cls, value: float | None, info: ValidationInfo) -> float | None:
        order_value = info.data.get("order_value")
        if value is not None and order_value is not None and value > order_value:
            raise ValueError(f"must not exceed order_value ({order_value})")
        return value

    @field_validator("as_of")
    @classmethod
    def _as_of_after_creation(cls, value: datetime, info: ValidationInfo) -> datetime:
        # Only an explicit as_of is checked: the default (now) is not validated by pydantic.
        created_at = info.data.get("created_at")
        if created_at is not None and value < created_at:
            raise ValueError("must not be before created_at")
        return value

    @field_validator("contact_preferences")
    @classmethod
    def _no_repeated_channels(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("lists a channel twice")
        return value

    @model_validator(mode="after")
    def _destination_given(self) -> Order:
        # The contract's rule (orders.destination_given): a region, or both coordinates.
        if self.dest_region is None and (self.dest_lat is None or self.dest_lon is None):
            raise ValueError("a destination is needed: dest_region, or dest_lat and dest_lon")
        if (self.dest_lat is None) != (self.dest_lon is None):
            raise ValueError("dest_lat and dest_lon are given together")
        return self


class PredictRequest(BaseModel):
    """``{"orders": [...]}``: one to ``max_orders_per_request`` orders with distinct ids."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    orders: list[Order] = Field(min_length=1, max_length=HARD_MAX_ORDERS)

    @field_validator("orders")
    @classmethod
    def _distinct_and_within_limit(cls, orders: list[Order], info: ValidationInfo) -> list[Order]:
        limit = (info.context or {}).get("max_orders", HARD_MAX_ORDERS)
        if len(orders) > limit:
            raise ValueError(f"at most {limit} orders per request, got {len(orders)}")
        first_seen: dict[str, int] = {}
        for i, order in enumerate(orders):
            j = first_seen.setdefault(order.order_id, i)
            if j != i:
                raise ValueError(f"orders[{i}].order_id {order.order_id!r} repeats orders[{j}]")
        return orders


# ---- response ---------------------------------------------------------------------------------


class Reason(BaseModel):
    """One business reason: its group, a sentence, its contribution in points (0–100 scale)."""

    group: ReasonGroup
    text: str
    contribution: float


class DelayPrediction(BaseModel):
    probability: float = Field(ge=0, le=1, description="calibrated P(late)")
    expected_hours: float = Field(description="expected hours late (0: on time)")
    p90_hours: float = Field(description="90th percentile of hours late")
    risk_level: RiskLevel
    reasons: list[Reason] = Field(default_factory=list, description="top reasons, largest first")


class DimensionScore(BaseModel):
    score: float = Field(ge=0, le=100, description="0–100 against the reference, higher = better")
    reasons: list[Reason] | None = None


class QuadrantScores(BaseModel):
    financial: float = Field(ge=0, le=100)
    customer: float = Field(ge=0, le=100)
    operational: float = Field(ge=0, le=100)
    strategic: float = Field(ge=0, le=100)


DimensionScores = create_model(  # type: ignore[call-overload]
    "DimensionScores",
    __config__=ConfigDict(extra="forbid"),
    **{name: (DimensionScore, ...) for name in DIMENSION_NAMES},
)
"""All 19 value dimensions by name (see :mod:`orderlens.dimensions`)."""


class ValuePrediction(BaseModel):
    index: float = Field(ge=0, le=100, description="weighted value index")
    tier: Tier
    quadrants: QuadrantScores
    dimensions: DimensionScores  # type: ignore[valid-type]


class ActionOut(BaseModel):
    """An action the policy chose; ``fired`` is false when the ledger already had it."""

    action: str
    rule: str
    params: dict[str, str | float | int | bool] = Field(default_factory=dict)
    reason: str
    fired: bool


class Prediction(BaseModel):
    order_id: str
    delay: DelayPrediction
    value: ValuePrediction
    actions: list[ActionOut] = Field(default_factory=list)
    model_versions: dict[str, str] = Field(default_factory=dict)
    feature_freshness: dict[str, float | None] = Field(
        default_factory=dict, description="seconds since each feature view's value; null: none"
    )
    degraded: list[str] = Field(default_factory=list, description="why the answer is degraded")


class PredictResponse(BaseModel):
    predictions: list[Prediction]


# ---- errors -----------------------------------------------------------------------------------


class FieldProblem(BaseModel):
    field: str = Field(description="path into the request, e.g. orders[3].order_value")
    problem: str


class ErrorDetail(BaseModel):
    code: str = Field(description="invalid_request, too_many_orders, unauthorized, rate_limited")
    message: str
    fields: list[FieldProblem] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """The one error shape of the service."""

    error: ErrorDetail


class RequestError(ValueError):
    """Bad input; ``status`` is the HTTP status to answer with, ``body`` the :class:`ErrorBody`."""

    def __init__(self, body: ErrorBody, status: int = 400) -> None:
        super().__init__(body.error.message)
        self.body = body
        self.status = status


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("orders", 3, "order_value")`` → ``"orders[3].order_value"``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(request)"


def validation_error_body(exc: ValidationError, code: str = "invalid_request") -> ErrorBody:
    """The error body for a pydantic ``ValidationError``: one entry per problem, named by path."""
    fields = [
        FieldProblem(field=field_path(tuple(err["loc"])), problem=_problem(err))
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    message = f"{len(fields)} problem(s) in the request: " + "; ".join(
        f"{f.field}: {f.problem}" for f in fields[:5]
    )
    return ErrorBody(error=ErrorDetail(code=code, message=message, fields=fields))


def error_body(code: str, message: str) -> ErrorBody:
    """An error body without field problems (unauthorized, rate limited, ...)."""
    return ErrorBody(error=ErrorDetail(code=code, message=message))


def parse_request(
    payload: Any,
    *,
    max_orders: int = HARD_MAX_ORDERS,
    model: type[PredictRequest] = PredictRequest,
) -> PredictRequest:
    """Validate a decoded JSON payload into a :class:`PredictRequest` (or ``model``: the
    deployment's :func:`request_model`).

    Raises:
        RequestError: 400 with the error body naming every bad field; ``too_many_orders`` (413)
            when the request holds more than ``max_orders`` orders.
    """
    if isinstance(payload, dict) and isinstance(payload.get("orders"), list):
        n = len(payload["orders"])
        if n > max_orders:
            raise RequestError(
                error_body("too_many_orders", f"at most {max_orders} orders per request, got {n}"),
                status=413,
            )
    try:
        return model.model_validate(payload, context={"max_orders": max_orders})
    except ValidationError as exc:
        raise RequestError(validation_error_body(exc)) from exc


def request_model(extras: Sequence[OrderExtra] = ()) -> type[PredictRequest]:
    """The request model of a shop that declared extra order columns
    (``settings.features.order_extras``): each is an optional order field (a number, a category
    — a name, a whole number or a yes/no — or a timezone-aware moment); any other unknown field
    is still refused."""
    if not extras:
        return PredictRequest
    # A category may be written as text, a whole number or a yes/no (an export's codes).
    kinds = {
        "numeric": float,
        "categorical": CategoryValue | bool | int,
        "moment": AwareDatetime,
    }
    order = create_model(  # type: ignore[call-overload]
        "Order",
        __base__=Order,
        **{e.name: (kinds[e.kind] | None, Field(None, description=e.display)) for e in extras},
    )
    return create_model(  # type: ignore[call-overload]
        "PredictRequest",
        __base__=PredictRequest,
        orders=(list[order], Field(min_length=1, max_length=HARD_MAX_ORDERS)),
    )


def _problem(err: Any) -> str:
    msg = str(err["msg"])
    # pydantic prefixes errors raised in our validators with "Value error, ".
    return msg.removeprefix("Value error, ")


EXAMPLE_ORDER: dict[str, Any] = {
    "order_id": "OL000123456",
    "customer_id": "C0012345",
    "created_at": "2025-06-16T09:30:00+08:00",
    "channel": "app",
    "warehouse_id": "WH-WUH",
    "dest_region": "Zhengzhou",
    "dest_lat": 34.747,
    "dest_lon": 113.625,
    "carrier_id": "ZTO",
    "service_level": "standard",
    "promised_at": "2025-06-18T21:00:00+08:00",
    "n_items": 2,
    "category": "home_appliances",
    "order_value": 1899.0,
    "discount": 150.0,
    "freight_cost": 28.5,
    "cogs": 1320.0,
    "payment_method": "alipay",
    "is_presale": False,
    "needs_customization": False,
    "cold_chain": False,
    "has_gift": True,
    "is_b2b": False,
    "as_of": "2025-06-17T08:00:00+08:00",
    "stage": "in_transit",
    "push_dismissals": 0,
    "contact_preferences": ["push", "sms"],
}
EXAMPLE_INPUT: dict[str, Any] = {"orders": [EXAMPLE_ORDER]}
"""A realistic request (a 618-week appliance order to Zhengzhou), reused by docs and tests."""
