"""Ticket signals aggregated per order or per customer *as of* a time (point-in-time honest).

Pure DataFrame functions. :func:`ticket_history` is the cumulative table (one row per entity per
ticket, stamped with the ticket's ``created_at``): exactly what a Feast feature view over ticket
signals needs. :func:`ticket_aggregates_asof` joins it to any (entity, timestamp) rows with
``merge_asof``, so only tickets created at or before each timestamp count.

The labels are whatever the signals carry — the user's own label names, one ``label_<name>``
probability column each (``intent_<name>`` in signals written before labels were the user's) —
so the count columns are ``tickets_<slug of name>`` and follow the trained label set.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from features.transforms.performance import with_expiries

NEGATIVE_SENTIMENT = -0.2
"""A ticket with sentiment below this counts as negative (signals without ``p_negative``)."""
NEGATIVE_PROBABILITY = 0.5
"""A ticket whose ``p_negative`` reaches this counts as negative."""
LABEL_PREFIXES = ("label_", "intent_")
"""Probability columns of a label in a signals table (``intent_`` in older tables)."""
TAIL_COLUMNS = ("last_urgency", "negative_share", "hours_since_last_ticket")


def label_columns(signals: pd.DataFrame) -> dict[str, str]:
    """``{label name: its probability column}`` of a signals table."""
    found: dict[str, str] = {}
    for column in signals.columns:
        for prefix in LABEL_PREFIXES:
            if column.startswith(prefix):
                found.setdefault(column[len(prefix) :], column)
    return found


def count_columns(signals: pd.DataFrame) -> tuple[str, ...]:
    """``tickets`` then ``tickets_<slug>`` per label of a signals table."""
    return ("tickets", *(f"tickets_{_slug(name)}" for name in label_columns(signals)))


def aggregate_columns(signals: pd.DataFrame) -> tuple[str, ...]:
    """The columns :func:`ticket_aggregates_asof` adds for a signals table."""
    return (*count_columns(signals), *TAIL_COLUMNS)


def _slug(name: str) -> str:
    # The label as part of a feature name: lower case, anything but letters/digits -> "_".
    return re.sub(r"[^\w]+", "_", name.strip().lower()).strip("_") or "label"


def _about(signals: pd.DataFrame, name: str, column: str, threshold: float) -> pd.Series:
    # A ticket is about a label when the scorer's decision says so (``labels``, which also
    # applies "at least the most likely label"), else when its probability reaches threshold.
    if "labels" in signals.columns:
        names = signals["labels"].fillna("").astype(str).str.split("|")
        return names.map(lambda ls: name in ls)
    return signals[column] >= threshold


def ticket_history(signals: pd.DataFrame, key: str, *, threshold: float = 0.5) -> pd.DataFrame:
    """Cumulative ticket aggregates per ``key`` after each ticket.

    Args:
        signals: output of :func:`nlp.extract.extract_signals` (needs ``key``, ``created_at``,
            ``label_<name>`` per label, ``urgency``, and ``p_negative`` or ``sentiment``).
        key: ``order_id`` or ``customer_id``.
        threshold: label probability counted as a ticket about that label (signals without a
            ``labels`` column).

    Returns:
        Columns ``key``, ``created_at`` (the ticket time: the row's event timestamp),
        ``tickets``, ``tickets_<label>``, ``negative_tickets``, ``last_urgency``,
        ``last_ticket_at``; sorted by ``created_at``. Several tickets of one entity at the same
        instant collapse into one row holding the totals after all of them.
    """
    frame, counts = _ticket_events(signals, key, threshold)
    frame = frame.sort_values([key, "created_at"], kind="stable")
    frame[counts] = frame.groupby(key, sort=False)[counts].cumsum()
    frame = frame.rename(columns={"urgency": "last_urgency"})
    frame["last_ticket_at"] = frame["created_at"]
    frame = frame.drop_duplicates([key, "created_at"], keep="last")
    columns = [key, "created_at", *counts, "last_urgency", "last_ticket_at"]
    return frame[columns].sort_values("created_at", kind="stable").reset_index(drop=True)


def windowed_ticket_history(
    signals: pd.DataFrame, key: str, days: int, *, threshold: float = 0.5
) -> pd.DataFrame:
    """Ticket counts per ``key`` over the last ``days`` days, exact at every moment.

    A count over the whole history grows with the shop's age (a disguised clock); over a window
    it says how much a customer writes *now*. A windowed count also falls when a ticket leaves
    the window with no new ticket, so each ticket gets an expiry row stamped when it leaves
    (:func:`features.transforms.performance.with_expiries`, as the customer history does):
    the latest row at or before any moment holds the counts over the window ending then.
    Expiries after the newest ticket of the data are not written (the next build writes them).

    Returns:
        ``key``, ``created_at`` (the row's event timestamp: a ticket, or a ticket leaving the
        window), ``<count>_<days>d`` for ``tickets``, ``tickets_<label>`` and
        ``negative_tickets``, and ``last_urgency`` (of the customer's latest ticket, in the
        window or not); sorted by ``created_at``, one row per key and instant.
    """
    events, counts = _ticket_events(signals, key, threshold)
    window = f"{days}d"
    frame = with_expiries(events.rename(columns={"created_at": "t"}), counts, {window: days})
    frame = frame.sort_values([key, "t"], kind="stable")
    # Expiry rows count no ticket: the urgency they carry is the latest real ticket's.
    frame["urgency"] = frame["urgency"].where(frame["tickets"] == 1)
    frame["urgency"] = frame.groupby(key, sort=False)["urgency"].ffill()
    windowed = [f"{c}_{window}" for c in counts]
    # Integer sums of +1 and -1: rounding keeps an emptied window at exactly 0.
    sums = frame.groupby(key, sort=False)[windowed].cumsum().round(9).astype("int64")
    out = pd.concat(
        [frame[[key, "t"]].rename(columns={"t": "created_at"}), sums, frame[["urgency"]]],
        axis=1,
    ).rename(columns={"urgency": "last_urgency"})
    out = out.drop_duplicates([key, "created_at"], keep="last")
    return out.sort_values("created_at", kind="stable").reset_index(drop=True)


def _ticket_events(
    signals: pd.DataFrame, key: str, threshold: float
) -> tuple[pd.DataFrame, list[str]]:
    """One row per ticket with a ``key``: ``key``, ``created_at`` (UTC), ``urgency`` and the
    0/1 count columns (``tickets``, ``tickets_<label>``, ``negative_tickets``, returned as the
    second item), in the signals' order (each history sorts what it adds to)."""
    signals = signals.loc[signals[key].notna()]
    frame = signals[[key, "created_at", "urgency"]].copy()
    frame["created_at"] = _utc_ns(frame["created_at"])
    frame["tickets"] = 1
    for name, column in label_columns(signals).items():
        frame[f"tickets_{_slug(name)}"] = _about(signals, name, column, threshold).astype(int)
    if "p_negative" in signals.columns:
        negative = signals["p_negative"] >= NEGATIVE_PROBABILITY
    else:
        negative = signals["sentiment"] < NEGATIVE_SENTIMENT
    frame["negative_tickets"] = negative.astype(int)
    counts = [*count_columns(signals), "negative_tickets"]
    return frame, counts


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
        ``entities`` (same rows, same order) plus :func:`aggregate_columns`: counts (0 with no
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
    for column in (*count_columns(signals), "negative_tickets"):
        merged[column] = merged[column].fillna(0).astype(int)
    merged["negative_share"] = merged["negative_tickets"] / merged["tickets"].where(
        merged["tickets"] > 0
    )
    merged["hours_since_last_ticket"] = (
        merged["_asof"] - merged["last_ticket_at"]
    ).dt.total_seconds() / 3600
    merged = merged.sort_values("_row").set_index(entities.index)
    return merged[[*entities.columns, *aggregate_columns(signals)]]


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
