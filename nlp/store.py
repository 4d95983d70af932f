"""Versions of the ticket pipelines, registered in the one model registry
(:mod:`orderlens.registry`) as ``orderlens_ticket_signals:<version>``, with a ``current``
pointer.

Training works in ``<home>/nlp/<version>/`` (``<language>/`` one spaCy pipeline per language,
``xx`` the language-agnostic one; ``heldout.parquet``,
``meta.json``, and ``runs/`` with spaCy's corpora and output); :func:`set_current` registers that
folder (without ``runs/``) in BentoML's model store and moves the ``current`` pointer atomically.
Serving and extraction load whatever ``current`` names, from the registry.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from orderlens import registry
from orderlens.provenance import code_version  # noqa: F401  (recorded in meta.json)
from orderlens.settings import Settings

PIPELINE_NAME = "ticket_signals"
ARTEFACT = registry.TICKET_SIGNALS
"""The registry name of every ticket-pipeline version."""
_NOT_REGISTERED = ("runs",)
"""What stays in the working folder: spaCy's corpora and training output."""


def nlp_root(settings: Settings) -> Path:
    """The working folder where training writes each version before it is registered."""
    return settings.home / "nlp"


def new_version_name(now: datetime | None = None) -> str:
    """A sortable version name such as ``v20250601t120000123456`` (the registry's one format)."""
    return registry.new_version(now)


def write_meta(version_dir: Path, meta: dict[str, Any]) -> Path:
    """Write ``meta.json`` in a version folder."""
    path = version_dir / "meta.json"
    path.write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    return path


def read_meta(settings: Settings, version: str | None = None) -> dict[str, Any]:
    """The ``meta.json`` of a version (default: the current one)."""
    version_dir = version_path(settings, version)
    return json.loads((version_dir / "meta.json").read_text(encoding="utf-8"))


def register_version(settings: Settings, version: str) -> str:
    """Register a trained version's folder in the model registry (once) and return its tag.

    Raises:
        FileNotFoundError: when the version was never trained here (no ``meta.json``).
    """
    if registry.exists(settings, ARTEFACT, version):
        return registry.tag(ARTEFACT, version)
    folder = nlp_root(settings) / version
    if not (folder / "meta.json").is_file():
        raise FileNotFoundError(f"no pipeline version {version!r} under {nlp_root(settings)}")
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    facts = {key: meta.get(key) for key in ("name", "created_at", "code_version", "seed", "smoke")}
    return registry.save_folder(
        settings,
        ARTEFACT,
        version,
        folder,
        ignore=_NOT_REGISTERED,
        metadata={**facts, "data": meta.get("data"), "metrics": meta.get("metrics")},
        labels={"kind": "ticket_signals"},
    )


def set_current(settings: Settings, version: str) -> None:
    """Register ``version`` if needed and point ``current`` at it (atomic replace, so readers
    never see half a pointer)."""
    register_version(settings, version)
    registry.set_pointer(settings, ARTEFACT, "current", version)


def current_version(settings: Settings) -> str | None:
    """The version ``current`` names, or None when nothing was trained yet."""
    return registry.pointed_version(settings, ARTEFACT, "current")


def version_path(settings: Settings, version: str | None = None) -> Path:
    """The folder of a version (default: the current one): the registered one, or the working
    folder of a version trained without being made current. Raises if there is none."""
    version = version or current_version(settings)
    if version is None:
        raise FileNotFoundError(
            f"no trained ticket pipeline under {nlp_root(settings)}: run `orderlens nlp train`"
        )
    if registry.exists(settings, ARTEFACT, version):
        return registry.path(settings, ARTEFACT, version)
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
    version = version or current_version(settings)
    return version, load_pipeline_folder(version_path(settings, version))


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
