"""The prediction log: every answered request, one row per predicted order, as parquet parts.

Nothing acknowledged may be lost, so a prediction is durable before it is answered:

1. on the hot path, :func:`encode_entry` turns the request into one compact JSON entry, column
   by column (the request's fields, scores, action names: no parsing, no frames), and the
   ledger appends it to its **journal** in
   the same atomic step that records the request's actions (:meth:`ActionLedger.record`) — one
   append per request, whatever its size;
2. in the background, :class:`PredictionLog` drains the journal into parquet part files under
   ``<home>/prediction_log/date=YYYY-MM-DD/`` (every ``flush_seconds``, and at start and shutdown);
   beside each service worker it does so in a process of its own (:class:`DrainerProcess`).

Draining is exactly once across crashes: one process drains at a time (the ledger's drain lock);
a part is named after the journal keys it holds (``part-j<first>-<last>.parquet``), written to a
hidden temporary name, fsynced and renamed, and only then are those entries deleted from the
journal. A drain that died between the rename and the delete finds its parts on the next run and
deletes the entries without writing them twice. Readers never see half a file.

:func:`orderlens.records.read_prediction_log` reads the parts back as one frame (columns:
:func:`orderlens.records.log_schema`). Entries still in the journal (at most ``flush_seconds``
old while the service runs; after a crash, until the service starts again or
:func:`drain_prediction_journal` runs) are not in it yet.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from orderlens.contracts import ORDERS
from orderlens.dimensions import DIMENSION_NAMES, QUADRANTS
from orderlens.records import REQUEST_TIME_FIELDS, log_schema
from orderlens.settings import Settings
from serving.ledger import (
    STATUS_BY_CODE,
    STATUS_CODES,
    ActionLedger,
    JournalEntry,
    Outcome,
    open_ledger,
)
from serving.policy import Action

logger = logging.getLogger(__name__)

SCORE_COLUMNS = (
    "p_late",
    "expected_hours",
    "p90_hours",
    "risk_level",
    "top_reason_group",
    "value_index",
    "tier",
    *(f"quadrant_{q}" for q in QUADRANTS),
    *(f"dim_{name}" for name in DIMENSION_NAMES),
    "degraded",
)
"""The log's columns taken from each prediction (its scores, and why it was degraded)."""
_ACTION_COLUMNS = {
    "fired": "actions_fired",
    "suppressed": "actions_suppressed",
    "suggested": "actions_suggested",
    "pending": "actions_suggested",  # still waiting for a person: suggested, not fired
}
_REQUEST_COLUMNS = (*ORDERS.column_names, *(name for name, _ in REQUEST_TIME_FIELDS))
_TIME_COLUMNS = frozenset(
    f.name for f in log_schema() if pa.types.is_timestamp(f.type) and f.name in _REQUEST_COLUMNS
)


# ---- the hot path -------------------------------------------------------------------------------


def encode_entry(
    *,
    request_id: str,
    received_at: datetime,
    orders: Sequence[BaseModel | Mapping[str, Any]],
    predictions: Sequence[Mapping[str, Any]],
    model_versions: Mapping[str, str],
    latency_ms: float,
    status: str = "ok",
    scores: Mapping[str, Sequence[Any]] | None = None,
    statuses: str | None = None,
    columns: Mapping[str, Any] | None = None,
) -> bytes:
    """One request as a journal entry (compact JSON, columnar).

    Args:
        orders: the request's orders (:class:`~serving.schemas.Order` or dicts).
        predictions: the answer's predictions (dicts in the :class:`~serving.schemas.Prediction`
            shape), one per order, in order; their ``actions`` are the policy's actions in the
            order given to the ledger (whose statuses the journal keeps beside the entry).
        scores: the log's score columns (:data:`SCORE_COLUMNS` → one value per prediction) if
            the caller has them as arrays already; else they are read from ``predictions``.
        statuses: the status code of each action, when they were decided without the ledger
            (else the ledger journals them beside the entry).
        columns: the orders as columns (:func:`serving.scoring.request_columns`) if the caller
            has them already; else they are read from ``orders``.
    """
    return _pack(
        orjson.dumps(
            {
                "request_id": request_id,
                "received_at": received_at,
                "latency_ms": latency_ms,
                "status": status,
                "versions": model_versions,
                "order_columns": order_columns(orders, columns),
                "scores": scores if scores is not None else score_columns(predictions),
                "actions": [
                    [f"{a['rule']}:{a['action']}" for a in p["actions"]] for p in predictions
                ],
                **({"statuses": statuses} if statuses is not None else {}),
            },
            option=orjson.OPT_SERIALIZE_NUMPY,
            default=_json_default,
        )
    )


