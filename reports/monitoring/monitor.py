"""One monitoring pass: the served predictions of the latest window judged against the
champion — drift, estimated and realised performance, per day and per segment — and the
verdict. ``orderlens monitor``, the Prefect ``monitor`` flow and the drift page all call
:func:`run_pass`; the flow adds the Evidently page and the retrain.

The moment of a pass (``as_of``) is the newest served prediction unless given: a replayed or
simulated period is judged at its own time, and nothing known only later (an outcome, a feature
value) is used.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from orderlens.settings import MonitoringSettings, Settings
from reports.monitoring.drift import (
    DriftSummary,
    compare_features,
    matched_reference,
    prediction_shift,
)
from reports.monitoring.flow import Flow, measure_flow
from reports.monitoring.performance import CalibrationMap, Performance, measure
from reports.monitoring.reference import load_reference
from reports.monitoring.served import (
    SEGMENT_COLUMNS,
    scoring_features,
    served_predictions,
    with_outcomes,
)
from reports.monitoring.verdict import Verdict, decide

AT_CREATION = pd.Timedelta(hours=1)
"""A prediction made within this time of the order's creation was made "at creation"."""
RECENT_DAYS = 7
"""Realised performance, in verdicts and per segment, covers the latest this many complete days
(days whose predictions' outcomes are all known; one day is too few)."""
COMPLETE_SHARE = 0.95
"""A day is complete when this share of its predictions have a known outcome."""


@dataclass
class MonitorPass:
    """What one pass found. :meth:`record` is the JSON kept per pass.

    Attributes:
        as_of: the moment of the pass.
        window_start: the first moment of the judged window (it ends at ``as_of``).
        window: performance of the window's predictions (estimated: outcomes are not known yet).
        recent: performance of the predictions of ``recent_days``, the latest
            :data:`RECENT_DAYS` complete days (estimated as at the time, realised).
        baseline: the champion on its held-out orders at the window's stage mix (None: none).
        drift: the window's drift against the champion's training rows (None: not measured).
        segments: ``"<column>=<value>"`` → drift and performance of one segment.
        daily: per day, performance estimated at the end of that day and realised as of now.
        period: estimated (as at the time) vs realised over the days whose outcomes are known.
        calibration: how the estimate was calibrated, in words.
        due: the orders whose outcome became known in the window, overall (``all``) and per
            segment: predicted (when first scored) vs realised late rate.
        flow: the in-flight orders' deliveries per carrier, observed vs expected
            (:mod:`reports.monitoring.flow`).
        verdict: the decision and its evidence.
        champion: the champion's version.
        notes: what could not be measured, and why.
        reference, current: the compared feature frames (for the Evidently page; not recorded).
    """

    as_of: pd.Timestamp
    window_start: pd.Timestamp
    window: Performance
    recent: Performance
    recent_days: list[str]
    baseline: Performance | None
    drift: DriftSummary | None
    segments: dict[str, dict[str, Any]]
    daily: list[dict[str, Any]]
    period: dict[str, Any]
    calibration: str
    due: dict[str, dict[str, Any]]
    flow: dict[str, Any]
    verdict: Verdict
    champion: str | None
    notes: list[str] = field(default_factory=list)
    reference: pd.DataFrame | None = None
    current: pd.DataFrame | None = None

    def record(self) -> dict[str, Any]:
        """The JSON-ready record: headline figures first (``alarm``, ``retrain``,
        ``drift_score``, ``estimated_auc``, ``realised_auc``, ``reasons``), then the detail."""
        window, recent = self.window.as_dict(), self.recent.as_dict()
        return _jsonable(
            {
                "as_of": self.as_of.isoformat(),
                "alarm": self.verdict.alarm,
                "retrain": self.verdict.retrain,
                "drift_score": self.drift.drift_score if self.drift else None,
                "prediction_shift": self.drift.prediction_shift if self.drift else None,
                "estimated_auc": window["estimated_auc"],
                "realised_auc": recent["realised_auc"],
                "reasons": self.verdict.reasons,
                "watch": self.verdict.watch,
                "window": {"start": self.window_start.isoformat(), **window},
                "recent": {"days": self.recent_days, **recent},
                "baseline": self.baseline.as_dict() if self.baseline else None,
                "calibration": self.calibration,
                "due": self.due,
                "flow": self.flow,
                "champion": self.champion,
                "drift": self.drift.as_dict() if self.drift else None,
                "segments": self.segments,
                "daily": self.daily,
                "period": self.period,
                "evidence": self.verdict.evidence,
                "notes": self.notes,
            }
        )


