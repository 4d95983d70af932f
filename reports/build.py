"""Build every report under ``<home>/reports`` and the index page that links them.

:func:`build_reports` is what ``orderlens report`` and the Prefect ``report`` flow call. A page
that cannot be built from the data at hand (no prediction log, no outcomes, no trained model yet)
is left out, and the index says why: never an empty or made-up page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from orderlens.settings import Settings
from reports import html
from reports.evidently_pages import MAX_BYTES, SOURCE_TABLES, NotBuilt

logger = logging.getLogger(__name__)


@dataclass
class BuildResult:
    """What one build produced: page name → file and description, and page name → why not."""

    pages: dict[str, Path] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def build_all(
    settings: Settings, *, rows: int | None = None, out_dir: Path | None = None
) -> BuildResult:
    """Build every page that the data allows, then the index.

    Args:
        settings: locates the lake, the prediction log, the model registry and the output.
        rows: rows sampled into each Evidently page (default ``settings.monitoring.reference_rows``).
        out_dir: where to write (default ``settings.reports_dir``).
    """
    from features.lake import read_lake
    from reports import drift_page, health_page, model_card, value_page
    from reports import evidently_pages as ev
    from reports.data import load_inputs
    from reports.monitoring.monitor import pass_records, run_pass

    out = out_dir or settings.reports_dir
    rows = rows or settings.monitoring.reference_rows
    inputs = load_inputs(settings)
    result = BuildResult()
    card = model_card.load_card_data(settings)  # says why not before a champion exists
    passes: list = []  # the monitoring pass both drift pages show, run once when first needed

    def monitoring_pass():
        if not passes:
            passes.append(run_pass(settings, retrain_allowed=False))
        return passes[0]

    builders: dict[str, tuple[str, Callable[[Path], str]]] = {
        "value_attribution": (
            "value-attribution.html",
            lambda p: value_page.build(inputs, p, drivers=card.value_drivers),
        ),
        "order_health": ("order-health.html", lambda p: health_page.build(inputs, p)),
        "drift": (
            "drift.html",
            lambda p: drift_page.build(monitoring_pass(), pass_records(settings), p),
        ),
        "feature_drift": (
            "feature-drift.html",
            lambda p: ev.feature_drift(monitoring_pass(), p, rows),
        ),
        "prediction_drift": (
            "prediction-drift.html",
            lambda p: ev.prediction_drift(inputs, p, rows),
        ),
        "delay_quality": ("delay-quality.html", lambda p: ev.delay_quality(inputs, p, rows)),
        "value_quality": ("value-quality.html", lambda p: ev.value_quality(inputs, p, rows)),
        "model_card": ("model-card.html", lambda p: model_card.build(card, settings, p)),
    }
    for table in SOURCE_TABLES:
        builders[f"data_quality_{table}"] = (
            f"data-quality-{table}.html",
            lambda p, t=table: ev.data_quality(inputs, t, read_lake(settings, t), p, rows),
        )
    for name, (filename, build) in builders.items():
        path = out / filename
        try:
            result.descriptions[name] = build(path)
        except NotBuilt as why:
            result.skipped[name] = str(why)
            path.unlink(missing_ok=True)  # a page from an earlier run would now be stale
            continue
        result.pages[name] = path
        logger.info("report %s: %s (%d bytes)", name, path, path.stat().st_size)
    result.pages = {"index": write_index(out / "index.html", result), **result.pages}
    return result


def build_reports(settings: Settings, **options) -> dict[str, Path]:
    """Build the reports; returns page name → file (``index`` first). See :func:`build_all`."""
    return build_all(settings, **options).pages


def write_index(path: Path, result: BuildResult) -> Path:
    """The index page: every page with its one-line description and size, and what was not
    built and why."""
    rows = []
    for name, page in result.pages.items():
        size = page.stat().st_size
        rows.append(
            f"<tr><td class='l'><a href='{escape(page.name)}'>{escape(_title(name))}</a></td>"
            f"<td class='l'>{escape(result.descriptions[name])}</td><td>{_size(size)}</td></tr>"
        )
    listing = (
        "<div class='scroll'><table><tr><th class='l'>report</th><th class='l'>what it shows</th>"
        f"<th>size</th></tr>{''.join(rows)}</table></div>"
    )
    sections = [
        html.section(
            "Reports",
            listing,
            note=f"Every page is self-contained and readable offline; none exceeds {_size(MAX_BYTES)}.",
        )
    ]
    if result.skipped:
        sections.append(
            html.section(
                "Not built",
                html.table(
                    ["report", "why"], [[_title(n), why] for n, why in result.skipped.items()]
                ),
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        html.page("orderlens reports", "Drift, model quality, value and order health", sections),
        encoding="utf-8",
    )
    return path


def _title(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"
