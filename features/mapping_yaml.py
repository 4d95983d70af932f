"""Reading a mapping file: YAML → :class:`features.mapping.SourceMapping`, checked, with the line
of every problem (YAML node marks give them). docs/data-contract.md lists every key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from features.mapping import (
    NUMBER_STYLES,
    Aggregate,
    AggregateHow,
    ColumnParse,
    ColumnRule,
    ItemsRule,
    MappingError,
    NumberFormat,
    SourceMapping,
    TableMapping,
)
from features.sources import BOOKKEEPING, SUFFIXES, ReadOptions, default_patterns
from orderlens.contracts import CONTRACTS, Kind

__all__ = ["load_mapping"]


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
            if len(hows) != 1 or hows[0] not in get_args(AggregateHow):
                raise self.fail(
                    where,
                    f"items column {name!r}: one of "
                    f"{', '.join(get_args(AggregateHow))} naming an item column "
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
