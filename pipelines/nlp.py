"""The ``nlp`` flow: train the ticket pipelines when the tickets changed, then extract signals.

Both steps are cached on the tickets in the lake (its part files), so a daily run with no new
tickets neither retrains nor re-reads them. Cached results live in ``<home>/prefect/storage``:
remove that with the outputs it describes.
"""

from __future__ import annotations

import io
import os
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.context import TaskRunContext

from orderlens.settings import Settings
from pipelines.data import CACHE_EXPIRATION, RESILIENT
from pipelines.resilience import cache_key, listing_fingerprint
from pipelines.runtime import flow_settings, run_logger, run_name


def _tickets_fingerprint(settings: Settings) -> str:
    return listing_fingerprint(settings.lake_dir / "tickets")


def train_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """The tickets in the lake and the training size."""
    settings: Settings = parameters["settings"]
    return cache_key(
        "nlp-train",
        settings.home,
        tickets=_tickets_fingerprint(settings),
        smoke=parameters["smoke"],
    )


def extract_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """The tickets in the lake and the pipeline version that reads them."""
    settings: Settings = parameters["settings"]
    return cache_key(
        "nlp-extract",
        settings.home,
        tickets=_tickets_fingerprint(settings),
        version=parameters["version"] or "untrained",
    )


@task(cache_key_fn=train_cache_key, cache_expiration=CACHE_EXPIRATION, **RESILIENT)
def train_nlp_task(settings: Settings, smoke: bool = False) -> dict[str, Any]:
    """Train the ticket pipelines on the labelled tickets of the lake; make them current.

    Returns:
        ``version``, ``path`` and held-out ``metrics`` per language; or ``skipped`` with the
        reason when no ticket carries labels (the signals then come from the current version,
        or from the untrained defaults).
    """
    from features.lake import load_tickets
    from nlp.training import train_pipelines

    os.environ.setdefault("ANSI_COLORS_DISABLED", "1")  # spaCy's log would carry colour codes
    tickets, source = load_tickets(settings)
    if "labels" not in tickets or tickets["labels"].isna().all():
        run_logger().warning("tickets from %s carry no labels: nothing to train on", source)
        return {"skipped": f"tickets from {source} carry no labels"}
    log = io.StringIO()
    result = train_pipelines(tickets, settings, smoke=smoke, data_source=source, stdout=log)
    logger = run_logger()
    logger.info("trained ticket pipelines %s on %d tickets", result.version, len(tickets))
    for lang, metrics in result.metrics.items():
        logger.info("%s: held-out %s", lang, {k: v for k, v in metrics.items() if k != "labels"})
    return {"version": result.version, "path": str(result.path), "metrics": result.metrics}


@task(cache_key_fn=extract_cache_key, cache_expiration=CACHE_EXPIRATION, **RESILIENT)
def extract_signals_task(settings: Settings, version: str | None) -> dict[str, Any]:
    """Turn every ticket of the lake into signals with pipeline ``version`` (None: nothing was
    ever trained, the untrained defaults answer).

    Returns:
        ``rows``, the parquet ``path`` written (``<home>/nlp/signals.parquet``) and ``models``
        (rows per model that answered).
    """
    from features.lake import load_tickets
    from nlp.extract import extract_signals
    from nlp.scoring import TicketModels

    tickets, source = load_tickets(settings)
    signals = extract_signals(tickets, TicketModels.load(settings, version))
    target = settings.signals_path
    target.parent.mkdir(parents=True, exist_ok=True)
    signals.to_parquet(target, index=False)
    run_logger().info("%d tickets from %s -> %s", len(signals), source, target)
    models = {str(k): int(v) for k, v in signals["model"].value_counts().items()}
    return {"rows": len(signals), "path": str(target), "models": models}


@flow(name="nlp", flow_run_name=run_name("nlp"))
def nlp_flow(home: str | None = None, smoke: bool = False, train: bool = True) -> dict[str, Any]:
    """Train (when the tickets changed) and run the ticket pipelines over the lake's tickets.

    Args:
        home: run-time root (default: settings).
        smoke: two epochs — the smoke size used by tests and demos.
        train: False only extracts, with the current version (or the untrained defaults).

    Returns:
        ``version``, ``metrics`` (when trained), ``signals`` rows; or ``skipped`` with the reason
        when the lake holds no tickets (an optional source).
    """
    from nlp.store import current_version

    settings = flow_settings(home)
    logger = run_logger()
    if not (settings.lake_dir / "tickets").is_dir():
        logger.warning("no tickets in the lake: ticket signals are off")
        return {"skipped": "no tickets in the lake"}
    trained = train_nlp_task(settings, smoke) if train else None
    # Not asked to train, or no labels: the current version, else the untrained defaults.
    version = trained["version"] if trained and "version" in trained else current_version(settings)
    signals = extract_signals_task(settings, version)
    metrics = trained.get("metrics", {}) if trained else {}
    create_table_artifact(
        key="nlp-metrics",
        table=[
            {
                "language": lang,
                "macro_f1": m.get("macro_f1"),
                "sentiment_auc": m.get("sentiment_auc"),
                "heldout_texts": m["n"],
            }
            for lang, m in metrics.items()
        ]
        or [{"language": "-", "macro_f1": None, "sentiment_auc": None, "heldout_texts": 0}],
        description=f"ticket pipelines {version or 'untrained'}: {signals['rows']} tickets "
        f"-> {signals['path']} (answered by {signals['models']})",
    )
    return {
        "version": version or "untrained",
        "metrics": metrics,
        "signals": signals["rows"],
        "models": signals["models"],
    }
