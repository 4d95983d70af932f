"""Batch scoring of a file of orders (``orderlens predict``) through the service's own code.

Each order is scored as of its ``as_of`` (a column named by the caller, default its
``created_at``): the order's fields from the file, everything else from the online store as of
that moment (:mod:`features.online`: nothing newer than ``as_of`` is used, and every view an order
could not use is named in its ``degraded`` column), then the champion model set through
:meth:`serving.scoring.Scorer.predict` — the same columns, matrices, compiled trees, calibration
and value scores as ``POST /predict``.

A large file is scored by one process per core, forked once the champion is loaded.

Bad rows never stop the run: rows that break the orders contract (or whose ``as_of`` is missing
or before ``created_at``) are written to ``<out>.rejected.csv`` with the row's position in the
file, its ``order_id`` and every rule it broke, and counted in the report.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.online import OnlineFeatures
from features.store import FeatureRepo
from features.validation import SourceContractError, check_row_rules, coerce_table
from orderlens.contracts import ORDERS
from orderlens.settings import Settings
from serving.scoring import Scorer, frame_columns, risk_levels

CHUNK_ROWS = 50_000
"""Orders per online read and scoring pass: bounds memory on large files (a matrix of 100k
orders × 90 features is 70 MB per model family), large enough that per-call costs vanish."""

OUTPUT_COLUMNS = (
    "order_id",
    "as_of",
    "p_late",
    "expected_hours",
    "p90_hours",
    "risk_level",
    "value_index",
    "value_contribution",
    "tier",
    "degraded",
)


@dataclass
class BatchReport:
    """What a batch scoring run did."""

    orders_in: int
    scored: int
    rejected: int
    out: str
    rejected_file: str | None
    seconds: float
    orders_per_s: float
    degraded: int
    model_set: str
    load_seconds: float = 0.0
    """Loading the champion and the feature store (before ``seconds``: reading, checking,
    scoring and writing the file)."""
    cpu_seconds: float = 0.0
    """CPU time of ``seconds``' work, every thread and worker process (loading excluded): on a
    shared machine the wall-clock rate says more about the neighbours than about the code."""
    workers: int = 1

    @property
    def cpu_us_per_order(self) -> float:
        """CPU microseconds per scored order (reading, checking, scoring, writing)."""
        return self.cpu_seconds / self.scored * 1e6 if self.scored else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cpu_us_per_order": self.cpu_us_per_order}

    def as_text(self) -> str:
        lines = [
            f"scored {self.scored:,} of {self.orders_in:,} orders with model set "
            f"{self.model_set} in {self.seconds:.1f} s ({self.orders_per_s:,.0f} orders/s; "
            f"models and feature store loaded in {self.load_seconds:.1f} s before; "
            f"{self.cpu_us_per_order:.0f} us CPU per order, {self.workers} process(es)) "
            f"-> {self.out}",
            f"{self.degraded:,} scored orders could not use every feature view (column degraded)",
        ]
        if self.rejected:
            lines.append(
                f"{self.rejected:,} rows rejected (row, order_id, rules) -> {self.rejected_file}"
            )
        return "\n".join(lines)


def read_orders_file(path: Path) -> pd.DataFrame:
    """A file of orders by its extension: ``.parquet``, ``.csv`` (read as text, typed by the
    contract) or ``.jsonl``/``.json`` (JSON Lines).

    Raises:
        SourceContractError: for another extension or a file that cannot be read.
    """
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        if suffix in (".jsonl", ".json"):
            return pd.read_json(path, lines=True, dtype=False)
    except (OSError, ValueError) as exc:
        raise SourceContractError(f"{path}: cannot be read as {suffix}: {exc}") from exc
    raise SourceContractError(f"{path}: expected a .parquet, .csv or .jsonl file of orders")


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write by extension (``.parquet`` or ``.csv``), atomically: a temporary file renamed into
    place, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(tmp, index=False)
    else:
        frame.to_csv(tmp, index=False)
    tmp.replace(path)


def valid_orders(
    frame: pd.DataFrame, as_of_column: str | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Type the orders by the contract and split off the rows that break a rule.

    Returns:
        The good rows (typed, with an ``as_of`` column in UTC) and the rejected ones
        (``row``: 0-based position in the file, ``order_id``, ``rules``: ``;``-joined).

    Raises:
        SourceContractError: a required column (or the named ``as_of`` column) is absent.
    """
    if as_of_column is not None and as_of_column not in frame.columns:
        raise SourceContractError(f"the as_of column {as_of_column!r} is not in the file")
    frame = frame.reset_index(drop=True)
    typed, violations = coerce_table(frame, ORDERS)
    check_row_rules(typed, ORDERS, violations)
    if as_of_column is None:
        typed["as_of"] = typed["created_at"]
    else:
        raw = frame[as_of_column]
        as_of = pd.to_datetime(raw.replace("", None), utc=True, errors="coerce", format="mixed")
        typed["as_of"] = as_of
        violations.add(f"type:{as_of_column}", as_of.isna())
        violations.add(f"{as_of_column}_before_created_at", as_of < typed["created_at"])
    bad = violations.any.to_numpy()
    rejected = pd.DataFrame(
        {
            "row": np.flatnonzero(bad),
            "order_id": frame.loc[bad, "order_id"].astype(str).to_numpy()
            if "order_id" in frame
            else None,
            "rules": violations.rules()[bad].to_numpy(),
        }
    )
    return typed.loc[~bad].reset_index(drop=True), rejected


