"""orderlens' online store: Feast's SQLite online store with a fast batch read, as a Feast plug-in.

``feature_store.local.yaml`` names it (``type: features.online_sqlite.FastSqliteOnlineStore``), so
Feast itself creates, writes (materialize, push) and tears down its tables through the plug-in's
methods: the class keeps every write of :class:`feast.infra.online_stores.sqlite.SqliteOnlineStore`
and adds one public read, :meth:`FastSqliteOnlineStore.read_latest`, for the serving hot path and
batch scoring.

Why a read of its own: Feast's ``online_read`` returns protobuf objects through a connection
that parses every timestamp with the deprecated ``sqlite3`` converters; on a 1,000-order batch
that per-value object work was most of the online read (``bench/bench_features.py``).
:meth:`~FastSqliteOnlineStore.read_latest` runs one ``SELECT … WHERE entity_key IN (…)`` per
view for every key of a batch and returns plain Python values (each distinct protobuf blob
decoded once) and epoch seconds.

The table layout (one table per view, a row per entity key and feature; ``entity_key`` is the
serialized :class:`EntityKey`, version 3; ``value`` a serialized :class:`ValueProto`;
``event_ts`` epoch seconds) is the parent class's: ``tests/features/test_store.py`` checks this
read against Feast's own ``online_read`` on a real store, and :func:`entity_key_bytes` against
Feast's ``serialize_entity_key``, so an upgrade changing either fails a test.

Beside each of Feast's tables the plug-in keeps a **packed** one (:data:`PACKED_SUFFIX`): a row
per entity key with its event time and every feature's latest value as one JSON object, written
in the same transaction as Feast's rows (:meth:`~FastSqliteOnlineStore.online_write_batch`) and
created — filled from Feast's rows if it has some — when Feast applies the view
(:meth:`~FastSqliteOnlineStore.update`). The batch read uses it: fetching and walking Feast's
rows cost ~1.2 us each, ten per customer (``customer_history`` and ``customer_tickets`` were
16 us of a 1,000-order batch's ~27 us per order). A store built before packed tables is read in
Feast's layout until its next apply.
"""

from __future__ import annotations

import functools
import sqlite3
import struct
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import compute_table_id
from feast.infra.online_stores.sqlite import SqliteOnlineStore, SqliteOnlineStoreConfig
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from feast.utils import to_naive_utc

_STRING_TYPE = 2  # feast.protos.feast.types.Value_pb2.ValueType.STRING
_MAX_CACHED_VALUES = 200_000
_MAX_CACHED_STAMPS = 100_000
_MAX_CACHED_SHARED_KEYS = 200_000
_KEYS_PER_SELECT = 20_000  # below SQLite's limit of bound parameters (32,766 since 3.32)
_UNREAD = object()
PACKED_SUFFIX = "__packed"
"""A view's table ``<project>_<view>`` has a companion ``<project>_<view>__packed``: one row per
entity key (event time, every feature's latest value as one JSON object), written by
:meth:`FastSqliteOnlineStore.online_write_batch` in the same transaction as Feast's rows."""
_LOCAL_IS_UTC = time.timezone == 0 and not time.daylight
"""Local time is UTC (no offset, no daylight saving): Feast's stored seconds are epoch seconds."""

Found = dict[str, tuple[float, list[Any]]]
"""Per entity key value: (event time in epoch seconds, the values in the order asked for)."""


def entity_key_bytes(join_key: str, value: str) -> bytes:
    """A one-column string entity key as Feast serializes it (version 3): the key count, the
    join-key name (type, length, UTF-8), then the value (type, length, UTF-8)."""
    encoded = value.encode("utf8")
    return _key_prefix(join_key) + struct.pack("<II", _STRING_TYPE, len(encoded)) + encoded


@functools.cache
def _key_prefix(join_key: str) -> bytes:
    name = join_key.encode("utf8")
    return struct.pack("<III", 1, _STRING_TYPE, len(name)) + name


