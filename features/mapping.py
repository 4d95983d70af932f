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
mapping's line. This module parses and checks the mapping (:func:`load_mapping`) and applies it to
frames (:func:`map_table`); type parsing (numbers, dates, zones) is left to
:mod:`features.validation`, which gets each column's :class:`ColumnParse`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import yaml

from features.sources import (
    BOOKKEEPING,
    SUFFIXES,
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
    "default_mapping",
    "load_mapping",
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


# ---- reading the YAML with line numbers -------------------------------------------------------


class _Node(dict):
    """A YAML mapping that remembers the line of each key (1-based) and its own."""

    line: int = 0
    lines: dict[str, int]


def _plain(node: yaml.Node, constructor: yaml.constructor.SafeConstructor) -> Any:
    if isinstance(node, yaml.MappingNode):
        out = _Node()
        out.line, out.lines = node.start_mark.line + 1, {}
        for key_node, value_node in node.value:
            # Keys as written: an unquoted `yes:` or `1:` in a value map stays the text "yes"/"1".
            key = str(key_node.value)
            out[key] = _plain(value_node, constructor)
            out.lines[key] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, constructor) for item in node.value]
    return constructor.construct_object(node, deep=True)


def _read_yaml(path: Path) -> _Node:
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except OSError as error:
        raise MappingError(f"mapping {path} cannot be read: {error.strerror}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or error
        raise MappingError(f"{path}{where}: not valid YAML ({problem})") from None
    data = _plain(root, yaml.constructor.SafeConstructor()) if root is not None else None
    if not isinstance(data, _Node):
        raise MappingError(f"{path}: a mapping file is a YAML mapping with a 'tables:' key")
    return data


# ---- parsing the mapping ----------------------------------------------------------------------

_TABLE_KEYS = {"files", "format", "csv", "columns", "items", "carry_unmapped", "time_zone", "nulls"}
_COLUMN_KEYS = {
    "column",
    "first_of",
    "value",
    "values",
    "other",
    "nulls",
    "format",
    "time_zone",
    "number",
    "type",
}
_KINDS: dict[str, Kind] = {
    "text": "str",
    "str": "str",
    "number": "float",
    "float": "float",
    "integer": "int",
    "int": "int",
    "bool": "bool",
    "timestamp": "timestamp",
}


def load_mapping(path: Path) -> SourceMapping:
    """Read and check a mapping file (structure, table and column names, formats, zones).

    Raises:
        MappingError: naming the file and line of the first problem.
    """
    path = Path(path)
    data = _read_yaml(path)
    parser = _Parser(path)
    parser.keys(data, {"tables", "time_zone", "csv", "nulls"}, "the mapping")
    tables = data.get("tables")
    if not isinstance(tables, _Node) or not tables:
        raise MappingError(f"{path}, line {data.line}: 'tables:' must map table names to rules")
    zone = parser.zone(data.get("time_zone"), data.lines.get("time_zone", data.line))
    read = parser.read_options(data.get("csv"), ReadOptions(), data.lines.get("csv", data.line))
    nulls = parser.words(data.get("nulls"), data.lines.get("nulls", data.line))
    built = {}
    for name in tables:
        if name not in CONTRACTS:
            raise MappingError(
                f"{path}, line {tables.lines[name]}: {name!r} is not a contract table "
                f"(one of {', '.join(CONTRACTS)})"
            )
    for name in CONTRACTS:  # contract order: orders first, the others refer to them
        if name in tables:
            built[name] = parser.table(name, tables[name], tables.lines[name], zone, read, nulls)
    return SourceMapping(built, path)


class _Parser:
    """Turns the YAML tree into the dataclasses above, with the line of every problem."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, line: int, message: str) -> MappingError:
        return MappingError(f"{self.path}, line {line}: {message}")

    def keys(self, node: _Node, allowed: set[str], what: str) -> None:
        for key in node:
            if key not in allowed:
                raise self.fail(
                    node.lines[key],
                    f"unknown key {key!r} in {what} (expected {', '.join(sorted(allowed))})",
                )

    def zone(self, value: Any, line: int) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(
                line, f"unknown time zone {value!r} (an IANA name like 'Europe/Berlin', or 'UTC')"
            ) from None
        return str(value)

    def words(self, value: Any, line: int) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            value = [value]
        return tuple("" if v is None else str(v).strip() for v in value)

    def patterns(self, value: Any, line: int) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.fail(line, "files: a glob or a list of globs relative to --source")
        return tuple(value)

    def read_options(
        self, value: Any, base: ReadOptions, line: int, fmt: Any = None
    ) -> ReadOptions:
        options = dict(base.__dict__)
        if fmt is not None:
            if fmt not in set(SUFFIXES.values()):
                raise self.fail(line, f"format {fmt!r}: expected csv, parquet or jsonl")
            options["format"] = fmt
        if value is not None:
            if not isinstance(value, _Node):
                raise self.fail(line, "csv: a mapping of encoding, delimiter, quotechar")
            self.keys(value, {"encoding", "delimiter", "quotechar"}, "csv")
            options.update({k: str(v) for k, v in value.items()})
        return ReadOptions(**options)

    def number(self, value: Any, line: int) -> NumberFormat | None:
        if value is None:
            return None
        if isinstance(value, str):
            if value not in NUMBER_STYLES:
                raise self.fail(
                    line,
                    f"number {value!r}: one of {', '.join(NUMBER_STYLES)} or a mapping "
                    "of decimal, thousands, strip",
                )
            return NUMBER_STYLES[value]
        if isinstance(value, _Node):
            self.keys(value, {"decimal", "thousands", "strip"}, "number")
            strip = value.get("strip") or ()
            return NumberFormat(
                decimal=str(value.get("decimal", ".")),
                thousands=None if value.get("thousands") is None else str(value["thousands"]),
                strip=tuple(str(s) for s in ([strip] if isinstance(strip, str) else strip)),
            )
        raise self.fail(line, "number: a style name or a mapping of decimal, thousands, strip")

    def table(
        self,
        name: str,
        node: Any,
        line: int,
        zone: str | None,
        read: ReadOptions,
        nulls: tuple[str, ...],
    ) -> TableMapping:
        if node is None:
            node = _Node()
            node.line, node.lines = line, {}
        if not isinstance(node, _Node):
            raise self.fail(line, f"{name}: a mapping of {', '.join(sorted(_TABLE_KEYS))}")
        self.keys(node, _TABLE_KEYS, f"table {name!r}")
        at = node.lines.get
        patterns = (
            self.patterns(node["files"], at("files")) if "files" in node else default_patterns(name)
        )
        table_zone = self.zone(node.get("time_zone"), at("time_zone", line)) or zone
        options = self.read_options(node.get("csv"), read, at("csv", line), node.get("format"))
        columns = node.get("columns") or _Node()
        if not isinstance(columns, _Node):
            raise self.fail(at("columns", line), "columns: a mapping of contract column -> rule")
        rules = tuple(
            self.column(name, target, spec, columns.lines[target])
            for target, spec in columns.items()
        )
        items_node = node.get("items") or []
        items_node = [items_node] if isinstance(items_node, _Node) else items_node
        items = tuple(self.items(name, item, at("items", line)) for item in items_node)
        carry = node.get("carry_unmapped", False)
        if not isinstance(carry, bool):
            raise self.fail(at("carry_unmapped", line), "carry_unmapped: true or false")
        table_nulls = nulls + self.words(node.get("nulls"), at("nulls", line))
        return TableMapping(
            name, patterns, options, rules, items, carry, table_zone, table_nulls, line
        )

    def column(self, table: str, target: str, spec: Any, line: int) -> ColumnRule:
        contract = CONTRACTS[table]
        column = contract.column(target) if target in contract.column_names else None
        if target in BOOKKEEPING:
            raise self.fail(line, f"{target!r} is written by ingest itself")
        if spec is None:
            raise self.fail(line, f"{table}.{target}: name its source column")
        if isinstance(spec, str):
            return ColumnRule(target, line, sources=(spec,))
        if not isinstance(spec, _Node):
            raise self.fail(
                line,
                f"{table}.{target}: a source column name or a mapping of "
                f"{', '.join(sorted(_COLUMN_KEYS))}",
            )
        self.keys(spec, _COLUMN_KEYS, f"{table}.{target}")
        chosen = [k for k in ("column", "first_of", "value") if k in spec]
        if len(chosen) != 1:
            raise self.fail(line, f"{table}.{target}: give exactly one of column, first_of, value")
        sources: tuple[str, ...] = ()
        if "column" in spec:
            sources = (str(spec["column"]),)
        elif "first_of" in spec:
            first_of = spec["first_of"]
            if not isinstance(first_of, list) or not first_of:
                raise self.fail(spec.lines["first_of"], "first_of: a list of source columns")
            sources = tuple(str(s) for s in first_of)
        values = spec.get("values")
        if values is not None and not isinstance(values, _Node):
            raise self.fail(spec.lines["values"], "values: a mapping of source value -> value")
        other = spec.get("other", "keep")
        if other not in ("keep", "null"):
            raise self.fail(spec.lines["other"], "other: keep or null")
        kind = spec.get("type")
        if kind is not None:
            if column is not None:
                raise self.fail(
                    spec.lines["type"], f"{target} is a contract column: its type is {column.kind}"
                )
            if kind not in _KINDS:
                raise self.fail(spec.lines["type"], f"type {kind!r}: one of {', '.join(_KINDS)}")
        kind_of = column.kind if column is not None else _KINDS.get(kind) if kind else None
        fmt = spec.get("format")
        if fmt is not None and kind_of != "timestamp":
            raise self.fail(
                spec.lines["format"],
                f"format applies to timestamps; {target} is {kind_of or 'carried as text'}",
            )
        number = self.number(spec.get("number"), spec.lines.get("number", line))
        if number is not None and kind_of not in ("float", "int"):
            raise self.fail(
                spec.lines["number"],
                f"number applies to number columns; {target} is {kind_of or 'carried as text'}",
            )
        return ColumnRule(
            target,
            line,
            sources=sources,
            constant=spec.get("value"),
            has_constant="value" in spec,
            values={str(k).strip(): v for k, v in values.items()} if values is not None else None,
            other=other,
            null_values=self.words(spec.get("nulls"), spec.lines.get("nulls", line)),
            parse=ColumnParse(
                None if fmt is None else str(fmt),
                self.zone(spec.get("time_zone"), spec.lines.get("time_zone", line)),
                number,
            ),
            kind=_KINDS[kind] if kind else None,
        )

    def items(self, table: str, node: Any, line: int) -> ItemsRule:
        if not isinstance(node, _Node):
            raise self.fail(line, "items: a mapping (or list of mappings) of files, key, columns")
        self.keys(node, {"files", "format", "csv", "key", "on", "columns"}, f"{table}.items")
        at = node.lines.get
        for required in ("files", "key", "columns"):
            if required not in node:
                raise self.fail(node.line, f"{table}.items: {required!r} is required")
        options = self.read_options(
            node.get("csv"), ReadOptions(), at("csv", node.line), node.get("format")
        )
        columns = node["columns"]
        if not isinstance(columns, _Node) or not columns:
            raise self.fail(at("columns"), "items columns: name -> {sum|count|first|...: column}")
        aggregates = []
        for name, spec in columns.items():
            where = columns.lines[name]
            hows = [k for k in (spec or {}) if k != "number"] if isinstance(spec, _Node) else []
            if len(hows) != 1 or hows[0] not in AggregateHow.__args__:  # type: ignore[attr-defined]
                raise self.fail(
                    where,
                    f"items column {name!r}: one of "
                    f"{', '.join(AggregateHow.__args__)} naming an item column "  # type: ignore[attr-defined]
                    "(count: '*' counts item rows)",
                )
            how = hows[0]
            aggregates.append(
                Aggregate(
                    name,
                    how,
                    str(spec[how]),
                    where,
                    self.number(spec.get("number"), spec.lines.get("number", where)),
                )
            )
        key = str(node["key"])
        return ItemsRule(
            self.patterns(node["files"], at("files")),
            options,
            key,
            str(node.get("on", key)),
            tuple(aggregates),
            node.line,
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
