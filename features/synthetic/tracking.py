"""The ``tracking`` source table: carrier scans read off a realised :class:`Timeline`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.synthetic import geography as geo
from features.synthetic.delivery import EVENTS, INCIDENT_CODES, Plan, Timeline
from features.synthetic.weather import to_timestamp


def tracking_table(
    order_id: np.ndarray, carrier_id: np.ndarray, plan: Plan, timeline: Timeline, start_us: int
) -> pd.DataFrame:
    """One row per scan, grouped by order and in route order within an order.

    The timeline's columns are already in route order and increasing in time, so flattening the
    (orders × events) matrix row by row and dropping events that did not happen gives the table
    without a sort.
    """
    n, n_events = timeline.times.shape
    hub_names = np.array([f"HUB-{c}" for c in geo.CITY_NAMES] + [None], dtype=object)
    dest_names = np.array([f"DST-{c}" for c in geo.CITY_NAMES], dtype=object)
    none = np.full(n, None, dtype=object)
    hub1 = hub_names[plan.hub1]
    hub2 = hub_names[np.where(plan.hub2 >= 0, plan.hub2, -1)]
    dest = dest_names[plan.slot_city[2]]
    hubs = [none, none, none, none, hub1, hub1, hub1, hub1, hub2, hub2, dest, dest, dest,
            none, none, none, none]  # fmt: skip
    hub_code = np.array([*INCIDENT_CODES, "hub_backlog"], dtype=object)[timeline.hub_code]
    codes = []
    for column, (_, code) in enumerate(EVENTS):
        if code == "hub":
            codes.append(hub_code)
        else:
            codes.append(np.full(n, code, dtype=object) if code else none)
        del column
    present = ~np.isnan(timeline.times)
    flat = present.ravel()
    rows = np.repeat(np.arange(n), n_events)[flat]
    event_type = np.tile(np.array([e for e, _ in EVENTS], dtype=object), n)[flat]
    return pd.DataFrame(
        {
            "order_id": order_id[rows],
            "carrier_id": carrier_id[rows],
            "event_time": to_timestamp(timeline.times.ravel()[flat], start_us),
            "event_type": event_type,
            "hub": np.column_stack(hubs).ravel()[flat],
            "exception_code": np.column_stack(codes).ravel()[flat],
        }
    )
