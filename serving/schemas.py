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

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from orderlens.contracts import ORDERS, Column
from orderlens.dimensions import DIMENSION_NAMES
from orderlens.reasons import ReasonGroup
from orderlens.records import CONTACT_CHANNELS, STAGES, Tier

if TYPE_CHECKING:
    from orderlens.settings import ContractSettings, OrderExtra, ServingSettings

HARD_MAX_ORDERS = 10_000
"""Ceiling on orders per request whatever the settings say (settings may only lower it)."""
MAX_AMOUNT = 1e9
"""Money fields without a maximum in the contract are bounded here (1e308 is not an order)."""
RiskLevel = Literal["low", "medium", "high", "critical"]

# ---- field types ---------------------------------------------------------------------------------
#
# Every rule below is stated in the JSON schema the service publishes (pattern, bounds, enums) and
# checked by the same constraint, so what the document allows the service accepts and what it
# refuses the service refuses. The regular expressions use only syntax that Python's re, the Rust
# regex crate (pydantic) and ECMA-262 read alike.

_CONTROL = (
    r"\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u180e\u200b-\u200f"
    r"\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
)
"""Control, format (zero-width, bidi) and line-separator characters: never in a name."""
_SPACE = r"\x20\xa0\u1680\u2000-\u200a\u202f\u205f\u3000"
TEXT_PATTERN = f"^[^{_CONTROL}]*[^{_CONTROL}{_SPACE}][^{_CONTROL}]*$"
"""A name: at least one visible character, no control or zero-width characters."""
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$"
"""Order and customer ids: letters, digits and ``_ . : -``."""

Text = Annotated[
    str,
    Strict(),
    StringConstraints(min_length=1, max_length=64, pattern=TEXT_PATTERN),
    AfterValidator(str.strip),  # as ingest trims categories: one set of rules
]
"""A category or place name (any text; ``contract.allowed_values`` may restrict a column)."""
Id = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=64, pattern=ID_PATTERN)]
ServiceLevel = Text
"""A service level name (the policy's carrier upgrades name one)."""


def _years(first: int, last: int) -> str:
    """A regular expression for the four-digit years ``first`` to ``last`` (whole centuries and
    decades as ranges: 2000-2099 is ``20[0-9]{2}``)."""
    parts, year = [], first
    while year <= last:
        for step, tail in ((100, "[0-9]{2}"), (10, "[0-9]"), (1, "")):
            if year % step == 0 and year + step - 1 <= last:
                parts.append(str(year)[: 4 - len(str(step)) + 1] + tail)
                year += step
                break
    return "|".join(parts)


def _rfc3339(first_year: int, last_year: int) -> str:
    years = _years(first_year, last_year)
    return (
        rf"^(?:{years})-[0-9]{{2}}-[0-9]{{2}}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}"
        r"(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})$"
    )


_PARTS = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:Z|([+-])([0-9]{2}):([0-9]{2}))$"
)
r"""The same form as :func:`_rfc3339` (any year), with its parts as groups. ``[0-9]``, not ``\d``:
Python's ``\d`` would also take other scripts' digits, which the published pattern refuses."""


_SEEN_TIMES = 4_096
"""Distinct timestamp texts :func:`timestamp_type` remembers (per type) before it forgets them."""