SERVICE = "delay_v1"
SKIPPED_VIEWS = ("order_attributes",)
"""The order's own fields come from the file (request fields win, as in the service)."""


def score_orders(
    scorer: Scorer, repo: FeatureRepo, orders: pd.DataFrame, *, point_in_time: bool = False
) -> pd.DataFrame:
    """Score typed, valid orders (with ``as_of``) as the service does; one output row each, in
    :data:`OUTPUT_COLUMNS`.

    ``point_in_time``: orders for which the online store holds only values from after their
    ``as_of`` or no row for their day (a back-dated file: the online store keeps each key's
    latest value) get their features from a point-in-time join of the offline store instead
    (:func:`point_in_time_features`).
    """
    columns = frame_columns(orders)
    online = repo.online_feature_values(SERVICE, columns, skip_views=SKIPPED_VIEWS)
    if point_in_time:
        back_dated = np.zeros(len(orders), dtype=bool)
        for why in online.unused.values():  # the store holds newer values, or not that day's
            back_dated |= (why == "after_as_of") | (why == "missing")
        if back_dated.any():
            online = point_in_time_features(repo, orders, online, np.flatnonzero(back_dated))
    scores = scorer.predict(columns, online.values)
    degraded = online.degraded_text(len(orders))
    return pd.DataFrame(
        {
            "order_id": orders["order_id"].to_numpy(),
            "as_of": orders["as_of"].to_numpy(),
            "p_late": scores.p_late,
            "expected_hours": scores.expected_hours,
            "p90_hours": scores.p90_hours,
            "risk_level": risk_levels(scorer.policy, scores.p_late),
            "value_index": scores.value["index"],
            "value_contribution": scores.value["contribution"],
            "tier": np.asarray(scores.value["tier"], dtype=object),
            "degraded": degraded,
        }
    )


def point_in_time_features(
    repo: FeatureRepo, orders: pd.DataFrame, online: OnlineFeatures, rows: np.ndarray
) -> OnlineFeatures:
    """``online`` with the stored views' features of ``rows`` replaced by a point-in-time join
    of the offline store as of each order's ``as_of`` (:meth:`FeatureRepo.training_set`, the
    join training sets are built with: each key's latest row at or before ``as_of`` within the
    view's TTL, so nothing newer than ``as_of`` by construction).

    The join gives no event times: those rows' ages are unknown (NaN), and a day-keyed view
    none of whose features the join found is reported ``missing`` for them, as the online
    read does.
    """
    from features.snapshots import entity_rows, with_day_keys

    picked = orders.iloc[rows]
    entity = entity_rows(picked).assign(as_of=picked["as_of"].to_numpy())
    entity["as_of"] = pd.to_datetime(entity["as_of"], utc=True).astype("datetime64[us, UTC]")
    entity["event_timestamp"] = entity["as_of"]
    entity = with_day_keys(entity).assign(_row=np.arange(len(rows))).reset_index(drop=True)
    joined = repo.training_set(SERVICE, entity)
    joined = joined.sort_values("_row", kind="stable").reset_index(drop=True)
    values = dict(online.values)
    ages = {view: np.asarray(age, dtype=np.float64).copy() for view, age in online.ages.items()}
    unused = {view: why.copy() for view, why in online.unused.items()}
    for view, names, text, day_keyed in repo.online_reader.views(SERVICE):
        if view in SKIPPED_VIEWS:
            continue
        found = np.zeros(len(rows), dtype=bool)
        for name in names:
            column = joined[name]
            present = column.notna().to_numpy()
            found |= present
            updated = values[name].copy()
            if name in text:
                updated[rows] = np.where(present, column.astype(object).to_numpy(), None)
            else:
                updated[rows] = pd.to_numeric(column, errors="coerce").to_numpy(np.float64)
            values[name] = updated
        if view in ages:
            ages[view][rows] = np.nan
        if view in unused:
            why = np.full(len(rows), None, dtype=object)
            if day_keyed:
                why[~found] = "missing"
            unused[view][rows] = why
    return OnlineFeatures(values, ages, unused)