# --- the pass --------------------------------------------------------------------------------
def run_pass(
    settings: Settings, *, as_of: pd.Timestamp | None = None, retrain_allowed: bool = True
) -> MonitorPass:
    """Judge the latest window of served predictions.

    Args:
        settings: the home and the monitoring settings.
        as_of: the moment of the pass (default: the newest served prediction).
        retrain_allowed: False: the verdict never asks for a retrain (e.g. right after one).

    Returns:
        The pass (see :class:`MonitorPass`); a pass with nothing served says so in its verdict.
    """
    from training.registry import champion_version, load_champion

    config = settings.monitoring
    as_of = _moment(as_of) if as_of is not None else latest_prediction_time(settings)
    champion = champion_version(settings)
    if as_of is None:
        return _empty_pass(champion, "nothing served yet: the prediction log is empty")
    first = as_of - timedelta(days=config.history_days + config.calibration_days)
    predictions = served_predictions(settings, first, as_of + pd.Timedelta(microseconds=1))
    outcomes = read_outcomes(settings)
    grace = timedelta(hours=config.outcome_grace_hours)
    predictions = with_outcomes(predictions, outcomes, as_of, grace)
    predictions["delivered_at"] = delivered_by(predictions, outcomes, as_of - grace)
    predictions["stage"] = prediction_stage(predictions)
    shipped = shipped_orders(settings, outcomes, as_of - grace)
    start = window_start(predictions, as_of, config)
    window = predictions[predictions["predicted_at"] >= start]
    calibration = fit_calibration(predictions, as_of, config)
    flow = in_flight(predictions, calibration, shipped, as_of, config)
    # Labels known so far count as they are; the rest by their calibrated P(late), raised for a
    # carrier whose deliveries are confidently short (what the model's inputs cannot show).
    expected = flow.estimate(window, calibration.predict(window["p_late"], window["stage"]))
    performance = measure(window["p_late"], expected)
    daily, expected_then, complete = daily_series(predictions, as_of, config, shipped)
    recent_days = complete[-RECENT_DAYS:]
    recent = pooled(predictions, expected_then, recent_days)
    notes: list[str] = []
    models = load_champion(settings) if champion else None
    reference = load_reference(settings) if models else None
    if models is None:
        notes.append("no champion model set: drift and baselines not measured")
    elif reference is None:
        notes.append("the champion has no reference recorded: drift and baselines not measured")
    baseline = held_out_baseline(reference, window) if reference is not None else None
    drift, segments, frames = None, {}, (None, None)
    if models is not None and reference is not None and len(window):
        drift, segments, frames = measure_drift(settings, models, reference, window, notes)
    for name, figures in segment_performance(predictions, expected_then, recent_days).items():
        segments.setdefault(name, {})["performance"] = figures
    due = orders_due(predictions, as_of, start, grace)
    verdict = decide(
        config,
        as_of=as_of,
        due=due,
        flow=flow.segments,
        window=performance,
        recent=recent,
        baseline=baseline,
        drift=drift,
        segments={k: v for k, v in segments.items() if "drift_score" in v},
        last_retrain=last_retrain_asked(settings, before=as_of),
        retrain_allowed=retrain_allowed and models is not None,
    )
    period = {"days": [d.date().isoformat() for d in complete]}
    if complete:
        figures = pooled(predictions, expected_then, complete)
        period |= {
            "predictions": figures.labelled,
            "estimated_auc": figures.estimated_auc_labelled,
            "realised_auc": figures.realised_auc,
            "difference": figures.estimated_auc_labelled - figures.realised_auc,
        }
    return MonitorPass(
        as_of=as_of,
        window_start=start,
        window=performance,
        recent=recent,
        recent_days=[d.date().isoformat() for d in recent_days],
        baseline=baseline,
        drift=drift,
        segments=segments,
        daily=daily,
        period=period,
        calibration=calibration.describe(),
        due=due,
        flow={"observed_at": flow.observed_at.isoformat(), "segments": flow.segments},
        verdict=verdict,
        champion=champion,
        notes=notes,
        reference=frames[0],
        current=frames[1],
    )