def timestamp_type(first_year: int, last_year: int) -> Any:
    """An RFC 3339 timestamp with an offset, written in a year from ``first_year`` to
    ``last_year``: a string of exactly that form (no numbers, no naive times), parsed to an aware
    datetime. The year is the one written, so every accepted time converts to UTC safely."""
    pattern = _rfc3339(first_year, last_year)
    # Times already read, by their text: a batch's orders mostly share one ``as_of``, read
    # once instead of once per order. Datetimes are immutable; the memo is emptied when full,
    # so a stream of distinct times costs one lookup each.
    seen: dict[str, datetime] = {}

    def parse(value: Any) -> datetime:
        known = seen.get(value) if isinstance(value, str) else None
        if known is not None:
            return known
        moment = _parse(value)
        if len(seen) >= _SEEN_TIMES:
            seen.clear()
        seen[value] = moment
        return moment

    def _parse(value: Any) -> datetime:
        parts = _PARTS.match(value) if isinstance(value, str) else None
        if parts is None or not first_year <= int(parts.group(1)) <= last_year:
            raise PydanticCustomError(
                "timestamp",
                "must be an RFC 3339 timestamp with an offset (e.g. 2025-06-16T09:30:00+08:00)"
                " in the years {first}-{last}",
                {"first": first_year, "last": last_year},
            )
        try:
            # The form is checked above; Python's own parser (C) reads what it says, fractions
            # beyond microseconds cut as the pattern allows: 0.75 against 2.3 us a timestamp
            # built from the groups, three timestamps an order.
            return datetime.fromisoformat(value)
        except ValueError as exc:  # 2025-02-30, hour 24, offset 24:00
            raise PydanticCustomError(
                "timestamp", "not a valid time: {why}", {"why": str(exc)}
            ) from None

    return Annotated[
        datetime,
        BeforeValidator(parse),
        WithJsonSchema({"type": "string", "format": "date-time", "pattern": pattern}),
    ]


def _number(column: Column, *, integer: bool = False) -> Any:
    """A strict number with the contract's bounds (money without one: at most MAX_AMOUNT)."""
    upper = column.max if column.max is not None else (10_000_000 if integer else MAX_AMOUNT)
    bounds: dict[str, float] = {"le": upper}
    if column.min is not None:
        bounds["ge"] = column.min
    if integer:
        return Annotated[int, Strict(), Field(**bounds), BeforeValidator(_whole)]
    return Annotated[float, Strict(), Field(allow_inf_nan=False, **bounds)]


def _whole(value: Any) -> Any:
    """JSON has one number type: 2.0 is the integer 2 (as JSON Schema says); 2.5 is not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _column_type(column: Column, allowed: tuple[str, ...] | None, years: tuple[int, int]) -> Any:
    if column.kind == "timestamp":
        return timestamp_type(*years)
    if column.kind == "bool":
        return Annotated[bool, Strict()]
    if column.kind in ("float", "int"):
        return _number(column, integer=column.kind == "int")
    if allowed:
        return Literal[tuple(allowed)]  # type: ignore[valid-type]
    return Id if column.name in _ID_COLUMNS else Text


_ID_COLUMNS = ("order_id", "customer_id")


def _extra_type(kind: str, years: tuple[int, int]) -> Any:
    """A shop's extra order column, strictly typed by its kind: a bounded finite number; a
    timestamp as the contract's; a category as a name, a whole number or a yes/no (an export's
    codes), each as written (``"3"`` stays the name "3", ``3`` the number)."""
    if kind == "numeric":
        return Annotated[float, Strict(), Field(allow_inf_nan=False, ge=-MAX_AMOUNT, le=MAX_AMOUNT)]
    if kind == "moment":
        return timestamp_type(*years)
    return Category


_CODE_LIMIT = 10**12
_TEXT = re.compile(TEXT_PATTERN[1:-1])  # fullmatch: Python's $ would also match before a "\n"


def _category(value: Any) -> Any:
    """A category as an export writes it: a name (trimmed), a whole number or a yes/no. One
    check, so a bad value is one problem named by its field (a union would name each member)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and -_CODE_LIMIT <= value <= _CODE_LIMIT:
        return value
    if isinstance(value, str) and len(value) <= 64 and _TEXT.fullmatch(value):
        return value.strip()
    raise PydanticCustomError(
        "category",
        "must be a name (1-64 characters, no control or zero-width characters), a whole number"
        " or true/false",
    )


Category = Annotated[
    Any,
    AfterValidator(_category),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": 64, "pattern": TEXT_PATTERN},
                {"type": "integer", "minimum": -_CODE_LIMIT, "maximum": _CODE_LIMIT},
                {"type": "boolean"},
            ]
        }
    ),
]
"""A shop's categorical extra column (:func:`_extra_type`)."""


# ---- row rules ----------------------------------------------------------------------------------

