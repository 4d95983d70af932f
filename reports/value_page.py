"""The value attribution page: which channel, category, region and carrier create which value.

The manager's question is "which channel brings the repeat purchases, which category the margin".
For each segment the page sets its share of orders against its share of each realised value
dimension and quadrant (a segment whose share of margin exceeds its share of orders creates more
margin than its volume), shows the average realised value per order, quadrant radar charts for the
portfolio, the segments and single orders, and the predicted value mix of served orders.
"""

from __future__ import annotations

import pandas as pd

from orderlens.dimensions import DIMENSIONS, QUADRANTS
from orderlens.records import TIERS
from reports import html
from reports.data import SEGMENTS, ReportInputs

QUADRANT_SCORES = [f"quadrant_{q}" for q in QUADRANTS]
KEY_DIMENSIONS = ("gross_margin", "repeat_purchase_90d", "ltv_uplift", "satisfaction")
"""The dimensions charted beside the quadrants (the rest are in the tables)."""


def attribution(realised: pd.DataFrame, segment: str) -> pd.DataFrame:
    """Share of orders and of each value a segment accounts for.

    Args:
        realised: :attr:`reports.data.ReportInputs.realised` (one row per order with outcomes).
        segment: the column to split by (``channel``, ``category``, ``region``, ``carrier_id``).

    Returns:
        One row per segment value, largest first: ``orders``, ``share_orders`` and
        ``share_<dimension>`` (its sum of the realised value over the total: for a yes/no
        dimension, its share of the yeses; for a cost, its share of the cost) and
        ``share_quadrant_<q>`` (its share of the quadrant's score points). Every share column
        sums to 1 over the segments.
    """
    columns = [d.name for d in DIMENSIONS] + QUADRANT_SCORES
    grouped = realised.groupby(segment, observed=True)
    sums = grouped[columns].sum(min_count=1)
    totals = realised[columns].sum(min_count=1)
    shares = sums / totals.where(totals.abs() > 1e-12)
    frame = pd.DataFrame({"orders": grouped.size()})
    frame["share_orders"] = frame["orders"] / len(realised)
    frame = frame.join(shares.add_prefix("share_"))
    return frame.sort_values("orders", ascending=False)


def average_value(realised: pd.DataFrame, segment: str) -> pd.DataFrame:
    """Mean realised value per order of each dimension (in its own units), by segment."""
    names = [d.name for d in DIMENSIONS]
    return realised.groupby(segment, observed=True)[names].mean()


def predicted_mix(predictions: pd.DataFrame, segment: str) -> pd.DataFrame:
    """Served orders by segment: count, mean value index and quadrant scores, and the share of
    each tier (tier shares sum to 1 per segment)."""
    grouped = predictions.groupby(segment, observed=True)
    frame = pd.DataFrame({"orders": grouped.size(), "value_index": grouped["value_index"].mean()})
    frame = frame.join(grouped[QUADRANT_SCORES].mean())
    tiers = pd.crosstab(predictions[segment], predictions["tier"], normalize="index")
    return frame.join(tiers.reindex(columns=list(TIERS), fill_value=0.0)).sort_values(
        "orders", ascending=False
    )


def _share_section(realised: pd.DataFrame, segment: str, label: str) -> str:
    table = attribution(realised, segment)
    names = [*QUADRANT_SCORES, *(d.name for d in DIMENSIONS)]
    header = [label, "orders", "share of orders", *(n.removeprefix("quadrant_") for n in names)]
    rows, colours = [], []
    for value, row in table.iterrows():
        shares = [row[f"share_{n}"] for n in names]
        rows.append(
            [
                value,
                f"{int(row['orders']):,}",
                html.pct(row["share_orders"]),
                *map(html.pct, shares),
            ]
        )
        lifts = [s / row["share_orders"] if row["share_orders"] else None for s in shares]
        colours.append([None, None, None, *map(html.lift_colour, lifts)])
    labels = [str(v) for v in table.index]
    quadrant_chart = html.bar_chart(
        labels,
        {"orders": table["share_orders"].tolist()}
        | {q: table[f"share_quadrant_{q}"].tolist() for q in QUADRANTS},
        title=f"Share of orders vs share of quadrant value, by {label}",
    )
    key_chart = html.bar_chart(
        labels,
        {"orders": table["share_orders"].tolist()}
        | {d: table[f"share_{d}"].tolist() for d in KEY_DIMENSIONS},
        title=f"Share of orders vs share of key dimensions, by {label}",
    )
    average = average_value(realised, segment).loc[table.index]
    mean_rows = [[v, *(html.num(x) for x in r)] for v, r in average.iterrows()]
    return html.section(
        f"By {label}",
        f"<div class='charts'>{quadrant_chart}{key_chart}</div>",
        "<h3>Share of each value (green: more than the share of orders, red: less)</h3>",
        html.table(header, rows, colours=colours),
        "<h3>Average realised value per order</h3>",
        html.table([label, *(d.name for d in DIMENSIONS)], mean_rows),
        note=(
            "Quadrant shares are shares of 0–100 score points (dimensions in different units "
            "cannot be added); dimension shares are shares of the realised amount or count."
        ),
    )