def read_outcomes(settings: Settings) -> pd.DataFrame:
    """The lake's outcomes: ``order_id``, ``delivered_at`` and, when the shop sends it,
    ``status`` (empty frame before any outcome arrived)."""
    from features.lake import has_table, read_lake

    if not has_table(settings, "outcomes"):
        return pd.DataFrame(columns=["order_id", "delivered_at"])
    outcomes = read_lake(settings, "outcomes")
    return outcomes[[c for c in ("order_id", "delivered_at", "status") if c in outcomes]]


def delivered_by(
    predictions: pd.DataFrame, outcomes: pd.DataFrame, moment: pd.Timestamp
) -> pd.Series:
    """Each prediction's order's delivery time, where it was delivered by ``moment`` (else
    NaT: a delivery the outcomes feed may not have sent yet is not known)."""
    if outcomes.empty or "order_id" not in outcomes:
        return pd.Series(pd.NaT, index=predictions.index, dtype="datetime64[us, UTC]")
    delivered = outcomes.drop_duplicates("order_id", keep="last").set_index("order_id")
    times = predictions["order_id"].map(delivered["delivered_at"])
    return times.where(times <= moment)


def shipped_orders(
    settings: Settings, outcomes: pd.DataFrame, moment: pd.Timestamp
) -> pd.DataFrame:
    """Every order in the lake placed before ``moment`` with its carrier, promise and delivery
    (where delivered by ``moment``): the carriers' delivery timing is measured on them."""
    from features.lake import has_table, read_lake

    columns = ["order_id", "created_at", "promised_at", "carrier_id"]
    if not has_table(settings, "orders"):
        return pd.DataFrame(columns=[*columns, "delivered_at"])
    orders = read_lake(settings, "orders", columns=columns)
    orders = orders[orders["created_at"] < moment].reset_index(drop=True)
    return orders.assign(delivered_at=delivered_by(orders, outcomes, moment))


def in_flight(
    predictions: pd.DataFrame,
    calibration: CalibrationMap,
    shipped: pd.DataFrame,
    at: pd.Timestamp,
    config: MonitoringSettings,
) -> Flow:
    """The deliveries of the orders in flight at ``at`` (each order by its first served
    prediction), per carrier, against what the calibrated P(late) and each carrier's timing
    lead to expect."""
    served = predictions[predictions["predicted_at"] <= at]
    first = served.sort_values("predicted_at", kind="stable").drop_duplicates("order_id")
    return measure_flow(
        first,
        calibration.predict(first["p_late"], first["stage"]),
        shipped[shipped["created_at"] < at],
        at,
        timedelta(hours=config.outcome_grace_hours),
        history=timedelta(days=config.calibration_days),
        in_flight_days=config.in_flight_days,
        alarm_ratio=config.flow_ratio_alarm,
        min_expected=config.flow_min_expected,
    )


def latest_prediction_time(settings: Settings) -> pd.Timestamp | None:
    """The newest served prediction's moment (None: nothing logged)."""
    from orderlens.records import read_prediction_log

    root = settings.prediction_log_dir
    days = (
        sorted(p.name.removeprefix("date=") for p in root.glob("date=*")) if root.is_dir() else []
    )
    for day in reversed(days):
        log = read_prediction_log(settings, start=pd.Timestamp(day).date())
        if len(log):
            return pd.Timestamp(log["as_of"].fillna(log["logged_at"]).max())
    return None


def prediction_stage(predictions: pd.DataFrame) -> np.ndarray:
    """``at_creation`` (scored within an hour of being placed) or ``later`` for each logged
    prediction: the two are calibrated, and compared, apart."""
    if predictions.empty:
        return np.array([], dtype=object)
    age = predictions["predicted_at"] - predictions["created_at"]
    return np.where(age < AT_CREATION, "at_creation", "later")