def order_columns(
    orders: Sequence[BaseModel | Mapping[str, Any]], columns: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The request fields the log keeps (:data:`_REQUEST_COLUMNS`), column by column, as the
    journal holds them: times as microseconds since the epoch (UTC), contact preferences joined
    by ``|``. Draining then extends each column once per request instead of reading every field
    of every order, and parses no time strings (the drain cost 27 us of the service's CPU per
    order of 1,000-order requests, a seventh of it, with the orders as a list of objects).

    Args:
        orders: the request's orders (read only when ``columns`` is not given).
        columns: the same orders as columns, absent fields allowed (missing: null).
    """
    if columns is None:
        # A model's fields live in its __dict__: far cheaper to read than model_dump().
        rows = [o.__dict__ if isinstance(o, BaseModel) else o for o in orders]
        columns = {name: [row.get(name) for row in rows] for name in _REQUEST_COLUMNS}
    n = len(orders)
    kept: dict[str, Any] = {}
    for name in _REQUEST_COLUMNS:
        values = columns.get(name)
        if values is None:
            kept[name] = [None] * n
        elif name in _TIME_COLUMNS:
            kept[name] = _epoch_microseconds(values)
        elif name == "contact_preferences":
            kept[name] = [v if v is None or isinstance(v, str) else "|".join(v) for v in values]
        else:
            kept[name] = values
    return kept


def _epoch_microseconds(values: Any) -> Any:
    """Moments as integer microseconds since the epoch (UTC; None where one is missing): a
    ``datetime64`` array as an int64 array, else datetimes (naive ones taken as UTC) one by one,
    exactly (0.3 us each: pandas' conversion of a 1,000-order list cost 3 ms)."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        moments = values.astype("datetime64[us]")
        ticks = moments.view("int64")
        missing = np.isnat(moments)
        if missing.any():
            return [None if gap else int(t) for gap, t in zip(missing, ticks, strict=True)]
        return ticks
    return [None if v is None or v is pd.NaT else _ticks(v) for v in values]


def _ticks(moment: datetime) -> int:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _MICROSECOND


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_DAY_MICROSECONDS = 86_400 * 1_000_000


def _json_default(value: Any) -> Any:
    """What orjson does not encode itself: datetime subclasses (pandas Timestamps), other
    numbers."""
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


_RAW, _ZSTD = b"\x00", b"\x01"
_COMPRESS_FROM = 4_096
"""Entries from this size on are compressed: a 1,000-order entry shrinks from ~900 kB to ~70 kB
(zstd level 1, <1 ms), so the ledger's transaction writes 13x less; small ones stay raw."""
_CODEC = pa.Codec("zstd", compression_level=1)


def _pack(raw: bytes) -> bytes:
    if len(raw) < _COMPRESS_FROM:
        return _RAW + raw
    return _ZSTD + len(raw).to_bytes(8, "little") + _CODEC.compress(raw, asbytes=True)


def _unpack(blob: bytes) -> bytes:
    if blob[:1] == _RAW:
        return blob[1:]
    size = int.from_bytes(blob[1:9], "little")
    return _CODEC.decompress(blob[9:], decompressed_size=size, asbytes=True)


def score_columns(predictions: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The log's score columns read from predictions in the :class:`Prediction` shape."""
    delays = [p["delay"] for p in predictions]
    values = [p["value"] for p in predictions]
    columns: dict[str, list[Any]] = {
        "p_late": [d["probability"] for d in delays],
        "expected_hours": [d["expected_hours"] for d in delays],
        "p90_hours": [d["p90_hours"] for d in delays],
        "risk_level": [d["risk_level"] for d in delays],
        "top_reason_group": [d["reasons"][0]["group"] if d["reasons"] else None for d in delays],
        "value_index": [v["index"] for v in values],
        "tier": [v["tier"] for v in values],
        "degraded": ["|".join(p["degraded"]) for p in predictions],
    }
    quadrants = [v["quadrants"] for v in values]
    for q in QUADRANTS:
        columns[f"quadrant_{q}"] = [row[q] for row in quadrants]
    dimensions = [v["dimensions"] for v in values]
    for name in DIMENSION_NAMES:
        columns[f"dim_{name}"] = [row[name]["score"] for row in dimensions]
    return columns


def record_request(
    ledger: ActionLedger,
    predictions: list[dict[str, Any]],
    actions: Sequence[Sequence[Action]],
    *,
    journal: bool = True,
    **entry: Any,
) -> None:
    """Record one answered request in the ledger — its actions and its journal entry, in one
    atomic step — and write each action, with what the ledger decided, into its prediction.

    Args:
        predictions: the answer's predictions; each gets its ``actions`` list filled in place
            (``status``: fired / suppressed / suggested / pending, ``fired``, ``suggestion_id``).
        actions: per prediction, the policy's actions.
        journal: False to claim the actions without logging the request (the service's own
            example answer).
        entry: :func:`encode_entry`'s other arguments (request id, time, orders, versions, ...).
    """
    for prediction, chosen in zip(predictions, actions, strict=True):
        prediction["actions"] = [
            {"action": a.action, "rule": a.rule, "params": a.params, "reason": a.reason}
            for a in chosen
        ]
    flat = [a for chosen in actions for a in chosen]
    if journal:
        outcomes = ledger.record(
            flat, entry["received_at"], encode_entry(predictions=predictions, **entry)
        )
    else:
        outcomes = [Outcome("fired")] * len(flat)
    outcome = iter(outcomes)
    for prediction in predictions:
        for a in prediction["actions"]:
            o = next(outcome)
            a["status"] = o.status
            a["fired"] = o.status == "fired"
            if o.suggestion_id is not None:
                a["suggestion_id"] = o.suggestion_id


# ---- draining -----------------------------------------------------------------------------------


class PredictionLog:
    """Drains the ledger's journal into the parquet prediction log, in the background.

    Args:
        directory: the log's root (``settings.prediction_log_dir``).
        ledger: the ledger whose journal holds the entries.
        flush_seconds: how often the journal is drained while the service runs.
        batch_entries: journal entries (requests) per drained batch.
        after_drain: called after each drain by the process that drained (the service writes
            the suggestions snapshot there).
    """

    def __init__(
        self,
        directory: Path | str,
        ledger: ActionLedger,
        *,
        flush_seconds: float = 5.0,
        batch_entries: int = 2_000,
        after_drain: Callable[[], object] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.ledger = ledger
        self.flush_seconds = flush_seconds
        self.batch_entries = batch_entries
        self.after_drain = after_drain
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._owns_ledger = False

    @classmethod
    def from_settings(cls, settings: Settings, ledger: ActionLedger | None = None) -> PredictionLog:
        """The log of ``settings``; without a ``ledger`` it opens the settings' own (and closes
        it on :meth:`close`)."""
        owned = ledger is None
        log = cls(
            settings.prediction_log_dir,
            ledger or open_ledger(settings),
            flush_seconds=settings.serving.log_flush_seconds,
        )
        log._owns_ledger = owned
        return log

    def log(self, *, now: datetime | None = None, **entry: Any) -> None:
        """Journal one request whose actions were decided elsewhere: each action of each
        prediction carries its ``status`` (or ``fired``). ``entry``: :func:`encode_entry`'s
        arguments. The service journals through :func:`record_request` instead, which lets the
        ledger decide."""
        statuses = "".join(
            STATUS_CODES[a.get("status") or ("fired" if a.get("fired") else "suppressed")]
            for p in entry.get("predictions") or ()
            for a in (p.get("actions") if isinstance(p, Mapping) else p.actions) or ()
        )
        predictions = [
            p if isinstance(p, Mapping) else p.model_dump() for p in entry.pop("predictions")
        ]
        self.ledger.record(
            [],
            now or datetime.now(UTC),
            encode_entry(predictions=predictions, statuses=statuses, **entry),
        )

    def start(self) -> None:
        """Start the background drainer (it drains once at once: what a crash left behind)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="prediction-log-drainer", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.drain()
            except Exception:  # keep the drainer alive: the entries stay in the journal
                logger.exception("prediction log: draining the journal failed; will retry")
            self._wake.wait(self.flush_seconds)
            self._wake.clear()

    def drain(self) -> list[Path]:
        """Move every journal entry into parquet parts now; returns the parts written. Does
        nothing (returns ``[]``) while another process drains."""
        written: list[Path] = []
        with self.ledger.drain_lock() as acquired:
            if not acquired:
                return written
            while batch := self.ledger.read_journal(self.batch_entries):
                written += self._write(batch)
            if self.after_drain is not None:
                try:  # under the same lock: one process at a time
                    self.after_drain()
                except Exception:  # the log is drained either way; try again next time
                    logger.exception("prediction log: the after-drain step failed")
        return written

    def _write(self, batch: list[JournalEntry]) -> list[Path]:
        first = batch[0].key
        stem = f"part-j{first:020d}-"
        # A part of a batch starting at `first` exists: an earlier drain wrote (some of) that
        # batch and died before deleting it from the journal. Finish exactly that batch.
        done = sorted(self.directory.glob(f"date=*/{stem}*.parquet"))
        if done:
            last = int(done[0].name.removeprefix(stem).removesuffix(".parquet"))
            batch = [e for e in batch if e.key <= last]
            if batch[-1].key < last:  # the rest of the batch is further on
                batch = self.ledger.read_journal(last - first + 1, first=first)
                batch = [e for e in batch if e.key <= last]
        else:
            last = batch[-1].key
        written_days = {p.parent.name.removeprefix("date=") for p in done}
        table = entries_table(batch)
        # The UTC day of each row, in numpy (a row-by-row grouping cost 2 us a row); a batch
        # within one day (most) is written as it is, without a copy.
        ticks = table.column("logged_at").cast(pa.int64()).to_numpy()
        days, which = np.unique(ticks // _DAY_MICROSECONDS, return_inverse=True)
        written = []
        name = f"{stem}{last:020d}.parquet"
        for k, day_number in enumerate(days.tolist()):
            day = str(np.datetime64(day_number, "D"))
            if day in written_days:
                continue
            part_dir = self.directory / f"date={day}"
            part_dir.mkdir(parents=True, exist_ok=True)
            tmp = part_dir / f".{name}.tmp"
            rows = table if len(days) == 1 else table.take(np.flatnonzero(which == k))
            pq.write_table(rows, tmp, compression="zstd")
            _fsync(tmp)
            os.replace(tmp, part_dir / name)
            _fsync(part_dir)
            written.append(part_dir / name)
        self.ledger.delete_journal(last)
        return written

    def close(self) -> None:
        """Stop the drainer and drain what is left."""
        thread = self._thread
        if thread is not None:
            self._stop.set()
            self._wake.set()
            thread.join(timeout=30)
            self._thread = None
        self.drain()
        if self._owns_ledger:
            self.ledger.close()

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def drain_prediction_journal(settings: Settings) -> list[Path]:
    """Drain the journal into the parquet log once (e.g. after a crash, with no service
    running); returns the parts written."""
    ledger = open_ledger(settings)
    try:
        return PredictionLog.from_settings(settings, ledger).drain()
    finally:
        ledger.close()


class DrainerProcess:
    """The journal drained beside a service worker by a process of its own
    (:func:`drainer_main`), which also writes the suggestions snapshot after each drain.

    Why not a thread of the worker: the drain's Python work (decoding entries, building columns)
    held the worker's interpreter lock against the requests' threads; on 1,000-order batches the
    same drain cost the worker 140 us of CPU per order as a thread and 126 + 7 in a process
    (13,600 against 12,800 orders/s). The process runs at a lower priority (nice
    :data:`DRAINER_NICE`): the journal is durable, so at a peak the drain yields the cores to
    requests and catches up after. It drains once at start (what a crash left), then every
    ``serving.log_flush_seconds``; it stops on SIGTERM or when its worker is gone, draining what
    is left either way. It reads the settings the worker read (the same environment).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.stopped = False

    def start(self) -> None:
        """Start the process (once)."""
        if self.process is None and not self.stopped:
            self.process = subprocess.Popen(
                self.command(os.getpid()),
                env={**os.environ, "ORDERLENS_HOME": str(self.settings.home)},
                stdin=subprocess.DEVNULL,
            )

    @staticmethod
    def command(parent_pid: int) -> list[str]:
        """The drainer's command line, for a worker of process id ``parent_pid``."""
        return [sys.executable, "-c", _DRAINER_MAIN, str(parent_pid)]

    def ensure_running(self) -> bool:
        """Start the process again if it died (the worker calls this on its watch); returns
        whether it had to. The journal kept every entry meanwhile."""
        process = self.process
        if process is None or self.stopped or process.poll() is None:
            return False
        logger.warning(
            "prediction log drainer exited with code %s: starting another", process.returncode
        )
        self.process = None
        self.start()
        return True

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask the process to drain what is left and stop; kill it after ``timeout_s``."""
        self.stopped = True
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            logger.error("prediction log drainer did not stop in %.0f s: killed", timeout_s)
            process.kill()
            process.wait()
        # Stopped before its interpreter had started (-SIGTERM): it drained nothing; what is
        # left is drained by the worker's own PredictionLog.close, which the service calls next.


DRAINER_NICE = 10
"""The drainer's niceness: requests first, the log as soon as the cores allow."""
_DRAINER_MAIN = """
import signal, sys, threading
# Caught before the imports (a second or more): a worker stopping just after it started its
# drainer still gets the last drain. Ctrl-C in a terminal reaches the drainer too.
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())
from serving.prediction_log import drainer_main
drainer_main(int(sys.argv[1]), stop)
"""


def drainer_main(parent_pid: int, stop: threading.Event) -> None:
    """The drainer process's loop (see :class:`DrainerProcess`), at a lower priority: drain,
    write the suggestions snapshot, wait ``serving.log_flush_seconds``; until ``stop`` is set
    (by SIGTERM) or ``parent_pid`` is no longer this process's parent, then drain once more."""
    from orderlens.settings import load_settings
    from serving.suggestions import write_snapshot

    os.nice(DRAINER_NICE)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = load_settings()
    ledger = open_ledger(settings)
    log = PredictionLog.from_settings(settings, ledger)
    log.after_drain = lambda: write_snapshot(ledger, settings.suggestions_path, datetime.now(UTC))
    try:
        while True:
            try:
                log.drain()
            except Exception:  # the entries stay in the journal: next round
                logger.exception("prediction log: draining the journal failed; will retry")
            if stop.is_set() or os.getppid() != parent_pid:
                break
            stop.wait(settings.serving.log_flush_seconds)
        log.drain()
    finally:
        ledger.close()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def entries_table(batch: Sequence[JournalEntry]) -> pa.Table:
    """Journal entries flattened into prediction-log rows (:func:`log_schema`), column by column."""
    schema = log_schema()
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    request_columns = [(name, columns[name]) for name in _REQUEST_COLUMNS]
    action_lists = {c: columns[c] for c in set(_ACTION_COLUMNS.values())}
    for journal_entry in batch:
        entry = orjson.loads(_unpack(journal_entry.entry))
        ordered = entry.get("order_columns")
        if ordered is None:  # an entry journaled before the orders were kept as columns
            ordered = order_columns([_legacy_order(o) for o in entry["orders"]])
        n = len(ordered["order_id"])
        if n == 0:  # a request without orders: one row
            n, ordered = 1, {name: [None] for name in _REQUEST_COLUMNS}
        columns["logged_at"] += [_ticks(datetime.fromisoformat(entry["received_at"]))] * n
        columns["request_id"] += [entry["request_id"]] * n
        columns["status"] += [entry["status"]] * n
        columns["latency_ms"] += [float(entry["latency_ms"])] * n
        versions = orjson.dumps(entry["versions"], option=orjson.OPT_SORT_KEYS).decode()
        columns["model_versions"] += [versions] * n
        for name, column in request_columns:
            column.extend(ordered[name])
        scores = entry["scores"]
        for name in SCORE_COLUMNS:
            columns[name] += scores.get(name) or [None] * n
        statuses = iter(entry.get("statuses", journal_entry.statuses))
        named = {c: [""] * n for c in action_lists}  # most orders act on nothing
        for i, names in enumerate(entry.get("actions") or ()):
            if not names:
                continue
            by_status: dict[str, list[str]] = {c: [] for c in action_lists}
            for action in names:
                by_status[_ACTION_COLUMNS[STATUS_BY_CODE[next(statuses)]]].append(action)
            for c, found in by_status.items():
                named[c][i] = "|".join(found)
        for c, column in action_lists.items():
            column.extend(named[c])
    for name in ("logged_at", *_TIME_COLUMNS):
        columns[name] = pa.array(columns[name], type=pa.int64()).cast(schema.field(name).type)
    return pa.table(columns, schema=schema)


def _legacy_order(order: Mapping[str, Any]) -> dict[str, Any]:
    """An order of an entry journaled as a list of orders, its times (ISO-8601 strings with
    offsets) read back as moments."""
    return {
        name: value if value is None or name not in _TIME_COLUMNS else pd.Timestamp(value)
        for name, value in order.items()
    }
