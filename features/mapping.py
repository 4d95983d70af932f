"""Mappings: how a shop's export becomes the source contract, declared in a YAML file.

``orderlens ingest --source DIR --mapping FILE.yaml`` reads the files the mapping names and turns
their columns and values into the contract's before validation. docs/data-contract.md is the
reference; in short::

    time_zone: America/Sao_Paulo      # zone of timestamps written without one (all tables)
    tables:
      orders:
        files: [olist_orders*.csv]    # globs relative to --source (csv, parquet or jsonl)
        columns:
          order_id: order_id                          # the same name: may be left out
          created_at: {column: purchase_ts, format: "%d/%m/%Y %H:%M"}
          customer_id: {first_of: [customer_unique_id, customer_id]}
          payment_method: {column: payment_type, values: {credit_card: card}}
          order_value: {column: total, number: eu}    # "1.234,50" -> 1234.5
          seller_state: seller_state                  # not in the contract: an extra column
        items:                                        # line items rolled up to one row per order
          - files: [olist_order_items*.csv]
            key: order_id
            columns:
              n_items: {count: order_item_id}
              freight_cost: {sum: freight_value}
              category: {first: product_category_name}

A mapping that names a column the files do not have fails before anything is written, naming the
mapping's line. This module holds what a mapping declares and applies it to frames
(:func:`map_table`); :mod:`features.mapping_yaml` reads and checks the YAML (``load_mapping``);
type parsing (numbers, dates, zones) is left to :mod:`features.validation`, which gets each
column's :class:`ColumnParse`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from features.sources import (
    BOOKKEEPING,
    ReadOptions,
    SourceContractError,
    default_patterns,
)
from orderlens.contracts import CONTRACTS, Column, Kind

__all__ = [
    "Aggregate",
    "ColumnParse",
    "ColumnRule",
    "ItemsRule",
    "MappedTable",
    "MappingError",
    "NumberFormat",
    "SourceMapping",
    "TableMapping",
    "check_sources",
    "default_mapping",
    "map_table",
]


class MappingError(SourceContractError):
    """The mapping is malformed or names what the sources do not have (names its line)."""


# ---- what a mapping declares ----------------------------------------------------------------


@dataclass(frozen=True)
class NumberFormat:
    """How numbers are written: decimal mark, thousands separator, text to strip (``$``, ``%``)."""

    decimal: str = "."
    thousands: str | None = None
    strip: tuple[str, ...] = ()


NUMBER_STYLES = {
    "plain": NumberFormat(),
    "us": NumberFormat(".", ","),  # 1,234.50
    "eu": NumberFormat(",", "."),  # 1.234,50
    "fr": NumberFormat(",", " "),  # 1 234,50
    "ch": NumberFormat(".", "'"),  # 1'234.50
}
"""Named number styles a mapping may use instead of spelling out the marks."""


@dataclass(frozen=True)
class ColumnParse:
    """How :mod:`features.validation` reads one column's text: a date format (``strptime``
    codes), the time zone of timestamps written without one, and the number style."""

    format: str | None = None
    time_zone: str | None = None
    number: NumberFormat | None = None


@dataclass(frozen=True)
class ColumnRule:
    """One output column and where it comes from.

    Exactly one of: ``sources`` (one column: a rename; several: the first non-empty of them) or
    ``constant``. Then ``values`` maps source spellings to contract values (``other``: what
    happens to a value the map does not list: ``keep`` it or make it ``null``).
    """

    target: str
    line: int
    sources: tuple[str, ...] = ()
    constant: Any = None
    has_constant: bool = False
    values: Mapping[str, Any] | None = None
    other: Literal["keep", "null"] = "keep"
    null_values: tuple[str, ...] = ()
    parse: ColumnParse = ColumnParse()
    kind: Kind | None = None  # extra columns only: their type (default: carried as read)


AggregateHow = Literal["sum", "count", "first", "last", "min", "max", "mean", "nunique"]


@dataclass(frozen=True)
class Aggregate:
    """One column a table gets from its line items: ``how`` over the items' ``source`` column."""

    name: str
    how: AggregateHow
    source: str  # "*" with count: the number of item rows
    line: int
    number: NumberFormat | None = None


@dataclass(frozen=True)
class ItemsRule:
    """A line-item table rolled up to one row per parent row before the column rules apply."""

    patterns: tuple[str, ...]
    read: ReadOptions
    key: str  # the items' column naming the parent
    on: str  # the parent's column it matches
    aggregates: tuple[Aggregate, ...]
    line: int