def window_start(
    predictions: pd.DataFrame, as_of: pd.Timestamp, config: MonitoringSettings
) -> pd.Timestamp:
    """The start of the judged window: ``window_days`` before ``as_of``, reaching back a day at a
    time (up to ``max_window_days``) while it holds fewer than ``min_window_predictions``."""
    times = predictions["predicted_at"]
    for days in range(config.window_days, max(config.max_window_days, config.window_days) + 1):
        start = as_of - timedelta(days=days)
        if (times >= start).sum() >= config.min_window_predictions:
            return start
    return as_of - timedelta(days=max(config.max_window_days, config.window_days))


def fit_calibration(
    predictions: pd.DataFrame, at: pd.Timestamp, config: MonitoringSettings
) -> CalibrationMap:
    """The calibration map known at ``at``: fitted on the predictions of the previous
    ``calibration_days`` days that were complete at ``at`` (their outcomes all known). A day
    whose outcomes are still coming holds the orders whose outcome comes first — in-transit
    orders past their promise, late by then — and would teach the map that orders are later
    than they are."""
    since = at - timedelta(days=config.calibration_days)
    rows = predictions[(predictions["predicted_at"] >= since) & (predictions["predicted_at"] < at)]
    known = (rows["known_at"] <= at).to_numpy()
    share = pd.Series(known, index=rows.index).groupby(rows["day"]).mean()
    complete = share[share >= COMPLETE_SHARE].index
    fit = rows[known & rows["day"].isin(complete).to_numpy()]
    return CalibrationMap().fit(fit["p_late"], fit["late"], fit["stage"])


def held_out_baseline(reference: pd.DataFrame, window: pd.DataFrame) -> Performance | None:
    """The champion's realised performance on its held-out orders, at the window's mix of
    stages (None without held-out rows)."""
    held_out = reference[reference["split"] == "test"]
    if held_out.empty or "p_late" not in held_out or window.empty:
        return None
    held_out = held_out.assign(stage=_reference_stage(held_out))
    matched = matched_reference(held_out, window, len(held_out), stage_column="stage")
    if matched.empty:
        return None
    p = matched["p_late"].to_numpy()
    return measure(p, p, matched["is_late"].to_numpy(np.float64), min_labelled=30)


def measure_drift(
    settings: Settings,
    models: Any,
    reference: pd.DataFrame,
    window: pd.DataFrame,
    notes: list[str],
) -> tuple[DriftSummary | None, dict[str, dict[str, Any]], tuple[Any, Any]]:
    """Drift of the window's features (and predicted risk) against the champion's reference,
    overall and per segment with enough predictions."""
    from reports.data import regions
    from reports.monitoring.reference import (
        categorical_features,
        champion_importance,
        cumulative_features,
    )

    config = settings.monitoring
    train = reference[reference["split"] == "train"]
    if train.empty:
        notes.append("the reference holds no training rows: drift not measured")
        return None, {}, (None, None)
    sample = _orders_sample(window, config.current_rows)
    current = scoring_features(settings, sample)
    current["p_late"] = sample["p_late"].to_numpy()
    matched = matched_reference(train, current, config.reference_rows)
    importance = champion_importance(models, matched)
    categorical, cumulative = categorical_features(models), cumulative_features(settings)
    held_out = reference[reference["split"] == "test"]
    held_out = held_out.assign(stage=_reference_stage(held_out))
    sample_stage = sample.assign(stage=sample["stage"].to_numpy())

    def judge(ref: pd.DataFrame, cur: pd.DataFrame, ref_p: pd.DataFrame, cur_p: pd.DataFrame):
        summary = compare_features(
            matched_reference(ref, cur, config.reference_rows),
            cur,
            importance,
            categorical=categorical,
            cumulative=cumulative,
        )
        if not ref_p.empty:
            summary.prediction_shift = prediction_shift(
                matched_reference(ref_p, cur_p, config.reference_rows, stage_column="stage"), cur_p
            )
        return summary

    overall = judge(train, current, held_out, sample_stage)
    segments: dict[str, dict[str, Any]] = {}
    sides = {
        name: frame.assign(region=regions(frame["dest_region"]).to_numpy())
        if "dest_region" in frame and frame["dest_region"].notna().any()
        else frame
        for name, frame in (
            ("train", train),
            ("test", held_out),
            ("current", current),
            ("served", sample_stage),
        )
    }
    for column in ("carrier_id", "region", "channel"):
        if not all(column in f and f[column].notna().any() for f in sides.values()):
            continue
        counts = sides["current"][column].value_counts()
        for value in counts[counts >= config.segment_min_predictions].index:
            parts = {k: f[f[column] == value] for k, f in sides.items()}
            if parts["train"].empty:
                continue
            summary = judge(parts["train"], parts["current"], parts["test"], parts["served"])
            segments[f"{SEGMENT_COLUMNS[column]}={value}"] = {
                "predictions": len(parts["current"]),
                "drift_score": summary.drift_score,
                "prediction_shift": summary.prediction_shift,
                "reference_p": float(parts["test"]["p_late"].mean())
                if len(parts["test"])
                else None,
                "current_p": float(parts["current"]["p_late"].mean()),
                "top_features": [s.feature for s in summary.top(3) if s.excess > 0],
            }
    return overall, segments, (matched, current)


