"""The value attribution page: which channel, category, region and carrier create which value,
in the shop's currency, with intervals.

The manager's question is "which channel brings the repeat purchases, which category the margin,
and can I trust the difference". For each split the page gives every segment's realised
contribution per order in money with a 95 % interval, its parts (margin, repeat purchases,
service cost, ...), its share of all value against its share of orders, and names the segments
whose value differs from the rest beyond noise. On the champion's test window it sets the
predicted contribution beside the realised one, segment by segment. It shows which dimensions
have predictive skill ("no signal" otherwise, never a made-up score), quadrant radar charts and
the predicted value mix of served orders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from orderlens.dimensions import DIMENSIONS, QUADRANTS
from orderlens.records import TIERS
from reports import html
from reports.data import SEGMENTS, ReportInputs
from reports.value_stats import (
    customers_of,
    realised_vs_predicted,
    resample_weights,
    segment_means,
    share_findings,
)
from training.value import Money, realised_contribution

QUADRANT_SCORES = [f"quadrant_{q}" for q in QUADRANTS]
KEY_DIMENSIONS = ("gross_margin", "repeat_purchase_90d", "ltv_uplift", "satisfaction")
"""The dimensions charted beside the quadrants (the rest are in the tables)."""
SHARE_MEASURES = {
    "gross_margin": "gross margin",
    "repeat_purchase_90d": "repeat purchases",
    "cross_category_pull": "cross-category orders",
    "referral_leads": "referral leads",
    "service_attach": "service revenue attached",
    "reverse_logistics_cost": "reverse-logistics cost",
    "service_effort_minutes": "customer-service minutes",
    "carbon_kg": "CO2e",
}
"""Non-negative values whose share per segment the findings compare with the share of orders."""
MAX_FINDINGS = 15
NO_SIGNAL = "no signal"


@dataclass
class ChampionValue:
    """What the champion model set says about value: money rates, each dimension's status and
    skill, and its predictions on its test window beside what was realised."""

    version: str
    money: Money
    status: dict[str, str]
    skill: dict[str, dict[str, Any]]
    centre: dict[str, float]
    test: pd.DataFrame = field(default_factory=pd.DataFrame)
    """One row per test-window order: ``order_id``, ``predicted``, ``realised`` (money)."""


def load_champion_value(settings, model_set) -> ChampionValue:
    """The champion's value view from its manifest and its stored test window.

    Args:
        model_set: the loaded champion (:class:`training.registry.ModelSet`).
    """
    from training.evaluate import matrix_for
    from training.registry import sets_dir
    from training.value import value_metadata

    value = model_set.value
    test = pd.read_parquet(sets_dir(settings) / model_set.version / "test_value.parquet")
    arrays = value.predict_arrays(matrix_for(test, value.spec))
    names = [d.name for d in DIMENSIONS if d.name in test]
    realised = realised_contribution(value.money, test[names], value.centre)
    frame = pd.DataFrame(
        {
            "order_id": test["order_id"].to_numpy(),
            "predicted": arrays["contribution"],
            "realised": realised["contribution"].to_numpy(),
        }
    )
    return ChampionValue(
        model_set.version,
        value.money,
        value_metadata(value)["dimensions"],
        model_set.manifest.get("metrics", {}).get("value", {}),
        value.centre,
        frame,
    )


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
        | {
            q: table[f"share_quadrant_{q}"].tolist()
            for q in QUADRANTS
            if realised[f"quadrant_{q}"].notna().any()
        },
        title=f"Share of orders vs share of quadrant value, by {label}",
    )
    key_chart = html.bar_chart(
        labels,
        {"orders": table["share_orders"].tolist()}
        | {d: table[f"share_{d}"].tolist() for d in KEY_DIMENSIONS if realised[d].notna().any()},
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


def money_frame(realised: pd.DataFrame, money: Money, centre: dict[str, float] | None):
    """``realised`` with the realised contribution (``contribution``) and its parts
    (``money_<part>``) in money."""
    names = [d.name for d in DIMENSIONS if d.name in realised]
    parts = realised_contribution(money, realised[names], centre)
    renamed = parts.rename(columns={c: f"money_{c}" for c in parts if c != "contribution"})
    return pd.concat([realised, renamed], axis=1)


def _money(x: float | None, currency: str, digits: int = 0) -> str:
    return f"{html.num(x, digits)} {currency}" if x is not None and np.isfinite(x) else "–"


def _interval(low: float, high: float, digits: int = 0) -> str:
    return "–" if not np.isfinite(low) else f"[{html.num(low, digits)}, {html.num(high, digits)}]"


def _part_label(part: str) -> str:
    return {
        "gross_margin": "gross margin",
        "repeat_purchase_90d": "repeat purchases",
        "cross_category_pull": "cross-category pull",
        "referral_leads": "referral leads",
        "service_attach": "service attach",
        "reverse_logistics_cost": "reverse logistics",
        "service_effort_minutes": "service effort",
        "carbon_kg": "carbon",
        "cash_conversion_days": "cash cycle (capital)",
    }.get(part, part.replace("_", " "))


def _money_section(
    frame: pd.DataFrame, segment: str, label: str, money: Money, weights, status: dict[str, str]
) -> str:
    currency = money.currency
    table = segment_means(frame, segment, "contribution", weights)
    part_columns = [c for c in frame if c.startswith("money_")]
    per_order = frame.groupby(frame[segment].astype(str), observed=True)[part_columns].mean()
    rows, colours = [], []
    for name, row in table.iterrows():
        flag = {1: "above the rest", -1: "below the rest", 0: ""}[int(row["differs"])]
        rows.append(
            [
                name,
                f"{int(row['orders']):,}",
                html.pct(row["share_orders"]),
                _money(row["mean"], currency),
                _interval(row["low"], row["high"]),
                html.pct(row["share_total"]),
                flag,
                *(html.num(per_order.loc[name, c], 1) for c in part_columns),
            ]
        )
        lift = row["share_total"] / row["share_orders"] if row["share_orders"] else None
        colour = {1: "rgba(58,157,93,.35)", -1: "rgba(184,67,78,.35)"}.get(int(row["differs"]))
        colours.append([None, None, None, colour, None, html.lift_colour(lift), colour])
        colours[-1] += [None] * len(part_columns)
    parts = [c.removeprefix("money_") for c in part_columns]
    header = [
        label, "orders", "share of orders", f"contribution per order ({currency})",
        "95 % interval", "share of all contribution", "beyond noise",
        *(_part_label(p) + (f" ({NO_SIGNAL})" if status.get(p) == "no_signal" else "")
          for p in parts),
    ]  # fmt: skip
    labels = [str(v) for v in table.index]
    chart = html.interval_chart(
        labels,
        table["mean"].tolist(),
        table["low"].tolist(),
        table["high"].tolist(),
        reference=float(frame["contribution"].mean()),
        title=f"Realised contribution per order by {label} ({currency}, 95 % interval)",
        unit=currency,
    )
    shares = html.bar_chart(
        labels,
        {
            "orders": table["share_orders"].tolist(),
            "contribution": table["share_total"].clip(lower=0).tolist(),
        },
        title=f"Share of orders vs share of contribution, by {label}",
    )
    return html.section(
        f"By {label}: contribution in {currency}",
        f"<div class='charts'>{chart}{shares}</div>",
        html.table(header, rows, colours=colours),
        note=(
            f"Realised contribution of delivered orders in {currency}: each dimension's realised "
            "value at the money rates in settings (value.money_per_unit, capital cost, shadow "
            f"prices). Parts are {currency} per order. 'Beyond noise': the segment's mean "
            "differs from the other orders' with the interval widened for the number of "
            "segments (Bonferroni)."
        ),
    )


def _findings_section(frame: pd.DataFrame, money: Money, weights) -> str:
    sentences = []
    for segment, label in SEGMENTS.items():
        kind = label.split(" (")[0]
        table = segment_means(frame, segment, "contribution", weights)
        for name, row in table[table["differs"] != 0].iterrows():
            sentences.append(
                (
                    (1, abs(row["share_total"] - row["share_orders"])),
                    f"{kind.capitalize()} <b>{escape(str(name))}</b> creates "
                    f"{_money(row['mean'], money.currency)} per order "
                    f"(95 % interval {_interval(row['low'], row['high'])}) against "
                    f"{_money(row['rest_mean'], money.currency)} for the other orders; "
                    f"{html.pct(row['share_orders'])} of orders, "
                    f"{html.pct(row['share_total'])} of all contribution.",
                )
            )
        measures = {c: m for c, m in SHARE_MEASURES.items() if c in frame}
        for finding in share_findings(frame, segment, measures, weights):
            sentences.append(
                (
                    (0, abs(np.log(max(finding.lift, 1e-9)))),
                    f"{kind.capitalize()} <b>{escape(finding.segment)}</b>: "
                    f"{html.pct(finding.share_orders)} of orders bring "
                    f"{html.pct(finding.share_value)} of {escape(finding.measure)} "
                    f"(95 % interval {html.pct(finding.low)}–{html.pct(finding.high)}).",
                )
            )
    # Money first (largest share gap first), then shares of single values (largest lift); each
    # kind keeps room for the other (on the demo, money findings alone fill the list).
    sentences.sort(key=lambda s: (-s[0][0], -s[0][1]))
    money_lines = [s for s in sentences if s[0][0] == 1]
    share_lines = [s for s in sentences if s[0][0] == 0]
    half = MAX_FINDINGS // 2 + 1
    n_money = min(len(money_lines), max(half, MAX_FINDINGS - len(share_lines)))
    shown = money_lines[:n_money] + share_lines[: MAX_FINDINGS - n_money]
    if not shown:
        body = "<p>No segment's value differs from the rest beyond noise.</p>"
    else:
        items = "".join(f"<li>{text}</li>" for _, text in shown)
        body = f"<ul class='findings'>{items}</ul>"
    return html.section(
        "Segments whose value differs beyond noise",
        body,
        note=(
            "Named only when the interval (bootstrap over customers, widened for the number of "
            "segments compared) excludes 'like the other orders'; strongest first."
        ),
    )


def _dimensions_section(champion: ChampionValue, realised: pd.DataFrame) -> str:
    money = champion.money
    rows, colours = [], []
    for dim in DIMENSIONS:
        skill = champion.skill.get(dim.name, {})
        status = champion.status.get(dim.name, "not_available")
        mark = {"signal": "signal", "no_signal": NO_SIGNAL, "not_available": "not available"}
        rate = money.per_unit.get(dim.name)
        price = money.shadow_prices.get(dim.name)
        worth = (
            f"{html.num(rate, 2)} {money.currency} per unit"
            if rate
            else f"{html.num(price, 2)} {money.currency} per unit vs typical (shadow price)"
            if price
            else "capital cost on net revenue"
            if dim.name == "cash_conversion_days" and money.capital_cost_per_year
            else "not priced (in another dimension)"
        )
        score = skill.get("score")
        rows.append(
            [
                dim.name,
                dim.quadrant,
                dim.metric.upper() if dim.metric == "auc" else "R²",
                html.num(score, 3),
                _interval(skill.get("ci_low", np.nan) or np.nan, skill.get("ci_high", np.nan)
                          or np.nan, 3),
                mark[status],
                html.num(skill.get("oracle"), 3),
                worth,
                html.num(realised[dim.name].mean(), 2) if dim.name in realised else "–",
            ]
        )  # fmt: skip
        colour = {"no_signal": "rgba(184,67,78,.3)", "not_available": "#eee"}.get(status)
        colours.append([None] * 5 + [colour] + [None] * 3)
    return html.section(
        f"Dimensions: skill and money (champion {champion.version})",
        html.table(
            [
                "dimension",
                "quadrant",
                "metric",
                "skill on test window",
                "95 % interval",
                "status",
                "oracle",
                "money",
                "realised mean per order",
            ],
            rows,
            colours=colours,
        ),  # fmt: skip
        note=(
            "A dimension whose interval does not clear chance (R² > 0, AUC > 0.5) has no "
            "signal: it gets no score, no weight in the index, quadrants, tiers or policy, and "
            "counts at its training average in the predicted contribution."
        ),
    )


def _predicted_vs_realised_section(champion: ChampionValue, segments_of: pd.DataFrame) -> str:
    test = champion.test.merge(segments_of, on="order_id", how="inner")
    if test.empty:
        return ""
    currency = champion.money.currency
    weights = resample_weights(len(test), seed=1, clusters=customers_of(test))
    parts = []
    for segment, label in SEGMENTS.items():
        table = realised_vs_predicted(test, segment, weights)
        rows = [
            [
                name,
                f"{int(r['orders']):,}",
                _money(r["predicted"], currency),
                _money(r["realised"], currency),
                _interval(r["low"], r["high"]),
                "prediction outside the interval" if r["off"] else "",
            ]
            for name, r in table.iterrows()
        ]
        parts.append(
            f"<h3>By {escape(label)}</h3>"
            + html.table(
                [
                    label,
                    "test orders",
                    "predicted per order",
                    "realised per order",
                    "95 % interval (realised)",
                    "",
                ],
                rows,
            )  # fmt: skip
        )
    overall = (
        f"Over {len(test):,} test orders: predicted {_money(test['predicted'].mean(), currency)}"
        f" per order, realised {_money(test['realised'].mean(), currency)}."
    )
    return html.section(
        f"Realised vs predicted contribution (champion's test window, {currency})",
        f"<p>{escape(overall)}</p>",
        *parts,
        note=(
            "The champion's expected contribution of each order (dimensions without signal at "
            "their training average) beside the contribution the order really made."
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


def _predicted_section(predictions: pd.DataFrame, status: dict[str, str]) -> str:
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
    silent = [n for n, s in status.items() if s == "no_signal"]
    return html.section(
        "Predicted value of served orders (prediction log)",
        *parts,
        note="Mean scores and tier mix of each order's latest prediction; tier shares add to "
        "100%; tiers follow the expected contribution."
        + (f" Not in the scores ({NO_SIGNAL}): {', '.join(silent)}." if silent else ""),
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


def build(
    inputs: ReportInputs,
    path,
    drivers: pd.DataFrame | None = None,
    champion: ChampionValue | None = None,
) -> str:
    """Write the page; returns its one-line description.

    Args:
        drivers: optional mean |SHAP| per dimension (rows) and reason group (columns), from the
            champion's metrics; None leaves the section saying it is not available yet.
        champion: the champion's value view (:func:`load_champion_value`); None before a
            champion exists (money then comes from the settings).
    """
    from reports.evidently_pages import NotBuilt

    realised = inputs.realised
    if realised.empty and inputs.predictions.empty:
        raise NotBuilt("no orders with outcomes and no prediction log yet")
    money = (
        champion.money
        if champion
        else Money.from_settings(inputs.settings.value, inputs.settings.business.currency)
    )
    status = champion.status if champion else {}
    sections = []
    frame = (
        money_frame(realised, money, champion.centre if champion else None)
        if not realised.empty
        else None
    )
    priced = frame is not None and any(c.startswith("money_") for c in frame)
    if not realised.empty and not priced:
        sections.append(
            html.section(
                f"Contribution in {money.currency}: not available",
                "<p>No dimension with a money rate (value.money_per_unit, value.shadow_prices) "
                "is realised in this data, so no order has a contribution in money; the shares "
                "of each realised dimension by segment follow.</p>",
            )
        )
    if priced:
        weights = resample_weights(len(frame), clusters=customers_of(frame))
        mean = frame["contribution"].to_numpy()
        means = weights @ mean / weights.sum(axis=1)
        low, high = np.percentile(means, [2.5, 97.5])
        silent = [n for n, s in status.items() if s == "no_signal"]
        sections.append(
            html.tiles(
                {
                    "orders with realised value": f"{len(realised):,}",
                    f"contribution per order ({money.currency})": html.num(mean.mean(), 1),
                    "95 % interval": f"{html.num(low, 1)} – {html.num(high, 1)}",
                    f"total contribution ({money.currency})": html.num(mean.sum(), 0),
                    "dimensions with signal": (
                        f"{sum(s == 'signal' for s in status.values())} of {len(DIMENSIONS)}"
                        if champion
                        else "no champion yet"
                    ),
                    NO_SIGNAL: ", ".join(silent) if silent else "none",
                }
            )
        )
        sections.append(_findings_section(frame, money, weights))
        sections += [
            _money_section(frame, seg, label, money, weights, status)
            for seg, label in SEGMENTS.items()
        ]
        if champion is not None:
            keys = ["order_id", *SEGMENTS, "customer_id"]
            segments_of = frame[[k for k in keys if k in frame]]
            sections.append(_predicted_vs_realised_section(champion, segments_of))
    if not realised.empty:
        sections += [_share_section(realised, seg, label) for seg, label in SEGMENTS.items()]
    if champion is not None:
        sections.append(_dimensions_section(champion, realised))
    sections.append(_radar_section(inputs))
    if not inputs.predictions.empty:
        sections.append(_predicted_section(inputs.predictions, status))
    sections.append(_drivers_section(drivers))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        html.page(
            "Value attribution",
            f"Which segments create which value, in {money.currency}",
            sections,
        ),
        encoding="utf-8",
    )
    return (
        f"Value attribution in {money.currency} with intervals by channel, category, region and "
        f"carrier over {len(realised):,} delivered orders; realised vs predicted; segments beyond "
        f"noise; predicted value mix of {len(inputs.predictions):,} served orders."
    )
