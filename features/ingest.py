"""Ingest: read a shop's export (in the contract, or through a mapping), validate it, add the good
rows to the lake and put every bad row in a quarantine file with the rule it broke.

Nothing is dropped silently: a rejected row is in ``<home>/quarantine/<table>/<hash>.csv`` with
its rules and a plain reason; an unreadable optional cell read as empty is in a ``notes-*.csv``
beside it; a line item with no order is in an ``items-*.csv``. Re-ingesting the same files adds
nothing (rows are identified by their contract key). The lake write is atomic and locked (see
:mod:`features.lake_writer`): a crash leaves the lake as it was, or finishes on the next run.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.progress import Progress

from features import lake
from features.lake_writer import Batch, IngestAlreadyRunning, write_atomically, writer_lock
from features.mapping import (
    MappedTable,
    MappingError,
    SourceMapping,
    TableMapping,
    check_sources,
    default_mapping,
    map_table,
)
from features.mapping_yaml import load_mapping
from features.sources import (
    BOOKKEEPING,
    SOURCE_FILE,
    SOURCE_ROW,
    UnreadableFileError,
    find_files,
    read_files,
)
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

__all__ = [
    "IngestAlreadyRunning",
    "IngestSummary",
    "MappingError",
    "SourceContractError",
    "TableReport",
    "UnreadableFileError",
    "ingest_sources",
]

ORDER_FACTS = ["order_id", "created_at", "order_value"]
"""What the other tables' rules need to know about an order."""


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
    notes: Counter = field(default_factory=Counter)
    """Cells read as empty, by rule (``unreadable:<column>``): the row was kept."""
    notes_file: Path | None = None
    orphan_items: int = 0
    """Line items whose order is not in the table (listed in ``orphans_file``)."""
    orphans_file: Path | None = None
    held_back_keys: list[str] = field(default_factory=list, repr=False)
    """Keys (``order_id`` for orders) of the quarantined rows: their child rows are held too."""

    def as_dict(self) -> dict[str, Any]:
        """The figures and every rule broken, JSON-ready."""
        out: dict[str, Any] = {
            "rows_in": self.rows_in,
            "added": self.added,
            "already_present": self.already_present,
            "quarantined": self.quarantined,
            "broken_rules": dict(self.broken_rules.most_common()),
        }
        if self.notes:
            out["read_as_empty"] = dict(self.notes.most_common())
        if self.orphan_items:
            out["orphan_items"] = self.orphan_items
        return out


@dataclass
class IngestSummary:
    """Per table, how many rows came in, were added and were quarantined, and why."""

    source_dir: Path
    tables: dict[str, TableReport]
    seconds: float = 0.0
    mapping: Path | None = None
    recovered: list[str] = field(default_factory=list)
    """What this ingest finished or undid of a crashed earlier one."""
    write_steps: int = 0

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """``{"<table>": {"rows_in", "added", "already_present", "quarantined",
        "broken_rules", ...}}`` for the tables that were present."""
        return {name: r.as_dict() for name, r in self.tables.items() if r.present}

    def as_table(self) -> str:
        """A human-readable summary, one line per table, then the broken rules."""
        via = f" via {self.mapping}" if self.mapping else ""
        lines = [f"ingest {self.source_dir}{via} ({self.seconds:.1f} s)"]
        lines += [f"recovery: {line}" for line in self.recovered]
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
                rules = ", ".join(f"{rule} ×{n:,}" for rule, n in r.broken_rules.most_common())
                lines.append(f"quarantined {r.table}: {rules} -> {r.quarantine_file}")
            if r.notes:
                cells = ", ".join(f"{rule} ×{n:,}" for rule, n in r.notes.most_common())
                lines.append(f"read as empty in {r.table} (rows kept): {cells} -> {r.notes_file}")
            if r.orphan_items:
                lines.append(
                    f"line items without a {r.table} row: {r.orphan_items:,} -> {r.orphans_file}"
                )
        return "\n".join(lines)


def ingest_sources(
    source_dir: Path,
    settings: Settings,
    *,
    mapping: Path | SourceMapping | None = None,
    progress: bool = False,
) -> IngestSummary:
    """Ingest every table the mapping finds in ``source_dir`` into the lake.

    Args:
        source_dir: the export's folder. Without a mapping: ``<table>.parquet``, ``.csv``,
            ``.jsonl`` or a ``<table>/`` folder of such files, in the contract's column names.
        settings: locates the lake and the quarantine folder; strict vocabularies.
        mapping: a mapping file (or a loaded one) for an export not in the contract.
        progress: show a progress bar per table.

    Returns:
        The per-table summary.

    Raises:
        SourceContractError: nothing to ingest, an unreadable file (:class:`UnreadableFileError`
            names every one), a mapping naming what the files lack (:class:`MappingError` names
            the mapping's line), a required table or column missing. Nothing is written then.
        IngestAlreadyRunning: another ingest holds the lake.
    """
    began = time.perf_counter()
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise SourceContractError(f"source folder not found: {source_dir}")
    plan = load_mapping(mapping) if isinstance(mapping, str | Path) else mapping
    plan = plan or default_mapping()
    with writer_lock(settings) as recovered:
        tables = read_sources(source_dir, plan, settings)
        batch_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        batch = Batch(settings, batch_id, kill_at_step=settings.ingest.debug_kill_at_step)
        reports = _validate_all(tables, plan, settings, batch, progress)
        batch.commit()
    return IngestSummary(
        source_dir,
        reports,
        time.perf_counter() - began,
        mapping=plan.path,
        recovered=recovered,
        write_steps=batch.steps,
    )


