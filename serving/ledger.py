"""The action ledger: each (order, action, rule) fires at most once per rule window.

Re-scoring an order must not send the same notification or coupon twice. The ledger records what
fired; :meth:`ActionLedger.claim` asks, for a batch of actions, which ones may fire *now* and
records them in the same step, so the database, not the caller, decides — also for concurrent
requests in one process and for several worker processes sharing the ledger.

Windows slide: an action fired at ``t`` may fire again from ``t + window_hours`` on.

- :class:`SQLiteLedger` (local profile): one table keyed by (order_id, action, rule); a claim is
  an ``INSERT ... ON CONFLICT DO UPDATE ... WHERE fired_at <= now - window`` whose changed-row count
  says whether it fired. A batch is one ``BEGIN IMMEDIATE`` transaction (WAL mode).
- :class:`RedisLedger` (production profile): ``SET key 1 NX PX window`` per action, pipelined;
  Redis's own clock expires keys, so ``now`` only matters to the SQLite ledger.

:func:`open_ledger` picks one from settings.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from orderlens.settings import Settings
from serving.policy import Action


@runtime_checkable
class ActionLedger(Protocol):
    """Where fired actions are recorded."""

    def claim(self, actions: Sequence[Action], now: datetime) -> list[bool]:
        """For each action, ``True`` if it fires now (and is recorded), ``False`` if the same
        (order_id, action, rule) already fired within the rule's window. Same order as ``actions``."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS action_ledger (
    order_id TEXT NOT NULL,
    action   TEXT NOT NULL,
    rule     TEXT NOT NULL,
    fired_at REAL NOT NULL,      -- unix seconds of the last firing
    window_s REAL NOT NULL,
    PRIMARY KEY (order_id, action, rule)
) WITHOUT ROWID
"""
_CLAIM = """
INSERT INTO action_ledger (order_id, action, rule, fired_at, window_s)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (order_id, action, rule) DO UPDATE
    SET fired_at = excluded.fired_at, window_s = excluded.window_s
    WHERE action_ledger.fired_at + action_ledger.window_s <= excluded.fired_at
"""


class SQLiteLedger:
    """The action ledger in one SQLite file (WAL), safe across threads and processes.

    Each thread (and each process: a connection is never used across a fork) gets its own
    connection; writers queue on SQLite's lock for up to ``busy_timeout_s``.
    """

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connection()
        with conn:
            conn.execute(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        self._local.conn, self._local.pid = conn, os.getpid()
        with self._lock:
            self._connections.append(conn)
        return conn

    def claim(self, actions: Sequence[Action], now: datetime) -> list[bool]:
        """See :meth:`ActionLedger.claim`; the whole batch is one write transaction."""
        if not actions:
            return []
        ts = now.timestamp()
        conn = self._connection()
        fired: list[bool] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for a in actions:
                cursor = conn.execute(
                    _CLAIM, (a.order_id, a.action, a.rule, ts, a.window_hours * 3600.0)
                )
                fired.append(cursor.rowcount == 1)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return fired

    def prune(self, now: datetime) -> int:
        """Delete entries whose window has passed (they would fire again anyway); returns how many."""
        conn = self._connection()
        with conn:
            cursor = conn.execute(
                "DELETE FROM action_ledger WHERE fired_at + window_s <= ?", (now.timestamp(),)
            )
        return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()


class RedisLedger:
    """The action ledger in Redis: ``SET NX PX`` per (order, action, rule), pipelined per batch.

    Args:
        client: a ``redis.Redis`` client (or anything with ``pipeline(transaction=False)``).
        prefix: key prefix, so several deployments can share one Redis.
    """

    def __init__(self, client: Any, *, prefix: str = "orderlens:ledger") -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisLedger:
        import redis  # production profile only; installed with feast[redis]

        return cls(redis.Redis.from_url(url, socket_timeout=2.0), **kwargs)

    def key(self, action: Action) -> str:
        # Length-prefix the order id so ids containing ':' cannot collide with other keys.
        oid = action.order_id
        return f"{self.prefix}:{len(oid)}:{oid}:{action.action}:{action.rule}"

    def claim(self, actions: Sequence[Action], now: datetime) -> list[bool]:
        """See :meth:`ActionLedger.claim`. ``now`` is unused: Redis expires keys on its clock."""
        if not actions:
            return []
        pipe = self.client.pipeline(transaction=False)
        for a in actions:
            pipe.set(self.key(a), 1, nx=True, px=max(1, round(a.window_hours * 3_600_000)))
        return [bool(result) for result in pipe.execute()]

    def close(self) -> None:
        self.client.close()


def open_ledger(settings: Settings) -> ActionLedger:
    """The ledger the settings ask for: ``serving.ledger`` or, on ``auto``, SQLite for the local
    profile and Redis (``production.redis_url``) for the production profile."""
    backend = settings.serving.ledger
    if backend == "auto":
        backend = "redis" if settings.profile == "production" else "sqlite"
    if backend == "redis":
        return RedisLedger.from_url(settings.production.redis_url)
    return SQLiteLedger(settings.action_ledger_path)
