"""Ingest: read source files in the contract, validate them, add the good rows to the lake and
put every bad row in a quarantine file with the rule it broke. Nothing is dropped silently;
re-ingesting the same files adds nothing (rows are identified by their contract key)."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from rich.progress import Progress

from features import lake
from features.validation import (
    SourceContractError,
    Violations,
    check_columns,
    check_cross_table,
    check_row_rules,
    coerce_table,
)
from orderlens.contracts import CONTRACTS, CROSS_TABLE_RULES, TableContract
from orderlens.settings import Settings

__all__ = ["IngestSummary", "SourceContractError", "TableReport", "ingest_sources"]

SOURCE_FILE, SOURCE_ROW = "source_file", "source_row"


@dataclass
class TableReport:
    """What ingest did with one table."""

    table: str
    present: bool = True
    rows_in: int = 0
    added: int = 0
    already_present: int = 0
    quarantined: int = 0
    quarantine_file: Path | None = None
    broken_rules: Counter = field(default_factory=Counter)
    held_back_keys: list[str] = field(default_factory=list, repr=False)
    """Keys (``order_id`` for orders) of the quarantined rows: their child rows are held too."""


@dataclass
class IngestSummary:
    """Per table, how many rows came in, were added and were quarantined."""

    source_dir: Path
    tables: dict[str, TableReport]
    seconds: float = 0.0

    def as_dict(self) -> dict[str, dict[str, int]]:
        """``{"<table>": {"rows_in", "added", "quarantined"}}`` for the tables that were present."""
        return {
            name: {"rows_in": r.rows_in, "added": r.added, "quarantined": r.quarantined}
            for name, r in self.tables.items()
            if r.present
        }

    def as_table(self) -> str:
        """A human-readable summary, one line per table, then the broken rules."""
        lines = [f"ingest {self.source_dir} ({self.seconds:.1f} s)"]
        lines.append(
            f"{'table':>10} {'rows_in':>10} {'added':>10} {'already':>10} {'quarantined':>12}"
        )
        for r in self.tables.values():
            if not r.present:
                lines.append(f"{r.table:>10}   absent (optional): features it feeds are off")
                continue
            lines.append(
                f"{r.table:>10} {r.rows_in:>10,} {r.added:>10,} {r.already_present:>10,}"
                f" {r.quarantined:>12,}"
            )
        for r in self.tables.values():
            if r.quarantined:
                rules = ", ".join(f"{rule} ×{n}" for rule, n in r.broken_rules.most_common())
                lines.append(f"quarantined {r.table}: {rules} -> {r.quarantine_file}")
        return "\n".join(lines)


def ingest_sources(
    source_dir: Path, settings: Settings, *, progress: bool = False
) -> IngestSummary:
    """Ingest every contract table found in ``source_dir`` into the lake.

    Args:
        source_dir: folder with ``<table>.parquet``, ``<table>.csv`` or ``<table>/`` of such files.
        settings: locates the lake and the quarantine folder.
        progress: show a progress bar per table.

    Returns:
        The per-table summary.

    Raises:
        SourceContractError: the folder is missing, a required table is absent (and the lake has
            none yet), or a present table lacks a required column. Nothing is written then.
    """
    began = time.perf_counter()
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise SourceContractError(f"source folder not found: {source_dir}")
    raw = _read_all(source_dir, settings)
    batch_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    known_orders = lake.read_lake(settings, "orders", ["order_id", "created_at", "order_value"])
    quarantined_orders = pd.Index([])
    reports: dict[str, TableReport] = {}
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("ingest", total=len(CONTRACTS))
        for name, contract in CONTRACTS.items():
            bar.update(task, description=f"ingest {name}")
            if name not in raw:
                reports[name] = TableReport(name, present=False)
            else:
                reports[name] = _ingest_table(
                    contract, raw[name], known_orders, quarantined_orders, settings, batch_id
                )
                if name == "orders":  # the other tables refer to the orders just accepted
                    known_orders = lake.read_lake(settings, "orders", list(known_orders.columns))
                    quarantined_orders = pd.Index(reports[name].held_back_keys)
            bar.advance(task)
    return IngestSummary(source_dir, reports, time.perf_counter() - began)


def _read_all(source_dir: Path, settings: Settings) -> dict[str, pd.DataFrame]:
    """Read every table present; fail early on a missing required table or column."""
    frames: dict[str, pd.DataFrame] = {}
    for name, contract in CONTRACTS.items():
        files = _table_files(source_dir, name)
        if not files:
            if contract.required and not lake.has_table(settings, name):
                raise SourceContractError(
                    f"required table {name!r} not found in {source_dir} "
                    f"(looked for {name}.parquet, {name}.csv or a {name}/ folder of them)"
                )
            continue
        frame = pd.concat([_read_file(path) for path in files], ignore_index=True)
        check_columns(frame, contract)
        frames[name] = frame
    return frames


def _table_files(source_dir: Path, table: str) -> list[Path]:
    candidates = [source_dir / f"{table}.parquet", source_dir / f"{table}.csv"]
    folder = source_dir / table
    if folder.is_dir():
        candidates += sorted(folder.rglob("*.parquet")) + sorted(folder.rglob("*.csv"))
    return [path for path in candidates if path.is_file()]


def _read_file(path: Path) -> pd.DataFrame:
    """Read one file as it is; CSV cells stay strings so type errors can be reported, not lost."""
    if path.suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        first_data_line = 2  # line 1 is the header
    else:
        frame = pd.read_parquet(path)
        first_data_line = 1
    frame[SOURCE_FILE] = str(path)
    frame[SOURCE_ROW] = range(first_data_line, first_data_line + len(frame))
    return frame


def _ingest_table(
    contract: TableContract,
    frame: pd.DataFrame,
    known_orders: pd.DataFrame,
    quarantined_orders: pd.Index,
    settings: Settings,
    batch_id: str,
) -> TableReport:
    report = TableReport(contract.name, rows_in=len(frame))
    typed, violations = coerce_table(frame, contract, settings.contract.allowed_values)
    check_row_rules(typed, contract, violations)
    batch_orders = (
        typed[["order_id", "created_at", "order_value"]] if contract.name == "orders" else None
    )
    orders = known_orders if batch_orders is None else pd.concat([known_orders, batch_orders])
    check_cross_table(
        contract.name, typed, orders.drop_duplicates("order_id"), violations, quarantined_orders
    )
    repeats = _flag_duplicate_keys(typed, contract, violations)

    bad = violations.any
    if bad.any():
        report.quarantined = int(bad.sum())
        if contract.name == "orders":
            report.held_back_keys = typed.loc[bad, "order_id"].dropna().astype(str).tolist()
        report.quarantine_file = _write_quarantine(contract, frame[bad], violations, settings)
        rules = violations.rules()[bad].str.split(";").explode()
        report.broken_rules = Counter(rules.tolist())

    good = typed[~bad & ~repeats].drop(columns=[SOURCE_FILE, SOURCE_ROW])
    new = _not_in_lake(good, contract, settings)
    report.added = len(new)
    report.already_present = report.rows_in - report.quarantined - report.added
    if len(new):
        lake.write_partitioned(settings, contract.name, new, batch_id)
    return report


def _flag_duplicate_keys(
    typed: pd.DataFrame, contract: TableContract, violations: Violations
) -> pd.Series:
    """Within one batch, an exact repeat of a row is counted as already present; a second,
    *different* row with the same key is quarantined (which one is right is not ours to guess)."""
    key = list(contract.key)
    repeated_key = typed.duplicated(key, keep="first")
    if not repeated_key.any():
        return repeated_key
    content = [c for c in contract.column_names if c in typed.columns]
    exact_repeat = typed.duplicated(content, keep="first")
    violations.add(f"{contract.name}.duplicate_key", repeated_key & ~exact_repeat)
    return exact_repeat


def _not_in_lake(good: pd.DataFrame, contract: TableContract, settings: Settings) -> pd.DataFrame:
    """The rows whose key the lake does not hold yet."""
    if not lake.has_table(settings, contract.name) or good.empty:
        return good
    key = list(contract.key)
    existing = lake.read_lake(settings, contract.name, key).drop_duplicates()
    merged = good[key].merge(existing, on=key, how="left", indicator=True)
    return good[(merged["_merge"] == "left_only").to_numpy()]


def _write_quarantine(
    contract: TableContract, rows: pd.DataFrame, violations: Violations, settings: Settings
) -> Path:
    """Write the bad rows as they arrived, with the broken rules and a plain reason, to a CSV
    named after the content (so the same bad file quarantined twice is one file)."""
    rules = violations.rules()[rows.index]
    out = rows.astype(str).assign(
        quarantine_rules=rules, quarantine_reason=rules.map(_describe_rules)
    )
    text = out.to_csv(index=False)
    digest = hashlib.sha1(text.encode()).hexdigest()[:16]
    path = settings.quarantine_dir / contract.name / f"{digest}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _describe_rules(rules: str) -> str:
    return "; ".join(_describe_rule(rule) for rule in rules.split(";") if rule)


def _describe_rule(rule: str) -> str:
    """A plain-language reason for a rule name like ``range:order_value`` or ``orders.x``."""
    check, _, column = rule.partition(":")
    if column:
        return {
            "type": f"{column} cannot be read as its type",
            "missing": f"{column} is missing",
            "allowed": f"{column} is not one of the allowed values",
            "range": f"{column} is out of range",
        }[check]
    if rule in CROSS_TABLE_RULES:
        return CROSS_TABLE_RULES[rule]
    table, _, name = rule.partition(".")
    if name == "duplicate_key":
        return f"another row of this batch has the same {', '.join(CONTRACTS[table].key)}"
    return next(r.description for r in CONTRACTS[table].rules if r.name == name)