RowCheck = Callable[[Any], bool]
ROW_CHECKS: dict[str, tuple[str, RowCheck]] = {
    "promise_after_creation": ("promised_at", lambda o: o.promised_at <= o.created_at),
    "discount_within_value": (
        "discount",
        lambda o: o.discount is not None and o.discount > o.order_value,
    ),
    "destination_given": (
        "dest_region",
        lambda o: o.dest_region is None and (o.dest_lat is None or o.dest_lon is None),
    ),
    "origin_coordinates_paired": (
        "origin_lon",
        lambda o: (o.origin_lat is None) != (o.origin_lon is None),
    ),
    "destination_coordinates_paired": (
        "dest_lon",
        lambda o: (o.dest_lat is None) != (o.dest_lon is None),
    ),
}
"""One order's check of each row rule of the orders contract, by the contract's rule name: the
field an error names, and whether the order *breaks* the rule. The same rules as ingest
(:data:`features.validation.ROW_RULES`, on frames); a test holds the two to the same verdicts."""


class _OrderRules(BaseModel):
    """The checks between fields of one order: the contract's row rules and the service's own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    row_rules: ClassVar[tuple[tuple[str, str, str, RowCheck], ...]] = ()
    max_promise: ClassVar[timedelta] = timedelta(days=366)

    @model_validator(mode="after")
    def _rules(self) -> Any:
        for rule, field, description, broken in self.row_rules:
            if broken(self):
                raise PydanticCustomError(
                    "row_rule", "{problem}", {"field": field, "problem": description, "rule": rule}
                )
        if self.promised_at - self.created_at > self.max_promise:
            raise PydanticCustomError(
                "row_rule",
                "{problem}",
                {
                    "field": "promised_at",
                    "problem": f"at most {self.max_promise.days} days after created_at",
                    "rule": "promise_horizon",
                },
            )
        if "as_of" in self.model_fields_set and self.as_of < self.created_at:  # type: ignore[attr-defined]
            raise PydanticCustomError(
                "row_rule",
                "{problem}",
                {"field": "as_of", "problem": "must not be before created_at", "rule": "as_of"},
            )
        return self


def _no_repeats(value: list[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if len(set(value)) != len(value):
        raise PydanticCustomError("unique", "lists a channel twice")
    return tuple(value)


def order_model(
    serving: ServingSettings | None = None,
    contract: ContractSettings | None = None,
    extras: Sequence[OrderExtra] = (),
) -> type[BaseModel]:
    """The request's order model, derived from the orders contract and the settings.

    Each contract column is a field — required if the contract requires it, else optional and
    nullable — with the contract's type and bounds, strictly typed (``"yes"`` is no boolean, ``0``
    no timestamp); categorical columns are any name unless ``contract.allowed_values`` restricts
    them. Timestamps are RFC 3339 with an offset within ``serving.timestamp_years``. Then the
    request-time fields (``as_of``, ``stage``, ``push_dismissals``, ``contact_preferences``,
    ``explain_value``), and the shop's declared extra order columns (``features.order_extras``:
    optional, by their kind — :func:`_extra_type`). The contract's row rules and the service's own (``as_of`` not before
    ``created_at``; ``promised_at`` at most ``serving.max_promise_days`` after ``created_at``)
    are checked per order and stated in the schema (``x-row-rules``).
    """
    from orderlens.settings import ContractSettings, ServingSettings

    serving = serving or ServingSettings()
    contract = contract or ContractSettings()
    years = serving.timestamp_years
    allowed = {
        key.split(".", 1)[1]: values
        for key, values in contract.allowed_values.items()
        if key.startswith("orders.")
    }
    fields: dict[str, Any] = {}
    for column in ORDERS.columns:
        kind = _column_type(column, allowed.get(column.name), years)
        if column.required:
            fields[column.name] = (kind, ...)
        else:
            fields[column.name] = (kind | None, None)
    timestamp = timestamp_type(*years)
    fields |= {
        "as_of": (
            timestamp,
            Field(
                default_factory=lambda: datetime.now(UTC),
                description="prediction time, not before created_at; default: when the request"
                " arrives",
            ),
        ),
        "stage": (Literal[STAGES] | None, None),  # type: ignore[valid-type]
        "push_dismissals": (
            Annotated[int, Strict(), Field(ge=0, le=10_000), BeforeValidator(_whole)] | None,
            None,
        ),
        "contact_preferences": (
            Annotated[
                list[Literal[CONTACT_CHANNELS]],  # type: ignore[valid-type]
                Field(max_length=len(CONTACT_CHANNELS), json_schema_extra={"uniqueItems": True}),
                AfterValidator(_no_repeats),
            ]
            | None,
            Field(None, description="channels the customer accepts, best first, each once"),
        ),
        "explain_value": (
            Annotated[bool, Strict()],
            Field(False, description="also explain the value dimension scores (costs more)"),
        ),
    }
    for extra in extras:  # the settings refuse extras named like a contract or request field
        fields[extra.name] = (
            _extra_type(extra.kind, years) | None,
            Field(None, description=extra.display),
        )
    unknown = [r.name for r in ORDERS.rules if r.name not in ROW_CHECKS]
    if unknown:
        raise RuntimeError(f"the orders contract has row rules the service cannot check: {unknown}")
    rules = tuple(
        (f"orders.{r.name}", ROW_CHECKS[r.name][0], r.description, ROW_CHECKS[r.name][1])
        for r in ORDERS.rules
    )
    stated = [{"rule": rule, "field": field, "description": text} for rule, field, text, _ in rules]
    stated += [
        {
            "rule": "promise_horizon",
            "field": "promised_at",
            "description": f"promised_at at most {serving.max_promise_days:g} days after created_at",
        },
        {"rule": "as_of", "field": "as_of", "description": "as_of must not be before created_at"},
    ]
    model = create_model(  # type: ignore[call-overload]
        "Order",
        __base__=_OrderRules,
        __doc__=_ORDER_DOC,
        __config__=None,
        **fields,
    )
    model.row_rules = rules
    model.max_promise = timedelta(days=serving.max_promise_days)
    model.model_config["json_schema_extra"] = {"x-row-rules": stated}
    model.model_rebuild(force=True)
    return model


_ORDER_DOC = """One order as the caller knows it, plus optional request-time context.

