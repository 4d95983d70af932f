"""The ``tracking`` source table: carrier scans read off a realised :class:`Timeline`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from orderlens import vocab
from orderlens.vocab import EXCEPTION_CODES
from simulator import geography as geo
from simulator.delivery import EVENTS, INCIDENT_CODES, Plan, Timeline
from simulator.weather import to_timestamp


def tracking_table(
    order_id: np.ndarray, carrier_id: np.ndarray, plan: Plan, timeline: Timeline, start_us: int
) -> pd.DataFrame:
    """One row per scan, grouped by order and in route order within an order.

    The timeline's columns are already in route order and increasing in time, so flattening the
    (orders × events) matrix row by row and dropping events that did not happen gives the table
    without a sort.
    """
    n, n_events = timeline.times.shape
    # Hubs and exception codes as small integer matrices, mapped to names only for the rows kept.
    n_cities = len(geo.CITY_NAMES)
    hub_names = np.array(
        [f"HUB-{c}" for c in geo.CITY_NAMES] + [f"DST-{c}" for c in geo.CITY_NAMES] + [None],
        dtype=object,
    )
    none = np.full(n, 2 * n_cities, dtype=np.int16)
    hub1 = plan.hub1.astype(np.int16)
    hub2 = np.where(plan.hub2 >= 0, plan.hub2, 2 * n_cities).astype(np.int16)
    dest = (n_cities + plan.slot_city[2]).astype(np.int16)
    hubs = [none, none, none, none, hub1, hub1, hub1, hub1, hub2, hub2, dest, dest, dest,
            none, none, none, none]  # fmt: skip
    code_names = np.array([*EXCEPTION_CODES, None], dtype=object)
    missing = len(EXCEPTION_CODES)
    incident_code = np.array(
        [EXCEPTION_CODES.index(c) for c in (*INCIDENT_CODES, "hub_backlog")], dtype=np.int8
    )[timeline.hub_code]
    codes = []
    for _, code in EVENTS:
        if code == "hub":
            codes.append(incident_code)
        else:
            codes.append(np.full(n, EXCEPTION_CODES.index(code) if code else missing, np.int8))
    present = ~np.isnan(timeline.times)
    flat = present.ravel()
    rows = np.repeat(np.arange(n), n_events)[flat]
    event_names = np.array(vocab.TRACKING_EVENTS, dtype=object)
    event_code = np.array([vocab.TRACKING_EVENTS.index(e) for e, _ in EVENTS], dtype=np.int8)
    return pd.DataFrame(
        {
            "order_id": order_id[rows],
            "carrier_id": carrier_id[rows],
            "event_time": to_timestamp(timeline.times.ravel()[flat], start_us),
            "event_type": event_names[np.tile(event_code, n)[flat]],
            "hub": hub_names[np.column_stack(hubs).ravel()[flat]],
            "exception_code": code_names[np.column_stack(codes).ravel()[flat]],
        }
    )
