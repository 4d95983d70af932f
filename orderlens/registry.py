"""The one model registry: every artefact the system trains, in BentoML's model store.

An *artefact* is one BentoML model (``bentoml.models.create``) holding a folder of files and
its metadata: a LightGBM model set (``orderlens_model_set``: 24 boosters, the calibrator, the
manifest, the test window) or a version of the ticket pipelines (``orderlens_ticket_signals``:
the spaCy pipelines per language and their ``meta.json``). Every artefact has a version of one
format (:func:`new_version`), which is also its BentoML tag's version, so
``orderlens_model_set:v20250601t120000123456`` names the same thing in logs, manifests,
``bentoml models list`` and a Bento.

Which version is in use is a *pointer* kept in the run-time home (``<home>/registry/<name>/
<pointer>.json``, replaced atomically): ``champion`` and ``candidate`` for model sets,
``current`` for the ticket pipelines. The store answers "what exists", the pointers "what is
served" — so promotion and rollback are a pointer change, and a service reloads by watching it.

The store is BentoML's own (``$BENTOML_HOME``). BentoML fixes it for a process at first use,
so the first home a process opens decides it: ``<home>/bentoml`` unless ``BENTOML_HOME`` is
already set (a deployment sets it; the tests set one per worker). Only ``bentoml.models``'
public API is used.

Why here, in the kernel: ``training/`` (model sets) and ``nlp/`` (ticket pipelines) both
register artefacts and the layout forbids either to import the other; the kernel is what both
may import. It imports no stage.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orderlens.settings import Settings

MODEL_SET = "orderlens_model_set"
"""The delay and value models of one training run (training/registry.py)."""
TICKET_SIGNALS = "orderlens_ticket_signals"
"""One version of the ticket pipelines, every language (nlp/store.py)."""

_STORE_ENV = "BENTOML_HOME"


def new_version(now: datetime | None = None) -> str:
    """A sortable artefact version such as ``v20250601t120000123456`` (UTC, microseconds).

    Lower case because BentoML tags are; microseconds so two runs in one second differ.
    """
    return (now or datetime.now(UTC)).strftime("v%Y%m%dt%H%M%S%f")


def model_store(settings: Settings):
    """BentoML's ``bentoml.models`` module, its store chosen for this process.

    The store is ``$BENTOML_HOME`` when set, else ``<home>/bentoml`` (set here, before BentoML
    first reads it). Telemetry is off unless the environment says otherwise.
    """
    os.environ.setdefault(_STORE_ENV, str(settings.home / "bentoml"))
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    import bentoml

    return bentoml.models


def store_home() -> Path | None:
    """The BentoML home this process uses (None before :func:`model_store` was called)."""
    home = os.environ.get(_STORE_ENV)
    return Path(home) if home else None


def tag(name: str, version: str) -> str:
    """The BentoML tag of an artefact version."""
    return f"{name}:{version}"


def save(
    settings: Settings,
    name: str,
    version: str,
    write: Callable[[Path], None],
    *,
    metadata: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
) -> str:
    """Register an artefact version and return its tag.

    Args:
        name: the artefact's name (:data:`MODEL_SET`, :data:`TICKET_SIGNALS`).
        version: from :func:`new_version`.
        write: writes the artefact's files into the folder it is given.
        metadata: JSON-ready facts shown by ``bentoml models get`` (metrics, window, versions);
            ``None`` values are dropped (BentoML refuses them).
        labels: short strings to filter by (``kind``).

    The model is written to a temporary folder and moved into the store only when ``write``
    returns: a crash leaves no half artefact.
    """
    models = model_store(settings)
    with models.create(
        tag(name, version), labels=labels or {}, metadata=_clean(metadata or {})
    ) as model:
        write(Path(model.path))
    return str(model.tag)


def save_folder(
    settings: Settings,
    name: str,
    version: str,
    folder: Path,
    *,
    ignore: tuple[str, ...] = (),
    metadata: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
) -> str:
    """Register a finished folder as an artefact version (its files copied, ``ignore`` globs
    left out) and return its tag."""

    def copy(target: Path) -> None:
        shutil.copytree(folder, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*ignore))

    return save(settings, name, version, copy, metadata=metadata, labels=labels)


def exists(settings: Settings, name: str, version: str) -> bool:
    """Whether the store holds this artefact version."""
    models = model_store(settings)
    import bentoml

    try:
        models.get(tag(name, version))
    except bentoml.exceptions.NotFound:
        return False
    return True


def path(settings: Settings, name: str, version: str) -> Path:
    """The folder of a registered artefact version (read it, never write it).

    Raises:
        FileNotFoundError: when the store has no such version.
    """
    models = model_store(settings)
    import bentoml

    try:
        return Path(models.get(tag(name, version)).path)
    except bentoml.exceptions.NotFound as missing:
        raise FileNotFoundError(
            f"{tag(name, version)} is not in the model store {store_home()}"
        ) from missing


def metadata(settings: Settings, name: str, version: str) -> dict[str, Any]:
    """The metadata an artefact version was registered with."""
    return dict(model_store(settings).get(tag(name, version)).info.metadata)


def versions(settings: Settings, name: str) -> list[str]:
    """Every registered version of an artefact, oldest first."""
    found = model_store(settings).list(name)
    return sorted(m.tag.version for m in found if m.tag.name == name)


# ---- pointers: which version is in use, per home ------------------------------------------


def pointer_path(settings: Settings, name: str, pointer: str) -> Path:
    """Where a pointer lives: ``<home>/registry/<name>/<pointer>.json``."""
    return settings.home / "registry" / name / f"{pointer}.json"


def read_pointer(settings: Settings, name: str, pointer: str) -> dict[str, Any] | None:
    """A pointer's record (``version`` and what was said when it was set), or None if unset."""
    target = pointer_path(settings, name, pointer)
    if not target.is_file():
        return None
    return json.loads(target.read_text(encoding="utf-8"))


def pointed_version(settings: Settings, name: str, pointer: str) -> str | None:
    """The version a pointer names, or None if it is unset."""
    record = read_pointer(settings, name, pointer)
    return None if record is None else record["version"]


def set_pointer(settings: Settings, name: str, pointer: str, version: str, **record: Any) -> None:
    """Point ``pointer`` at a registered version, atomically (temp file + rename): a reader
    sees the old or the new record, never half a file.

    Raises:
        FileNotFoundError: when the store has no such version (a pointer never dangles).
    """
    if not exists(settings, name, version):
        raise FileNotFoundError(f"{tag(name, version)} is not in the model store {store_home()}")
    body = {"version": version, "set_at": datetime.now(UTC).isoformat(), **record}
    write_atomic(pointer_path(settings, name, pointer), json.dumps(body, indent=1, default=str))


def write_atomic(target: Path, text: str) -> None:
    """Replace a file's text atomically (a temp file beside it, then a rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)


def _clean(value: Any) -> Any:
    """JSON-ready and without ``None`` (BentoML's metadata refuses it)."""
    value = json.loads(
        json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v))
    )
    return _drop_none(value)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value if v is not None]
    return value
