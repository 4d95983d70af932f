"""Feast's SQLite online store, read directly: one ``SELECT … WHERE entity_key IN (…)`` per feature
view for every key of a batch, values decoded once per distinct protobuf blob.

Feast's layout (``feast.infra.online_stores.sqlite``, 0.67): one table per view named
``<project>_<view>`` with a row per (entity key, feature): ``entity_key`` is the serialized
:class:`EntityKey` (version 3), ``value`` a serialized :class:`ValueProto`, ``event_ts`` the view's
event time (epoch seconds). Feast's own ``online_read`` returns the same data as protobuf objects
through a connection that parses every timestamp with the deprecated ``sqlite3`` converters; on a
1,000-order batch that per-value object work was most of the online read (measured in
``bench/bench_features.py``). This reader returns plain Python values and epoch seconds.

The table layout is Feast's, not ours: :func:`tests.features.test_store` checks this reader
against Feast's provider on a real store so that an upgrade changing the layout fails a test.
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
from typing import Any

from feast.protos.feast.types.Value_pb2 import Value as ValueProto

_STRING_TYPE = 2  # feast.protos.feast.types.Value_pb2.ValueType.STRING
_MAX_CACHED_VALUES = 200_000
_MAX_CACHED_STAMPS = 100_000
_MAX_CACHED_SHARED_KEYS = 200_000
_UNREAD = object()
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
        table = f'"{self.project}_{view}"'
        sql = (
            f"SELECT entity_key, feature_name, value, event_ts FROM {table} "
            f"WHERE entity_key IN ({','.join('?' * len(by_bytes))})"
        )
        rows = self._connection().execute(sql, list(by_bytes)).fetchall()
        position = {name: i for i, name in enumerate(features)}
        values, stamps = self._values, self._stamps
        found: Found = {}
        current_key: bytes | None = None
        current: list[Any] = []
        for key_bytes, name, blob, stamp in rows:
            if key_bytes != current_key:
                current_key = key_bytes
                entry = found.get(by_bytes[key_bytes])
                if entry is None:
                    seconds = stamps.get(stamp)
                    if seconds is None:
                        seconds = _epoch_seconds(stamp)
                        if len(stamps) >= _MAX_CACHED_STAMPS:
                            stamps.clear()
                        stamps[stamp] = seconds
                    current = [None] * len(position)
                    found[by_bytes[key_bytes]] = (seconds, current)
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
    value = ValueProto.FromString(blob)
    kind = value.WhichOneof("val")
    return None if kind is None or kind == "null_val" else getattr(value, kind)


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