def predict_file(
    settings: Settings,
    orders_path: Path,
    out_path: Path,
    *,
    as_of_column: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    scorer: Scorer | None = None,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
    point_in_time: bool = False,
) -> BatchReport:
    """Score a file of orders with the champion and write one row per good order to
    ``out_path`` (``.parquet`` or ``.csv``); rejected rows go to ``<out_path>.rejected.csv``.

    Args:
        settings: the home whose feature store and champion are used.
        orders_path: a ``.parquet``, ``.csv`` or ``.jsonl`` file in the orders contract.
        out_path: where the scores go.
        as_of_column: the column holding each order's prediction time (default ``created_at``).
        chunk_rows: orders per scoring pass.
        scorer: a scorer to reuse (default: the champion's, with compiled trees).
        workers: processes scoring a large file side by side (default: one per core), forked
            from this one once the champion is loaded (see :func:`_score_in_processes`); files of
            fewer than :data:`PARALLEL_FROM` orders, and every file where processes cannot be
            forked (not Linux), are scored in this process alone.
        progress: where progress lines go (None: nowhere).
        point_in_time: orders the online store cannot answer as of their ``as_of`` (a view's
            values only from after it, or no row for their day: a back-dated file) get their
            features from a point-in-time join of the offline store
            (:func:`point_in_time_features`) instead of being scored without those views.

    Raises:
        SourceContractError: the file cannot be read or lacks a required column.
        FileNotFoundError: no champion model set.
    """
    cores = os.cpu_count() or 1
    workers = workers or cores
    began, cpu_began = time.perf_counter(), time.process_time()
    frame = read_orders_file(orders_path)
    good, rejected = valid_orders(frame, as_of_column)
    processes = workers > 1 and len(good) >= PARALLEL_FROM and sys.platform == "linux"
    loading, load_cpu_began = time.perf_counter(), time.process_time()
    # Tree walks of large chunks are split between threads: the cores this process has.
    scorer = scorer or champion_scorer(
        settings, threads=max(1, cores // workers) if processes else cores
    )
    repo = FeatureRepo(settings)
    repo.online_reader.prepare("delay_v1")
    load_seconds = time.perf_counter() - loading
    load_cpu = time.process_time() - load_cpu_began
    if processes:
        scored, worker_cpu = _score_in_processes(
            scorer, repo, good, workers, chunk_rows, point_in_time
        )
    else:
        scored = _score_chunks(scorer, repo, good, chunk_rows, progress, point_in_time)
        worker_cpu = 0.0
    write_frame(scored, out_path)
    rejected_file = None
    if len(rejected):
        rejected_file = out_path.with_name(f"{out_path.name}.rejected.csv")
        write_frame(rejected, rejected_file)
    seconds = time.perf_counter() - began - load_seconds
    return BatchReport(
        orders_in=len(frame),
        scored=len(scored),
        rejected=len(rejected),
        out=str(out_path),
        rejected_file=None if rejected_file is None else str(rejected_file),
        seconds=seconds,
        orders_per_s=len(scored) / seconds if seconds > 0 else 0.0,
        degraded=int((scored["degraded"] != "").sum()) if len(scored) else 0,
        model_set=scorer.version,
        load_seconds=load_seconds,
        cpu_seconds=time.process_time() - cpu_began - load_cpu + worker_cpu,
        workers=workers if processes else 1,
    )


PARALLEL_FROM = 40_000
"""Files with at least this many good orders are scored by several processes."""


def _score_chunks(
    scorer: Scorer,
    repo: FeatureRepo,
    good: pd.DataFrame,
    chunk_rows: int,
    progress: Callable[[str], None] | None = None,
    point_in_time: bool = False,
) -> pd.DataFrame:
    parts = []
    # Scoring makes millions of short-lived objects and no reference cycles: without this the
    # collector walked the whole loaded stack (Feast, models) again and again, a third of the
    # time measured.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for start in range(0, len(good), chunk_rows):
            chunk = good.iloc[start : start + chunk_rows]
            parts.append(score_orders(scorer, repo, chunk, point_in_time=point_in_time))
            if progress is not None:
                progress(f"scored {min(start + chunk_rows, len(good)):,} / {len(good):,} orders")
    finally:
        if collecting:
            gc.enable()
    if not parts:
        return pd.DataFrame({name: [] for name in OUTPUT_COLUMNS})
    return pd.concat(parts, ignore_index=True)


_FORKED: tuple[Scorer, FeatureRepo, pd.DataFrame, int, bool] | None = None
"""What forked workers score with: set by :func:`_score_in_processes` just before it forks."""


def _score_in_processes(
    scorer: Scorer,
    repo: FeatureRepo,
    good: pd.DataFrame,
    workers: int,
    chunk_rows: int,
    point_in_time: bool = False,
) -> tuple[pd.DataFrame, float]:
    """Score ``good`` in ``workers`` processes forked from this one, each a contiguous share;
    returns the scores in file order and the workers' CPU seconds.

    Forked, not spawned: a spawned worker imports the stack and loads the champion again (at
    load ~16 on the shared machine two spawned workers took 58 s to be ready against 7.5 s for
    this process's one load); a forked one starts with this process's scorer, store and orders
    (copy-on-write), and only its scores travel back. Safe here because a worker touches
    nothing that another thread of this process may hold at the fork: the online store opens
    its SQLite connections per thread on first read, the plan of the read was made before
    (Feast's registry, whose refresh timer thread is the one other thread, is not read again),
    and the scoring path calls no OpenMP code (compiled trees, not LightGBM's predict). Workers
    end with ``os._exit``: nothing inherited is closed twice.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    global _FORKED
    bounds = np.linspace(0, len(good), workers + 1).astype(int)
    _FORKED = (scorer, repo, good, chunk_rows, point_in_time)
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            results = list(pool.map(_score_share, bounds[:-1].tolist(), bounds[1:].tolist()))
    finally:
        _FORKED = None
    scored = pd.concat([r[0] for r in results], ignore_index=True)
    return scored, sum(r[1] for r in results)


def _score_share(start: int, stop: int) -> tuple[pd.DataFrame, float]:
    """In a forked worker: score rows ``start:stop`` of the parent's orders; returns the scores
    and the CPU seconds spent."""
    if _FORKED is None:
        raise RuntimeError("_score_share runs in a worker forked by _score_in_processes")
    scorer, repo, good, chunk_rows, point_in_time = _FORKED
    cpu_began = time.process_time()
    scored = _score_chunks(
        scorer, repo, good.iloc[start:stop], chunk_rows, point_in_time=point_in_time
    )
    return scored, time.process_time() - cpu_began


def champion_scorer(settings: Settings, threads: int = 1) -> Scorer:
    """The champion model set as a :class:`Scorer` predicting with compiled trees (``threads``
    per large prediction).

    Raises:
        FileNotFoundError: before any model set was promoted.
    """
    from serving.compiled import compiled_model_set
    from serving.policy import load_policy
    from training.registry import load_champion

    models = load_champion(settings)
    return Scorer(
        models,
        load_policy(settings.serving.policy_file),
        explain_all_up_to=settings.serving.explain_all_up_to,
        fast=compiled_model_set(models, threads),
        threads=threads,
        display_names=settings.display.names,
        promotions=settings.business.promotions,
    )
