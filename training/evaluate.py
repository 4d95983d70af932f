"""Evaluation on the test window, every figure beside the oracle's on the same rows.

The oracle's ``p_late`` is the true late probability *at creation*: it is compared with the
model on creation snapshots. For later stages the model knows more than the oracle did, so the
oracle's AUC there is reported only as a floor (``oracle_auc_at_creation``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from orderlens.dimensions import BY_NAME
from training import metrics
from training.baselines import PREFIX as BASELINE_PREFIX
from training.delay import DelayModels
from training.matrix import FeatureSpec, to_matrix
from training.value import ValueModels

ORACLE_PREFIX = "oracle__"


def with_oracle(frame: pd.DataFrame, oracle: pd.DataFrame | None) -> pd.DataFrame:
    """``frame`` with the oracle's columns as ``oracle__<name>`` (NaN without an oracle)."""
    if oracle is None:
        return frame
    renamed = oracle.rename(columns={c: ORACLE_PREFIX + c for c in oracle if c != "order_id"})
    return frame.merge(renamed, on="order_id", how="left")


def matrix_for(frame: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """The model matrix, with features the frame lacks sent as missing (a champion trained with
    a feature the candidate's data no longer has is still comparable)."""
    absent = [name for name in spec.names if name not in frame]
    if absent:
        frame = frame.assign(**{name: np.nan for name in absent})
    return to_matrix(frame, spec)


def _oracle(frame: pd.DataFrame, name: str) -> np.ndarray:
    column = ORACLE_PREFIX + name
    return frame[column].to_numpy(np.float64) if column in frame else np.full(len(frame), np.nan)


def evaluate_delay(models: DelayModels, test: pd.DataFrame) -> dict[str, Any]:
    """Delay metrics on ``test`` (delay rows of the test window, oracle columns optional).

    Headline figures are on creation snapshots, where the oracle applies; ``all_stages`` and
    ``by_stage`` cover the later snapshots.
    """
    prediction = models.predict(matrix_for(test, models.spec))
    y = test["is_late"].to_numpy(np.float64)
    hours = test["delay_hours"].to_numpy(np.float64)
    stage = test["snapshot_stage"].to_numpy()
    created = stage == "created"
    p = prediction["p_late"]
    oracle_p = _oracle(test, "p_late")
    oracle_hours = _oracle(test, "expected_delay_hours")
    report: dict[str, Any] = {
        "n": int(created.sum()),
        "auc": metrics.auc(y[created], p[created]),
        "oracle_auc": metrics.auc(y[created], oracle_p[created]),
        "pr_auc": metrics.pr_auc(y[created], p[created]),
        "oracle_pr_auc": metrics.pr_auc(y[created], oracle_p[created]),
        "brier": metrics.brier(y[created], p[created]),
        "oracle_brier": _or_none(metrics.brier, y[created], oracle_p[created]),
        "ece": metrics.ece(y[created], p[created]),
        "oracle_ece": _or_none(metrics.ece, y[created], oracle_p[created]),
        "hours_mae": float(np.mean(np.abs(prediction["hours"][created] - hours[created]))),
        "oracle_hours_mae": _or_none(
            lambda a, b: float(np.mean(np.abs(a - b))), oracle_hours[created], hours[created]
        ),
        "hours_p90_coverage": float(np.mean(hours <= prediction["hours_p90"] + 1e-9)),
        "all_stages": {
            "n": len(test),
            "auc": metrics.auc(y, p),
            "ece": metrics.ece(y, p),
            "brier": metrics.brier(y, p),
            "hours_mae": float(np.mean(np.abs(prediction["hours"] - hours))),
        },
    }
    report["auc_ratio"] = _div(report["auc"], report["oracle_auc"])
    report["base_rate"] = float(y[created].mean()) if created.any() else None
    report["served"] = dict(models.served)
    baselines = baseline_report(test[created], y[created])
    if baselines:
        report["baselines"] = baselines
        report["baseline_gate"] = baseline_gate(report, models.blend)
    report["by_stage"] = {
        str(s): {
            "n": int(mask.sum()),
            "auc": metrics.auc(y[mask], p[mask]),
            "oracle_auc_at_creation": metrics.auc(y[mask], oracle_p[mask]),
            "ece": metrics.ece(y[mask], p[mask]),
            "late_rate": float(y[mask].mean()),
        }
        for s in pd.unique(stage)
        for mask in [stage == s]
    }
    return report


def baseline_report(rows: pd.DataFrame, y: np.ndarray) -> dict[str, dict[str, Any]]:
    """AUC, PR-AUC, Brier and ECE of each baseline stored with the rows (``baseline__*``)."""
    out = {}
    for column in rows.columns:
        if not column.startswith(BASELINE_PREFIX):
            continue
        p = rows[column].to_numpy(np.float64)
        out[column.removeprefix(BASELINE_PREFIX)] = {
            "auc": metrics.auc(y, p),
            "pr_auc": metrics.pr_auc(y, p),
            "brier": _or_none(lambda p, y: metrics.brier(y, p), p, y),
            "ece": _or_none(lambda p, y: metrics.ece(y, p), p, y),
        }
    return out


def baseline_gate(delay: dict[str, Any], blend: float = 1.0) -> dict[str, Any]:
    """Whether the served model beats the best baseline on AUC *and* Brier (creation rows).

    When the served model is the logistic baseline itself (``blend`` 0: it won on cross-fitted
    log loss), it is compared with the other baselines.
    """
    rivals = {
        name: row
        for name, row in delay.get("baselines", {}).items()
        if not (blend == 0.0 and name == "logistic_all")
    }
    aucs = {n: r["auc"] for n, r in rivals.items() if r.get("auc") is not None}
    briers = {n: r["brier"] for n, r in rivals.items() if r.get("brier") is not None}
    best_auc = max(aucs, key=aucs.get) if aucs else None
    best_brier = min(briers, key=briers.get) if briers else None
    auc_ok = best_auc is None or (delay["auc"] is not None and delay["auc"] > aucs[best_auc])
    brier_ok = best_brier is None or delay["brier"] < briers[best_brier]
    return {
        "best_auc_baseline": best_auc,
        "best_brier_baseline": best_brier,
        "beats_auc": bool(auc_ok),
        "beats_brier": bool(brier_ok),
        "passed": bool(auc_ok and brier_ok),
    }


def evaluate_value(models: ValueModels, test: pd.DataFrame) -> dict[str, Any]:
    """Per dimension: the metric (R² or AUC), the model's score and the oracle's on the same
    rows, and their ratio (AUC ratios above chance)."""
    raw = models.predict_raw(matrix_for(test, models.spec))
    report = {}
    for name in raw.columns:
        dim = BY_NAME[name]
        y = test[name].to_numpy(np.float64)
        grade = metrics.auc if dim.metric == "auc" else metrics.r2
        score = grade(y, raw[name].to_numpy())
        oracle = grade(y, _oracle(test, name))
        report[name] = {
            "metric": dim.metric,
            "score": score,
            "oracle": oracle,
            "ratio": metrics.ratio(score, oracle, dim.metric),
        }
    return report


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    """The headline figures against the targets (AUC ≥ 0.97 × oracle, ECE ≤ 0.02, mean value
    ratio ≥ 0.9)."""
    ratios = [d["ratio"] for d in report["value"].values() if d.get("ratio") is not None]
    mean_ratio = float(np.mean(ratios)) if ratios else None
    delay = report["delay"]
    return {
        "delay_auc_ratio": delay.get("auc_ratio"),
        "delay_auc": delay.get("auc"),
        "delay_ece": delay.get("ece"),
        "delay_served": delay.get("served", {}).get("model"),
        "delay_beats_baselines": delay.get("baseline_gate", {}).get("passed"),
        "value_mean_ratio": mean_ratio,
        "targets_met": {
            "delay_auc": delay.get("auc_ratio") is not None and delay["auc_ratio"] >= 0.97,
            "delay_ece": delay.get("ece") is not None and delay["ece"] <= 0.02,
            "value_mean_ratio": mean_ratio is not None and mean_ratio >= 0.9,
        },
    }


def evaluate(
    delay: DelayModels, value: ValueModels, delay_test: pd.DataFrame, value_test: pd.DataFrame
) -> dict[str, Any]:
    """The full report: ``{"delay": …, "value": {dimension: …}, "summary": …}``."""
    report = {
        "delay": evaluate_delay(delay, delay_test),
        "value": evaluate_value(value, value_test),
    }
    report["summary"] = summarize(report)
    if not has_oracle(delay_test):
        report = without_oracle(report)
    return strict_json(report)


def has_oracle(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` carries oracle columns with values (the simulator's worlds only)."""
    columns = [c for c in frame.columns if c.startswith(ORACLE_PREFIX)]
    return bool(columns) and bool(frame[columns].notna().any().any())


def without_oracle(report: Any) -> Any:
    """``report`` without the figures that only an oracle gives (``oracle*`` keys and ratios to
    the oracle): on a shop's own data they would all be empty."""
    if isinstance(report, dict):
        return {
            k: without_oracle(v)
            for k, v in report.items()
            if not (k.startswith("oracle") or k in ORACLE_ONLY)
        }
    return report


ORACLE_ONLY = frozenset({"auc_ratio", "ratio", "delay_auc_ratio", "value_mean_ratio"})
"""Keys that are ratios to the oracle."""


def strict_json(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±inf) as None: the report is strict JSON."""
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _or_none(fn, a: np.ndarray, b: np.ndarray) -> float | None:
    return None if not np.isfinite(a).any() else fn(a, b)


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b
