"""Ticket signals per order and per customer, from the NLP stage's signals table."""

from __future__ import annotations

import pandas as pd

from features.transforms.ticket_history import ticket_history, windowed_ticket_history

CUSTOMER_TICKET_WINDOW_DAYS = 365
"""A customer's ticket counts are over the last year, as the customer history's: counted over the
whole history they grow with the shop's age (a disguised clock). An order's tickets need no
window: an order lives for days."""


def ticket_signals(
    signals: pd.DataFrame, key: str, prefix: str, *, window_days: int | None = None
) -> pd.DataFrame:
    """Ticket counts by label (the trained label set, whatever its names), negative tickets and
    the last urgency per ``key``, stamped at each ticket's ``created_at`` (one implementation:
    :mod:`features.transforms.ticket_history`). The signals say which model answered each
    ticket (``model``: a trained pipeline, the language-agnostic one, or the untrained rules);
    the counts are the same whichever did.

    Args:
        signals: the output of ``orderlens nlp extract``.
        key: ``order_id`` or ``customer_id``.
        prefix: column prefix (``tkt_`` for orders, ``cust_tkt_`` for customers).
        window_days: count over the last this many days (columns ``…_<days>d``, with rows where
            a ticket leaves the window) instead of since the first ticket.
    """
    if window_days is None:
        history = ticket_history(signals, key).drop(columns=["last_ticket_at"])
    else:
        history = windowed_ticket_history(signals, key, window_days)
    history = history.rename(columns={"created_at": "event_timestamp"})
    features = [c for c in history.columns if c not in (key, "event_timestamp")]
    history = history.rename(columns={c: f"{prefix}{c}" for c in features})
    history["event_timestamp"] = history["event_timestamp"].astype("datetime64[us, UTC]")
    return history
