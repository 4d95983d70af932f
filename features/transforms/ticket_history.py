"""Ticket signals aggregated per order or per customer *as of* a time (point-in-time honest).

Pure DataFrame functions. :func:`ticket_history` is the cumulative table (one row per entity per
ticket, stamped with the ticket's ``created_at``): exactly what a Feast feature view over ticket
signals needs. :func:`ticket_aggregates_asof` joins it to any (entity, timestamp) rows with
``merge_asof``, so only tickets created at or before each timestamp count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from orderlens.intents import INTENT_NAMES

NEGATIVE_SENTIMENT = -0.2
"""A ticket with sentiment below this counts as negative."""

COUNT_COLUMNS = ("tickets", *(f"tickets_{name}" for name in INTENT_NAMES))
AGGREGATE_COLUMNS = (*COUNT_COLUMNS, "last_urgency", "negative_share", "hours_since_last_ticket")


def ticket_history(signals: pd.DataFrame, key: str, *, threshold: float = 0.5) -> pd.DataFrame:
    """Cumulative ticket aggregates per ``key`` after each ticket.

    Args:
        signals: output of :func:`nlp.extract.extract_signals` (needs ``key``, ``created_at``,
            ``intent_<name>``, ``urgency``, ``sentiment``).
        key: ``order_id`` or ``customer_id``.
        threshold: intent probability counted as a ticket about that intent.

    Returns:
        Columns ``key``, ``created_at`` (the ticket time: the row's event timestamp),
        ``tickets``, ``tickets_<intent>``, ``negative_tickets``, ``last_urgency``,
        ``last_ticket_at``; sorted by ``created_at``. Several tickets of one entity at the same
        instant collapse into one row holding the totals after all of them.
    """
    frame = signals.loc[signals[key].notna(), [key, "created_at", "urgency", "sentiment"]].copy()
    frame["created_at"] = _utc_ns(frame["created_at"])
    frame["tickets"] = 1
    for name in INTENT_NAMES:
        frame[f"tickets_{name}"] = (signals.loc[frame.index, f"intent_{name}"] >= threshold).astype(
            int
        )
    frame["negative_tickets"] = (frame["sentiment"] < NEGATIVE_SENTIMENT).astype(int)
    frame = frame.sort_values([key, "created_at"], kind="stable")
    counts = [*COUNT_COLUMNS, "negative_tickets"]
    frame[counts] = frame.groupby(key, sort=False)[counts].cumsum()
    frame = frame.rename(columns={"urgency": "last_urgency"})
    frame["last_ticket_at"] = frame["created_at"]
    frame = frame.drop_duplicates([key, "created_at"], keep="last")
    columns = [key, "created_at", *counts, "last_urgency", "last_ticket_at"]
    return frame[columns].sort_values("created_at", kind="stable").reset_index(drop=True)


def ticket_aggregates_asof(
    signals: pd.DataFrame,
    entities: pd.DataFrame,
    key: str,
    *,
    timestamp: str = "event_timestamp",
    threshold: float = 0.5,
) -> pd.DataFrame:
    """Ticket aggregates for each (entity, time) row, counting only tickets created ≤ that time.

    Args:
        signals: ticket signals (see :func:`ticket_history`).
        entities: rows with ``key`` and ``timestamp`` (e.g. orders and a prediction time).
        key: ``order_id`` or ``customer_id``.
        timestamp: the as-of column of ``entities``.
        threshold: intent probability counted as a ticket about that intent.

    Returns:
        ``entities`` (same rows, same order) plus :data:`AGGREGATE_COLUMNS`: counts (0 with no
        ticket yet), ``last_urgency`` and ``negative_share`` (NaN with no ticket yet) and
        ``hours_since_last_ticket`` (NaN with no ticket yet).
    """
    history = ticket_history(signals, key, threshold=threshold)
    left = entities.copy()
    left["_row"] = np.arange(len(left))
    left["_asof"] = _utc_ns(left[timestamp])
    left = left.sort_values("_asof", kind="stable")
    merged = pd.merge_asof(
        left,
        history.rename(columns={"created_at": "_ticket_at"}),
        left_on="_asof",
        right_on="_ticket_at",
        by=key,
        direction="backward",
        allow_exact_matches=True,
    )
    for column in (*COUNT_COLUMNS, "negative_tickets"):
        merged[column] = merged[column].fillna(0).astype(int)
    merged["negative_share"] = merged["negative_tickets"] / merged["tickets"].where(
        merged["tickets"] > 0
    )
    merged["hours_since_last_ticket"] = (
        merged["_asof"] - merged["last_ticket_at"]
    ).dt.total_seconds() / 3600
    merged = merged.sort_values("_row").set_index(entities.index)
    return merged[[*entities.columns, *AGGREGATE_COLUMNS]]


def ticket_aggregates_at(signals: pd.DataFrame, as_of: pd.Timestamp, key: str) -> pd.DataFrame:
    """Aggregates for every ``key`` that has a ticket created ≤ ``as_of``: one row per entity."""
    as_of = pd.Timestamp(as_of)
    as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of.tz_convert("UTC")
    seen = signals[pd.to_datetime(signals["created_at"], utc=True) <= as_of]
    entities = pd.DataFrame({key: seen[key].dropna().unique()})
    entities["event_timestamp"] = as_of
    return ticket_aggregates_asof(signals, entities, key)


def _utc_ns(values: pd.Series) -> pd.Series:
    # merge_asof refuses to join timestamps of different resolutions (s vs ns): normalise both.
    return pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")
