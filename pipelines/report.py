"""The ``report`` flow: every report page under ``<home>/reports`` and the index linking them.

One task calls :func:`reports.build_reports` (the same entry point as ``orderlens report``); the
flow adds a table artifact listing the pages and their sizes. A page the data does not allow yet
(no prediction log, no outcomes, no champion) is left out by ``reports`` and the index says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact

from orderlens.settings import Settings
from pipelines.data import RESILIENT
from pipelines.runtime import flow_settings, run_logger, run_name


@task(**RESILIENT)
def build_reports_task(
    settings: Settings, rows: int | None = None
) -> tuple[dict[str, Path], dict[str, str]]:
    """Build the report pages; returns page name → file (``index`` first) and page name → why
    it was not built."""
    from reports.build import build_all

    options: dict[str, Any] = {"rows": rows} if rows else {}
    result = build_all(settings, **options)
    logger = run_logger()
    logger.info("built %d report pages under %s", len(result.pages), settings.reports_dir)
    for name, why in result.skipped.items():
        logger.warning("report page %s not built: %s", name, why)
    return result.pages, result.skipped


@flow(name="report", flow_run_name=run_name("report"))
def report_flow(home: str | None = None, rows: int | None = None) -> dict[str, Any]:
    """Build the reports (drift, model quality, value attribution, model card, order health, data
    quality) and the index page.

    Args:
        home: run-time root (default: settings).
        rows: rows sampled into each Evidently page (default ``monitoring.reference_rows``).

    Returns:
        ``index`` (the index page), ``pages`` (name → file), ``bytes`` (name → size) and
        ``not_built`` (name → why: the index's "Not built" list).
    """
    settings = flow_settings(home)
    pages, skipped = build_reports_task(settings, rows)
    sizes = {name: path.stat().st_size for name, path in pages.items()}
    create_table_artifact(
        key="reports",
        table=[
            {"page": name, "file": str(path), "kilobytes": round(sizes[name] / 1024, 1)}
            for name, path in pages.items()
        ],
        description=f"reports built under {settings.reports_dir}",
    )
    return {
        "index": str(pages["index"]),
        "pages": {name: str(path) for name, path in pages.items()},
        "bytes": sizes,
        "not_built": skipped,
    }
