"""Apply the source contract to frames: coerce types, find the rows that break a rule.

Pure functions: a raw frame goes in, a typed frame and a per-row list of broken rules come out.
:mod:`features.ingest` decides what to do with them (lake or quarantine).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from features.mapping import ColumnParse, NumberFormat
from features.sources import SourceContractError
from orderlens.contracts import Column, TableContract

__all__ = ["SourceContractError", "Violations", "check_columns", "coerce_table"]

ROUTE_STAGE = {
    "created": 0,
    "picked": 1,
    "departed_origin": 2,
    "arrived_hub": 3,
    "departed_hub": 3,
    "arrived_dest_hub": 4,
    "out_for_delivery": 5,
    "delivered": 6,
}
"""Route stage of each scan type; scans of a later stage must not precede an earlier stage."""

TRUE_WORDS = ["true", "t", "yes", "y", "1", "1.0"]
FALSE_WORDS = ["false", "f", "no", "n", "0", "0.0"]
BLANK_WORDS = ["", "nan", "NaN", "None", "null", "NULL"]


class Violations:
    """The rules each row broke, collected rule by rule as boolean masks."""

    def __init__(self, index: pd.Index) -> None:
        self.index = index
        self._masks: list[tuple[str, pd.Series]] = []
        self.notes: list[tuple[str, pd.Series, pd.Series]] = []
        """Cells read as empty without rejecting the row: ``(rule, mask, the cells as read)``
        (unreadable text in an optional column)."""

    def note(self, rule: str, cells: pd.Series, raw: pd.Series) -> None:
        """Record that the cells where ``cells`` is True were read as empty under ``rule``."""
        cells = cells.reindex(self.index, fill_value=False).fillna(False).astype(bool)
        if cells.any():
            self.notes.append((rule, cells, raw))

    def add(self, rule: str, broken: pd.Series) -> None:
        """Record that the rows where ``broken`` is True break ``rule``."""
        broken = broken.reindex(self.index, fill_value=False).fillna(False).astype(bool)
        if broken.any():
            self._masks.append((rule, broken))

    @property
    def any(self) -> pd.Series:
        """True for every row that broke at least one rule."""
        out = pd.Series(False, index=self.index)
        for _, mask in self._masks:
            out |= mask
        return out

    def rules(self) -> pd.Series:
        """Per row, the names of the rules it broke joined by ``;`` (empty when none)."""
        out = pd.Series("", index=self.index, dtype="object")
        for rule, mask in self._masks:
            out[mask] = np.where(out[mask] == "", rule, out[mask] + ";" + rule)
        return out


def check_columns(frame: pd.DataFrame, contract: TableContract) -> None:
    """Raise :class:`SourceContractError` naming every required column that is missing (and the
    choice of columns when none of a ``one_of`` group is there)."""
    missing = [c for c in contract.required_columns if c not in frame.columns]
    groups = [g for g in contract.one_of if all(c in frame.columns for c in g)]
    if contract.one_of and not groups:
        missing.append(" or ".join("+".join(group) for group in contract.one_of))
    if missing:
        raise SourceContractError(
            f"table {contract.name!r} is missing required column(s): {', '.join(missing)}"
        )


def coerce_table(
    frame: pd.DataFrame,
    contract: TableContract,
    allowed_values: Mapping[str, tuple[str, ...]] | None = None,
    parse: Mapping[str, ColumnParse] | None = None,
    extra_columns: tuple[Column, ...] = (),
) -> tuple[pd.DataFrame, Violations]:
    """Cast every contract column to its type and check types, nulls, allowed values and ranges.

    A cell that cannot be read as its type quarantines the row when the column is required
    (``type:<column>``); in an optional column it is read as empty and noted
    (``unreadable:<column>``), so one garbled optional cell does not cost the order. A timestamp
    written without a time zone quarantines the row (``naive_time:<column>``) unless the mapping
    names the zone.

    Args:
        frame: the table as read (parquet types or CSV strings); must have the required columns.
        contract: the table's contract.
        allowed_values: ``"table.column"`` → the only values accepted there (the settings'
            ``contract.allowed_values``); other categorical columns take any string.
        parse: per column, the date format, time zone and number style a mapping declared.
        extra_columns: extra (non-contract) columns a mapping gave a type; cast like optional
            contract columns.

    Returns:
        The typed frame (text trimmed, case kept; extra columns carried; optional columns that
        are absent stay absent) and the violations found, with rule names like
        ``type:order_value``.
    """
    check_columns(frame, contract)
    allowed_values = allowed_values or {}
    parse = parse or {}
    typed = frame.copy()
    violations = Violations(frame.index)
    for column in (*contract.columns, *extra_columns):
        if column.name not in frame.columns:
            continue
        raw = frame[column.name]
        text = _stripped_text(raw)
        present = raw.notna() if text is None else text.notna() & ~text.isin(BLANK_WORDS)
        how = parse.get(column.name, ColumnParse())
        value, bad_type, naive = _cast(raw, text, present, column, how)
        typed[column.name] = value
        if column.required:
            violations.add(f"type:{column.name}", bad_type)
        else:
            violations.note(f"unreadable:{column.name}", bad_type, raw)
        violations.add(f"naive_time:{column.name}", naive)
        if not column.nullable:
            violations.add(f"missing:{column.name}", ~present)
        for allowed in (column.allowed, allowed_values.get(f"{contract.name}.{column.name}")):
            if allowed is not None:
                violations.add(f"allowed:{column.name}", value.notna() & ~value.isin(list(allowed)))
        if column.min is not None:
            violations.add(f"range:{column.name}", value.notna() & (value < column.min))
        if column.max is not None:
            violations.add(f"range:{column.name}", value.notna() & (value > column.max))
    return typed, violations


def check_row_rules(typed: pd.DataFrame, contract: TableContract, violations: Violations) -> None:
    """Apply the contract's row rules (between columns of one row) to a typed frame."""
    for rule in contract.rules:
        check = ROW_RULES[rule.name]
        violations.add(f"{contract.name}.{rule.name}", check(typed))


