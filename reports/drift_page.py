"""The drift page: does the model still do its job? The latest verdict and its evidence,
performance estimated before outcomes arrive and realised after (per day and per segment, with
their uncertainty), importance-weighted drift, and the monitor's past decisions.

Everything on it comes from one monitoring pass (:func:`reports.monitoring.monitor.run_pass`,
the computation the monitor flow and ``orderlens monitor`` use) and the kept pass records.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from reports import html
from reports.evidently_pages import NotBuilt
from reports.monitoring.monitor import MonitorPass

HOW_TO_READ = (
    "Estimated AUC: how well P(late) ranks late orders above on-time ones, estimated from the "
    "model's own probabilities before deliveries are known (confidence-based performance "
    "estimation, recalibrated on the latest served orders whose outcomes arrived); its band is "
    "where the realised AUC should land if the probabilities are right. Realised AUC: measured "
    "once outcomes are known, with a 95% interval, on days whose outcomes are all in (an order's "
    "outcome counts once its promise, plus a grace period for the outcomes feed, has passed). "
    "The model's probabilities alone cannot see a change its inputs do not show (a carrier's "
    "hubs failing silently), so the estimate also counts what is already known: orders whose "
    "promise passed count as late or on time, and a carrier whose orders in flight are "
    "confidently not being delivered as usual has its orders' P(late) raised to what its "
    "deliveries say (see Deliveries of orders in flight)."
)


def build(result: MonitorPass | None, records: list[dict[str, Any]], path: Path) -> str:
    """Write the page; returns its one-line description.

    Args:
        result: a monitoring pass (fresh, not recorded).
        records: the kept records of the monitor's passes (its decisions), oldest first.
        path: where to write.

    Raises:
        NotBuilt: no champion, or nothing served yet.
    """
    if result is None or result.champion is None:
        raise NotBuilt("no champion model set: nothing to judge served predictions against")
    if result.window.predictions == 0:
        raise NotBuilt("no served predictions yet (the prediction log is empty)")
    record = result.record()
    sections = [
        _headline(record),
        _verdict(record),
        _flow(record),
        _daily(record),
        _segments(record),
        _drift(record),
        _decisions(records),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        html.page(
            "Drift and model performance",
            f"Served predictions up to {result.as_of:%Y-%m-%d %H:%M} UTC judged against the "
            f"champion {result.champion or '(none)'}",
            sections,
        ),
        encoding="utf-8",
    )
    window, recent = record["window"], record["recent"]
    return (
        f"Drift and performance: estimated AUC {_num(window['estimated_auc'])} on "
        f"{window['predictions']:,} latest predictions, realised AUC "
        f"{_num(recent['realised_auc'])} on {recent['labelled']:,} with outcomes; "
        f"{'ALARM' if record['alarm'] else 'no alarm'}"
        f"{', retrain asked' if record['retrain'] else ''}."
    )


def _headline(record: dict[str, Any]) -> str:
    window, recent, baseline = record["window"], record["recent"], record["baseline"] or {}
    verdict = "ALARM" if record["alarm"] else "no alarm"
    tiles = {
        "verdict": verdict + (" · retrain asked" if record["retrain"] else ""),
        "estimated AUC (latest window)": _with_range(
            window["estimated_auc"], window["estimated_auc_low"], window["estimated_auc_high"]
        ),
        "realised AUC (latest complete days)": _with_range(
            recent["realised_auc"], recent["realised_auc_low"], recent["realised_auc_high"]
        ),
        "champion on held-out orders": _num(baseline.get("realised_auc")),
        "predicted late rate (window)": html.pct(_float(window["predicted_late_rate"])),
        "estimated late rate (window)": html.pct(_float(window["estimated_late_rate"])),
        "realised late rate (complete days)": html.pct(_float(recent["realised_late_rate"])),
        "drift score": _num(record["drift_score"], 2),
        "predicted-risk shift": _num(record["prediction_shift"], 2),
        "predictions in the window": f"{window['predictions']:,}",
    }
    return html.section(
        "The model now",
        html.tiles(tiles),
        note=HOW_TO_READ,
    )


def _verdict(record: dict[str, Any]) -> str:
    reasons = record["reasons"] or ["none: no evidence that the model's performance is at risk"]
    parts = ["<h3>Evidence</h3><ul>" + "".join(f"<li>{escape(r)}</li>" for r in reasons) + "</ul>"]
    if record["watch"]:
        parts.append(
            "<h3>Worth watching</h3><ul>"
            + "".join(f"<li>{escape(w)}</li>" for w in record["watch"])
            + "</ul>"
        )
    period = record["period"]
    if period.get("estimated_auc") is not None:
        parts.append(
            "<p>Estimated vs realised AUC over the "
            f"{len(period['days'])} days whose outcomes are all known "
            f"({period['days'][0]} … {period['days'][-1]}, {period['predictions']:,} predictions): "
            f"<b>{period['estimated_auc']:.3f}</b> estimated (as estimated each day) vs "
            f"<b>{period['realised_auc']:.3f}</b> realised "
            f"(difference {period['difference']:+.3f}).</p>"
        )
    parts.append(
        f"<p class='note'>Calibration of the estimate: {escape(record['calibration'])}.</p>"
    )
    for note in record["notes"]:
        parts.append(f"<p class='note'>{escape(note)}</p>")
    return html.section(
        "Verdict",
        *parts,
        note="An alarm needs evidence: a performance drop beyond the tolerance and beyond "
        "sampling, more or fewer late orders than predicted, a carrier's deliveries confidently "
        "short of what was expected, or severe importance-weighted drift. "
        "A retrain follows an alarm unless one was asked for within the cool-down; the promotion "
        "gate then decides whether the new model serves.",
    )


def _flow(record: dict[str, Any]) -> str:
    flow = record.get("flow") or {}
    segments = flow.get("segments") or {}
    if not segments:
        return html.section(
            "Deliveries of orders in flight", "<p>No served orders are in flight.</p>"
        )
    header = ["segment", "orders in flight", "delivered", "expected", "flow ratio", "95% CI",
              "predicted late", "estimated late", "raised in the estimate"]  # fmt: skip
    rows = [
        [name, f"{seg['orders']:,}", f"{seg['delivered']:,}", f"{seg['expected']:.1f}",
         _num(seg["ratio"], 2), _range2(seg["ratio_low"], seg["ratio_high"]),
         html.pct(_float(seg["predicted"])), html.pct(_float(seg["estimated"])),
         "yes" if seg.get("short") else ""]
        for name, seg in sorted(segments.items())
    ]  # fmt: skip
    return html.section(
        "Deliveries of orders in flight",
        html.table(header, rows, left=1),
        note=f"Orders first served in the last days whose promise has not passed, delivered by "
        f"{str(flow.get('observed_at', ''))[:16].replace('T', ' ')} UTC (the outcomes feed's "
        "grace before the pass) vs expected from the calibrated P(late) and each carrier's own "
        "recent on-time deliveries (when in their promise window they arrived). Flow ratio: "
        "delivered / expected, with the exact Poisson 95% interval of the count. A carrier short "
        "beyond doubt (monitoring.flow_ratio_alarm, even at the top of the interval) raises an "
        "alarm, and the estimate counts its orders as late as its deliveries say (estimated "
        "late). It assumes a carrier that delivers slower is a carrier whose orders go late; "
        "realised labels replace the estimate as promises pass.",
    )


def _range2(low: Any, high: Any) -> str:
    if low is None or high is None:
        return "–"
    return f"{low:.2f}–{high:.2f}"


def _daily(record: dict[str, Any]) -> str:
    days = record["daily"]
    if not days:
        return html.section("Per day", "<p>No daily figures yet.</p>")
    first = days[0]["day"]

    def points(key: str) -> list[tuple[float, float]]:
        return [(float(i), _float(d[key])) for i, d in enumerate(days)]

    auc = html.xy_chart(
        {
            "estimated AUC": points("estimated_auc"),
            "band low": points("estimated_auc_low"),
            "band high": points("estimated_auc_high"),
            "realised AUC": points("realised_auc"),
        },
        title=f"AUC per day (day 0 = {first})",
        x_label="day",
        y_label="AUC",
        width=620,
    )
    late = html.xy_chart(
        {
            "predicted late rate": points("predicted_late_rate"),
            "estimated (recalibrated)": points("estimated_late_rate"),
            "realised late rate": points("realised_late_rate"),
        },
        title=f"Late rate per day (day 0 = {first})",
        x_label="day",
        y_label="share late",
        width=620,
    )
    header = ["day", "predictions", "estimated AUC", "95% band", "with outcome", "realised AUC",
              "95% CI", "predicted late", "realised late", "realised Brier"]  # fmt: skip
    rows = [
        [d["day"], f"{d['predictions']:,}", _num(d["estimated_auc"]),
         _range(d["estimated_auc_low"], d["estimated_auc_high"]), f"{d['labelled']:,}",
         _num(d["realised_auc"]), _range(d["realised_auc_low"], d["realised_auc_high"]),
         html.pct(_float(d["predicted_late_rate"])), html.pct(_float(d["realised_late_rate"])),
         _num(d["realised_brier"])]
        for d in reversed(days)
    ]  # fmt: skip
    return html.section(
        "Estimated and realised performance per day",
        f"<div class='charts'>{auc}{late}</div>",
        html.table(header, rows),
        note="Each day's estimate is the one made at the end of that day; its realised figures "
        "use the outcomes known now, shown once (almost) all of the day's outcomes are in.",
    )


def _segments(record: dict[str, Any]) -> str:
    rows = []
    for name, segment in sorted(record["segments"].items()):
        perf = segment.get("performance") or {}
        column, _, value = name.partition("=")
        rows.append(
            [column, value, f"{perf.get('predictions', 0):,}", _num(perf.get("estimated_auc")),
             _range(perf.get("estimated_auc_low"), perf.get("estimated_auc_high")),
             _num(perf.get("realised_auc")),
             _range(perf.get("realised_auc_low"), perf.get("realised_auc_high")),
             html.pct(_float(perf.get("predicted_late_rate"))),
             html.pct(_float(perf.get("realised_late_rate"))),
             _num(segment.get("drift_score"), 2), _num(segment.get("prediction_shift"), 2)]
        )  # fmt: skip
    if not rows:
        return html.section("Per segment", "<p>No segment has enough predictions yet.</p>")
    header = ["by", "segment", "predictions", "estimated AUC", "95% band", "realised AUC",
              "95% CI", "predicted late", "realised late", "drift score", "risk shift"]  # fmt: skip
    days = record["recent"].get("days") or []
    period = (
        f"over the latest complete days ({days[0]} … {days[-1]})"
        if days
        else ("on the latest days (none has all its outcomes yet)")
    )
    return html.section(
        "Per carrier, region, channel and order stage",
        html.table(header, rows, left=2),
        note=f"Performance {period}; drift score and predicted-risk shift over the latest "
        "window, for segments with enough predictions of their own.",
    )


def _drift(record: dict[str, Any]) -> str:
    drift = record["drift"]
    if not drift:
        return html.section("Drift", "<p>Drift was not measured.</p>")
    header = ["feature", "share of importance", "effect", "noise", "beyond noise", "drifted",
              "reference", "now"]  # fmt: skip
    rows = [
        [s["feature"], html.pct(s["importance"]), _num(s["effect"]), _num(s["noise"]),
         _num(s["excess"]), "yes" if s["drifted"] else "", _value(s["reference_mean"]),
         _value(s["current_mean"])]
        for s in drift["top_features"]
    ]  # fmt: skip
    skipped = drift["not_compared"]
    note = (
        f"Drift score {drift['drift_score']:.3f}: the importance-weighted mean shift beyond "
        f"sampling noise ({drift['current_rows']:,} predictions vs {drift['reference_rows']:,} "
        f"training rows at the same mix of order stages). Features carrying "
        f"{drift['drifted_importance']:.0%} of the champion's importance drifted. Effect: normed "
        "Wasserstein distance (numbers) or PSI (categories); drifted from 0.1 beyond noise."
    )
    parts = [html.table(header, rows)]
    if skipped:
        parts.append(
            "<h3>Not compared</h3>"
            + html.table(["feature", "why"], [[k, v] for k, v in sorted(skipped.items())], left=2)
        )
    parts.append(
        "<p>Column by column: <a href='feature-drift.html'>feature drift (Evidently)</a> · "
        "<a href='prediction-drift.html'>prediction drift (Evidently)</a></p>"
    )
    return html.section("Drift of the champion's features", *parts, note=note)


def _decisions(records: list[dict[str, Any]], last: int = 30) -> str:
    if not records:
        return html.section(
            "The monitor's decisions", "<p>The monitor has not run yet (orderlens monitor).</p>"
        )
    header = ["as of", "alarm", "decision", "drift score", "estimated AUC", "realised AUC",
              "reasons", "retrain outcome"]  # fmt: skip
    rows = []
    for r in reversed(records[-last:]):
        run = r.get("retrain_run") or {}
        promotion = run.get("promotion") or {}
        outcome = (
            run.get("skipped")
            or (
                f"{run.get('version')}: "
                + ("promoted" if promotion.get("promote") else "kept the champion")
            )
            if run
            else ""
        )
        rows.append(
            [r["as_of"][:16].replace("T", " "), "yes" if r["alarm"] else "",
             r.get("decision", "retrain" if r.get("retrain") else "none"),
             _num(r.get("drift_score"), 2), _num(r.get("estimated_auc")),
             _num(r.get("realised_auc")), "; ".join(r.get("reasons") or [])[:300], outcome]
        )  # fmt: skip
    return html.section(
        "The monitor's decisions",
        html.table(header, rows, left=1),
        note=f"The last {min(last, len(records))} of {len(records)} monitoring passes, newest "
        "first, as recorded when they ran (each record is monitoring/monitor-<time>.json).",
    )


def _with_range(value: Any, low: Any, high: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3f} ({_range(low, high)})"


def _range(low: Any, high: Any) -> str:
    if low is None or high is None:
        return "–"
    return f"{low:.3f}–{high:.3f}"


def _num(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _value(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:,.3g}" if isinstance(value, float) else str(value)
