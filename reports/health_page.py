"""The order health page: delay risk by city, carrier and warehouse, the actions the policy fired,
and the prediction service's own health (P99 latency, error share, degraded answers), all from
the prediction log."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from reports import html, suggestions
from reports.data import ReportInputs

RISK_SEGMENTS = {
    "dest_region": "destination city",
    "carrier_id": "carrier",
    "warehouse_id": "warehouse",
}
HIGH_RISK = ("high", "critical")


def service_health(log: pd.DataFrame) -> dict[str, float]:
    """The service's figures. Latency is logged once per request (repeated on its rows), so the
    percentiles are over requests, as a caller experiences them.

    Returns:
        ``rows``, ``requests``, ``error_requests``, ``error_share`` (of requests),
        ``latency_p50_ms``, ``latency_p99_ms`` and ``degraded_share`` (of answered orders).
    """
    requests = log.drop_duplicates("request_id")
    errors = int((requests["status"] != "ok").sum())
    answered = log[log["status"] == "ok"]
    degraded = answered["degraded"].fillna("").str.len() > 0
    return {
        "rows": len(log),
        "requests": len(requests),
        "error_requests": errors,
        "error_share": errors / len(requests) if len(requests) else float("nan"),
        "latency_p50_ms": float(np.percentile(requests["latency_ms"], 50)),
        "latency_p99_ms": float(np.percentile(requests["latency_ms"], 99)),
        "degraded_share": float(degraded.mean()) if len(answered) else float("nan"),
    }


def fired_actions(log: pd.DataFrame) -> pd.DataFrame:
    """One row per (action, rule): how often it fired and how often the ledger suppressed it
    (the same action already fired for that order)."""
    counts = []
    for column, label in (("actions_fired", "fired"), ("actions_suppressed", "suppressed")):
        items = log[column].dropna().str.split("|").explode()
        items = items[items.str.len() > 0]
        split = items.str.split(":", n=1, expand=True)
        if not split.empty:
            counts.append(split.set_axis(["rule", "action"], axis=1).value_counts().rename(label))
    if not counts:
        return pd.DataFrame(columns=["fired", "suppressed"])
    frame = pd.concat(counts, axis=1).fillna(0).astype(int)
    for label in ("fired", "suppressed"):
        if label not in frame:
            frame[label] = 0
    return frame.sort_values("fired", ascending=False)


def risk_by(predictions: pd.DataFrame, segment: str, labelled: pd.DataFrame) -> pd.DataFrame:
    """Delay risk of served orders by ``segment``: count, mean P(late), share high/critical,
    mean expected hours late, orders with an action fired and, once outcomes arrive, the
    realised late rate."""
    fired = predictions["actions_fired"].fillna("").str.len() > 0
    frame = predictions.assign(
        high=predictions["risk_level"].isin(HIGH_RISK).astype(float), acted=fired.astype(int)
    )
    grouped = frame.groupby(segment, observed=True)
    table = pd.DataFrame(
        {
            "orders": grouped.size(),
            "mean_p_late": grouped["p_late"].mean(),
            "high_risk_share": grouped["high"].mean(),
            "mean_expected_hours": grouped["expected_hours"].mean(),
            "orders_with_action": grouped["acted"].sum(),
        }
    )
    if not labelled.empty:
        table["realised_late_rate"] = labelled.groupby(segment, observed=True)["is_late"].mean()
    return table.sort_values("mean_p_late", ascending=False)


def _risk_section(inputs: ReportInputs, segment: str, label: str) -> str:
    table = risk_by(inputs.predictions, segment, inputs.labelled)
    rows = [
        [v, f"{int(r['orders']):,}", html.pct(r["mean_p_late"]), html.pct(r["high_risk_share"]),
         html.num(r["mean_expected_hours"], 1), f"{int(r['orders_with_action']):,}",
         html.pct(r.get("realised_late_rate"))]
        for v, r in table.iterrows()
    ]  # fmt: skip
    top = table.head(15)
    series = {"mean P(late)": top["mean_p_late"].tolist()}
    if "realised_late_rate" in top:
        series["realised late rate"] = top["realised_late_rate"].tolist()
    chart = html.bar_chart(
        [str(v) for v in top.index], series, title=f"Highest mean P(late) by {label}"
    )
    header = [label, "orders", "mean P(late)", "high/critical", "mean hours late",
              "with action", "realised late rate"]  # fmt: skip
    return html.section(
        f"Risk by {label}", f"<div class='charts'>{chart}</div>", html.table(header, rows)
    )


def _daily_chart(log: pd.DataFrame) -> str:
    requests = log.drop_duplicates("request_id")
    day = requests["logged_at"].dt.floor("D")
    daily = requests.groupby(day)["latency_ms"].quantile(0.99)
    points = [(float(i), float(v)) for i, v in enumerate(daily.to_numpy())]
    first = daily.index.min()
    return html.xy_chart(
        {"P99 latency (ms)": points},
        title=f"Daily P99 latency (day 0 = {first:%Y-%m-%d})"
        if len(daily)
        else "Daily P99 latency",
        x_label="day",
        y_label="ms",
        width=560,
    )


def action_effects_section(inputs: ReportInputs) -> str:
    """Did the actions work: per action, how often it fired, its cost and the late/complaint
    outcomes of orders with it vs matched orders without it (see
    :mod:`reports.monitoring.actions`; observational)."""
    from datetime import timedelta

    from reports.monitoring.actions import action_effects, complaints
    from reports.monitoring.monitor import prediction_stage
    from reports.monitoring.served import prediction_time, with_outcomes

    settings = inputs.settings
    log = inputs.log[(inputs.log["status"] == "ok") & inputs.log["p_late"].notna()]
    log = log.assign(predicted_at=prediction_time(log))
    log = log.assign(stage=prediction_stage(log))
    grace = timedelta(hours=settings.monitoring.outcome_grace_hours)
    judged = with_outcomes(log, inputs.outcomes, log["predicted_at"].max(), grace)
    signals = pd.read_parquet(settings.signals_path) if settings.signals_path.is_file() else None
    labels = settings.monitoring.complaint_labels
    tickets = complaints(signals, labels)
    reports = action_effects(judged, settings.monitoring.action_costs, tickets)
    if not reports:
        return html.section("Did the actions work?", "<p>No action fired yet.</p>")
    rows = []
    for report in reports:
        for effect in report.effects:
            rows.append(
                [report.action, effect.outcome, f"{report.fired:,}", f"{report.orders:,}",
                 html.num(report.cost, 0), f"{effect.treated:,}", f"{effect.controls:,}",
                 html.pct(effect.with_rate), html.pct(effect.without_rate),
                 _points(effect.difference), f"{_points(effect.low)} … {_points(effect.high)}",
                 f"{effect.unmatched:,}"]
            )  # fmt: skip
    header = ["action", "outcome", "fired", "orders", "cost", "matched orders", "controls",
              "with action", "without (matched)", "difference", "95% interval",
              "unmatched"]  # fmt: skip
    complaint_note = (
        f"complaint: a ticket labelled {' or '.join(labels)} after the action"
        if tickets is not None
        else "complaints not measured (no ticket signals"
        + (f" labelled {' or '.join(labels)})" if signals is not None else ")")
    )
    return html.section(
        "Did the actions work?",
        html.table(header, rows, left=2),
        note="Observational, not an experiment: orders get an action because their risk is "
        "high. Each order with the action is compared with orders without it scored at the "
        "same stage and in the same 10-point band of P(late); what the risk does not capture is "
        "not matched, so a difference can still be selection. Where an action cannot have "
        "acted (a replayed period whose outcomes were already decided) the difference measures "
        f"the comparison's own bias. Late: delivered after the promise; {complaint_note}. "
        "Cost: firings × monitoring.action_costs.",
    )


def _points(value: float) -> str:
    """A difference of rates in percentage points."""
    return "–" if value != value else f"{100 * value:+.1f} pts"


def build(inputs: ReportInputs, path: Path) -> str:
    """Write the page; returns its one-line description."""
    from reports.evidently_pages import NotBuilt

    log, predictions = inputs.log, inputs.predictions
    if log.empty or predictions.empty:
        raise NotBuilt("the prediction log holds no successful prediction yet")
    health = service_health(log)
    risk_mix = predictions["risk_level"].value_counts(normalize=True)
    reasons = predictions["top_reason_group"].fillna("none").value_counts(normalize=True)
    actions = fired_actions(log)
    sections = [
        html.tiles(
            {
                "orders predicted": f"{len(predictions):,}",
                "logged rows": f"{health['rows']:,}",
                "requests": f"{health['requests']:,}",
                "error share (requests)": html.pct(health["error_share"], 2),
                "P50 latency": f"{health['latency_p50_ms']:.1f} ms",
                "P99 latency": f"{health['latency_p99_ms']:.1f} ms",
                "degraded answers": html.pct(health["degraded_share"], 2),
                "high/critical risk": html.pct(predictions["risk_level"].isin(HIGH_RISK).mean()),
            }
        ),
        html.section(
            "Risk and reasons",
            "<div class='charts'>"
            + html.bar_chart(
                list(risk_mix.index), {"orders": risk_mix.tolist()}, title="Risk level"
            )
            + html.bar_chart(
                list(reasons.index), {"orders": reasons.tolist()}, title="Top reason group"
            )
            + _daily_chart(log)
            + "</div>",
        ),
        *[_risk_section(inputs, seg, label) for seg, label in RISK_SEGMENTS.items()],
        html.section(
            "Actions",
            html.table(
                ["rule", "action", "fired", "suppressed by the ledger"],
                [
                    [rule, action, f"{r['fired']:,}", f"{r['suppressed']:,}"]
                    for (rule, action), r in actions.iterrows()
                ],  # fmt: skip
                left=2,
            )
            if not actions.empty
            else "<p>No action fired.</p>",
            note="Counted over every logged prediction (a re-scored order counts each time).",
        ),
        action_effects_section(inputs),
        suggestions.section(inputs.suggestions),  # suggest, then confirm (serving-guard)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        html.page(
            "Order health",
            "Delay risk, actions and service health from the prediction log",
            sections,
        ),
        encoding="utf-8",
    )
    return (
        f"Order health: risk by city, carrier and warehouse for {len(predictions):,} served orders; "
        f"{int(actions['fired'].sum()) if not actions.empty else 0:,} actions fired; "
        f"P99 latency {health['latency_p99_ms']:.0f} ms, {html.pct(health['error_share'], 2)} of requests failed."
    )