def check_cross_table(
    table: str,
    typed: pd.DataFrame,
    known_orders: pd.DataFrame,
    violations: Violations,
    quarantined_orders: pd.Index | None = None,
) -> None:
    """Apply the rules between ``table`` and the orders it refers to.

    Args:
        table: the table being checked.
        typed: its typed rows.
        known_orders: ``order_id``, ``created_at`` and ``order_value`` of every accepted order
            (lake + batch).
        violations: collects the broken rules.
        quarantined_orders: ids of the orders this ingest quarantined: rows about them break
            ``<table>.order_quarantined`` (not ``order_exists``), so a rejected order's tracking,
            tickets and outcomes say why they were held back.
    """
    if table not in {"tracking", "tickets", "outcomes"} or "order_id" not in typed.columns:
        return
    created = typed["order_id"].map(known_orders.set_index("order_id")["created_at"])
    has_order = typed["order_id"].notna() if table == "tickets" else True
    held_back = typed["order_id"].isin(quarantined_orders if quarantined_orders is not None else [])
    violations.add(f"{table}.order_quarantined", held_back & created.isna())
    violations.add(f"{table}.order_exists", has_order & created.isna() & ~held_back)
    time_column = {"tracking": "event_time", "tickets": "created_at", "outcomes": "delivered_at"}
    before = typed[time_column[table]] < created
    rule = "delivered_after_creation" if table == "outcomes" else "not_before_creation"
    violations.add(f"{table}.{rule}", before.fillna(False))
    if table == "outcomes" and "refunded_amount" in typed.columns:
        value = typed["order_id"].map(known_orders.set_index("order_id")["order_value"])
        violations.add("outcomes.refund_within_value", typed["refunded_amount"] > value + 0.005)
    if table == "tracking":
        violations.add("tracking.in_time_order", _out_of_route_order(typed))