def _radar_section(inputs: ReportInputs) -> str:
    realised, predictions, labelled = inputs.realised, inputs.predictions, inputs.labelled
    axes = list(QUADRANTS)
    charts = []
    if not predictions.empty:
        series = {"predicted": predictions[QUADRANT_SCORES].mean().tolist()}
        if not labelled.empty:
            realised_q = _quadrants_of(labelled)
            series["realised"] = realised_q.mean().tolist()
        charts.append(html.radar_chart(axes, series, title="Portfolio: served orders"))
    if not realised.empty:
        by_channel = realised.groupby("channel", observed=True)[QUADRANT_SCORES].mean()
        for channel, row in by_channel.iterrows():
            charts.append(
                html.radar_chart(
                    axes, {str(channel): row.tolist(), "all orders": [50.0] * 4},
                    title=f"Channel: {channel}", size=240,
                )
            )  # fmt: skip
    singles = []
    if not predictions.empty:
        ranked = predictions.sort_values("value_index")
        picks = pd.concat([ranked.tail(3).iloc[::-1], ranked.head(2)])
        realised_by_id = (
            _quadrants_of(labelled).set_axis(labelled["order_id"]) if not labelled.empty else None
        )
        for _, order in picks.iterrows():
            series = {"predicted": order[QUADRANT_SCORES].astype(float).tolist()}
            if realised_by_id is not None and order["order_id"] in realised_by_id.index:
                series["realised"] = realised_by_id.loc[order["order_id"]].tolist()
            title = f"{order['order_id']} · {order['tier']} · index {order['value_index']:.0f}"
            singles.append(html.radar_chart(axes, series, title=title, size=240))
    return html.section(
        "Quadrant radar charts",
        f"<div class='charts'>{''.join(charts)}</div>",
        "<h3>Single orders: the highest and lowest value index served</h3>" if singles else "",
        f"<div class='charts'>{''.join(singles)}</div>",
        note="0–100 scores; 50 is the median order. Realised scores rank each order's outcome "
        "among all delivered orders.",
    )


def _quadrants_of(labelled: pd.DataFrame) -> pd.DataFrame:
    """Realised quadrant scores of labelled orders (mean of their dimensions' scores)."""
    return pd.DataFrame(
        {
            q: labelled[[f"score_{d.name}" for d in DIMENSIONS if d.quadrant == q]].mean(axis=1)
            for q in QUADRANTS
        }
    )


def _predicted_section(predictions: pd.DataFrame) -> str:
    parts = []
    for segment, label in SEGMENTS.items():
        mix = predicted_mix(predictions, segment)
        rows = [
            [v, f"{int(r['orders']):,}", html.num(r["value_index"], 1),
             *(html.num(r[c], 1) for c in QUADRANT_SCORES), *(html.pct(r[t]) for t in TIERS)]
            for v, r in mix.iterrows()
        ]  # fmt: skip
        header = [label, "orders", "value index", *QUADRANTS, *TIERS]
        parts.append(f"<h3>By {label}</h3>" + html.table(header, rows))
    return html.section(
        "Predicted value of served orders (prediction log)",
        *parts,
        note="Mean scores and tier mix of each order's latest prediction; tier shares add to 100%.",
    )


def _drivers_section(drivers: pd.DataFrame | None) -> str:
    if drivers is None or drivers.empty:
        return html.section(
            "Top drivers",
            note="SHAP drivers appear here once a trained champion model is registered.",
        )
    header = ["dimension", *drivers.columns]
    rows = [[name, *(html.num(v, 1) for v in row)] for name, row in drivers.iterrows()]
    return html.section(
        "Top drivers (mean |SHAP| by reason group, points of score)",
        html.table(header, rows),
    )


def build(inputs: ReportInputs, path, drivers: pd.DataFrame | None = None) -> str:
    """Write the page; returns its one-line description.

    Args:
        drivers: optional mean |SHAP| per dimension (rows) and reason group (columns), from the
            champion's metrics; None leaves the section saying it is not available yet.
    """
    from reports.evidently_pages import NotBuilt

    realised = inputs.realised
    if realised.empty and inputs.predictions.empty:
        raise NotBuilt("no orders with outcomes and no prediction log yet")
    sections = []
    if not realised.empty:
        sections.append(
            html.tiles(
                {
                    "orders with realised value": f"{len(realised):,}",
                    "channels": str(realised["channel"].nunique()),
                    "categories": str(realised["category"].nunique()),
                    "regions": str(realised["region"].nunique()),
                    "carriers": str(realised["carrier_id"].nunique()),
                }
            )
        )
        sections += [_share_section(realised, seg, label) for seg, label in SEGMENTS.items()]
    sections.append(_radar_section(inputs))
    if not inputs.predictions.empty:
        sections.append(_predicted_section(inputs.predictions))
    sections.append(_drivers_section(drivers))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        html.page(
            "Value attribution", "Which segments create which of the 19 value dimensions", sections
        ),
        encoding="utf-8",
    )
    return (
        f"Value attribution by channel, category, region and carrier over {len(realised):,} "
        f"delivered orders; quadrant radars; predicted value mix of {len(inputs.predictions):,} served orders."
    )