def orders_due(
    predictions: pd.DataFrame, as_of: pd.Timestamp, start: pd.Timestamp, grace: timedelta
) -> dict[str, dict[str, Any]]:
    """The orders whose outcome became known in ``[start, as_of]`` (promise + ``grace``), each
    with the P(late) of its first served prediction: overall (``all``) and per segment, the
    predicted and the realised late rate with Wilson's interval."""
    from reports.monitoring.performance import wilson

    first = predictions.sort_values("predicted_at", kind="stable").drop_duplicates("order_id")
    known_at = first["promised_at"] + grace
    cohort = first[(known_at >= start) & (known_at <= as_of) & first["late"].notna()]

    def figures(group: pd.DataFrame) -> dict[str, Any]:
        late = int(group["late"].sum())
        low, high = wilson(late, len(group))
        return {
            "orders": len(group),
            "predicted": float(group["p_late"].mean()),
            "realised": late / len(group),
            "low": low,
            "high": high,
        }

    if cohort.empty:
        return {}
    out = {"all": figures(cohort)}
    for column, label in SEGMENT_COLUMNS.items():
        if column == "stage" or column not in cohort or cohort[column].isna().all():
            continue
        for value, group in cohort.groupby(column, observed=True):
            out[f"{label}={value}"] = figures(group)
    return out


def segment_performance(
    predictions: pd.DataFrame, expected: pd.Series, days: list[pd.Timestamp]
) -> dict[str, dict[str, Any]]:
    """Estimated (as at the time) and realised performance per carrier, region, channel and
    order stage over ``days`` (the latest days whose outcomes are all known); before any day is
    complete, estimated only over the last :data:`RECENT_DAYS` days."""
    realised = bool(days)
    if not days:
        last = predictions["day"].drop_duplicates().sort_values()
        days = last.tail(RECENT_DAYS).tolist()
    mask = predictions["day"].isin(days).to_numpy()
    rows = predictions[mask].assign(expected=expected[mask].to_numpy())
    if not realised:
        rows = rows.assign(late=np.nan)
    out: dict[str, dict[str, Any]] = {}
    for column, label in SEGMENT_COLUMNS.items():
        if column not in rows or rows[column].isna().all():
            continue
        for value, group in rows.groupby(column, observed=True):
            if len(group) < 30:
                continue
            figures = measure(group["p_late"], group["expected"], group["late"], min_labelled=30)
            out[f"{label}={value}"] = figures.as_dict()
    return out


