"""As-of aggregates: a ticket after the as-of time is never counted."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.transforms.ticket_history import ticket_aggregates_asof, ticket_aggregates_at
from orderlens.intents import INTENT_NAMES


def _signals() -> pd.DataFrame:
    rows = [
        # order, customer, created_at, intent, urgency, sentiment
        ("O1", "C1", "2025-03-01 10:00", "where_is_my_order", 0.2, 0.0),
        ("O1", "C1", "2025-03-02 10:00", "delay_complaint", 0.8, -0.6),
        ("O2", "C1", "2025-03-03 10:00", "praise", 0.0, 0.7),
        ("O3", "C2", "2025-03-01 12:00", "refund_request", 0.5, -0.4),
    ]
    frame = pd.DataFrame(
        rows, columns=["order_id", "customer_id", "created_at", "intent", "urgency", "sentiment"]
    )
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    for name in INTENT_NAMES:
        frame[f"intent_{name}"] = np.where(frame["intent"] == name, 0.9, 0.05)
    return frame.drop(columns="intent")


def test_ticket_after_t_is_not_counted():
    entities = pd.DataFrame(
        {
            "order_id": ["O1", "O1", "O1", "O2", "O9"],
            "event_timestamp": pd.to_datetime(
                [
                    "2025-03-01 09:00",
                    "2025-03-01 10:00",
                    "2025-03-02 09:59",
                    "2025-03-04 00:00",
                    "2025-03-04 00:00",
                ],
                utc=True,
            ),
        }
    )
    out = ticket_aggregates_asof(_signals(), entities, "order_id")
    assert out["tickets"].tolist() == [0, 1, 1, 1, 0]
    assert out["tickets_delay_complaint"].tolist() == [0, 0, 0, 0, 0]
    assert out["tickets_where_is_my_order"].tolist() == [0, 1, 1, 0, 0]
    assert np.isnan(out.loc[0, "last_urgency"]) and out.loc[2, "last_urgency"] == 0.2
    assert out.loc[1, "hours_since_last_ticket"] == 0
    assert abs(out.loc[2, "hours_since_last_ticket"] - (23 + 59 / 60)) < 1e-9
    assert np.isnan(out.loc[4, "hours_since_last_ticket"])


def test_customer_aggregates_keep_input_order_and_count_negatives():
    entities = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C1"],
            "event_timestamp": pd.to_datetime(
                ["2025-03-05 00:00", "2025-03-05 00:00", "2025-03-02 12:00"], utc=True
            ),
        },
        index=[10, 11, 12],
    )
    out = ticket_aggregates_asof(_signals(), entities, "customer_id")
    assert out.index.tolist() == [10, 11, 12]
    assert out["tickets"].tolist() == [3, 1, 2]
    assert out.loc[10, "negative_share"] == 1 / 3
    assert out.loc[12, "negative_share"] == 0.5
    assert out.loc[10, "last_urgency"] == 0.0


def test_aggregates_at_a_single_time():
    out = ticket_aggregates_at(_signals(), pd.Timestamp("2025-03-01 11:00"), "customer_id")
    assert out.set_index("customer_id")["tickets"].to_dict() == {"C1": 1}


def test_counts_follow_the_users_label_names():
    # Signals of a version trained on a shop's own labels: the counts are named after them and
    # follow the scorer's decision (``labels``), and p_negative decides a negative ticket.
    from features.transforms.tickets import ticket_signals

    signals = pd.DataFrame(
        {
            "order_id": ["O1", "O1", "O2"],
            "customer_id": ["C1", "C1", "C2"],
            "created_at": pd.to_datetime(["2025-03-01", "2025-03-02", "2025-03-01"], utc=True),
            "label_Late delivery!": [0.9, 0.3, 0.1],
            "label_money back": [0.1, 0.45, 0.2],
            "labels": ["Late delivery!", "money back", ""],
            "p_negative": [0.8, 0.4, np.nan],
            "sentiment": [-0.6, 0.2, 0.0],
            "urgency": [0.5, 0.1, 0.0],
            "model": ["v1/en", "v1/xx", "rules"],
        }
    )
    history = ticket_signals(signals, "order_id", "tkt_").set_index(["order_id", "event_timestamp"])
    assert list(history.columns) == [
        "tkt_tickets",
        "tkt_tickets_late_delivery",
        "tkt_tickets_money_back",
        "tkt_negative_tickets",
        "tkt_last_urgency",
    ]
    last = history.loc["O1"].iloc[-1]
    assert (last["tkt_tickets"], last["tkt_tickets_late_delivery"]) == (2, 1)
    assert (last["tkt_tickets_money_back"], last["tkt_negative_tickets"]) == (1, 1)
    assert history.loc["O2"].iloc[-1]["tkt_negative_tickets"] == 0


def test_customer_ticket_counts_are_over_the_last_year_exact_at_every_moment():
    """A customer's counts fall when a ticket leaves the 365-day window, with no new ticket (an
    expiry row), and never count a ticket from more than a year before."""
    from features.store import VIEW_BUILDERS
    from features.transforms.tickets import CUSTOMER_TICKET_WINDOW_DAYS

    signals = pd.DataFrame(
        {
            "order_id": ["O1", "O2", "O3", "O4", "O5"],
            "customer_id": ["C1", "C1", "C1", "C2", "C2"],
            "created_at": pd.to_datetime(
                [
                    "2025-01-01 10:00",
                    "2025-06-01 10:00",
                    "2026-03-01 10:00",
                    "2025-02-01 00:00",
                    "2026-12-01 00:00",
                ],
                utc=True,
            ),
            "urgency": [0.2, 0.5, 0.9, 0.1, 0.3],
            "sentiment": [-0.6, 0.3, -0.5, 0.5, 0.5],
            "label_late": [0.9, 0.1, 0.9, 0.1, 0.1],
        }
    )
    assert CUSTOMER_TICKET_WINDOW_DAYS == 365
    frame = VIEW_BUILDERS["customer_tickets"]({"ticket_signals": signals})
    c1 = frame[frame["customer_id"] == "C1"].set_index("event_timestamp")
    counts = c1[["cust_tkt_tickets_365d", "cust_tkt_tickets_late_365d"]]
    assert counts.to_numpy().tolist() == [[1, 1], [2, 1], [1, 0], [2, 1], [1, 1]]
    # The rows where a ticket left: a year after it, at the same time of day.
    assert c1.index[2] == pd.Timestamp("2026-01-01 10:00", tz="UTC")
    assert c1.index[4] == pd.Timestamp("2026-06-01 10:00", tz="UTC")
    # The last urgency is the latest ticket's, in the window or not.
    assert c1["cust_tkt_last_urgency"].tolist() == [0.2, 0.5, 0.5, 0.9, 0.9]
    c2 = frame[frame["customer_id"] == "C2"]
    assert c2["cust_tkt_tickets_365d"].tolist() == [1, 0, 1]
    # Expiries after the newest ticket of the data are not written yet (O3 leaves in 2027).
    assert frame["event_timestamp"].max() == pd.Timestamp("2026-12-01", tz="UTC")
