"""The prediction log: every request and answer, one row per predicted order, as parquet parts.

The service calls :meth:`PredictionLog.log` once per request; that only appends the request's
objects to an in-memory buffer (microseconds). A background thread flattens and writes the buffer
as a part file under ``<home>/prediction_log/date=YYYY-MM-DD/`` when it holds ``flush_rows`` rows
or every ``flush_seconds``, and :meth:`PredictionLog.close` writes what is left at shutdown.
Part files appear atomically (written to a hidden temporary name, then renamed), so readers never
see half a file; several worker processes can log into the same directory.

:func:`read_prediction_log` reads it back as one frame for monitoring and reports. Columns:
``logged_at, request_id, status, latency_ms, order_id``, every request field of
:class:`serving.schemas.Order`, ``p_late, expected_hours, p90_hours, risk_level,
top_reason_group, value_index, tier, quadrant_<q>`` (4), ``dim_<name>`` (19 value dimension
scores), ``actions_fired`` and ``actions_suppressed`` ("|"-joined ``rule:action``), ``degraded``
("|"-joined) and ``model_versions`` (JSON).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel

from orderlens.contracts import ORDERS
from orderlens.dimensions import DIMENSION_NAMES, QUADRANTS
from orderlens.records import REQUEST_TIME_FIELDS, log_schema
from orderlens.settings import Settings
from serving.schemas import Prediction

logger = logging.getLogger(__name__)


class PredictionLog:
    """Buffered, append-only prediction log.

    Args:
        directory: the log's root (``settings.prediction_log_dir``).
        flush_rows: write a part file once this many rows are buffered.
        flush_seconds: ... or at least this often while rows are waiting.
        max_buffered_rows: if writing keeps failing, the oldest rows beyond this are dropped
            (counted in :attr:`dropped_rows`) rather than exhausting memory.
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        flush_rows: int = 2_000,
        flush_seconds: float = 5.0,
        max_buffered_rows: int = 200_000,
    ) -> None:
        self.directory = Path(directory)
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.max_buffered_rows = max_buffered_rows
        self.dropped_rows = 0
        self._buffer: list[tuple[Any, ...]] = []
        self._buffered_rows = 0
        self._lock = threading.Lock()  # guards the buffer
        self._write_lock = threading.Lock()  # one writer at a time
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> PredictionLog:
        cfg = settings.serving
        return cls(
            settings.prediction_log_dir,
            flush_rows=cfg.log_flush_rows,
            flush_seconds=cfg.log_flush_seconds,
        )

    # ---- hot path ----------------------------------------------------------------------------

    def log(
        self,
        *,
        request_id: str,
        received_at: datetime,
        orders: Sequence[BaseModel | Mapping[str, Any]],
        predictions: Sequence[Prediction | Mapping[str, Any]],
        model_versions: Mapping[str, str],
        latency_ms: float,
        status: str = "ok",
    ) -> None:
        """Record one request. ``orders`` are the request's orders (:class:`~serving.schemas.Order`
        or dicts; empty when the request could not be read), ``predictions`` the answer's
        :class:`~serving.schemas.Prediction` objects (empty on error), matched by ``order_id``.
        Cheap: the objects are only buffered; do not mutate them afterwards."""
        entry = (request_id, received_at, orders, predictions, model_versions, latency_ms, status)
        n = max(1, len(orders))
        with self._lock:
            self._buffer.append(entry)
            self._buffered_rows += n
            full = self._buffered_rows >= self.flush_rows
        if self._thread is None:
            self.start()
        if full:
            self._wake.set()

    # ---- writing -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background writer (done by the first :meth:`log`)."""
        with self._lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="prediction-log-writer", daemon=True
            )
            self._thread.start()
        atexit.register(self.close)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # keep the writer alive; flush() already kept the rows
                logger.exception("prediction log: writing a part file failed; will retry")

    def flush(self) -> list[Path]:
        """Write everything buffered now; returns the part files written (one per day)."""
        with self._write_lock:
            with self._lock:
                entries, self._buffer = self._buffer, []
                self._buffered_rows = 0
            if not entries:
                return []
            try:
                return self._write(entries)
            except Exception:
                self._requeue(entries)
                raise

    def _requeue(self, entries: list[tuple[Any, ...]]) -> None:
        with self._lock:
            self._buffer = entries + self._buffer
            self._buffered_rows = sum(max(1, len(e[2])) for e in self._buffer)
            while self._buffered_rows > self.max_buffered_rows and self._buffer:
                dropped = self._buffer.pop(0)
                n = max(1, len(dropped[2]))
                self._buffered_rows -= n
                self.dropped_rows += n

    def _write(self, entries: list[tuple[Any, ...]]) -> list[Path]:
        table = _to_table(entries)
        # One day string per row, formatted in Arrow (pandas' strftime per row was a few % of a
        # busy worker's CPU).
        days = pc.strftime(table.column("logged_at"), format="%Y-%m-%d").to_numpy(
            zero_copy_only=False
        )
        rows_by_day: dict[str, list[int]] = {}
        for i, day in enumerate(days.tolist()):
            rows_by_day.setdefault(day, []).append(i)
        written = []
        for day, index in rows_by_day.items():
            part_dir = self.directory / f"date={day}"
            part_dir.mkdir(parents=True, exist_ok=True)
            name = f"part-{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.parquet"
            tmp = part_dir / f".{name}.tmp"
            pq.write_table(table.take(pa.array(index)), tmp, compression="zstd")
            os.replace(tmp, part_dir / name)
            written.append(part_dir / name)
        return written

    def close(self) -> None:
        """Stop the writer and write what is left (also run at interpreter exit)."""
        thread = self._thread
        if thread is not None:
            self._stop.set()
            self._wake.set()
            thread.join(timeout=30)
            self._thread = None
            atexit.unregister(self.close)
        self.flush()

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _utc(value: Any) -> Any:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value  # aware datetimes: pyarrow stores the instant in UTC itself


