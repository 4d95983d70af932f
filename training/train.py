"""Train, evaluate, register and promote a model set: the steps ``orderlens train`` / ``promote``
and the Prefect ``train`` flow compose."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from features.labels import dimension_availability
from orderlens.settings import Settings
from training import registry
from training.baselines import baseline_predictions, creation_rows
from training.data import TrainingData
from training.delay import train_delay
from training.evaluate import evaluate, with_oracle
from training.value import train_value

PROMOTION_TOLERANCE = {"delay_auc": 0.002, "delay_ece": 0.005, "value_mean": 0.01}
"""How much worse than the champion a candidate may be and still count as "not worse":
re-evaluation noise on the same rows is zero, but tiny trade-offs (AUC for calibration) are
allowed."""


@dataclass
class TrainResult:
    """What :func:`train_model_set` produced."""

    version: str
    report: dict[str, Any]
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)
    """Seconds of each step: ``delay``, ``value`` (fitting), ``evaluate``, ``register``."""
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds of this process in each step (on a shared machine: what it would take idle,
    with one LightGBM thread)."""


def train_model_set(
    settings: Settings,
    data: TrainingData,
    *,
    smoke: bool = False,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Fit the delay and value models, evaluate them on the test window against the oracle,
    and register all of them as a candidate model set.

    Args:
        settings: run-time settings (hyper-parameters in ``settings.training``).
        data: training sets with their split (see :func:`training.data.load_training_data`).
        smoke: few boosting rounds (tests, quick checks).
        log: where progress lines go.
    """
    began = time.perf_counter()
    training = settings.training
    rounds = training.smoke_rounds if smoke else training.max_rounds
    skipped = tuple(data.skipped_views)
    if skipped:
        log(
            "training without the features of absent sources: "
            + "; ".join(f"{v} ({why})" for v, why in data.skipped_views.items())
        )
    stages: dict[str, float] = {}
    cpu: dict[str, float] = {}
    step, step_cpu = time.perf_counter(), time.process_time()

    def done(name: str) -> None:
        nonlocal step, step_cpu
        stages[name] = round(time.perf_counter() - step, 1)
        cpu[name] = round(time.process_time() - step_cpu, 1)
        step, step_cpu = time.perf_counter(), time.process_time()

    delay = train_delay(data.delay, training, rounds=rounds, skipped_views=skipped, log=log)
    done("delay")
    value = train_value(data.value, training, rounds=rounds, skipped_views=skipped, log=log)
    done("value")
    delay_test = with_oracle(data.delay[data.delay["split"] == "test"], data.oracle)
    # Baselines fitted on the same training rows, scored on the same test rows; their scores are
    # stored with the test window so every later re-evaluation compares on the same figures.
    delay_test = pd.concat(
        [
            delay_test,
            baseline_predictions(
                data.delay[data.delay["split"] == "train"],
                delay_test,
                delay.spec,
                data.delay[creation_rows(data.delay)],
            ),
        ],
        axis=1,
    )
    value_test = with_oracle(data.value[data.value["split"] == "test"], data.oracle)
    report = evaluate(delay, value, delay_test, value_test)
    done("evaluate")
    if data.oracle is None:
        log("no oracle for this data: oracle figures are empty")
    version = registry.register(
        settings,
        delay,
        value,
        report,
        delay_test=delay_test,
        value_test=value_test,
        window=data.window(),
        skipped_views=data.skipped_views,
        nlp_version=data.nlp_version,
        value_dimensions=dimension_availability(data.value, value.models),
        order_extras=[e.model_dump() for e in settings.features.order_extras],
    )
    # the report is registered with the set (evaluation.json, manifest metrics)
    done("register")
    return TrainResult(version, report, time.perf_counter() - began, stages, cpu)


def evaluate_version(settings: Settings, version: str, on: str | None = None) -> dict[str, Any]:
    """Re-evaluate model set ``version`` on the test window stored with set ``on`` (default:
    its own)."""
    model_set = registry.load_model_set(settings, version)
    folder = registry.model_set_dir(settings, on or version)
    delay_test = pd.read_parquet(folder / "test_delay.parquet")
    value_test = pd.read_parquet(folder / "test_value.parquet")
    return evaluate(model_set.delay, model_set.value, delay_test, value_test)


def compare(candidate: dict[str, Any], champion: dict[str, Any]) -> dict[str, Any]:
    """Candidate vs champion on the same rows: per headline metric both values and whether the
    candidate is not worse (within :data:`PROMOTION_TOLERANCE`)."""
    rows = {
        "delay_auc": (candidate["delay"]["auc"], champion["delay"]["auc"], True),
        "delay_ece": (candidate["delay"]["ece"], champion["delay"]["ece"], False),
        "value_mean": (_value_mean(candidate), _value_mean(champion), True),
    }
    out: dict[str, Any] = {}
    for name, (cand, champ, higher) in rows.items():
        tol = PROMOTION_TOLERANCE[name]
        if cand is None or champ is None:
            ok = champ is None
        else:
            ok = cand >= champ - tol if higher else cand <= champ + tol
        out[name] = {"candidate": cand, "champion": champ, "not_worse": ok}
    out["promote"] = all(row["not_worse"] for row in out.values())
    return out


def _value_mean(report: dict[str, Any]) -> float | None:
    """Mean per-dimension score (R² or AUC) over dimensions both sets model."""
    scores = [d["score"] for d in report["value"].values() if d.get("score") is not None]
    return sum(scores) / len(scores) if scores else None


def promote(settings: Settings, version: str | None = None) -> dict[str, Any]:
    """Make ``version`` (default: the latest candidate) the champion if it is not worse than the
    current champion on the candidate's test window (both re-evaluated on the same rows) and its
    delay model beats the best baseline on AUC and Brier (the first set is promoted either
    way, with a warning: a shop is never left without a service).

    Returns:
        The comparison with ``promote`` (bool) and ``version``; the pointer moved only if True.
    """
    version = version or registry.candidate_version(settings)
    if version is None:
        raise FileNotFoundError("no candidate model set: run `orderlens train` first")
    candidate = evaluate_version(settings, version)
    champion_version = registry.champion_version(settings)
    gate = candidate["delay"].get("baseline_gate")
    if champion_version is None:
        comparison: dict[str, Any] = {"promote": True, "reason": "no champion yet"}
        if gate is not None and not gate["passed"]:
            # A shop is never left without a service: the first set is served, and says so.
            comparison["warning"] = (
                "does not beat the best baseline "
                f"(AUC vs {gate['best_auc_baseline']}: {gate['beats_auc']}, "
                f"Brier vs {gate['best_brier_baseline']}: {gate['beats_brier']}); "
                "served because there is no other model set"
            )
    elif champion_version == version:
        comparison = {"promote": False, "reason": "already the champion"}
    else:
        champion = evaluate_version(settings, champion_version, on=version)
        comparison = compare(candidate, champion)
        if gate is not None and not gate["passed"]:
            comparison["promote"] = False
            comparison["reason"] = (
                "does not beat the best baseline on AUC and Brier "
                f"(best AUC: {gate['best_auc_baseline']}, best Brier: "
                f"{gate['best_brier_baseline']})"
            )
    if gate is not None:
        comparison["baseline_gate"] = gate
    comparison.update({"version": version, "champion_before": champion_version})
    if comparison["promote"]:
        registry.set_champion(settings, version, comparison)
    return comparison
