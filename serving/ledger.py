"""The action ledger: what fired, what waits for a person, and the prediction journal — in one store.

Re-scoring an order must not send the same notification or coupon twice, an answered prediction
must never be lost, and a costly action may need a person's confirmation first. The ledger does
all three in **one atomic step per request** (:meth:`ActionLedger.record`):

- each ``fire`` action is claimed: it fires (``"fired"``) unless the same (order_id, action, rule)
  fired within the rule's window (``"suppressed"``);
- each ``suggest`` action becomes a pending suggestion (``"suggested"``) with an expiry, unless one
  is already pending for that key (``"pending"``, same suggestion id), the action fired within its
  window, or a person rejected it within the window (both ``"suppressed"``);
- the request's prediction-log entry is appended to the journal, from which
  :mod:`serving.prediction_log` writes the parquet log.

So after a crash at any moment the journal holds exactly the requests whose actions the ledger
recorded: the log and the ledger agree. Suggestions are confirmed or rejected with
:meth:`ActionLedger.decide` (all or nothing; a confirmation fires the action exactly once, also
under concurrent confirmations) and listed with :meth:`ActionLedger.suggestions`.

Windows slide: an action fired at ``t`` may fire again from ``t + window_hours`` on.

- :class:`SQLiteLedger` (local profile): one SQLite file (WAL); each request is one
  ``BEGIN IMMEDIATE`` transaction, so concurrent threads and worker processes queue on the
  database, never on the caller.
- :class:`serving.ledger_redis.RedisLedger` (production profile): the same step as one Lua script
  (atomic in Redis); the journal is a Redis stream.

:func:`open_ledger` picks one from settings.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from orderlens.records import SuggestionStatus
from orderlens.settings import Settings
from serving.policy import Action

ActionStatus = Literal["fired", "suppressed", "suggested", "pending"]
STATUS_CODES: dict[ActionStatus, str] = {
    "fired": "F",
    "suppressed": "S",
    "suggested": "G",
    "pending": "P",
}
"""One character per action in the journal (the order of the request's actions)."""
STATUS_BY_CODE: dict[str, ActionStatus] = {code: s for s, code in STATUS_CODES.items()}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the ledger decided for one action; ``suggestion_id`` for suggested/pending ones."""

    status: ActionStatus
    suggestion_id: str | None = None

    @property
    def fired(self) -> bool:
        return self.status == "fired"


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One request in the journal: a sortable ``key`` (increasing in commit order), the encoded
    log entry and the status code of each of its actions."""

    key: int
    entry: bytes
    statuses: str


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A suggested action waiting for (or having had) a person's decision. Times are unix
    seconds; ``status`` is ``expired`` once a pending suggestion passed ``expires_at``."""

    suggestion_id: str
    order_id: str
    action: str
    rule: str
    params: dict[str, Any]
    reason: str
    tier: str | None
    status: SuggestionStatus
    created_at: float
    expires_at: float
    decided_at: float | None = None
    decided_by: str | None = None
    decision_reason: str | None = None


Decision = Literal["confirm", "reject"]
Problem = Literal["unknown", "expired", "already_decided"]


class SuggestionError(ValueError):
    """A decision that cannot be applied; nothing was changed. ``problems`` maps each offending
    suggestion id to ``unknown``, ``expired`` or ``already_decided``."""

    def __init__(self, problems: dict[str, Problem], found: dict[str, Suggestion]) -> None:
        self.problems = problems
        self.found = found
        super().__init__(
            "; ".join(f"{sid}: {problem.replace('_', ' ')}" for sid, problem in problems.items())
        )


@dataclass(frozen=True, slots=True)
class Decided:
    """A suggestion after a decision; ``fired``: the confirmation fired the action now (False
    for a rejection, or when the same action had already fired within its window)."""

    suggestion: Suggestion
    fired: bool


@runtime_checkable
class ActionLedger(Protocol):
    """Where fired and suggested actions and the prediction journal are recorded."""

    def record(
        self, actions: Sequence[Action], now: datetime, entry: bytes | None = None
    ) -> list[Outcome]:
        """Claim ``actions`` and append ``entry`` to the journal in one atomic step; returns one
        :class:`Outcome` per action, in order. ``entry`` None: claim only."""
        ...

    def claim(self, actions: Sequence[Action], now: datetime) -> list[bool]:
        """Whether each action fires now (:meth:`record` without a journal entry)."""
        ...

    def read_journal(self, limit: int, *, first: int | None = None) -> list[JournalEntry]:
        """Up to ``limit`` journal entries, oldest first (from key ``first`` on, if given)."""
        ...

    def delete_journal(self, up_to: int) -> None:
        """Remove journal entries with keys up to ``up_to`` (they are in the parquet log)."""
        ...

    def drain_lock(self) -> contextlib.AbstractContextManager[bool]:
        """Held by the one process that drains the journal; yields whether it was acquired."""
        ...

    def suggestions(
        self,
        now: datetime,
        *,
        status: SuggestionStatus | None = "pending",
        action: str | None = None,
        tier: str | None = None,
        min_age_s: float | None = None,
        max_age_s: float | None = None,
        limit: int = 100,
    ) -> list[Suggestion]:
        """Suggestions, oldest first, filtered by status (None: any), action, tier and age."""
        ...

    def decide(
        self,
        ids: Sequence[str],
        decision: Decision,
        *,
        decider: str,
        reason: str,
        now: datetime,
    ) -> list[Decided]:
        """Confirm or reject every suggestion in ``ids``, or none of them.

        Raises:
            SuggestionError: an id is unknown, expired or already decided (nothing changed).
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def effective_status(stored: str, expires_at: float, now_s: float) -> SuggestionStatus:
    """A pending suggestion past its expiry is ``expired``; any other status stands."""
    if stored == "pending" and expires_at <= now_s:
        return "expired"
    return stored  # type: ignore[return-value]


def new_suggestion_id() -> str:
    return "sg_" + uuid.uuid4().hex[:20]


# ---- SQLite -------------------------------------------------------------------------------------

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS action_ledger (
    order_id TEXT NOT NULL,
    action   TEXT NOT NULL,
    rule     TEXT NOT NULL,
    fired_at REAL NOT NULL,      -- unix seconds of the last firing
    window_s REAL NOT NULL,
    PRIMARY KEY (order_id, action, rule)
) WITHOUT ROWID
""",
    """
CREATE TABLE IF NOT EXISTS suggestions (
    suggestion_id   TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL,
    action          TEXT NOT NULL,
    rule            TEXT NOT NULL,
    params          TEXT NOT NULL,   -- JSON
    reason          TEXT NOT NULL,
    tier            TEXT,
    window_s        REAL NOT NULL,
    created_at      REAL NOT NULL,
    expires_at      REAL NOT NULL,
    status          TEXT NOT NULL,   -- pending | confirmed | rejected
    decided_at      REAL,
    decided_by      TEXT,
    decision_reason TEXT
)
""",
    "CREATE INDEX IF NOT EXISTS suggestions_by_key"
    " ON suggestions (order_id, action, rule, created_at)",
    "CREATE INDEX IF NOT EXISTS suggestions_by_status ON suggestions (status, created_at)",
    """
CREATE TABLE IF NOT EXISTS prediction_journal (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused: drained parts are named by it
    entry    BLOB NOT NULL,
    statuses TEXT NOT NULL
)
""",
)
_CLAIM = """
INSERT INTO action_ledger (order_id, action, rule, fired_at, window_s)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (order_id, action, rule) DO UPDATE
    SET fired_at = excluded.fired_at, window_s = excluded.window_s
    WHERE action_ledger.fired_at + action_ledger.window_s <= excluded.fired_at
"""
_FIRED_WITHIN_WINDOW = """
SELECT 1 FROM action_ledger
WHERE order_id = ? AND action = ? AND rule = ? AND fired_at + window_s > ?
"""
_LATEST_SUGGESTION = """
SELECT suggestion_id, status, expires_at, decided_at, window_s FROM suggestions
WHERE order_id = ? AND action = ? AND rule = ? ORDER BY created_at DESC LIMIT 1
"""
_INSERT_SUGGESTION = """
INSERT INTO suggestions (suggestion_id, order_id, action, rule, params, reason, tier, window_s,
                         created_at, expires_at, status)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')
"""
_SUGGESTION_COLUMNS = (
    "suggestion_id, order_id, action, rule, params, reason, tier, status, created_at, expires_at,"
    " decided_at, decided_by, decision_reason, window_s"
)


class SQLiteLedger:
    """The ledger in one SQLite file (WAL), safe across threads and processes.

    Each thread (and each process: a connection is never used across a fork) gets its own
    connection; writers queue on SQLite's lock for up to ``busy_timeout_s``. With
    ``synchronous="NORMAL"`` a committed request survives a crash of the process (the commit is
    in the WAL file); ``"FULL"`` also survives a power cut (an fsync per commit).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        busy_timeout_s: float = 10.0,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    ) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self.synchronous = synchronous
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connection()
        with self._transaction(conn):
            for statement in _SCHEMA:
                conn.execute(statement)

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        self._local.conn, self._local.pid = conn, os.getpid()
        with self._lock:
            self._connections.append(conn)
        return conn

    @contextlib.contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # ---- the request's step -------------------------------------------------------------------

    def record(
        self, actions: Sequence[Action], now: datetime, entry: bytes | None = None
    ) -> list[Outcome]:
        """See :meth:`ActionLedger.record`: one write transaction for the whole request."""
        if not actions and entry is None:
            return []
        ts = now.timestamp()
        outcomes: list[Outcome] = []
        conn = self._connection()
        with self._transaction(conn):
            for a in actions:
                if a.mode == "suggest":
                    outcomes.append(self._suggest(conn, a, ts))
                else:
                    cursor = conn.execute(
                        _CLAIM, (a.order_id, a.action, a.rule, ts, a.window_hours * 3600.0)
                    )
                    outcomes.append(_FIRED if cursor.rowcount == 1 else _SUPPRESSED)
            if entry is not None:
                conn.execute(
                    "INSERT INTO prediction_journal (entry, statuses) VALUES (?, ?)",
                    (entry, "".join(STATUS_CODES[o.status] for o in outcomes)),
                )
        return outcomes

    def _suggest(self, conn: sqlite3.Connection, a: Action, ts: float) -> Outcome:
        key = (a.order_id, a.action, a.rule)
        if conn.execute(_FIRED_WITHIN_WINDOW, (*key, ts)).fetchone():
            return _SUPPRESSED
        latest = conn.execute(_LATEST_SUGGESTION, key).fetchone()
        if latest is not None:
            suggestion_id, status, expires_at, decided_at, window_s = latest
            if status == "pending" and expires_at > ts:
                return Outcome("pending", suggestion_id)
            if status == "rejected" and decided_at + window_s > ts:
                return _SUPPRESSED  # a person said no: not asked again within the window
        suggestion_id = new_suggestion_id()
        conn.execute(
            _INSERT_SUGGESTION,
            (
                suggestion_id,
                *key,
                json.dumps(a.params, sort_keys=True),
                a.reason,
                a.tier,
                a.window_hours * 3600.0,
                ts,
                ts + a.expires_hours * 3600.0,
            ),
        )
        return Outcome("suggested", suggestion_id)

    def claim(self, actions: Sequence[Action], now: datetime) -> list[bool]:
        """See :meth:`ActionLedger.claim`."""
        return [o.fired for o in self.record(actions, now)]

    def prune(self, now: datetime) -> int:
        """Delete entries whose window has passed (they would fire again anyway); returns how many."""
        conn = self._connection()
        with self._transaction(conn):
            cursor = conn.execute(
                "DELETE FROM action_ledger WHERE fired_at + window_s <= ?", (now.timestamp(),)
            )
        return cursor.rowcount

    # ---- the journal --------------------------------------------------------------------------

    def read_journal(self, limit: int, *, first: int | None = None) -> list[JournalEntry]:
        rows = self._connection().execute(
            "SELECT id, entry, statuses FROM prediction_journal WHERE id >= ? ORDER BY id LIMIT ?",
            (first or 0, limit),
        )
        return [JournalEntry(key, bytes(entry), statuses) for key, entry, statuses in rows]

    def delete_journal(self, up_to: int) -> None:
        conn = self._connection()
        with self._transaction(conn):
            conn.execute("DELETE FROM prediction_journal WHERE id <= ?", (up_to,))

    @contextlib.contextmanager
    def drain_lock(self) -> Iterator[bool]:
        """An exclusive, non-blocking ``flock`` on a file beside the database: released by the
        kernel if the holder dies, so a killed worker never blocks the others."""
        with open(self.path.with_suffix(".drain.lock"), "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # ---- suggestions --------------------------------------------------------------------------

    def suggestions(
        self,
        now: datetime,
        *,
        status: SuggestionStatus | None = "pending",
        action: str | None = None,
        tier: str | None = None,
        min_age_s: float | None = None,
        max_age_s: float | None = None,
        limit: int = 100,
    ) -> list[Suggestion]:
        """See :meth:`ActionLedger.suggestions`."""
        ts = now.timestamp()
        where, args = [], []
        if status == "pending":
            where.append("status = 'pending' AND expires_at > ?")
            args.append(ts)
        elif status == "expired":
            where.append("status = 'pending' AND expires_at <= ?")
            args.append(ts)
        elif status is not None:
            where.append("status = ?")
            args.append(status)
        for column, value in (("action", action), ("tier", tier)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if min_age_s is not None:
            where.append("created_at <= ?")
            args.append(ts - min_age_s)
        if max_age_s is not None:
            where.append("created_at >= ?")
            args.append(ts - max_age_s)
        sql = f"SELECT {_SUGGESTION_COLUMNS} FROM suggestions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._connection().execute(sql + " ORDER BY created_at LIMIT ?", (*args, limit))
        return [_suggestion(row, ts) for row in rows]

    def decide(
        self,
        ids: Sequence[str],
        decision: Decision,
        *,
        decider: str,
        reason: str,
        now: datetime,
    ) -> list[Decided]:
        """See :meth:`ActionLedger.decide`: checked and applied in one write transaction, so
        of two concurrent confirmations exactly one finds the suggestion pending."""
        ts = now.timestamp()
        conn = self._connection()
        with self._transaction(conn):
            found: dict[str, Suggestion] = {}
            windows: dict[str, float] = {}
            problems: dict[str, Problem] = {}
            for sid in dict.fromkeys(ids):
                row = conn.execute(
                    f"SELECT {_SUGGESTION_COLUMNS} FROM suggestions WHERE suggestion_id = ?",
                    (sid,),
                ).fetchone()
                if row is None:
                    problems[sid] = "unknown"
                    continue
                found[sid] = suggestion = _suggestion(row, ts)
                windows[sid] = row[-1]
                if suggestion.status == "expired":
                    problems[sid] = "expired"
                elif suggestion.status != "pending":
                    problems[sid] = "already_decided"
            if problems:
                raise SuggestionError(problems, found)
            status = "confirmed" if decision == "confirm" else "rejected"
            decided = []
            for sid, s in found.items():
                conn.execute(
                    "UPDATE suggestions SET status = ?, decided_at = ?, decided_by = ?,"
                    " decision_reason = ? WHERE suggestion_id = ?",
                    (status, ts, decider, reason, sid),
                )
                fired = False
                if decision == "confirm":
                    cursor = conn.execute(_CLAIM, (s.order_id, s.action, s.rule, ts, windows[sid]))
                    fired = cursor.rowcount == 1
                after = Suggestion(
                    **{
                        **_fields(s),
                        "status": status,
                        "decided_at": ts,
                        "decided_by": decider,
                        "decision_reason": reason,
                    }
                )
                decided.append(Decided(after, fired))
        return decided

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()


_FIRED = Outcome("fired")
_SUPPRESSED = Outcome("suppressed")


def _suggestion(row: tuple[Any, ...], now_s: float) -> Suggestion:
    (sid, order_id, action, rule, params, reason, tier, status, created, expires) = row[:10]
    decided_at, decided_by, decision_reason = row[10:13]
    return Suggestion(
        sid,
        order_id,
        action,
        rule,
        json.loads(params),
        reason,
        tier,
        effective_status(status, expires, now_s),
        created,
        expires,
        decided_at,
        decided_by,
        decision_reason,
    )


def _fields(s: Suggestion) -> dict[str, Any]:
    return {name: getattr(s, name) for name in Suggestion.__slots__}


def open_ledger(settings: Settings) -> ActionLedger:
    """The ledger the settings ask for: ``serving.ledger`` or, on ``auto``, SQLite for the local
    profile and Redis (``production.redis_url``) for the production profile."""
    backend = settings.serving.ledger
    if backend == "auto":
        backend = "redis" if settings.profile == "production" else "sqlite"
    if backend == "redis":
        from serving.ledger_redis import RedisLedger

        return RedisLedger.from_url(settings.production.redis_url)
    return SQLiteLedger(settings.action_ledger_path, synchronous=settings.serving.ledger_sync)
