"""The ``monitor`` flow: one monitoring pass over the latest served predictions, its Evidently
page, its record, and — when the verdict asks for it — a retrain through the promotion gate.

The pass itself is :func:`reports.monitoring.monitor.run_pass` (``orderlens monitor`` and the
drift page use the same code): drift that means something (effect sizes, importance-weighted,
beyond sampling noise), performance estimated before outcomes arrive and realised after, per day
and per segment, and a verdict that asks for a retrain only on evidence and not within the
cool-down. Every run leaves ``<home>/monitoring/monitor-<as_of>.json`` (the record: figures,
decision, reasons) and ``drift-<as_of>.html`` (Evidently), plus a markdown artifact in Prefect.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from orderlens.settings import Settings
from pipelines.data import RESILIENT
from pipelines.runtime import flow_settings, run_logger, run_name

if TYPE_CHECKING:
    from reports.monitoring.monitor import MonitorPass


@task(**(RESILIENT | {"cache_policy": NO_CACHE}))
def pass_task(settings: Settings, as_of: str | None, retrain_allowed: bool) -> MonitorPass:
    """One monitoring pass at ``as_of`` (default: the newest served prediction)."""
    import pandas as pd

    from reports.monitoring.monitor import run_pass

    result = run_pass(
        settings,
        as_of=pd.Timestamp(as_of) if as_of else None,
        retrain_allowed=retrain_allowed,
    )
    record = result.record()
    run_logger().info(
        "monitor at %s: alarm=%s retrain=%s drift score %s, estimated AUC %s, realised AUC %s%s",
        record["as_of"],
        record["alarm"],
        record["retrain"],
        _figure(record["drift_score"]),
        _figure(record["estimated_auc"]),
        _figure(record["realised_auc"]),
        "".join(f"\n  - {reason}" for reason in record["reasons"]),
    )
    return result


@task(cache_policy=NO_CACHE)  # frames in: hashing them for a cache key costs more than the work
def drift_page_task(settings: Settings, result: MonitorPass) -> str | None:
    """The Evidently page of the pass's compared features under ``<home>/monitoring``."""
    from reports.evidently_pages import feature_drift_page

    if result.reference is None or result.current is None or result.drift is None:
        return None
    path = settings.monitoring_dir / f"drift-{result.as_of:%Y%m%dT%H%M%S}.html"
    feature_drift_page(result, path, rows=settings.monitoring.reference_rows)
    return str(path)


@task(**RESILIENT)
def record_task(settings: Settings, record: dict[str, Any]) -> str:
    """Keep the pass's record (decision, reasons, figures) as ``monitor-<as_of>.json``."""
    from reports.monitoring.monitor import save_record

    return str(save_record(settings, record))


@flow(name="monitor", flow_run_name=run_name("monitor"))
def monitor_flow(
    home: str | None = None,
    retrain: bool = True,
    smoke: bool = False,
    as_of: str | None = None,
    html: bool = True,
) -> dict[str, Any]:
    """Judge the latest served predictions and, on evidence, retrain and run the promotion gate.

    Args:
        home: run-time root (default: settings).
        retrain: allow the retrain the verdict asks for (False: judge only, e.g. right after the
            daily job trained).
        smoke: retrain at smoke size (tests, demos).
        as_of: the moment of the pass (ISO time; default: the newest served prediction).
        html: write the Evidently drift page of the pass.

    Returns:
        The record written to ``<home>/monitoring/monitor-<as_of>.json``: ``alarm``,
        ``retrain``, ``drift_score``, ``estimated_auc``, ``realised_auc``, ``reasons``, the
        detail, ``decision`` and, when a retrain ran, its outcome under ``retrain_run``.
    """
    from pipelines.train import missing_training, train_flow

    settings = flow_settings(home)
    result = pass_task(settings, as_of, retrain)
    record = result.record()
    record["html"] = drift_page_task(settings, result) if html else None
    record["decision"] = "retrain" if record["retrain"] else "none"
    why_not = missing_training() if record["retrain"] else None
    if why_not:
        record["decision"] = "retrain-unavailable"
        record["retrain_run"] = {"skipped": why_not}
        run_logger().warning("the verdict asks for a retrain, but %s", why_not)
    elif record["retrain"]:
        reason = "monitor: " + "; ".join(record["reasons"])
        record["retrain_run"] = train_flow(home=str(settings.home), smoke=smoke, reason=reason)
    record["record"] = record_task(settings, record)
    create_markdown_artifact(key="monitor", markdown=_markdown(record))
    return record


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _markdown(record: dict[str, Any]) -> str:
    window, recent = record["window"], record["recent"]
    reasons = "\n".join(f"- {r}" for r in record["reasons"]) or "- none"
    watch = "\n".join(f"- {w}" for w in record["watch"]) or "- none"
    retrain = record.get("retrain_run")
    return "\n".join(
        [
            f"# Monitor at {record['as_of']}",
            f"**Alarm: {record['alarm']} · decision: {record['decision']}**",
            "",
            "Reasons:",
            reasons,
            "",
            "Watch:",
            watch,
            "",
            "| | |",
            "|---|---|",
            f"| window | {window['predictions']} predictions since {window['start']} |",
            f"| estimated AUC | {_figure(window['estimated_auc'])} (95% band "
            f"{_figure(window['estimated_auc_low'])}–{_figure(window['estimated_auc_high'])}) |",
            f"| realised AUC | {_figure(recent['realised_auc'])} on {recent['labelled']} "
            "predictions with outcomes |",
            f"| champion on held-out orders | "
            f"{_figure((record['baseline'] or {}).get('realised_auc'))} |",
            f"| drift score | {_figure(record['drift_score'])} |",
            f"| predicted-risk shift | {_figure(record['prediction_shift'])} |",
            f"| Evidently page | {record.get('html') or '-'} |",
            f"| retrain | {json.dumps(retrain, default=str)[:300] if retrain else '-'} |",
        ]
    )
