"""The ``train`` flow: historical features → delay + value models → evaluation → promotion gate.

Each task is one call into ``training/`` (:func:`training.data.load_training_data`,
:func:`training.train.train_model_set`, :func:`training.train.promote`). After a promotion the
champion's training features are kept as the drift monitor's reference. If the training stage
is not importable the flow raises :class:`TrainingUnavailable`, which ``daily`` and ``monitor``
record as "not run, and why" instead of failing.
"""

from __future__ import annotations

import contextlib
import importlib.util
from typing import TYPE_CHECKING, Any

import pandas as pd
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from orderlens.settings import Settings
from pipelines.data import RESILIENT
from pipelines.runtime import flow_settings, run_logger, run_name

if TYPE_CHECKING:
    from training.data import TrainingData

TRAINING_ENTRY_POINTS = ("training.data", "training.train", "training.registry")
"""Modules the flow calls: training sets, train + evaluate + promote, the model registry."""

FRAMES = {"cache_policy": NO_CACHE}
"""Tasks that take data frames are never cached: hashing gigabytes to look up a key is slower
than the work, and their inputs are already the output of cached tasks."""


class TrainingUnavailable(RuntimeError):
    """The training stage is not installed (or lacks an entry point this flow calls)."""


def missing_training() -> str | None:
    """Why training cannot run, or None when it can."""
    try:
        missing = [m for m in TRAINING_ENTRY_POINTS if importlib.util.find_spec(m) is None]
    except ModuleNotFoundError:
        missing = list(TRAINING_ENTRY_POINTS)
    return f"training/ does not provide {', '.join(missing)}" if missing else None


@task(**RESILIENT)
def training_data_task(settings: Settings, limit: int | None = None) -> TrainingData:
    """Both point-in-time training sets from the feature store, split by time, with the oracle."""
    from training.data import load_training_data

    data = load_training_data(settings, limit=limit)
    run_logger().info(
        "training data: %d orders, %d delay snapshots; window %s",
        len(data.value),
        len(data.delay),
        data.window(),
    )
    return data


@task(**FRAMES)
def train_task(settings: Settings, data: TrainingData, smoke: bool) -> dict[str, Any]:
    """Fit, evaluate against the oracle and register the delay and value models as a candidate set.

    Returns:
        ``version``, ``summary`` (headline metrics), ``seconds`` and ``trained_on`` (``local``,
        or the Dask scheduler's address and its worker count).
    """
    from training import boosting
    from training.train import train_model_set

    with dask_client(settings) as client, boosting.on_dask(client):
        result = train_model_set(settings, data, smoke=smoke, log=run_logger().info)
        trained_on = _cluster(client)
    return {
        "version": result.version,
        "summary": result.report.get("summary", {}),
        "seconds": round(result.seconds, 1),
        "trained_on": trained_on,
    }


def _cluster(client: Any) -> dict[str, Any] | str:
    """Where the boosting ran: ``local``, or the Dask scheduler and its workers."""
    if client is None:
        return "local"
    workers = client.scheduler_info().get("workers", {})
    return {"scheduler": client.scheduler.address, "workers": len(workers)}


def dask_client(settings: Settings) -> contextlib.AbstractContextManager[Any]:
    """A client of the cluster this task runs on when ``pipelines.task_runner`` is ``dask``
    (LightGBM then trains on the whole cluster), else a context of None.

    ``worker_client`` secedes the task from its worker's thread pool while it waits:
    ``lightgbm.dask`` needs a thread on every worker that holds data, this one's included.
    """
    if settings.pipelines.task_runner != "dask":
        return contextlib.nullcontext(None)
    from distributed import worker_client

    return worker_client()


def task_runner(settings: Settings) -> Any:
    """Prefect's ``DaskTaskRunner`` for ``pipelines.task_runner == "dask"`` (the cluster at
    ``dask_address``, else a local one of ``dask_workers`` single-threaded workers), else None."""
    config = settings.pipelines
    if config.task_runner != "dask":
        return None
    from prefect_dask import DaskTaskRunner

    if config.dask_address:
        return DaskTaskRunner(address=config.dask_address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": config.dask_workers,
            "threads_per_worker": 1,
            "processes": False,  # LightGBM releases the GIL; no copies of the data per process
            "dashboard_address": None,
        }
    )


@task(**RESILIENT)
def promotion_gate_task(settings: Settings, version: str) -> dict[str, Any]:
    """Promote ``version`` if it is not worse than the champion on the same rows.

    Returns:
        The comparison: ``promote`` (bool), ``version``, ``champion_before``, per-metric rows.
    """
    from training.train import promote

    comparison = promote(settings, version)
    run_logger().info(
        "promotion gate for %s: %s (champion before: %s)",
        version,
        "promoted" if comparison["promote"] else "kept the champion",
        comparison.get("champion_before"),
    )
    return comparison


