"""Ticket signals per order and per customer, from the NLP stage's signals table."""

from __future__ import annotations

import pandas as pd

from features.transforms.ticket_history import ticket_history


def ticket_signals(signals: pd.DataFrame, key: str, prefix: str) -> pd.DataFrame:
    """Cumulative ticket counts by label (the trained label set, whatever its names), negative
    tickets and the last urgency per ``key``, stamped at each ticket's ``created_at`` (one
    implementation: :func:`features.transforms.ticket_history.ticket_history`). The signals say
    which model answered each ticket (``model``: a trained pipeline, the language-agnostic one,
    or the untrained rules); the counts are the same whichever did.

    Args:
        signals: the output of ``orderlens nlp extract``.
        key: ``order_id`` or ``customer_id``.
        prefix: column prefix (``tkt_`` for orders, ``cust_tkt_`` for customers).
    """
    history = ticket_history(signals, key).drop(columns=["last_ticket_at"])
    history = history.rename(columns={"created_at": "event_timestamp"})
    features = [c for c in history.columns if c not in (key, "event_timestamp")]
    history = history.rename(columns={c: f"{prefix}{c}" for c in features})
    history["event_timestamp"] = history["event_timestamp"].astype("datetime64[us, UTC]")
    return history
