"""What a task retries on, and the cache keys that let unchanged inputs skip work.

Retries are for *transient* failures only (a file system hiccup, a timeout, a dropped
connection to the Prefect server, Redis or Postgres): retrying a contract violation or a bug
just repeats it, slower. Cache keys describe a task's real inputs — the bytes of the source files,
the set of lake part files, the feature-repo manifest — plus the run-time root, so a second run on
unchanged data returns the stored result and a different home never shares a result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

RETRY_DELAYS_SECONDS = [2, 10, 30]
"""Back-off of a transient failure: three tries more, over about forty seconds."""

PERMANENT_OS_ERRORS: tuple[type[OSError], ...] = (
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)
"""``OSError`` subclasses that another try will not fix."""

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError, ConnectionError)


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` may go away on its own (I/O, timeouts, connections) and is worth a retry.

    ``ValueError`` (and everything else: contract violations, bugs) is not; neither is a missing
    file or a permission problem, though they are ``OSError`` subclasses.
    """
    if isinstance(error, PERMANENT_OS_ERRORS):
        return False
    return isinstance(error, TRANSIENT_ERRORS)


def retry_on_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry only when the task failed with a transient error."""
    # Prefect hands over a Failed state whose data is the exception the task raised.
    error = getattr(state, "data", None)
    if isinstance(error, BaseException):
        return is_transient(error)
    try:
        state.result()
    except Exception as raised:  # the state re-raises the task's exception
        return is_transient(raised)
    return False


# --- fingerprints --------------------------------------------------------------------------
def _digest(parts: Iterable[str]) -> str:
    hasher = hashlib.blake2b(digest_size=16)
    for part in parts:
        hasher.update(part.encode())
        hasher.update(b"\0")
    return hasher.hexdigest()


def content_fingerprint(paths: Iterable[Path], root: Path) -> str:
    """A hash of the files' names (relative to ``root``) and bytes.

    Source files may be rewritten with the same content (a re-simulated world), so the bytes, not
    the modification times, decide whether they changed. Hashing runs at ≈1 GB/s.
    """
    hasher = hashlib.blake2b(digest_size=16)
    for path in sorted(paths):
        hasher.update(str(path.relative_to(root)).encode() + b"\0")
        with path.open("rb") as handle:
            hasher.update(hashlib.file_digest(handle, "blake2b").digest())
    return hasher.hexdigest()


def listing_fingerprint(root: Path, pattern: str = "*.parquet") -> str:
    """A hash of the names and sizes of the files under ``root`` matching ``pattern``.

    Enough for the lake: ingest only ever adds new part files (never rewrites one), so the listing
    changes exactly when the content does — without reading gigabytes.
    """
    if not root.is_dir():
        return "absent"
    files = sorted(root.rglob(pattern))
    # Hidden folders are work in progress (a lake batch being staged), not content.
    visible = [
        p for p in files if not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return _digest(f"{p.relative_to(root)}:{p.stat().st_size}" for p in visible if p.is_file())


SOURCE_SUFFIXES = frozenset(
    {".parquet", ".pq", ".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".json"}
)
"""Suffixes of the files ingest may read (CSV, Parquet, JSON Lines; see features.sources)."""


def source_files(source_dir: Path) -> list[Path]:
    """Every file ingest could read from ``source_dir`` (a mapping picks among them)."""
    if not source_dir.is_dir():
        return []
    return sorted(
        p for p in source_dir.rglob("*") if p.is_file() and p.suffix.lower() in SOURCE_SUFFIXES
    )


def cache_key(stage: str, home: Path, **inputs: Any) -> str:
    """``<stage>-<hash of the home and the inputs>``: readable in the UI, unique per input."""
    payload = json.dumps({"home": str(home), **inputs}, sort_keys=True, default=str)
    return f"{stage}-{_digest([payload])}"
