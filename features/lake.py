"""The parquet lake under ``<home>/lake``: one folder per source table, hive-partitioned by the
day of its event timestamp. Written by :mod:`features.ingest`, read by every later stage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from orderlens.contracts import CONTRACTS, Kind, TableContract
from orderlens.settings import Settings

PARTITION = "date"
UNDATED = "undated"
"""The partition of rows whose event timestamp is null (outcomes of orders not delivered)."""
ARROW_TYPES: dict[Kind, pa.DataType] = {
    "str": pa.string(),
    "float": pa.float64(),
    "int": pa.int64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def table_dir(settings: Settings, table: str) -> Path:
    """The lake folder of one table."""
    return settings.lake_dir / table


def has_table(settings: Settings, table: str) -> bool:
    """Whether the lake holds any rows of ``table``."""
    folder = table_dir(settings, table)
    return folder.is_dir() and any(folder.rglob("*.parquet"))


def read_lake(settings: Settings, table: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a table from the lake (all partitions), or an empty frame with its contract columns.

    Every contract column is there: an optional column the sources never had comes back as a
    column of nulls of its contract type, so later stages can test ``.isna().all()`` instead of
    guarding every access. Extra columns the sources carried come back too.

    Args:
        settings: locates the lake.
        table: a source table name (see :data:`orderlens.contracts.CONTRACTS`).
        columns: the columns to read (all when None).
    """
    contract = CONTRACTS[table]
    schema = arrow_schema(contract)
    if not has_table(settings, table):
        names = columns or schema.names
        return schema.empty_table().select(names).to_pandas()
    dataset = _dataset(table_dir(settings, table))
    stored = [n for n in dataset.schema.names if n != PARTITION]
    if columns is None:
        columns = [*schema.names, *(n for n in stored if n not in schema.names)]
    arrow = dataset.to_table(columns=[n for n in columns if n in stored])
    for name in columns:
        if name not in stored and name in schema.names:  # an optional column no source had
            arrow = arrow.append_column(
                schema.field(name), pa.nulls(len(arrow), schema.field(name).type)
            )
    return arrow.select(columns).to_pandas()


def partition_files(
    table: str, frame: pd.DataFrame, batch_id: str
) -> Iterator[tuple[str, pa.Table]]:
    """Rows of ``table`` split by the day of their event timestamp, as the lake stores them.

    Yields:
        ``(path relative to the lake, rows of that file)``: one file per day,
        ``<table>/date=YYYY-MM-DD/part-<batch_id>-0.parquet`` (``date=undated`` for rows without
        an event time). The day lives in the folder name (hive partitioning), not in the file.
    """
    contract = CONTRACTS[table]
    # np.datetime_as_string is vectorised in C; Series.dt.strftime formats cell by cell
    # (27 s of a 200k-order ingest).
    days = frame[contract.timestamp].dt.tz_convert("UTC").dt.tz_localize(None)
    day_names = np.datetime_as_string(days.to_numpy().astype("datetime64[D]"))
    # A null event time (an outcome not delivered) has no day: such rows share one partition.
    day_names = np.where(days.isna().to_numpy(), UNDATED, day_names)
    order = np.argsort(day_names, kind="stable")
    frame = _text_for_mixed_extras(contract, frame.iloc[order])
    arrow = pa.Table.from_pandas(frame, schema=_frame_schema(contract, frame), preserve_index=False)
    names, starts = np.unique(day_names[order], return_index=True)
    stops = [*starts[1:], len(order)]
    for day, start, stop in zip(names, starts, stops, strict=True):
        path = f"{table}/{PARTITION}={day}/part-{batch_id}-0.parquet"
        yield path, arrow.slice(int(start), int(stop - start))


def _text_for_mixed_extras(contract: TableContract, frame: pd.DataFrame) -> pd.DataFrame:
    """Extra columns whose cells mix types (``12`` and ``"n/a"`` in one JSON column) are stored
    as text: arrow cannot store them otherwise, and the values stay readable."""
    declared = set(contract.column_names) | {PARTITION}
    mixed = {}
    for name in frame.columns:
        if name in declared or frame[name].dtype != object:
            continue
        try:
            pa.array(frame[name], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            mixed[name] = frame[name].map(lambda v: None if pd.isna(v) else str(v))
    return frame.assign(**mixed) if mixed else frame


def arrow_schema(contract: TableContract) -> pa.Schema:
    """The arrow schema of a table's contract columns."""
    return pa.schema([(c.name, ARROW_TYPES[c.kind]) for c in contract.columns])


def _frame_schema(contract: TableContract, frame: pd.DataFrame) -> pa.Schema:
    """Contract columns get their contract type (an all-null column must not become ``null``);
    extra columns keep what arrow infers."""
    declared = {c.name: ARROW_TYPES[c.kind] for c in contract.columns}
    fields = []
    for name in frame.columns:
        if name in declared:
            fields.append(pa.field(name, declared[name]))
        elif name == PARTITION:
            fields.append(pa.field(name, pa.string()))
        else:
            fields.append(pa.Schema.from_pandas(frame[[name]], preserve_index=False).field(name))
    return pa.schema(fields)


class LakeFileError(OSError):
    """A lake file cannot be read (written by a version without atomic writes, or damaged)."""


def _dataset(folder: Path) -> ds.Dataset:
    files = sorted(str(p) for p in folder.rglob("*.parquet"))
    schemas = []
    for path in files:  # each file's own schema: a damaged one is named, not a 100-line trace
        try:
            schemas.append(pq.read_schema(path))
        except (pa.ArrowInvalid, OSError) as error:
            raise LakeFileError(
                f"lake file {path} cannot be read ({type(error).__name__}: "
                f"{' '.join(str(error).split())[:160]}): move it out of the lake and ingest the "
                "sources again (re-ingest adds back only the rows the lake lacks)"
            ) from None
    schema = pa.unify_schemas(schemas, promote_options="permissive")
    return ds.dataset(
        files, schema=schema, format="parquet", partitioning="hive", partition_base_dir=str(folder)
    )


def load_tickets(settings: Settings, path: Path | None = None) -> tuple[pd.DataFrame, str]:
    """Tickets from ``path`` (parquet or CSV), else the lake (``<home>/lake/tickets/``, every
    parquet file under it), else ``<home>/sources/tickets.parquet``.

    Returns:
        ``(tickets, where they came from)``.
    """
    if path is not None:
        frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
        return frame, str(path)
    lake = settings.lake_dir / "tickets"
    files = sorted(lake.rglob("*.parquet")) if lake.is_dir() else []
    if files:
        return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True), str(lake)
    source = settings.sources_dir / "tickets.parquet"
    if source.is_file():
        return pd.read_parquet(source), str(source)
    raise FileNotFoundError(
        f"no tickets in {lake} or {source}: run `orderlens simulate` or pass --tickets"
    )