The orders contract's core is required (ids, the two times, the value and a destination:
``dest_region`` and/or ``dest_lat`` + ``dest_lon``); every other order field is optional (null:
unknown). ``stage``, ``push_dismissals`` and ``contact_preferences`` are taken from the online
store when not given, and a policy condition on an unknown value does not fire. Rules between
fields are listed in ``x-row-rules``."""


def request_model(order: type[BaseModel], max_orders: int = HARD_MAX_ORDERS) -> type[BaseModel]:
    """``{"orders": [...]}``: 1 to ``max_orders`` orders with distinct ids."""

    def distinct_ids(orders: list[Any]) -> list[Any]:
        first_seen: dict[str, int] = {}
        for i, o in enumerate(orders):
            j = first_seen.setdefault(o.order_id, i)
            if j != i:
                raise PydanticCustomError(
                    "row_rule",
                    "{problem}",
                    {
                        "field": f"{i}.order_id",
                        "problem": f"repeats orders[{j}].order_id",
                        "rule": "distinct_order_ids",
                    },
                )
        return orders

    return create_model(  # type: ignore[call-overload]
        "PredictRequest",
        __config__=ConfigDict(extra="forbid", frozen=True),
        __doc__='``{"orders": [...]}``: one to the order limit, with distinct order ids.',
        orders=(
            Annotated[
                list[order],  # type: ignore[valid-type]
                Field(min_length=1, max_length=max_orders, description="distinct order_id each"),
                AfterValidator(distinct_ids),
            ],
            ...,
        ),
    )


Order = order_model()
"""The order model under the default settings (the service builds its own from its settings)."""
PredictRequest = request_model(Order)


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


DimensionStatus = Literal["signal", "no_signal", "not_available"]


class DimensionScore(BaseModel):
    score: float | None = Field(
        ge=0,
        le=100,
        description="0–100 against the reference, higher = better; null when the dimension has"
        " no signal or is not available",
    )
    status: DimensionStatus = Field(
        description="signal: scored; no_signal: its skill on the test window does not clear"
        " chance (zero weight everywhere); not_available: the data has no realised target"
    )
    reasons: list[Reason] | None = None


class QuadrantScores(BaseModel):
    """Mean score of the quadrant's dimensions with signal; null when none has signal."""

    financial: float | None = Field(ge=0, le=100)
    customer: float | None = Field(ge=0, le=100)
    operational: float | None = Field(ge=0, le=100)
    strategic: float | None = Field(ge=0, le=100)


