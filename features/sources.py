"""Reading a shop's export files: CSV, Parquet or JSON Lines, found by name patterns.

Every file is read as it is (CSV cells stay text so that a bad cell is reported, not guessed),
with two bookkeeping columns naming where each row came from: ``source_file`` and
``source_row`` (the CSV line, counting the header as line 1; the row number otherwise). A file
that cannot be read at all is reported by its name and the reader's one-line reason, never as a
traceback from deep inside pyarrow.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa

SOURCE_FILE, SOURCE_ROW = "source_file", "source_row"
BOOKKEEPING = (SOURCE_FILE, SOURCE_ROW)

FileFormat = Literal["csv", "parquet", "jsonl"]
SUFFIXES: dict[str, FileFormat] = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
"""File suffix → format, when a mapping does not say."""


class SourceContractError(ValueError):
    """The sources cannot be ingested at all: a folder, table, file or column is missing or
    unreadable. Raised before anything is written."""


class UnreadableFileError(SourceContractError):
    """One or more source files cannot be read (corrupt parquet, broken CSV, bad encoding)."""


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file: its format (None: from the suffix) and CSV details."""

    format: FileFormat | None = None
    encoding: str = "utf-8-sig"  # a UTF-8 byte-order mark is common in spreadsheet exports
    delimiter: str | None = None  # None: "," (tab for .tsv)
    quotechar: str = '"'

    def format_of(self, path: Path) -> FileFormat:
        """The format of ``path``: the declared one, else by its suffix."""
        if self.format is not None:
            return self.format
        try:
            return SUFFIXES[path.suffix.lower()]
        except KeyError:
            raise SourceContractError(
                f"{path}: cannot tell the format from the suffix {path.suffix!r}: name it "
                f"(format: csv, parquet or jsonl) in the mapping"
            ) from None


def default_patterns(table: str) -> tuple[str, ...]:
    """Where a table's files are found without a mapping: ``<table>.<csv|parquet|jsonl>`` or any
    such file under a ``<table>/`` folder."""
    names = [f"{table}{suffix}" for suffix in (".parquet", ".csv", ".jsonl", ".ndjson")]
    folder = [f"{table}/**/*{suffix}" for suffix in (".parquet", ".csv", ".jsonl", ".ndjson")]
    return (*names, *folder)


def find_files(source_dir: Path, patterns: Sequence[str]) -> list[Path]:
    """The files under ``source_dir`` matching any of ``patterns`` (globs relative to it, ``**``
    for any depth), in a stable order, each once; hidden files are skipped."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        for path in sorted(source_dir.glob(pattern)):
            hidden = any(part.startswith(".") for part in path.relative_to(source_dir).parts)
            if path.is_file() and not hidden:
                found.setdefault(path, None)
    return list(found)


def read_files(paths: Iterable[Path], options: ReadOptions) -> pd.DataFrame:
    """Read and stack files; every unreadable one is named in one :class:`UnreadableFileError`.

    Returns:
        The rows of every file, with :data:`SOURCE_FILE` and :data:`SOURCE_ROW`.
    """
    frames, problems = [], []
    for path in paths:
        try:
            frames.append(read_file(path, options))
        except UnreadableFileError as error:
            problems.append(str(error))
    if problems:
        raise UnreadableFileError("; ".join(problems))
    if not frames:
        return pd.DataFrame(columns=list(BOOKKEEPING))
    return pd.concat(frames, ignore_index=True)


def read_file(path: Path, options: ReadOptions = ReadOptions()) -> pd.DataFrame:
    """Read one file as it is: CSV and JSON Lines cells as text, parquet with its own types.

    Raises:
        UnreadableFileError: naming the file and the reader's reason in one line.
    """
    fmt = options.format_of(path)
    try:
        frame, first_row = _READERS[fmt](path, options)
    except (OSError, ValueError, pa.ArrowException, csv.Error, json.JSONDecodeError) as error:
        raise UnreadableFileError(
            f"{path}: not a readable {fmt} file ({_one_line(error)})"
        ) from None
    frame[SOURCE_FILE] = str(path)
    frame[SOURCE_ROW] = range(first_row, first_row + len(frame))
    return frame


def _read_csv(path: Path, options: ReadOptions) -> tuple[pd.DataFrame, int]:
    delimiter = options.delimiter or ("\t" if path.suffix.lower() == ".tsv" else ",")
    frame = pd.read_csv(
        path,
        dtype=str,
        keep_default_na=False,
        encoding=options.encoding,
        sep=delimiter,
        quotechar=options.quotechar,
        engine="c",
    )
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, 2  # line 1 is the header


def _read_parquet(path: Path, options: ReadOptions) -> tuple[pd.DataFrame, int]:
    return pd.read_parquet(path), 1


def _read_jsonl(path: Path, options: ReadOptions) -> tuple[pd.DataFrame, int]:
    # dtype=False keeps values as written: "00123" stays text, a number stays a number.
    frame = pd.read_json(path, lines=True, dtype=False, encoding=options.encoding)
    for column in frame.columns:  # nested objects/lists: carried as their JSON text
        if frame[column].map(lambda v: isinstance(v, dict | list)).any():
            frame[column] = frame[column].map(
                lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
            )
    return frame, 1


_READERS = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl}


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:200]}"