class SqliteOnlineReader:
    """Reads views of Feast's SQLite online store for many entity keys at once.

    Thread-safe: each thread gets its own read-only connection (the service reads from a pool of
    threads). Decoded values are memoised by their serialized bytes — counts, flags, categories
    and rounded rates repeat across entities — which bounds the protobuf work per batch.

    Reads with ``shared=True`` (views keyed by carrier, lane, warehouse or city *and day*: every
    request of a day asks for the same few hundred keys) are also memoised per key, found or
    not. The memo is dropped as soon as anything is committed to the database — SQLite's
    ``PRAGMA data_version`` on one watching connection changes with every commit by any other
    connection or process (a materialization) — so a read never serves what the store no longer
    holds. On 1,000-order batches these views were most of the SQL time.

    Args:
        path: the online store database file.
        project: the Feast project (table names are ``<project>_<view>``).
        busy_timeout_s: how long a read waits for a writer's lock before failing (the service's
            breaker answers degraded anyway; a short wait keeps its threads free).
    """

    def __init__(self, path: Path, project: str, *, busy_timeout_s: float = 1.0) -> None:
        self.path = Path(path).resolve()
        self.project = project
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._values: dict[bytes, Any] = {}
        self._stamps: dict[str, float] = {}
        self._shared: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
        self._shared_lock = threading.Lock()
        self._shared_generation = 0
        self._watcher: sqlite3.Connection | None = None
        self._seen_version: int | None = None
        self._packed: dict[str, bool] = {}  # view -> its packed table exists

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # Read-only, and no PARSE_DECLTYPES: timestamps come back as stored (epoch seconds)
            # instead of through sqlite3's deprecated converters.
            conn = sqlite3.connect(
                f"{self.path.as_uri()}?mode=ro",
                uri=True,
                timeout=self.busy_timeout_s,
                check_same_thread=False,
            )
            self._local.conn = conn
        return conn

    def read(
        self,
        view: str,
        join_key: str,
        keys: Sequence[str],
        features: Sequence[str],
        *,
        shared: bool = False,
    ) -> Found:
        """The latest values of ``features`` of ``view`` for each of ``keys`` (distinct string
        values of the view's ``join_key``); keys the store does not hold are absent.

        Features the store has no row for (added to the view after materialization) are None.
        ``shared``: the keys are shared by many requests (day keys): memoise them until the next
        commit to the store (the values returned must then not be modified).
        """
        if not keys:
            return {}
        if shared:
            return self._read_shared(view, join_key, keys, features)
        return self._select(view, join_key, keys, features)

    def _read_shared(
        self, view: str, join_key: str, keys: Sequence[str], features: Sequence[str]
    ) -> Found:
        generation = self._check_version()
        memo = self._shared.get((view, tuple(features)))
        if memo is None:
            memo = self._shared.setdefault((view, tuple(features)), {})
        found: Found = {}
        missing = []
        for key in keys:
            entry = memo.get(key, _UNREAD)
            if entry is _UNREAD:
                missing.append(key)
            elif entry is not None:
                found[key] = entry
        if missing:
            fresh = self._select(view, join_key, missing, features)
            found.update(fresh)
            with self._shared_lock:
                # Not if a commit was noticed meanwhile: these rows may predate it.
                if generation == self._shared_generation:
                    if sum(map(len, self._shared.values())) > _MAX_CACHED_SHARED_KEYS:
                        self._shared.clear()
                        memo = self._shared.setdefault((view, tuple(features)), {})
                    memo.update({key: fresh.get(key) for key in missing})
        return found

    def _check_version(self) -> int:
        """Drop the shared memo if the database changed since the last look; returns the memo's
        generation."""
        with self._shared_lock:
            if self._watcher is None:
                self._watcher = sqlite3.connect(
                    f"{self.path.as_uri()}?mode=ro",
                    uri=True,
                    timeout=self.busy_timeout_s,
                    check_same_thread=False,
                )
            (version,) = self._watcher.execute("PRAGMA data_version").fetchone()
            if version != self._seen_version:
                self._seen_version = version
                self._shared.clear()
                self._shared_generation += 1
            return self._shared_generation

    def _select(
        self, view: str, join_key: str, keys: Sequence[str], features: Sequence[str]
    ) -> Found:
        by_bytes = {entity_key_bytes(join_key, k): k for k in keys}
        conn = self._connection()
        packed = self._packed.get(view)
        if packed is None:  # a store built before the packed tables reads Feast's rows
            packed = self._packed[view] = _table_exists(conn, self._table(view, PACKED_SUFFIX))
        wanted = list(by_bytes)
        if packed:
            table, columns = self._table(view, PACKED_SUFFIX), "entity_key, event_ts, vals"
            return self._found_packed(self._fetch(conn, columns, table, wanted), by_bytes, features)
        columns = "entity_key, feature_name, value, event_ts"
        rows = self._fetch(conn, columns, self._table(view), wanted)
        return self._found_rows(rows, by_bytes, features)

    def _table(self, view: str, suffix: str = "") -> str:
        return f"{self.project}_{view}{suffix}"

    def _fetch(
        self, conn: sqlite3.Connection, columns: str, table: str, wanted: list[bytes]
    ) -> list[tuple]:
        quoted = _quoted(table)
        rows: list[tuple] = []
        for start in range(0, len(wanted), _KEYS_PER_SELECT):
            chunk = wanted[start : start + _KEYS_PER_SELECT]
            sql = (
                f"SELECT {columns} FROM {quoted} WHERE entity_key IN ({','.join('?' * len(chunk))})"
            )
            rows.extend(conn.execute(sql, chunk).fetchall())
        return rows

    def _found_packed(
        self, rows: list[tuple], by_bytes: dict[bytes, str], features: Sequence[str]
    ) -> Found:
        """The rows of a view's packed table, one per key: a tenth of the rows of Feast's layout
        (one per feature), which cost ~1.2 us each to fetch and walk (1,000-order batches:
        customer views 16 -> ~4 us per order)."""
        found: Found = {}
        for key_bytes, stamp, vals in rows:
            named = orjson.loads(vals)
            found[by_bytes[key_bytes]] = (self._seconds(stamp), [named.get(n) for n in features])
        return found

    def _seconds(self, stamp: Any) -> float:
        stamps = self._stamps
        seconds = stamps.get(stamp)
        if seconds is None:
            seconds = _epoch_seconds(stamp)
            if len(stamps) >= _MAX_CACHED_STAMPS:
                stamps.clear()
            stamps[stamp] = seconds
        return seconds

    def _found_rows(
        self, rows: list[tuple], by_bytes: dict[bytes, str], features: Sequence[str]
    ) -> Found:
        """The rows of Feast's own layout: a row per key and feature."""
        position = {name: i for i, name in enumerate(features)}
        values = self._values
        found: Found = {}
        current_key: bytes | None = None
        current: list[Any] = []
        for key_bytes, name, blob, stamp in rows:
            if key_bytes != current_key:
                current_key = key_bytes
                entry = found.get(by_bytes[key_bytes])
                if entry is None:
                    current = [None] * len(position)
                    found[by_bytes[key_bytes]] = (self._seconds(stamp), current)
                else:
                    current = entry[1]
            i = position.get(name)
            if i is None:
                continue
            try:
                current[i] = values[blob]
            except KeyError:
                value = _decode(blob)
                if len(values) >= _MAX_CACHED_VALUES:
                    values.clear()
                values[blob] = current[i] = value
        return found

    def close(self) -> None:
        """Close this thread's connection (other threads' close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        with self._shared_lock:
            if self._watcher is not None:
                self._watcher.close()
                self._watcher = None
                self._seen_version = None


def _decode(blob: bytes) -> Any:
    return _plain(ValueProto.FromString(blob))


def _plain(value: ValueProto) -> Any:
    """A Feast value as a plain Python value (None when missing)."""
    kind = value.WhichOneof("val")
    return None if kind is None or kind == "null_val" else getattr(value, kind)


def _packed_from_rows(conn: sqlite3.Connection, table: str) -> list[tuple[bytes, Any, bytes]]:
    """A view's packed rows built from Feast's rows (entity key, event time, values)."""
    packed: list[tuple[bytes, Any, bytes]] = []
    key: bytes | None = None
    stamp: Any = None
    values: dict[str, Any] = {}
    rows = conn.execute(
        f"SELECT entity_key, feature_name, value, event_ts FROM {_quoted(table)} "
        "ORDER BY entity_key"
    )
    for entity_key, name, blob, event_ts in rows:
        if entity_key != key:
            if key is not None:
                packed.append((key, stamp, _packed_json(values)))
            key, stamp, values = entity_key, event_ts, {}
        values[name] = _decode(blob)
    if key is not None:
        packed.append((key, stamp, _packed_json(values)))
    return packed


def _table_exists(conn: sqlite3.Connection, name: str) -> bool:
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return found is not None


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _packed_json(values: dict[str, Any]) -> bytes:
    """A packed row's values: NaN becomes null (a missing value, as the reader treats both),
    repeated (list) values lists."""
    return orjson.dumps(values, default=list)


def _epoch_seconds(stamp: int | float | str | bytes | datetime) -> float:
    """Epoch seconds of a stored event time.

    Feast 0.67 stores ``int(naive_utc.timestamp())`` — a naive datetime read as *local* time —
    and reads it back with ``datetime.fromtimestamp`` as naive UTC: the same round trip here
    keeps the ages right on a machine whose time zone is not UTC. ISO text (older stores) is
    naive UTC.
    """
    if isinstance(stamp, int | float):
        if _LOCAL_IS_UTC:
            return float(stamp)
        return datetime.fromtimestamp(stamp).replace(tzinfo=UTC).timestamp()
    if isinstance(stamp, bytes):
        stamp = stamp.decode()
    moment = stamp if isinstance(stamp, datetime) else datetime.fromisoformat(stamp)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


# ---- the Feast plug-in -----------------------------------------------------------------------


class FastSqliteOnlineStoreConfig(SqliteOnlineStoreConfig):
    """Configuration of :class:`FastSqliteOnlineStore` (``path`` as Feast's SQLite store)."""

    type: Literal["features.online_sqlite.FastSqliteOnlineStore"] = (  # type: ignore[assignment]
        "features.online_sqlite.FastSqliteOnlineStore"
    )


class FastSqliteOnlineStore(SqliteOnlineStore):
    """Feast's SQLite online store plus :meth:`read_latest`, a batch read of plain values.

    Feast builds one instance per ``FeatureStore`` for its own writes; orderlens' feature repo
    builds one for reading (:func:`feast.infra.online_stores.helpers.get_online_store_from_config`)
    and keeps it for the life of the process: the readers (one per database file) hold a
    read-only connection per thread and the memo of day-keyed views.
    """

    def __init__(self) -> None:
        super().__init__()
        self._readers: dict[Path, SqliteOnlineReader] = {}
        self._readers_lock = threading.Lock()
        self._last: tuple[RepoConfig, SqliteOnlineReader] | None = None
        self._has_packed: dict[str, bool] = {}  # packed table name -> it exists (writes)

    # ---- writes: Feast's rows and the packed rows, in one transaction ------------------------

    def update(
        self,
        config: RepoConfig,
        tables_to_delete: Sequence[Any],
        tables_to_keep: Sequence[Any],
        entities_to_delete: Sequence[Any],
        entities_to_keep: Sequence[Any],
        partial: bool,
    ) -> None:
        """Feast's tables, then each view's packed table: created, and filled from Feast's rows
        when the view already has some (a store built before packed tables), in one
        transaction, so a packed table never exists half filled."""
        super().update(
            config, tables_to_delete, tables_to_keep, entities_to_delete, entities_to_keep, partial
        )
        conn = self._get_conn(config)
        if conn.in_transaction:
            conn.commit()
        for table in tables_to_keep:
            name = self._table_id(config, table)
            if _table_exists(conn, name + PACKED_SUFFIX):
                continue
            conn.execute("BEGIN")
            try:
                conn.execute(
                    f"CREATE TABLE {_quoted(name + PACKED_SUFFIX)} (entity_key BLOB PRIMARY KEY,"
                    " event_ts timestamp, vals BLOB) WITHOUT ROWID"
                )
                conn.executemany(
                    f"INSERT INTO {_quoted(name + PACKED_SUFFIX)} VALUES (?, ?, ?)",
                    _packed_from_rows(conn, name),
                )
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        with conn:
            for table in tables_to_delete:
                conn.execute(
                    f"DROP TABLE IF EXISTS {_quoted(self._table_id(config, table) + PACKED_SUFFIX)}"
                )
        self._has_packed = {}

    def online_write_batch(
        self,
        config: RepoConfig,
        table: Any,
        data: Sequence[tuple[Any, dict[str, ValueProto], datetime, datetime | None]],
        progress: Any,
    ) -> None:
        """Feast's write, and the same values into the view's packed table (one row per entity:
        a partial write merges into the row's values, as Feast's per-feature rows do). The
        packed rows are written first, uncommitted: Feast's write commits both together (or
        rolls both back)."""
        data = list(data)  # read twice: for the packed rows and by Feast
        conn = self._get_conn(config)
        packed = self._table_id(config, table) + PACKED_SUFFIX
        has = self._has_packed
        if packed not in has:
            has[packed] = _table_exists(conn, packed)
        if has[packed]:  # a store built before packed tables has none until `feast apply`
            version = config.entity_key_serialization_version
            conn.executemany(
                f"INSERT INTO {_quoted(packed)} VALUES (?, ?, ?) ON CONFLICT(entity_key) DO "
                "UPDATE SET event_ts = excluded.event_ts, vals = json_patch(vals, excluded.vals)",
                [
                    (
                        serialize_entity_key(key, entity_key_serialization_version=version),
                        to_naive_utc(stamp),  # stored as Feast stores its rows' (its adapter)
                        _packed_json({name: _plain(v) for name, v in values.items()}),
                    )
                    for key, values, stamp, _ in data
                ],
            )
        try:
            super().online_write_batch(config, table, data, progress)
        except BaseException:
            if conn.in_transaction:  # Feast failed before its own transaction took ours in
                conn.rollback()
            raise

    @staticmethod
    def _table_id(config: RepoConfig, table: Any) -> str:
        return compute_table_id(
            config.project,
            table,
            getattr(config.registry, "enable_online_feature_view_versioning", False),
        )

    # ---- reads ----------------------------------------------------------------------------

    @staticmethod
    def database_path(config: RepoConfig) -> Path:
        """The database file, resolved as Feast resolves it (relative to the repo path)."""
        path = Path(config.online_store.path)
        if config.repo_path and not path.is_absolute():
            path = Path(config.repo_path) / path
        return path

    def read_latest(
        self,
        config: RepoConfig,
        table: Any,
        join_key: str,
        keys: Sequence[str],
        features: Sequence[str],
        *,
        shared: bool = False,
    ) -> Found:
        """The latest values of ``features`` of the view ``table`` for each of ``keys`` (distinct
        string values of its one join key): ``{key: (event time in epoch seconds, values)}``;
        keys the store does not hold are absent, features it has no row for are None.

        ``shared``: the keys are asked by many requests (day keys): memoised until the next
        commit to the store (see :class:`SqliteOnlineReader`).
        """
        return self.reader(config).read(
            self._table_id(config, table).removeprefix(f"{config.project}_"),
            join_key,
            keys,
            features,
            shared=shared,
        )

    def reader(self, config: RepoConfig) -> SqliteOnlineReader:
        """The reader of this configuration's database (one per file, made on first use)."""
        last = self._last
        if last is not None and last[0] is config:
            return last[1]  # resolving the path costs syscalls: a tenth of a one-order read
        path = self.database_path(config).resolve()
        with self._readers_lock:
            reader = self._readers.get(path)
            if reader is None:
                reader = self._readers[path] = SqliteOnlineReader(path, config.project)
        self._last = (config, reader)
        return reader

    def close_readers(self) -> None:
        """Close the readers' connections (this thread's) and drop them."""
        with self._readers_lock:
            readers, self._readers, self._last = list(self._readers.values()), {}, None
        for reader in readers:
            reader.close()
