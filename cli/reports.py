"""``orderlens report``: build every report and the index page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    out: Annotated[
        Path | None, typer.Option(help="output folder (default: <home>/reports)")
    ] = None,
    rows: Annotated[
        int | None,
        typer.Option(
            help="rows sampled into each Evidently page (default: monitoring.reference_rows)"
        ),
    ] = None,
) -> None:
    """Build the reports (drift, model quality, value attribution, model card, order health, data
    quality) as self-contained HTML with an index.html linking them; pages the data does not
    allow yet are listed on the index with the reason."""
    from orderlens.settings import load_settings
    from reports.build import build_all

    settings = load_settings()
    result = build_all(settings, rows=rows, out_dir=out)
    for name, path in result.pages.items():
        typer.echo(f"{name:>26}: {path.stat().st_size / 1e6:6.2f} MB  {path}")
    for name, why in result.skipped.items():
        typer.echo(f"{name:>26}: not built ({why})")
