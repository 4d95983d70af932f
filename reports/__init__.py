"""Reports for managers: Evidently drift and model quality, value attribution, model cards, order
health, and the index page linking them (self-contained HTML under ``<home>/reports``).

``build_reports(settings)`` is the one entry point (the CLI and the Prefect ``report`` flow call
it); importing this package loads nothing heavy.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orderlens.settings import Settings


def build_reports(settings: Settings, **options: Any) -> dict[str, Path]:
    """Build every report the data allows; returns page name → file, ``index`` first.

    Options: ``rows`` (rows sampled into each Evidently page), ``out_dir`` (default
    ``settings.reports_dir``). See :func:`reports.build.build_all`.
    """
    from reports.build import build_reports as build

    return build(settings, **options)