_REQUEST_COLUMNS = (*ORDERS.column_names, *(name for name, _ in REQUEST_TIME_FIELDS))
_PREDICTION_COLUMNS = (
    "p_late",
    "expected_hours",
    "p90_hours",
    "risk_level",
    "top_reason_group",
    "value_index",
    "tier",
    *(f"quadrant_{q}" for q in QUADRANTS),
    *(f"dim_{name}" for name in DIMENSION_NAMES),
    "actions_fired",
    "actions_suppressed",
    "degraded",
)
_NO_PREDICTION = (None,) * len(_PREDICTION_COLUMNS)


def _to_table(entries: list[tuple[Any, ...]]) -> pa.Table:
    """Flatten buffered requests column by column (cheaper than one dict per row)."""
    schema = log_schema()
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    request_columns = [(name, columns[name]) for name in _REQUEST_COLUMNS]
    prediction_columns = [columns[name] for name in _PREDICTION_COLUMNS]
    for request_id, received_at, orders, predictions, versions, latency_ms, status in entries:
        # The service hands over JSON-ready dicts, read as they are: validating each into a
        # Prediction model here cost a fifth of a busy worker's CPU (py-spy).
        plain = [p.model_dump() if isinstance(p, BaseModel) else p for p in predictions]
        by_id = {p["order_id"]: p for p in plain}
        versions_json = json.dumps(dict(versions), sort_keys=True)
        for order in orders or [{}]:  # a request without orders: one row
            # A model's fields live in its __dict__: far cheaper to read than model_dump().
            fields = order.__dict__ if isinstance(order, BaseModel) else order
            columns["logged_at"].append(_utc(received_at))
            columns["request_id"].append(request_id)
            columns["status"].append(status)
            columns["latency_ms"].append(float(latency_ms))
            columns["model_versions"].append(versions_json)
            for name, column in request_columns:
                column.append(fields.get(name))
            prediction = by_id.get(fields.get("order_id"))
            values = _NO_PREDICTION if prediction is None else _prediction_values(prediction)
            for column, value in zip(prediction_columns, values, strict=True):
                column.append(value)
    for name in ("created_at", "promised_at", "as_of"):
        columns[name] = [_utc(v) for v in columns[name]]
    columns["contact_preferences"] = [
        None if v is None else v if isinstance(v, str) else "|".join(v)
        for v in columns["contact_preferences"]
    ]
    return pa.table(columns, schema=schema)


def _prediction_values(p: Mapping[str, Any]) -> tuple[Any, ...]:
    """Values in the order of ``_PREDICTION_COLUMNS`` from a prediction in the
    :class:`~serving.schemas.Prediction` shape (as a dict)."""
    delay, value = p["delay"], p["value"]
    quadrants, dimensions = value["quadrants"], value["dimensions"]
    reasons, actions = delay.get("reasons") or (), p.get("actions") or ()
    return (
        delay["probability"],
        delay["expected_hours"],
        delay["p90_hours"],
        delay["risk_level"],
        reasons[0]["group"] if reasons else None,
        value["index"],
        value["tier"],
        *(quadrants.get(q) for q in QUADRANTS),
        *((dimensions.get(name) or {}).get("score") for name in DIMENSION_NAMES),
        "|".join(f"{a['rule']}:{a['action']}" for a in actions if a["fired"]),
        "|".join(f"{a['rule']}:{a['action']}" for a in actions if not a["fired"]),
        "|".join(p.get("degraded") or ()),
    )
