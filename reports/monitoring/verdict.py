"""The verdict of one monitoring pass: raise an alarm? retrain? — and the evidence, in words.

An alarm is evidence that the model no longer does its job, never a statistical curiosity:

- **performance**: the estimated AUC (before outcomes) or the realised AUC (after) is more than
  ``auc_tolerance`` below the champion's AUC on its held-out orders, *and* the gap is beyond
  sampling (the estimate's band, the realised AUC's interval, lies wholly below the baseline);
  the realised Brier score is ``brier_tolerance`` above the baseline's, beyond its interval; or
  more (or fewer) orders are late than the model said by ``late_rate_tolerance`` even at the near end of Wilson's
  interval;
- **orders due**: of the orders whose promise just passed (a cohort chosen by its promise, so
  its late rate is not biased towards the outcomes that come first), overall or in one segment,
  the late share is more than ``late_rate_tolerance`` from what the model said when they were
  placed even at the near end of Wilson's interval — the earliest outcome evidence, a grace
  period after a promise;
- **deliveries short**: a carrier's in-flight orders (first served within ``in_flight_days``,
  promise not yet passed) were delivered at less than ``flow_ratio_alarm`` of the rate its own
  recent on-time deliveries and the model's probabilities lead to expect, even at the top of the
  count's exact Poisson interval (:mod:`reports.monitoring.flow`) — the earliest sign of a
  failure the model's inputs do not show, days before the promises fall due;
- **severe drift**: the importance-weighted drift score of all predictions, or of one segment
  (a carrier, a region, a channel) with enough predictions, reaches ``drift_severe``. A shift of
  a segment's predicted risk alone is reported, not alarmed on: the model answering changed
  inputs with changed risk is the model working.

Drift at or above ``drift_watch`` but below ``drift_severe`` is reported ("watch"), not an alarm.
An alarm asks for a retrain unless retraining is off or one was asked for less than
``retrain_cooldown_days`` before (the promotion gate then decides whether the new model serves).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pandas as pd

from orderlens.settings import MonitoringSettings
from reports.monitoring.drift import DriftSummary
from reports.monitoring.performance import Performance


@dataclass
class Verdict:
    """Whether to raise an alarm and retrain, and why.

    Attributes:
        alarm: evidence that the model's performance is at risk.
        retrain: a retrain is asked for (alarm, retraining on, not cooling down).
        reasons: the evidence, one sentence each, most important first.
        watch: noteworthy but not alarming (moderate drift).
        evidence: kind → the figures behind each check.
    """

    alarm: bool
    retrain: bool
    reasons: list[str]
    watch: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)


def decide(
    config: MonitoringSettings,
    *,
    as_of: pd.Timestamp,
    window: Performance,
    recent: Performance,
    baseline: Performance | None,
    drift: DriftSummary | None,
    segments: dict[str, dict[str, Any]],
    last_retrain: pd.Timestamp | None,
    due: dict[str, dict[str, Any]] | None = None,
    flow: dict[str, dict[str, Any]] | None = None,
    retrain_allowed: bool = True,
) -> Verdict:
    """Judge one pass.

    Args:
        config: the monitoring settings (tolerances, thresholds, cool-down).
        as_of: the moment of the verdict.
        window: performance of the predictions in the window (its estimate is judged).
        recent: performance of the latest predictions whose outcomes are known (its realised
            figures are judged).
        baseline: the champion's performance on its held-out orders at the window's stage mix
            (None: not recorded; performance drops cannot be judged).
        drift: the window's drift against the reference (None: not measured).
        segments: ``"<column>=<value>"`` → ``{"predictions", "drift_score", "prediction_shift"}``.
        due: ``"all"`` and ``"<column>=<value>"`` → the orders whose outcome became known in
            the window: ``orders``, ``predicted`` (their mean P(late) when first scored),
            ``realised`` late rate and its Wilson interval ``low``/``high``.
        flow: ``"carrier=<id>"`` → the in-flight orders' ``delivered`` and ``expected``
            deliveries, ``ratio`` with ``ratio_low``/``ratio_high`` (see
            :func:`reports.monitoring.flow.measure_flow`).
        last_retrain: when the monitor last asked for a retrain (None: never).
        retrain_allowed: False forbids a retrain whatever the evidence (the caller's choice).
    """
    if window.predictions < config.min_window_predictions:
        return Verdict(
            alarm=False,
            retrain=False,
            reasons=[
                f"only {window.predictions} predictions in the window (fewer than "
                f"{config.min_window_predictions}): no verdict"
            ],
        )
    reasons: list[str] = []
    watch: list[str] = []
    evidence: dict[str, Any] = {}
    if baseline is not None:
        reasons += _performance(config, window, recent, baseline, evidence)
    else:
        watch.append("no held-out baseline recorded with the champion: AUC drops not judged")
    reasons += _calibration(config, recent, evidence)
    reasons += _due(config, due, evidence)
    reasons += _flow(config, flow, evidence)
    if drift is not None:
        found, noted = _drift(config, drift, segments, evidence)
        reasons += found
        watch += noted
    alarm = bool(reasons)
    retrain = alarm and retrain_allowed and config.retrain_on_evidence
    if alarm and not config.retrain_on_evidence:
        watch.append("retraining on evidence is turned off (monitoring.retrain_on_evidence)")
    elif alarm and not retrain_allowed:
        watch.append("retraining was not allowed for this run")
    cooldown = timedelta(days=config.retrain_cooldown_days)
    if retrain and last_retrain is not None and as_of - last_retrain < cooldown:
        retrain = False
        watch.append(
            f"retrain held back: the last one was asked for at {last_retrain:%Y-%m-%d %H:%M}, "
            f"within the {config.retrain_cooldown_days}-day cool-down"
        )
    return Verdict(alarm=alarm, retrain=retrain, reasons=reasons, watch=watch, evidence=evidence)


def _performance(
    config: MonitoringSettings,
    window: Performance,
    recent: Performance,
    baseline: Performance,
    evidence: dict,
) -> list[str]:
    reasons = []
    base_auc, tol = baseline.realised_auc, config.auc_tolerance
    evidence["baseline_auc"] = base_auc
    est, high = window.estimated_auc, window.estimated_auc_high
    evidence["estimated_auc"] = {"value": est, "band_high": high, "limit": base_auc - tol}
    if _finite(est, high, base_auc) and est < base_auc - tol and high < base_auc:
        reasons.append(
            f"estimated AUC {est:.3f} (95% band up to {high:.3f}) is more than {tol:.2f} below "
            f"the champion's {base_auc:.3f} on held-out orders"
        )
    if recent.labelled >= config.min_labelled:
        real, real_high = recent.realised_auc, recent.realised_auc_high
        evidence["realised_auc"] = {"value": real, "ci_high": real_high, "limit": base_auc - tol}
        if _finite(real, real_high, base_auc) and real < base_auc - tol and real_high < base_auc:
            reasons.append(
                f"realised AUC {real:.3f} (95% CI up to {real_high:.3f}) on {recent.labelled:,} "
                f"predictions with known outcomes is more than {tol:.2f} below the champion's "
                f"{base_auc:.3f}"
            )
        brier, low, base_brier = (
            recent.realised_brier,
            recent.realised_brier_low,
            baseline.realised_brier,
        )
        limit = base_brier + config.brier_tolerance
        evidence["realised_brier"] = {"value": brier, "ci_low": low, "limit": limit}
        if _finite(brier, low, base_brier) and brier > limit and low > base_brier:
            reasons.append(
                f"realised Brier score {brier:.3f} (95% CI from {low:.3f}) is more than "
                f"{config.brier_tolerance:.2f} above the champion's {base_brier:.3f}"
            )
    return reasons


def _calibration(config: MonitoringSettings, recent: Performance, evidence: dict) -> list[str]:
    if recent.labelled < config.min_labelled:
        return []
    # The model's own probability is what the actions act on: compare it, not the recalibrated.
    said, seen = recent.predicted_late_rate_labelled, recent.realised_late_rate
    low, high = recent.realised_late_rate_low, recent.realised_late_rate_high
    evidence["late_rate"] = {"predicted": said, "realised": seen, "ci": [low, high]}
    if not _finite(said, seen, low, high):
        return []
    if _beyond(said, low, high, config.late_rate_tolerance):
        more = "more" if seen > said else "fewer"
        return [
            f"{more} orders late than predicted: {seen:.1%} realised (95% CI {low:.1%}–"
            f"{high:.1%}) vs {said:.1%} predicted"
        ]
    return []


def _due(
    config: MonitoringSettings, due: dict[str, dict[str, Any]] | None, evidence: dict
) -> list[str]:
    """Orders whose promise just passed: were as many late as the model said when it first
    scored them? The cohort is chosen by its promise, not by its outcome, so its late rate is
    not biased towards the outcomes that come first."""
    reasons: list[str] = []
    for name, cohort in (due or {}).items():
        least = config.min_labelled if name == "all" else config.segment_min_orders
        if cohort["orders"] < least:
            continue
        said, seen, low, high = (cohort[k] for k in ("predicted", "realised", "low", "high"))
        if _beyond(said, low, high, config.late_rate_tolerance):
            evidence.setdefault("due_flagged", {})[name] = cohort
            where = "" if name == "all" else f" in {name}"
            reasons.append(
                f"{'more' if seen > said else 'fewer'} orders late than predicted{where}: of "
                f"{cohort['orders']:,} orders whose promise just passed, {seen:.0%} were late "
                f"(95% CI {low:.0%}–{high:.0%}); the model said {said:.0%} when they were placed"
            )
    return reasons


def _flow(
    config: MonitoringSettings, flow: dict[str, dict[str, Any]] | None, evidence: dict
) -> list[str]:
    """Carriers delivering their in-flight orders confidently slower than expected."""
    reasons: list[str] = []
    for name, seg in (flow or {}).items():
        if (
            seg["expected"] >= config.flow_min_expected
            and seg["ratio_high"] < config.flow_ratio_alarm
        ):
            evidence.setdefault("flow_flagged", {})[name] = seg
            where = "" if name == "all" else f" in {name}"
            reasons.append(
                f"deliveries short{where}: {seg['delivered']:,} of its {seg['orders']:,} orders "
                f"in flight delivered, {seg['expected']:.0f} expected (flow ratio "
                f"{seg['ratio']:.2f}, 95% CI {seg['ratio_low']:.2f}–{seg['ratio_high']:.2f}; "
                f"alarm below {config.flow_ratio_alarm:.2f}); estimated late rate of its orders "
                f"{seg['estimated']:.0%}, the model said {seg['predicted']:.0%}"
            )
    return reasons


def _drift(
    config: MonitoringSettings,
    drift: DriftSummary,
    segments: dict[str, dict[str, Any]],
    evidence: dict,
) -> tuple[list[str], list[str]]:
    reasons, watch = [], []
    score = drift.drift_score
    evidence["drift_score"] = score
    top = ", ".join(s.feature for s in drift.top(3) if s.excess > 0) or "none"
    if score >= config.drift_severe:
        reasons.append(
            f"severe drift: importance-weighted drift score {score:.2f} (severe from "
            f"{config.drift_severe:.2f}); largest: {top}"
        )
    elif score >= config.drift_watch:
        watch.append(
            f"drift score {score:.2f} (watch from {config.drift_watch:.2f}); largest: {top}"
        )
    flagged = {}
    for name, seg in segments.items():
        if seg["predictions"] < config.segment_min_predictions:
            continue
        if seg["drift_score"] >= config.drift_severe:
            flagged[name] = seg
            reasons.append(
                f"severe drift in {name}: drift score {seg['drift_score']:.2f} over "
                f"{seg['predictions']:,} predictions; largest: {', '.join(seg['top_features'])}"
            )
        elif seg["prediction_shift"] >= config.drift_severe:
            # The model answering changed inputs with changed risk is the model working (a
            # storm raises a region's risk): worth a look, not evidence against the model.
            watch.append(
                f"predicted risk in {name} moved {seg['prediction_shift']:.2f} reference SDs "
                f"(mean P(late) {seg['reference_p']:.2f} → {seg['current_p']:.2f})"
            )
    evidence["segments_flagged"] = flagged
    return reasons, watch


def _beyond(predicted: float, low: float, high: float, tolerance: float) -> bool:
    """The realised late rate is more than ``tolerance`` away from the predicted one even at the
    near end of its 95 % interval: confident that the gap exceeds the tolerance. (Outcomes come
    in clusters — a storm delays a region's orders together — so a gap merely outside the
    interval is too easily found in one of twenty segments on a quiet day.)"""
    return low - predicted > tolerance or predicted - high > tolerance


def _finite(*values: float | None) -> bool:
    return all(v is not None and v == v and abs(v) != float("inf") for v in values)