def daily_series(
    predictions: pd.DataFrame,
    as_of: pd.Timestamp,
    config: MonitoringSettings,
    shipped: pd.DataFrame | None = None,
) -> tuple[list[dict[str, Any]], pd.Series, list[pd.Timestamp]]:
    """Per day of the last ``history_days``: performance estimated with what was known at the
    end of that day (calibration, labels, in-flight deliveries), and realised with the outcomes
    known at ``as_of``.

    Returns:
        ``(daily rows, expected, complete days)``: ``expected`` is each prediction's calibrated
        P(late) as estimated at the end of its day (NaN before the history); complete days are
        those whose predictions' outcomes are (almost) all known — the only days whose realised
        figures are not biased towards the orders whose outcome comes first.
    """
    since = (as_of - timedelta(days=config.history_days)).floor("D")
    recent = predictions[predictions["predicted_at"] >= since]
    expected = pd.Series(np.nan, index=predictions.index)
    rows, complete = [], []
    for day, group in recent.groupby("day"):
        end = min(day + pd.Timedelta(days=1), as_of)
        calibration = fit_calibration(predictions, end, config)
        calibrated = calibration.predict(group["p_late"], group["stage"])
        if shipped is not None:
            then = predictions.assign(
                late=predictions["late"].where(predictions["known_at"] <= end)
            )
            flow = in_flight(then, calibration, shipped, end, config)
            calibrated = flow.estimate(then.loc[group.index], calibrated)
        expected[group.index] = calibrated
        labelled = int(group["late"].notna().sum())
        whole = labelled >= COMPLETE_SHARE * len(group)
        # A day still collecting outcomes shows its estimate only: its first outcomes are a
        # biased few (orders still scanned after their promise are late by then).
        late = group["late"] if whole else None
        figures = measure(group["p_late"], expected[group.index], late, min_labelled=30)
        rows.append({"day": day.date().isoformat(), **figures.as_dict(), "labelled": labelled})
        if whole:
            complete.append(day)
    return rows, expected, complete


def pooled(predictions: pd.DataFrame, expected: pd.Series, days: list[pd.Timestamp]) -> Performance:
    """Performance of the predictions of ``days``, estimated as at the time (``expected``) and
    realised where the outcome is known."""
    mask = predictions["day"].isin(days).to_numpy()
    rows = predictions[mask]
    return measure(rows["p_late"], expected[mask], rows["late"], min_labelled=30)


def last_retrain_asked(settings: Settings, before: pd.Timestamp) -> pd.Timestamp | None:
    """When an earlier pass (at or before ``before``) last asked for a retrain."""
    asked = [
        pd.Timestamp(r["as_of"])
        for r in pass_records(settings)
        if r.get("retrain") and pd.Timestamp(r["as_of"]) < before
    ]
    return max(asked) if asked else None


def record_path(settings: Settings, as_of: pd.Timestamp) -> Path:
    """Where the record of a pass at ``as_of`` is kept."""
    return settings.monitoring_dir / f"monitor-{as_of:%Y%m%dT%H%M%S}.json"


def save_record(settings: Settings, record: dict[str, Any]) -> Path:
    """Write a pass's record (atomically) and return its path."""
    path = record_path(settings, pd.Timestamp(record["as_of"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, default=str))
    tmp.replace(path)
    return path


def pass_records(settings: Settings) -> list[dict[str, Any]]:
    """Every kept pass record, oldest first (by ``as_of``)."""
    folder = settings.monitoring_dir
    records = []
    for path in sorted(folder.glob("monitor-*.json")) if folder.is_dir() else []:
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):  # a half-written file from a crash: skip it
            continue
    return sorted(records, key=lambda r: pd.Timestamp(r["as_of"]))


# --- helpers ---------------------------------------------------------------------------------
def _reference_stage(held_out: pd.DataFrame) -> np.ndarray:
    if "snapshot_stage" in held_out:
        return np.where(held_out["snapshot_stage"] == "created", "at_creation", "later")
    return np.full(len(held_out), "at_creation", dtype=object)


def _orders_sample(window: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """At most about ``rows`` predictions of the window, taking whole orders (all their
    predictions), so clustered predictions stay clustered."""
    if len(window) <= rows:
        return window.reset_index(drop=True)
    orders = window["order_id"].unique()
    share = rows / len(window)
    keep = np.random.default_rng(seed).choice(
        orders, size=max(1, int(len(orders) * share)), replace=False
    )
    return window[window["order_id"].isin(keep)].reset_index(drop=True)


def _moment(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _empty_pass(champion: str | None, why: str) -> MonitorPass:
    now = pd.Timestamp.now(tz="UTC")
    empty = measure(np.array([]), np.array([]))
    return MonitorPass(
        as_of=now,
        window_start=now,
        window=empty,
        recent=empty,
        recent_days=[],
        baseline=None,
        drift=None,
        segments={},
        daily=[],
        period={"days": []},
        calibration="",
        due={},
        flow={},
        verdict=Verdict(alarm=False, retrain=False, reasons=[why]),
        champion=champion,
        notes=[why],
    )


def _jsonable(value: Any) -> Any:
    """Floats that are not finite become None; numpy scalars plain Python."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value