@dataclass(frozen=True)
class TableMapping:
    """How one contract table is found and built."""

    table: str
    patterns: tuple[str, ...]
    read: ReadOptions
    columns: tuple[ColumnRule, ...] = ()
    items: tuple[ItemsRule, ...] = ()
    carry_unmapped: bool = False
    time_zone: str | None = None
    null_values: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class SourceMapping:
    """A whole mapping: the tables it builds (in contract order) and where it was read from."""

    tables: dict[str, TableMapping]
    path: Path | None = None

    def where(self, line: int) -> str:
        """``<file>, line N`` for messages (the mapping's own file and line)."""
        return f"{self.path}, line {line}" if self.path else "the default mapping"

    @property
    def expected_files(self) -> str:
        """What the mapping looks for, for an error message about an empty folder."""
        return "; ".join(f"{t}: {' or '.join(m.patterns)}" for t, m in self.tables.items())


def default_mapping() -> SourceMapping:
    """No mapping file: every contract table from ``<table>.<csv|parquet|jsonl>`` or a
    ``<table>/`` folder, columns already named as the contract, extra columns carried."""
    return SourceMapping(
        {
            name: TableMapping(name, default_patterns(name), ReadOptions(), carry_unmapped=True)
            for name in CONTRACTS
        }
    )


# ---- applying a mapping to frames ---------------------------------------------------------------


@dataclass
class MappedTable:
    """A table in contract column names, with how validation should read each column."""

    frame: pd.DataFrame
    parse: dict[str, ColumnParse] = field(default_factory=dict)
    extra_columns: tuple[Column, ...] = ()
    orphan_items: pd.DataFrame | None = None  # item rows whose parent is not in the table


def check_sources(
    mapping: SourceMapping,
    table: TableMapping,
    source_columns: Sequence[str],
    item_columns: Sequence[Sequence[str]],
) -> None:
    """Raise :class:`MappingError` naming the line of every column the mapping reads that the
    files do not have (all of them at once), before anything is read in full or written."""
    have = set(source_columns)
    problems = []
    for rules, columns in zip(table.items, item_columns, strict=True):
        for aggregate in rules.aggregates:
            have.add(aggregate.name)
            if aggregate.source != "*" and aggregate.source not in columns:
                problems.append((aggregate.line, aggregate.source, "item", columns))
        if rules.key not in columns:
            problems.append((rules.line, rules.key, "item", columns))
        if rules.on not in source_columns:
            problems.append((rules.line, rules.on, table.table, source_columns))
    for rule in table.columns:
        for source in rule.sources:
            if source not in have:
                problems.append((rule.line, source, table.table, source_columns))
    if problems:
        raise MappingError(
            "; ".join(
                f"{mapping.where(line)}: column {name!r} is not in the {files} files (they "
                f"have: {_listing(columns)})"
                for line, name, files, columns in problems
            )
        )


def _listing(columns: Sequence[str], limit: int = 40) -> str:
    names = [repr(c) for c in columns if c not in BOOKKEEPING]
    more = f", ... {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def map_table(
    table: TableMapping, raw: pd.DataFrame, items: Sequence[pd.DataFrame] = ()
) -> MappedTable:
    """Apply one table's mapping: roll up its items, then build each column by its rule.

    Args:
        table: the table's mapping.
        raw: its files' rows as read (with ``source_file``/``source_row``).
        items: the rows of each of ``table.items``, in the same order.

    Returns:
        The frame in contract names (mapped columns; contract columns the files already name as
        the contract; with ``carry_unmapped`` every other column as an extra), the parse options
        of each column and the typed extra columns.
    """
    contract = CONTRACTS[table.table]
    frame = raw
    orphans = []
    for rule, item_rows in zip(table.items, items, strict=True):
        frame, orphan = _roll_up(frame, rule, item_rows)
        orphans.append(orphan)
    out = pd.DataFrame({name: frame[name].to_numpy() for name in BOOKKEEPING}, index=frame.index)
    parse: dict[str, ColumnParse] = {}
    extras: list[Column] = []
    mapped = {rule.target for rule in table.columns}
    for rule in table.columns:
        out[rule.target] = _build_column(rule, frame, table.null_values)
        parse[rule.target] = rule.parse
        if rule.target not in contract.column_names and rule.kind is not None:
            extras.append(Column(rule.target, rule.kind, required=False, nullable=True))
    used = {s for rule in table.columns for s in rule.sources} | set(BOOKKEEPING)
    for name in frame.columns:
        if name in mapped or name in BOOKKEEPING:
            continue
        same_name = name in contract.column_names
        if same_name or (table.carry_unmapped and name not in used):
            out[name] = _nulled(frame[name], table.null_values)
    # The table's zone applies to every timestamp column that does not name its own.
    kinds = {c.name: c.kind for c in (*contract.columns, *extras)}
    for name in out.columns:
        if kinds.get(name) == "timestamp":
            own = parse.get(name, ColumnParse())
            parse[name] = replace(own, time_zone=own.time_zone or table.time_zone)
    orphan_rows = pd.concat(orphans, ignore_index=True) if orphans else None
    return MappedTable(out, parse, tuple(extras), orphan_rows)