def _cast(
    raw: pd.Series, text: pd.Series | None, present: pd.Series, column: Column, how: ColumnParse
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Cast a column; return the value, a mask of cells that could not be read as the type and a
    mask of timestamps written without a zone (none declared).

    ``text`` is the column as stripped Arrow strings when it arrived as text (CSV, or string
    columns of parquet), else None; ``present`` marks the cells that hold something.
    """
    no_cells = pd.Series(False, index=raw.index)
    if column.kind == "str":
        source = raw.astype("string[pyarrow]") if text is None else text
        value = source.astype("object").where(present, None)
        return value, no_cells, no_cells
    if column.kind in ("float", "int"):
        value, bad = parse_numbers(raw.where(present), how.number)
        if column.kind == "int":
            fractional = value.notna() & (value != np.round(value))
            bad |= fractional
            value = value.where(~fractional)
            has_null = value.isna().any()
            value = value.astype("Int64") if has_null else value.astype("int64")
        return value, bad, no_cells
    if column.kind == "bool":
        value, bad = _cast_bool(raw, text, present)
        return value, bad, no_cells
    return _cast_timestamp(raw, text, present, how)


def parse_numbers(values: pd.Series, style: NumberFormat | None) -> tuple[pd.Series, pd.Series]:
    """Numbers from cells that may be text in a declared style (``"1.234,50"`` with ``eu``).

    Returns:
        ``(float64 values, mask of cells that held something but no number)``; empty cells are
        NaN and not bad.
    """
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        text = values.astype("string[pyarrow]").str.strip()
        present = text.notna() & ~text.isin(BLANK_WORDS)
        if style is not None:
            for junk in style.strip:
                text = text.str.replace(junk, "", regex=False)
            if style.thousands:
                text = text.str.replace(style.thousands, "", regex=False)
            if style.decimal != ".":
                text = text.str.replace(style.decimal, ".", regex=False)
            text = text.str.strip()
        number = pd.to_numeric(text.where(present), errors="coerce").astype("float64")
    else:
        present = values.notna()
        number = pd.to_numeric(values, errors="coerce").astype("float64")
    finite = number.where(np.isfinite(number))  # "inf" is not an amount
    return finite, (present & finite.isna()).fillna(False).astype(bool)


def _cast_bool(
    raw: pd.Series, text: pd.Series | None, present: pd.Series
) -> tuple[pd.Series, pd.Series]:
    if raw.dtype == bool:
        return raw, pd.Series(False, index=raw.index)
    words = (raw.astype("string[pyarrow]") if text is None else text).str.lower()
    is_true = words.isin(TRUE_WORDS).fillna(False).astype(bool)
    is_false = words.isin(FALSE_WORDS).fillna(False).astype(bool)
    bad = present & ~(is_true | is_false)
    value = pd.Series(pd.NA, index=raw.index, dtype="boolean")
    value[is_true & present] = True
    value[is_false & present] = False
    if not value.isna().any():
        value = value.astype(bool)
    return value, bad


OFFSET_AT_END = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$"
"""A clock time followed by a zone (``Z``, ``UTC``, ``+08:00``, ``-0300``): the text says when,
in absolute time. Anything else (``2025-03-01 08:00``, ``2-Jun-06``) is a naive local time."""


def _cast_timestamp(
    raw: pd.Series, text: pd.Series | None, present: pd.Series, how: ColumnParse
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Timestamps in UTC. Aware values are converted; naive ones are placed in ``how.time_zone``
    when the mapping names one, else marked (a naive time taken as UTC would silently shift
    every order of a shop east or west of Greenwich)."""
    nothing = pd.Series(False, index=raw.index)
    if pd.api.types.is_datetime64_any_dtype(raw):
        if raw.dt.tz is not None:
            value, naive = raw.dt.tz_convert("UTC"), nothing
        elif how.time_zone:
            value, naive = _localize(raw, how.time_zone), nothing
        else:
            value, naive = _no_times(raw.index), raw.notna()
        value = _microseconds(value)
        return value, present & value.isna() & ~naive, naive
    words = (raw.astype("string[pyarrow]").str.strip() if text is None else text).where(present)
    declared_zone = bool(how.format) and ("%z" in how.format or "%Z" in how.format)
    aware = present if declared_zone else present & words.str.contains(OFFSET_AT_END).fillna(False)
    aware = aware.astype(bool)
    value = _no_times(raw.index)
    if aware.any():
        value[aware] = _to_datetime(words[aware], how.format, utc=True)
    naive_cells = present & ~aware
    naive = nothing
    if naive_cells.any():
        local = _to_datetime(words[naive_cells], how.format, utc=False)
        if how.time_zone:
            value[naive_cells] = _localize(local, how.time_zone)
        else:  # a readable time without a zone; unreadable text stays a type problem
            naive = naive_cells & pd.Series(local.notna(), index=local.index).reindex(
                raw.index, fill_value=False
            )
    value = _microseconds(value)
    return value, present & value.isna() & ~naive, naive


def _no_times(index: pd.Index) -> pd.Series:
    return pd.Series(pd.NaT, index=index, dtype="datetime64[us, UTC]")


def _to_datetime(words: pd.Series, fmt: str | None, *, utc: bool) -> pd.Series:
    """Parse with the declared format, else ISO 8601 (fast, in C) with a per-cell fallback for
    the cells ISO does not read (``2-Jun-06``, ``06/02/2006``)."""
    if fmt:
        return pd.to_datetime(words, format=fmt, errors="coerce", utc=utc)
    value = pd.to_datetime(words, format="ISO8601", errors="coerce", utc=utc)
    missed = value.isna() & words.notna()
    if missed.any():
        retry = pd.to_datetime(words[missed], format="mixed", errors="coerce", utc=utc)
        value = value.where(~missed, retry)
    return value


def _localize(values: pd.Series, zone: str) -> pd.Series:
    """Naive local times in ``zone`` → UTC; a time that does not exist or is ambiguous there (a
    daylight-saving change) becomes NaT and is reported as unreadable."""
    values = pd.to_datetime(values, errors="coerce")
    if values.dt.tz is not None:  # a format with %z gave aware values
        return values.dt.tz_convert("UTC")
    local = values.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    return local.dt.tz_convert("UTC")


def _microseconds(value: pd.Series) -> pd.Series:
    # Microsecond UTC timestamps throughout: DuckDB/Feast cannot cast nanosecond ones.
    return pd.to_datetime(value, utc=True).astype("datetime64[us, UTC]")


def _stripped_text(raw: pd.Series) -> pd.Series | None:
    """A text column as whitespace-stripped Arrow strings (vectorised in Arrow: the Python
    ``str.strip`` per cell took half of a 200k-order ingest); None for non-text columns."""
    if raw.dtype == object or pd.api.types.is_string_dtype(raw):
        return raw.astype("string[pyarrow]").str.strip()
    return None


def _out_of_route_order(tracking: pd.DataFrame) -> pd.Series:
    """Scans earlier than a scan of an earlier route stage of the same order.

    Hub scans (``arrived_hub``/``departed_hub``) repeat along multi-hub routes and a failed
    delivery repeats ``out_for_delivery``, so each of those is one stage; ``exception`` scans can
    happen at any stage and are not ranked.
    """
    ranked = tracking.assign(_rank=tracking["event_type"].map(ROUTE_STAGE)).dropna(subset=["_rank"])
    if ranked.empty:
        return pd.Series(False, index=tracking.index)
    latest = ranked.groupby(["order_id", "_rank"])["event_time"].max().reset_index()
    latest["_bound"] = latest.groupby("order_id")["event_time"].cummax()
    # A stage must not start before the latest scan of any earlier stage: shift each bound to
    # the stage that follows it.
    latest["_next_rank"] = latest.groupby("order_id")["_rank"].shift(-1)
    bounds = latest.dropna(subset=["_next_rank"])[["order_id", "_next_rank", "_bound"]]
    merged = (
        ranked[["order_id", "_rank", "event_time"]]
        .reset_index()
        .merge(bounds.rename(columns={"_next_rank": "_rank"}), on=["order_id", "_rank"], how="left")
    )
    broken = merged["event_time"] < merged["_bound"]
    return pd.Series(broken.to_numpy(), index=merged["index"].to_numpy()).reindex(
        tracking.index, fill_value=False
    )


def _given(frame: pd.DataFrame, column: str) -> pd.Series:
    """Whether each row holds a value in ``column`` (False everywhere when the column is absent)."""
    if column not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[column].notna()


def _destination_missing(orders: pd.DataFrame) -> pd.Series:
    coordinates = _given(orders, "dest_lat") & _given(orders, "dest_lon")
    return ~(_given(orders, "dest_region") | coordinates)


def _unpaired(frame: pd.DataFrame, first: str, second: str) -> pd.Series:
    return _given(frame, first) != _given(frame, second)


def _discount_above_value(orders: pd.DataFrame) -> pd.Series:
    if "discount" not in orders.columns:
        return pd.Series(False, index=orders.index)
    return orders["discount"] > orders["order_value"]


def _alert_type_matches_level(weather: pd.DataFrame) -> pd.Series:
    has_type = weather["alert_type"].notna()
    return (weather["alert_level"] > 0) != has_type


def _exception_code_matches_event(tracking: pd.DataFrame) -> pd.Series:
    is_exception = tracking["event_type"] == "exception"
    if "exception_code" not in tracking.columns:  # optional: a carrier may not give codes
        return pd.Series(False, index=tracking.index)
    return is_exception != tracking["exception_code"].notna()


ROW_RULES: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "promise_after_creation": lambda o: o["promised_at"] <= o["created_at"],
    "discount_within_value": _discount_above_value,
    "destination_given": _destination_missing,
    "origin_coordinates_paired": lambda o: _unpaired(o, "origin_lat", "origin_lon"),
    "destination_coordinates_paired": lambda o: _unpaired(o, "dest_lat", "dest_lon"),
    "alert_type_matches_level": _alert_type_matches_level,
    "valid_after_issue": lambda f: f["valid_at"] <= f["issued_at"],
    "exception_code_matches_event": _exception_code_matches_event,
}
"""Row rules by the name :mod:`orderlens.contracts` gives them; each marks the rows that break it."""
