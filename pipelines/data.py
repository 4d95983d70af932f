"""Data flows: simulate the synthetic world, ``ingest`` the sources, build the ``features``.

Each task is a thin, typed call into its stage (``simulator``, ``features.ingest``,
``features.store``); the flows add what only an orchestrator can: retries on transient errors,
caching on unchanged inputs, logs and artifacts in Prefect.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.context import TaskRunContext

from orderlens.settings import Settings
from pipelines.resilience import (
    RETRY_DELAYS_SECONDS,
    cache_key,
    content_fingerprint,
    listing_fingerprint,
    retry_on_transient,
    source_files,
)
from pipelines.runtime import flow_settings, run_logger, run_name

if TYPE_CHECKING:  # the stages import Feast and friends: only when a task runs
    from features.ingest import IngestSummary
    from features.store import BuildReport

CACHE_EXPIRATION = timedelta(days=7)
"""A cached result older than this is recomputed even if the inputs look unchanged (a week of
daily runs on the same files; long enough to help, short enough to heal a stale cache)."""

RESILIENT = {
    "retries": len(RETRY_DELAYS_SECONDS),
    "retry_delay_seconds": RETRY_DELAYS_SECONDS,
    "retry_condition_fn": retry_on_transient,
}


# --- cache keys ----------------------------------------------------------------------------
def ingest_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """The bytes of the source files (and the home they are ingested into).

    Ingest is idempotent, so skipping it on unchanged files is safe. Nothing about the lake is in
    the key: ingest itself changes the lake, so the next run would never hit. Cached results live
    in ``<home>/prefect``, so wiping a home wipes its cache too.
    """
    settings: Settings = parameters["settings"]
    source_dir = Path(parameters["source_dir"])
    mapping = parameters.get("mapping")
    return cache_key(
        "ingest",
        settings.home,
        sources=content_fingerprint(source_files(source_dir), source_dir),
        mapping=Path(mapping).read_text() if mapping and Path(mapping).is_file() else None,
    )


def build_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """The lake's part files: ingest only ever adds files, so the listing is the content."""
    settings: Settings = parameters["settings"]
    return cache_key("features-build", settings.home, lake=listing_fingerprint(settings.lake_dir))


def materialize_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """The build the online store was loaded from (its manifest carries ``built_at``)."""
    settings: Settings = parameters["settings"]
    manifest = settings.feature_repo_dir / "manifest.json"
    built = manifest.read_text() if manifest.is_file() else "absent"
    until = parameters.get("until")
    return cache_key("features-materialize", settings.home, manifest=built, until=str(until))


# --- tasks ---------------------------------------------------------------------------------
@task(task_run_name="simulate-{orders}-orders", **RESILIENT)
def simulate_world_task(settings: Settings, orders: int) -> dict[str, int]:
    """Simulate a synthetic world of ``orders`` orders into ``<home>/sources``.

    Returns:
        Rows per table written.
    """
    from simulator.world import WorldConfig, simulate_world, write_world

    sim = settings.simulation
    config = WorldConfig(n_orders=orders, seed=sim.seed, start=sim.start, days=sim.days)
    world = simulate_world(config)
    write_world(world, settings.sources_dir)
    rows = {table: len(frame) for table, frame in world.items()}
    run_logger().info("simulated %s -> %s", rows, settings.sources_dir)
    return rows


@task(
    task_run_name="ingest-{source_dir.name}",
    cache_key_fn=ingest_cache_key,
    cache_expiration=CACHE_EXPIRATION,
    **RESILIENT,
)
def ingest_task(source_dir: Path, settings: Settings, mapping: Path | None = None) -> IngestSummary:
    """Validate ``source_dir`` (through ``mapping`` when given) against the contract and add
    its new rows to the lake. Another ingest holding the lake is transient: retried."""
    from features.ingest import ingest_sources

    summary = ingest_sources(source_dir, settings, mapping=mapping)
    run_logger().info("%s", summary.as_table())
    return summary


@task(cache_key_fn=build_cache_key, cache_expiration=CACHE_EXPIRATION, **RESILIENT)
def build_features_task(settings: Settings) -> BuildReport:
    """Compute the feature views from the lake and apply them to the Feast registry."""
    from features.store import FeatureRepo

    report = FeatureRepo(settings).build()
    run_logger().info("%s", report.as_text())
    return report


@task(cache_key_fn=materialize_cache_key, cache_expiration=CACHE_EXPIRATION, **RESILIENT)
def materialize_task(settings: Settings, until: datetime | None = None) -> dict[str, Any]:
    """Load the newest feature values into the online store (incremental after the first run),
    up to ``until`` (default: the newest row of any view)."""
    from features.store import FeatureRepo

    result = FeatureRepo(settings).materialize(until)
    run_logger().info(
        "materialized %d views up to %s in %.1f s",
        len(result["views"]),
        result["end"],
        result["seconds"],
    )
    return result


def ingest_source(
    settings: Settings, source: str | None, mapping: str | None
) -> tuple[Path, Path | None]:
    """The folder and mapping to ingest: the arguments, else the settings, else the demo's
    ``<home>/sources`` without a mapping."""
    source_dir = Path(source) if source else settings.ingest.source or settings.sources_dir
    mapping_file = Path(mapping) if mapping else settings.ingest.mapping
    return source_dir, mapping_file


# --- flows ---------------------------------------------------------------------------------
@flow(name="ingest", flow_run_name=run_name("ingest"))
def ingest_flow(
    home: str | None = None, source: str | None = None, mapping: str | None = None
) -> dict[str, dict[str, Any]]:
    """Ingest the source files into the lake.

    Args:
        home: run-time root (default: settings).
        source: the export's folder (default: ``settings.ingest.source``, else
            ``<home>/sources``).
        mapping: mapping YAML for an export not in the contract (default:
            ``settings.ingest.mapping``).

    Returns:
        Per table: ``rows_in``, ``added``, ``already_present``, ``quarantined``,
        ``broken_rules``.
    """
    settings = flow_settings(home)
    source_dir, mapping_file = ingest_source(settings, source, mapping)
    summary = ingest_task(source_dir, settings, mapping_file)
    rows = [
        {
            "table": report.table,
            "rows_in": report.rows_in,
            "added": report.added,
            "already_present": report.already_present,
            "quarantined": report.quarantined,
            "broken_rules": ", ".join(f"{r} ×{n}" for r, n in report.broken_rules.most_common()),
        }
        for report in summary.tables.values()
        if report.present
    ]
    create_table_artifact(
        table=rows, key="ingest-summary", description=f"ingest of {summary.source_dir}"
    )
    return summary.as_dict()


@flow(name="features", flow_run_name=run_name("features"))
def features_flow(
    home: str | None = None, materialize: bool = True, until: datetime | None = None
) -> dict[str, Any]:
    """Build the feature views from the lake and (by default) materialize them online.

    Args:
        home: the home (default: the settings').
        materialize: load the online store.
        until: the moment the online store is loaded as of (default: the newest row of any
            view, the export's own present).

    Returns:
        ``views`` (rows per view), ``skipped`` (view → why) and ``materialized_until``.
    """
    settings = flow_settings(home)
    report = build_features_task(settings)
    online = materialize_task(settings, until) if materialize else None
    rows = [{"view": name, "rows": n, "status": "built"} for name, n in report.views.items()]
    rows += [{"view": name, "rows": 0, "status": why} for name, why in report.skipped.items()]
    create_table_artifact(table=rows, key="feature-views", description="feature views built")
    return {
        "views": report.views,
        "skipped": report.skipped,
        "materialized_until": online["end"] if online else None,
    }
