"""Shared record schemas: what one stage writes and another reads.

The value tiers, order stages and contact channels every stage names; the prediction log's columns
(written by :mod:`serving.prediction_log`, read by monitoring and reports) and its reader; the
suggested actions waiting for (or having had) a person's decision (a snapshot written by the
service, read by the order-health page) and their reader.
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from orderlens.contracts import ORDERS
from orderlens.dimensions import DIMENSION_NAMES, QUADRANTS
from orderlens.settings import Settings

Tier = Literal["platinum", "gold", "silver", "standard"]
TIERS: tuple[str, ...] = ("platinum", "gold", "silver", "standard")
"""Value tiers, best first."""
Stage = Literal["not_shipped", "in_transit", "delivered"]
STAGES: tuple[str, ...] = ("not_shipped", "in_transit", "delivered")
"""Where an order is in its life when it is scored."""
ContactChannel = Literal["push", "sms", "email", "phone", "qr_self_service"]
CONTACT_CHANNELS: tuple[str, ...] = ("push", "sms", "email", "phone", "qr_self_service")
"""How a customer may be contacted."""
SuggestionStatus = Literal["pending", "confirmed", "rejected", "expired"]
SUGGESTION_STATUSES: tuple[str, ...] = ("pending", "confirmed", "rejected", "expired")
"""A suggested action: waiting for a person, confirmed (it fired), rejected, or expired unanswered."""

_TS = pa.timestamp("us", tz="UTC")
_KIND_TYPES = {"str": pa.string(), "float": pa.float64(), "int": pa.int64(), "bool": pa.bool_()}
REQUEST_TIME_FIELDS = (
    ("as_of", _TS),
    ("stage", pa.string()),
    ("push_dismissals", pa.int64()),
    ("contact_preferences", pa.string()),
    ("explain_value", pa.bool_()),
)


@functools.cache
def log_schema() -> pa.Schema:
    """The prediction log's columns (fixed, so every part file concatenates)."""
    order_fields = [
        (c.name, _TS if c.kind == "timestamp" else _KIND_TYPES[c.kind]) for c in ORDERS.columns
    ]
    return pa.schema(
        [
            ("logged_at", _TS),
            ("request_id", pa.string()),
            ("status", pa.string()),
            ("latency_ms", pa.float64()),
            *order_fields,  # starts with order_id
            *REQUEST_TIME_FIELDS,
            ("p_late", pa.float64()),
            ("expected_hours", pa.float64()),
            ("p90_hours", pa.float64()),
            ("risk_level", pa.string()),
            ("top_reason_group", pa.string()),
            ("value_index", pa.float64()),
            ("tier", pa.string()),
            *[(f"quadrant_{q}", pa.float64()) for q in QUADRANTS],
            *[(f"dim_{name}", pa.float64()) for name in DIMENSION_NAMES],
            ("actions_fired", pa.string()),
            ("actions_suppressed", pa.string()),
            ("actions_suggested", pa.string()),
            ("degraded", pa.string()),
            ("model_versions", pa.string()),
        ]
    )


def read_prediction_log(
    settings: Settings, *, start: date | None = None, end: date | None = None
) -> pd.DataFrame:
    """The prediction log as one frame, one row per predicted order, oldest first.

    Args:
        settings: where the log lives (``settings.prediction_log_dir``).
        start, end: optional first and last day (UTC, inclusive).

    Returns:
        A frame with the columns of :func:`log_schema` (empty, with those columns, if nothing
        was logged yet).
    """
    root = settings.prediction_log_dir
    tables = []
    for day_dir in sorted(root.glob("date=*")) if root.is_dir() else []:
        day = date.fromisoformat(day_dir.name.removeprefix("date="))
        if (start and day < start) or (end and day > end):
            continue
        tables.extend(pq.read_table(f, schema=log_schema()) for f in day_dir.glob("part-*.parquet"))
    table = pa.concat_tables(tables) if tables else log_schema().empty_table()
    frame = table.to_pandas()
    return frame.sort_values("logged_at", kind="stable").reset_index(drop=True)


@functools.cache
def suggestions_schema() -> pa.Schema:
    """The columns of the suggestions snapshot (one row per suggested action)."""
    return pa.schema(
        [
            ("suggestion_id", pa.string()),
            ("order_id", pa.string()),
            ("action", pa.string()),
            ("rule", pa.string()),
            ("params", pa.string()),  # JSON
            ("reason", pa.string()),
            ("tier", pa.string()),
            ("status", pa.string()),  # SUGGESTION_STATUSES, as of snapshot_at
            ("created_at", _TS),
            ("expires_at", _TS),
            ("decided_at", _TS),
            ("decided_by", pa.string()),
            ("decision_reason", pa.string()),
            ("snapshot_at", _TS),
        ]
    )


def read_suggestions(settings: Settings, *, now: datetime | None = None) -> pd.DataFrame:
    """The latest snapshot of suggested actions (``settings.suggestions_path``), oldest first.

    The service rewrites it every ``serving.log_flush_seconds`` while it runs. A suggestion still
    ``pending`` in the snapshot whose ``expires_at`` has passed since is returned as ``expired``.

    Returns:
        A frame with the columns of :func:`suggestions_schema` (empty if there is none yet).
    """
    path = settings.suggestions_path
    if path.is_file():
        table = pq.read_table(path, schema=suggestions_schema())
    else:
        table = suggestions_schema().empty_table()
    frame = table.to_pandas()
    moment = pd.Timestamp(now) if now is not None else pd.Timestamp.now(tz="UTC")
    lapsed = (frame["status"] == "pending") & (frame["expires_at"] <= moment)
    frame.loc[lapsed, "status"] = "expired"
    return frame.sort_values("created_at", kind="stable").reset_index(drop=True)
