"""Versioned pipelines on disk: ``<home>/nlp/<version>/<language>/`` (one spaCy pipeline per
language, ``xx`` the language-agnostic one), ``meta.json`` (labels, metrics) and ``current``.

Serving loads whatever ``<home>/nlp/current`` names; training writes a new version folder and then
moves the pointer atomically.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orderlens.provenance import code_version  # noqa: F401  (recorded in meta.json)
from orderlens.settings import Settings

PIPELINE_NAME = "ticket_signals"


def nlp_root(settings: Settings) -> Path:
    """The folder holding every pipeline version and the ``current`` pointer."""
    return settings.home / "nlp"


def new_version_name(now: datetime | None = None) -> str:
    """A sortable version name such as ``v20250601T120000``."""
    return (now or datetime.now(UTC)).strftime("v%Y%m%dT%H%M%S")


def write_meta(version_dir: Path, meta: dict[str, Any]) -> Path:
    """Write ``meta.json`` in a version folder."""
    path = version_dir / "meta.json"
    path.write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    return path


def read_meta(settings: Settings, version: str | None = None) -> dict[str, Any]:
    """The ``meta.json`` of a version (default: the current one)."""
    version_dir = version_path(settings, version)
    return json.loads((version_dir / "meta.json").read_text(encoding="utf-8"))


def set_current(settings: Settings, version: str) -> None:
    """Point ``current`` at a version (atomic replace, so readers never see half a name)."""
    root = nlp_root(settings)
    if not (root / version / "meta.json").is_file():
        raise FileNotFoundError(f"no pipeline version {version!r} under {root}")
    tmp = root / f".current.{os.getpid()}"
    tmp.write_text(version + "\n", encoding="utf-8")
    os.replace(tmp, root / "current")


def current_version(settings: Settings) -> str | None:
    """The version ``current`` names, or None when nothing was trained yet."""
    pointer = nlp_root(settings) / "current"
    if not pointer.is_file():
        return None
    return pointer.read_text(encoding="utf-8").strip() or None


def version_path(settings: Settings, version: str | None = None) -> Path:
    """The folder of a version (default: the current one); raises if there is none."""
    version = version or current_version(settings)
    if version is None:
        raise FileNotFoundError(
            f"no trained ticket pipeline under {nlp_root(settings)}: run `orderlens nlp train`"
        )
    path = nlp_root(settings) / version
    if not path.is_dir():
        raise FileNotFoundError(f"pipeline version {version!r} is missing: {path}")
    return path


def register_components() -> None:
    """Register the pipeline's own functions (entity component, pattern table, architectures,
    tokenizers) with spaCy's registry; needed before building or loading a ticket pipeline."""
    import nlp.architectures  # noqa: F401
    import nlp.patterns  # noqa: F401
    import nlp.tokenizers  # noqa: F401


def load_pipelines(settings: Settings, version: str | None = None) -> tuple[str, dict[str, Any]]:
    """Load every language pipeline of a version (default: current).

    Returns:
        ``(version, {language: spacy.Language})``.
    """
    path = version_path(settings, version)
    return path.name, load_pipeline_folder(path)


def load_pipeline_folder(path: Path) -> dict[str, Any]:
    """``{language: spacy.Language}`` for every pipeline folder (one with a ``config.cfg``)
    inside a version folder."""
    import spacy

    register_components()
    return {
        child.name: spacy.load(child)
        for child in sorted(path.iterdir())
        if child.is_dir() and (child / "config.cfg").is_file()
    }


def describe_version(settings: Settings, version: str | None) -> dict[str, Any] | None:
    """What a version knows, for the service's ``/metadata``: its labels (the user's names),
    how sentiment was learnt (None: the lexicon answers), its language pipelines and held-out
    metrics. None when ``version`` is None or unknown (signals from the untrained defaults)."""
    if version is None:
        return None
    try:
        meta = read_meta(settings, version)
    except FileNotFoundError:
        return None
    return {
        "version": version,
        "labels": meta.get("labels", []),
        "sentiment": meta.get("sentiment"),
        "languages": sorted(meta.get("languages", {})),
        "metrics": {
            lang: {k: v for k, v in m.items() if k in ("macro_f1", "sentiment_auc", "n")}
            for lang, m in meta.get("metrics", {}).items()
        },
    }
