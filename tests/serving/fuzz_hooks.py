"""Schemathesis hooks for the prediction service (``SCHEMATHESIS_HOOKS=tests.serving.fuzz_hooks``).

The OpenAPI document states every rule the service enforces; rules *between* fields of an order
(``x-row-rules``: a promise after creation and within the horizon, ``as_of`` not before
``created_at``, a discount within the order value, a destination, paired coordinates, distinct
order ids) cannot be written in JSON Schema. This hook makes generated orders keep them — only
by changing fields that are valid on their own, so a case generated to break the schema still
breaks it — and the checks then hold the service to everything else: a request the schema calls
valid must be accepted, one it calls invalid must be refused.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import schemathesis

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_CREATED, _PROMISED = "2025-06-16T09:30:00+08:00", "2025-06-18T21:00:00+08:00"
_HORIZON = timedelta(days=366)


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    """Keep the rules between fields in every ``/predict`` body sent (all phases)."""
    body = case.body
    if case.operation.path != "/predict" or not isinstance(body, dict):
        return
    orders = body.get("orders")
    if isinstance(orders, list):
        seen: set[str] = set()
        for i, order in enumerate(orders):
            if isinstance(order, dict):
                _keep_row_rules(order)
                _distinct_id(order, i, seen)


def _time(value: Any) -> datetime | None:
    if isinstance(value, str) and _TIMESTAMP.match(value):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _keep_row_rules(order: dict[str, Any]) -> None:
    created, promised = _time(order.get("created_at")), _time(order.get("promised_at"))
    if created and promised and not (created < promised <= created + _HORIZON):
        order["created_at"], order["promised_at"] = _CREATED, _PROMISED
        created = _time(_CREATED)
    as_of = _time(order.get("as_of"))
    if created and as_of and as_of < created:
        order["as_of"] = order["created_at"]
    discount, value = order.get("discount"), order.get("order_value")
    if _number(discount) and _number(value) and discount > value:
        order["discount"] = value
    for lat, lon in (("dest_lat", "dest_lon"), ("origin_lat", "origin_lon")):
        given = (order.get(lat) is not None, order.get(lon) is not None)
        if given == (True, False) and _number(order[lat]):
            order[lon] = 0.0
        elif given == (False, True) and _number(order[lon]):
            order[lat] = 0.0
    if order.get("dest_region") is None and (
        order.get("dest_lat") is None or order.get("dest_lon") is None
    ):
        order["dest_region"] = "Zhengzhou"


def _distinct_id(order: dict[str, Any], i: int, seen: set[str]) -> None:
    order_id = order.get("order_id")
    if isinstance(order_id, str) and order_id in seen:
        order["order_id"] = f"{order_id[:50]}-{i}"
    if isinstance(order.get("order_id"), str):
        seen.add(order["order_id"])