def read_sources(
    source_dir: Path, plan: SourceMapping, settings: Settings
) -> dict[str, MappedTable]:
    """Find, read and map every table of ``plan``; all checks that need no validation happen
    here, before anything is written.

    Raises:
        SourceContractError: see :func:`ingest_sources`.
    """
    found = {name: find_files(source_dir, table.patterns) for name, table in plan.tables.items()}
    if not any(found.values()):
        present = sorted(p.name for p in source_dir.iterdir() if not p.name.startswith("."))
        raise SourceContractError(
            f"no source files found in {source_dir}: expected {plan.expected_files}"
            f" (the folder holds: {', '.join(present[:20]) or 'nothing'})"
        )
    for name, table in plan.tables.items():
        if not found[name] and plan.path is not None:
            raise MappingError(
                f"{plan.where(table.line)}: files {', '.join(table.patterns)} of table {name!r}"
                f" match nothing in {source_dir}"
            )
    if not found.get("orders") and not lake.has_table(settings, "orders"):
        looked_for = (
            " or ".join(plan.tables["orders"].patterns) if "orders" in plan.tables else "a mapping"
        )
        raise SourceContractError(
            f"required table 'orders' not found in {source_dir} (looked for {looked_for})"
        )
    raw, items, problems = {}, {}, []
    for name, files in found.items():
        if not files:
            continue
        table = plan.tables[name]
        try:
            raw[name] = read_files(files, table.read)
            items[name] = [_read_items(source_dir, plan, table, rule) for rule in table.items]
        except UnreadableFileError as error:
            problems.append(str(error))
    if problems:
        raise UnreadableFileError("; ".join(problems))
    mapped = {}
    for name, frame in raw.items():
        table = plan.tables[name]
        check_sources(plan, table, list(frame.columns), [list(i.columns) for i in items[name]])
        mapped[name] = map_table(table, frame, items[name])
        try:
            check_columns(mapped[name].frame, CONTRACTS[name])
        except SourceContractError as error:
            hint = f" (map it in {plan.path})" if plan.path else " (or use --mapping)"
            raise type(error)(f"{error}{hint}") from None
    return mapped


def _read_items(
    source_dir: Path, plan: SourceMapping, table: TableMapping, rule: Any
) -> pd.DataFrame:
    files = find_files(source_dir, rule.patterns)
    if not files:
        raise MappingError(
            f"{plan.where(rule.line)}: item files {', '.join(rule.patterns)} of table "
            f"{table.table!r} match nothing in {source_dir}"
        )
    return read_files(files, rule.read)


def _validate_all(
    tables: dict[str, MappedTable],
    plan: SourceMapping,
    settings: Settings,
    batch: Batch,
    progress: bool,
) -> dict[str, TableReport]:
    """Validate the tables in contract order (orders first: the others refer to them), write
    quarantines and stage the new rows in ``batch``."""
    known_orders = lake.read_lake(settings, "orders", ORDER_FACTS)
    quarantined_orders = pd.Index([])
    reports: dict[str, TableReport] = {}
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("ingest", total=len(CONTRACTS))
        for name, contract in CONTRACTS.items():
            bar.update(task, description=f"ingest {name}")
            if name not in tables:
                reports[name] = TableReport(name, present=False)
            else:
                report, new = _ingest_table(
                    contract, tables[name], known_orders, quarantined_orders, settings
                )
                batch.add(name, new)
                reports[name] = report
                if name == "orders":  # the other tables refer to the orders just accepted
                    known_orders = pd.concat([known_orders, new[ORDER_FACTS]], ignore_index=True)
                    quarantined_orders = pd.Index(report.held_back_keys)
            bar.advance(task)
    return reports


