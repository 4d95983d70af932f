"""A tiny, hand-written set of source tables that satisfies every contract rule.

Tests mutate one row at a time to check that each rule catches what it should.
"""

from __future__ import annotations

import pandas as pd

from orderlens.intents import INTENT_NAMES

T0 = pd.Timestamp("2025-03-01 08:00", tz="UTC")


def hours(h: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=h)


def good_sources() -> dict[str, pd.DataFrame]:
    """Two orders with weather, a forecast, full tracking, a ticket and outcomes."""
    orders = pd.DataFrame(
        {
            "order_id": ["O1", "O2"],
            "customer_id": ["C1", "C2"],
            "created_at": [hours(0), hours(1)],
            "channel": ["app", "livestream"],
            "warehouse_id": ["WH-SH", "WH-GZ"],
            "dest_region": ["Zhengzhou", "Shenzhen"],
            "dest_lat": [34.75, 22.54],
            "dest_lon": [113.62, 114.06],
            "carrier_id": ["CR-1", "CR-2"],
            "service_level": ["standard", "express"],
            "promised_at": [hours(72), hours(49)],
            "n_items": [2, 1],
            "category": ["electronics", "home_appliances"],
            "order_value": [399.0, 2999.0],
            "discount": [20.0, 0.0],
            "freight_cost": [12.0, 40.0],
            "cogs": [250.0, 2100.0],
            "payment_method": ["alipay", "card"],
            "is_presale": [False, False],
            "needs_customization": [False, False],
            "cold_chain": [False, False],
            "has_gift": [True, False],
            "is_b2b": [False, False],
            "carried_extra": ["kept", "kept"],
        }
    )
    measures = {
        "precip_mm": [35.0, 0.0],
        "wind_kph": [20.0, 5.0],
        "temp_c": [18.0, 25.0],
        "alert_level": [3, 0],
        "alert_type": ["rainstorm", None],
    }
    weather = pd.DataFrame(
        {"city": ["Zhengzhou", "Shenzhen"], "observed_at": [hours(24), hours(24)], **measures}
    )
    forecasts = pd.DataFrame(
        {
            "city": ["Zhengzhou", "Shenzhen"],
            "issued_at": [hours(-2), hours(-2)],
            "valid_at": [hours(24), hours(24)],
            **measures,
        }
    )
    route = [
        ("created", 0),
        ("picked", 4),
        ("departed_origin", 8),
        ("arrived_hub", 14),
        ("departed_hub", 16),
        ("arrived_hub", 22),
        ("departed_hub", 24),
        ("exception", 25),
        ("arrived_dest_hub", 40),
        ("out_for_delivery", 60),
        ("delivered", 66),
    ]
    tracking = pd.DataFrame(
        {
            "order_id": "O1",
            "carrier_id": "CR-1",
            "event_time": [hours(h) for _, h in route],
            "event_type": [e for e, _ in route],
            "hub": [None, "WH-SH", "WH-SH", "H1", "H1", "H2", "H2", "H2", "ZZ", "ZZ", "ZZ"],
            "exception_code": [None] * 7 + ["weather_hold"] + [None] * 3,
        }
    )
    tickets = pd.DataFrame(
        {
            "ticket_id": ["T1", "T2"],
            "order_id": ["O1", None],
            "customer_id": ["C1", "C2"],
            "created_at": [hours(30), hours(2)],
            "channel": ["chat", "phone"],
            "text": ["Where is my order O1?", "你好，我想开发票"],
            "language": ["en", "zh"],
            "labels": ["where_is_my_order", "invoice_request"],
        }
    )
    outcomes = pd.DataFrame(
        {
            "order_id": ["O1", "O2"],
            "delivered_at": [hours(66), hours(45)],
            "delivery_attempts": [1, 2],
            "returned": [False, False],
            "exchanged": [False, True],
            "refunded_amount": [0.0, 0.0],
            "review_score": [4.0, None],
        }
    )
    return {
        "orders": orders,
        "weather": weather,
        "forecasts": forecasts,
        "tracking": tracking,
        "tickets": tickets,
        "outcomes": outcomes,
    }


def signals_from_labels(tickets: pd.DataFrame) -> pd.DataFrame:
    """A signals table shaped like ``orderlens nlp extract`` output, read off the tickets'
    labels — for testing the *feature* transformations; the NLP stage has its own tests."""
    frame = tickets[["ticket_id", "order_id", "customer_id", "created_at"]].copy()
    labels = tickets["labels"].fillna("")
    for name in INTENT_NAMES:
        frame[f"intent_{name}"] = labels.str.split("|").map(lambda ls, n=name: float(n in ls))
    frame["urgency"] = 0.5
    frame["sentiment"] = -0.5
    return frame


def write_sources(tables: dict[str, pd.DataFrame], folder, fmt: str = "parquet") -> None:
    """Write tables as ``<table>.parquet`` or ``<table>.csv`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if fmt == "csv":
            frame.to_csv(folder / f"{name}.csv", index=False)
        else:
            frame.to_parquet(folder / f"{name}.parquet", index=False)