@task(**(RESILIENT | FRAMES))
def save_reference_task(
    settings: Settings, training_set: pd.DataFrame, version: str, rows: int
) -> str:
    """Keep the champion's reference for the monitor: a sample of its training rows (drift is
    measured against what it learnt from) and its held-out rows scored by it (the baseline of
    the performance checks); see :mod:`reports.monitoring.reference`."""
    from reports.monitoring.reference import build_reference
    from training.registry import load_model_set

    reference = build_reference(training_set, load_model_set(settings, version), rows)
    path = settings.drift_reference_path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    reference.to_parquet(tmp, index=False)
    tmp.replace(path)  # the monitor never reads half a reference
    return str(path)


@flow(name="train", flow_run_name=run_name("train"))
def train_flow(
    home: str | None = None,
    smoke: bool = False,
    reason: str = "on demand",
    limit: int | None = None,
) -> dict[str, Any]:
    """Train the delay and value models, evaluate them, and promote them if they are not worse
    than the champion.

    Args:
        home: run-time root (default: settings).
        smoke: a few boosting rounds (tests, demos).
        reason: why this training runs (schedule, drift, …): logged and returned.
        limit: train on at most this many orders (sampled).

    Returns:
        ``reason``, ``version``, ``summary`` metrics, the gate's ``promotion`` and, when
        promoted, the ``reference`` file written for the monitor.

    Raises:
        TrainingUnavailable: the training stage is not installed.
    """
    why_not = missing_training()
    if why_not:
        raise TrainingUnavailable(why_not)
    settings = flow_settings(home)
    runner = task_runner(settings)
    if runner is not None:  # the task runner is a flow's: the steps run as a flow of their own
        home = str(settings.home)
        return train_on_dask.with_options(task_runner=runner)(home, smoke, reason, limit)
    return _train_steps(settings, smoke, reason, limit)


@flow(name="train-on-dask", flow_run_name=run_name("train-on-dask"))
def train_on_dask(
    home: str | None = None,
    smoke: bool = False,
    reason: str = "on demand",
    limit: int | None = None,
) -> dict[str, Any]:
    """The train flow's steps on Prefect's ``DaskTaskRunner`` (``pipelines.task_runner: dask``):
    LightGBM trains on the runner's cluster. Started by :func:`train_flow`."""
    return _train_steps(flow_settings(home), smoke, reason, limit)


def _train_steps(settings: Settings, smoke: bool, reason: str, limit: int | None) -> dict[str, Any]:
    run_logger().info("training in %s because %s (smoke=%s)", settings.home, reason, smoke)
    data = training_data_task(settings, limit)
    if settings.pipelines.task_runner == "dask":  # run on a worker of the runner's cluster
        trained = train_task.submit(settings, data, smoke).result()
    else:
        trained = train_task(settings, data, smoke)
    promotion = promotion_gate_task(settings, trained["version"])
    result: dict[str, Any] = {"reason": reason, **trained, "promotion": promotion}
    if promotion["promote"]:
        rows = settings.monitoring.reference_rows
        result["reference"] = save_reference_task(settings, data.delay, trained["version"], rows)
    create_table_artifact(
        key="train-metrics",
        table=[{"metric": k, "value": v} for k, v in trained["summary"].items()],
        description=f"model set {trained['version']} ({reason})",
    )
    create_markdown_artifact(key="promotion-gate", markdown=_gate_markdown(result))
    return result


def _gate_markdown(result: dict[str, Any]) -> str:
    promotion = result["promotion"]
    decision = "promoted" if promotion["promote"] else "not promoted"
    lines = [
        f"# Model set {result['version']}: {decision}",
        f"Why trained: {result['reason']}. Champion before: {promotion.get('champion_before')}.",
    ]
    if "reason" in promotion:
        lines.append(f"Gate: {promotion['reason']}.")
    if "warning" in promotion:
        lines.append(f"Warning: {promotion['warning']}.")
    if "baseline_gate" in promotion:
        lines.append(f"Against the baselines: {promotion['baseline_gate']}.")
    rows = {k: v for k, v in promotion.items() if isinstance(v, dict) and "candidate" in v}
    if rows:
        lines += ["", "| metric | candidate | champion | not worse |", "|---|---|---|---|"]
        lines += [
            f"| {k} | {v['candidate']} | {v['champion']} | {v['not_worse']} |"
            for k, v in rows.items()
        ]
    return "\n".join(lines)