def _ingest_table(
    contract: TableContract,
    mapped: MappedTable,
    known_orders: pd.DataFrame,
    quarantined_orders: pd.Index,
    settings: Settings,
) -> tuple[TableReport, pd.DataFrame]:
    """Validate one table; write its quarantine, notes and orphan files.

    Returns:
        The report and the rows to add (valid, not yet in the lake, contract-typed).
    """
    frame = mapped.frame
    report = TableReport(contract.name, rows_in=len(frame))
    typed, violations = coerce_table(
        frame,
        contract,
        settings.contract.allowed_values,
        parse=mapped.parse,
        extra_columns=mapped.extra_columns,
    )
    check_row_rules(typed, contract, violations)
    orders = known_orders
    if contract.name == "orders":
        orders = pd.concat([known_orders, typed[ORDER_FACTS]])
    check_cross_table(
        contract.name, typed, orders.drop_duplicates("order_id"), violations, quarantined_orders
    )
    repeats = _flag_duplicate_keys(typed, contract, violations)

    bad = violations.any
    if bad.any():
        report.quarantined = int(bad.sum())
        report.quarantine_file = _write_quarantine(contract, frame[bad], violations, settings)
        rules = violations.rules()[bad].str.split(";").explode()
        report.broken_rules = Counter(rules.tolist())
        if contract.name == "orders":
            report.held_back_keys = typed.loc[bad, "order_id"].dropna().astype(str).tolist()
    if violations.notes:
        report.notes, report.notes_file = _write_notes(contract, frame, violations, bad, settings)
    if mapped.orphan_items is not None and len(mapped.orphan_items):
        report.orphan_items = len(mapped.orphan_items)
        report.orphans_file = _write_orphans(contract, mapped.orphan_items, settings)

    good = typed[~bad & ~repeats].drop(columns=list(BOOKKEEPING))
    new = _not_in_lake(good, contract, settings)
    report.added = len(new)
    report.already_present = report.rows_in - report.quarantined - report.added
    return report, new


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


def _write_csv(folder: Path, prefix: str, frame: pd.DataFrame) -> Path:
    """Write ``frame`` as a CSV named after its content (the same rows twice are one file)."""
    text = frame.to_csv(index=False)
    digest = hashlib.sha1(text.encode()).hexdigest()[:16]
    path = folder / f"{prefix}{digest}.csv"
    write_atomically(path, text)
    return path


def _write_quarantine(
    contract: TableContract, rows: pd.DataFrame, violations: Violations, settings: Settings
) -> Path:
    """Write the bad rows as they arrived, with the broken rules and a plain reason."""
    rules = violations.rules()[rows.index]
    out = rows.astype(str).assign(
        quarantine_rules=rules, quarantine_reason=rules.map(_describe_rules)
    )
    return _write_csv(settings.quarantine_dir / contract.name, "", out)


def _write_notes(
    contract: TableContract,
    frame: pd.DataFrame,
    violations: Violations,
    quarantined: pd.Series,
    settings: Settings,
) -> tuple[Counter, Path]:
    """One line per cell read as empty (in rows that were kept): where, what was there, why."""
    parts, counts = [], Counter()
    for rule, cells, raw in violations.notes:
        cells = cells & ~quarantined
        if not cells.any():
            continue
        counts[rule] += int(cells.sum())
        parts.append(
            pd.DataFrame(
                {
                    SOURCE_FILE: frame.loc[cells, SOURCE_FILE].to_numpy(),
                    SOURCE_ROW: frame.loc[cells, SOURCE_ROW].to_numpy(),
                    "column": rule.partition(":")[2],
                    "value_as_read": raw[cells].astype(str).to_numpy(),
                    "rule": rule,
                    "reason": _describe_rule(rule),
                }
            )
        )
    if not parts:
        return counts, None  # type: ignore[return-value]
    path = _write_csv(settings.quarantine_dir / contract.name, "notes-", pd.concat(parts))
    return counts, path


def _write_orphans(contract: TableContract, items: pd.DataFrame, settings: Settings) -> Path:
    rule = f"{contract.name}.item_has_parent"
    out = items.astype(str).assign(
        quarantine_rules=rule,
        quarantine_reason=f"the line item names no row of the {contract.name} files",
    )
    return _write_csv(settings.quarantine_dir / contract.name, "items-", out)


def _describe_rules(rules: str) -> str:
    return "; ".join(_describe_rule(rule) for rule in rules.split(";") if rule)


def _describe_rule(rule: str) -> str:
    """A plain-language reason for a rule name like ``range:order_value`` or ``orders.x``."""
    check, _, column = rule.partition(":")
    if column:
        return {
            "type": f"{column} cannot be read as its type",
            "unreadable": f"{column} held text that is not a valid value: read as empty",
            "naive_time": f"{column} has no time zone and the mapping names none (time_zone:)",
            "missing": f"{column} is missing",
            "allowed": f"{column} is not one of the allowed values (settings "
            "contract.allowed_values)",
            "range": f"{column} is out of range",
        }[check]
    if rule in CROSS_TABLE_RULES:
        return CROSS_TABLE_RULES[rule]
    table, _, name = rule.partition(".")
    if name == "duplicate_key":
        return f"another row of this batch has the same {', '.join(CONTRACTS[table].key)}"
    return next(r.description for r in CONTRACTS[table].rules if r.name == name)
