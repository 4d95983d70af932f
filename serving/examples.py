"""Prediction requests built from orders in the source contract (tests, benchmarks, demos)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from serving.schemas import Order

REQUEST_FIELDS = tuple(name for name in Order.model_fields if name != "explain_value")


def order_payloads(
    orders: pd.DataFrame, *, suffix: str = "", hours_after_creation: float = 30.0
) -> list[dict[str, Any]]:
    """Orders (rows of the orders source) as ``/predict`` JSON orders.

    Args:
        orders: rows in the orders contract.
        suffix: appended to each ``order_id`` (keeps callers from sharing action-ledger entries).
        hours_after_creation: each order is scored this long after it was placed (``as_of``).
    """
    payloads = []
    for row in orders.to_dict(orient="records"):
        order = {k: row[k] for k in REQUEST_FIELDS if k in row}
        order["as_of"] = row["created_at"] + pd.Timedelta(hours=hours_after_creation)
        for name in ("created_at", "promised_at", "as_of"):
            order[name] = pd.Timestamp(order[name]).isoformat()
        for name, value in order.items():
            if hasattr(value, "item"):  # numpy scalars → JSON scalars
                order[name] = value.item()
        order["order_id"] = f"{row['order_id']}{suffix}"
        payloads.append(order)
    return payloads