def _text(series: pd.Series) -> pd.Series:
    """Cells as trimmed text (None where empty), whatever type they were read as."""
    text = series.astype("string[pyarrow]").str.strip()
    return text.where(text.notna() & (text != ""), None)


def _nulled(series: pd.Series, null_values: Sequence[str]) -> pd.Series:
    """``series`` with the declared null spellings (``N/A``, ``Date Not Captured``) as null."""
    if not null_values or not (series.dtype == object or pd.api.types.is_string_dtype(series)):
        return series
    text = series.astype("string[pyarrow]").str.strip()
    return series.where(~text.isin(list(null_values)).fillna(False), None)


def _build_column(rule: ColumnRule, frame: pd.DataFrame, table_nulls: Sequence[str]) -> pd.Series:
    if rule.has_constant:
        return pd.Series([rule.constant] * len(frame), index=frame.index, dtype=object)
    nulls = (*table_nulls, *rule.null_values)
    value: pd.Series | None = None
    for source in rule.sources:  # the first non-empty of them, left to right
        candidate = frame[source]
        if candidate.dtype == object or pd.api.types.is_string_dtype(candidate):
            candidate = _text(_nulled(candidate, nulls)).astype(object)
            candidate = candidate.where(candidate.notna(), None)
        value = candidate if value is None else value.where(value.notna(), candidate)
    assert value is not None  # a rule has sources or a constant (checked when parsed)
    if rule.values is None:
        return value
    values = rule.values
    keys = value.map(lambda v: None if pd.isna(v) else str(v).strip())
    mapped = keys.map(lambda k: None if k is None else values.get(k, _UNMAPPED))
    unmapped = mapped.map(lambda v: v is _UNMAPPED).astype(bool)
    fallback = value if rule.other == "keep" else pd.Series(None, index=value.index, dtype=object)
    return mapped.where(~unmapped, fallback).astype(object)


_UNMAPPED = object()


def _roll_up(
    frame: pd.DataFrame, rule: ItemsRule, items: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add ``rule``'s aggregates of ``items`` to each parent row; return the item rows whose key
    matches no parent (reported, not dropped silently)."""
    from features.validation import parse_numbers  # one number parser for the whole ingest

    key = _text(items[rule.key])
    grouped: dict[str, pd.Series] = {}
    for aggregate in rule.aggregates:
        if aggregate.source == "*":
            grouped[aggregate.name] = key.groupby(key).size()
            continue
        values = items[aggregate.source]
        if aggregate.how in ("sum", "mean", "min", "max"):
            values, _ = parse_numbers(values, aggregate.number)
        elif values.dtype == object or pd.api.types.is_string_dtype(values):
            values = _text(values).astype(object)
        by_key = values.groupby(key, sort=False)
        grouped[aggregate.name] = {
            "sum": lambda g: g.sum(min_count=1),
            "count": lambda g: g.count(),
            "first": lambda g: g.first(),
            "last": lambda g: g.last(),
            "min": lambda g: g.min(),
            "max": lambda g: g.max(),
            "mean": lambda g: g.mean(),
            "nunique": lambda g: g.nunique(),
        }[aggregate.how](by_key)
    parent = _text(frame[rule.on])
    out = frame.copy()
    for name, series in grouped.items():
        # A parent the item files never name gets nothing (null), not a count of 0: the files
        # may simply not cover it.
        column = parent.map(series)
        out[name] = column.to_numpy(dtype=object) if column.dtype == object else column.to_numpy()
    orphans = items[~key.isin(parent.dropna()).fillna(False) | key.isna()]
    return out, orphans.reset_index(drop=True)


def describe_values(series: pd.Series, limit: int = 3) -> str:
    """A few distinct example values, for a message."""
    examples = pd.unique(series.dropna().astype(str))[:limit]
    return ", ".join(repr(e) for e in examples) if len(examples) else "(none)"