DimensionScores = create_model(  # type: ignore[call-overload]
    "DimensionScores",
    __config__=ConfigDict(extra="forbid"),
    **{name: (DimensionScore, ...) for name in DIMENSION_NAMES},
)
"""All 19 value dimensions by name (see :mod:`orderlens.dimensions`)."""


class Contribution(BaseModel):
    """The order's expected contribution in money (settings ``value``: conversion factors)."""

    amount: float = Field(description="expected contribution of the order, in ``currency``")
    currency: str = Field(description="ISO 4217 code")
    parts: dict[str, float] = Field(
        description="money per dimension with signal (cash_conversion_days: capital cost), and"
        " average_without_signal: the training average of the dimensions without signal"
    )


class ValuePrediction(BaseModel):
    index: float = Field(ge=0, le=100, description="weighted index of the dimensions with signal")
    tier: Tier = Field(
        description="by the expected contribution's percentile in training (the value index's"
        " when no dimension with signal has a money rate)"
    )
    quadrants: QuadrantScores
    dimensions: DimensionScores  # type: ignore[valid-type]
    contribution: Contribution


ActionStatus = Literal["fired", "suppressed", "suggested", "pending"]


class ActionOut(BaseModel):
    """An action the policy chose, and what the action ledger made of it."""

    action: str
    rule: str
    params: dict[str, str | float | int | bool] = Field(default_factory=dict)
    reason: str
    status: ActionStatus = Field(
        description="fired: act now; suppressed: the same action already fired for this order"
        " within the rule's window (or a person rejected it); suggested: a person must confirm"
        " it first (POST /suggestions/confirm); pending: already suggested, still waiting"
    )
    fired: bool = Field(description="status == fired")
    suggestion_id: str | None = Field(None, description="for suggested and pending actions")


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
    """The error body for a pydantic ``ValidationError``: one entry per problem, named by path
    (a rule between fields names the field it blames)."""
    fields = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = tuple(err["loc"])
        blamed = (err.get("ctx") or {}).get("field") if err["type"] == "row_rule" else None
        if blamed:
            loc += tuple(int(p) if p.isdigit() else p for p in str(blamed).split("."))
        fields.append(FieldProblem(field=field_path(loc), problem=_problem(err)))
    message = f"{len(fields)} problem(s) in the request: " + "; ".join(
        f"{f.field}: {f.problem}" for f in fields[:5]
    )
    return ErrorBody(error=ErrorDetail(code=code, message=message, fields=fields))


def error_body(code: str, message: str) -> ErrorBody:
    """An error body without field problems (unauthorized, rate limited, ...)."""
    return ErrorBody(error=ErrorDetail(code=code, message=message))


def parse_request(
    payload: Any, *, max_orders: int = HARD_MAX_ORDERS, model: type[BaseModel] | None = None
) -> Any:
    """Validate a decoded JSON payload into a request (``model``: the service's
    :func:`request_model`; default :data:`PredictRequest`).

    Raises:
        RequestError: 400 with the error body naming every bad field; ``too_many_orders`` when
            the request holds more than ``max_orders`` orders (checked before anything else).
    """
    if isinstance(payload, dict) and isinstance(payload.get("orders"), list):
        n = len(payload["orders"])
        if n > max_orders:
            body = error_body(
                "too_many_orders", f"at most {max_orders} orders per request, got {n}"
            )
            problem = FieldProblem(field="orders", problem=f"at most {max_orders} orders, got {n}")
            body.error.fields.append(problem)
            raise RequestError(body, status=400)
    try:
        return (model or PredictRequest).model_validate(payload)
    except ValidationError as exc:
        raise RequestError(validation_error_body(exc)) from exc


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
