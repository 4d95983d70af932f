"""Feature-store benchmark: training-set build, materialization rate, online reads.

    .venv/bin/python bench/bench_features.py --orders 170000 --snapshots 1000000

Builds the views from a fresh synthetic world in a temporary home, then prints:
- the point-in-time training-set build for ``--snapshots`` order snapshots (wall time and the
  peak memory of the process that built it; targets: ≤ 2 min and ≤ 8 GB for 1 M);
- the materialization rate (feature rows per second into the SQLite online store);
- online reads of one order's full ``delay_v1`` feature set and of 100 orders, p50 and p99
  (target: p99 ≤ 3 ms for one order on SQLite).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _build_training_set(home: str, snapshots: int, queue) -> None:
    from features.snapshots import labelled_snapshots
    from features.store import FeatureRepo, load_sources
    from orderlens.settings import load_settings

    settings = load_settings(home=Path(home))
    tables = load_sources(settings)
    entities = labelled_snapshots(
        "delay_v1", tables["orders"], tables["outcomes"], tables["tracking"]
    )
    entities = entities.sort_values("event_timestamp").head(snapshots)
    began = time.perf_counter()
    frame = FeatureRepo(settings).training_set("delay_v1", entities)
    queue.put((time.perf_counter() - began, len(frame), frame.shape[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=170_000)
    parser.add_argument("--snapshots", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument(
        "--home", type=Path, help="reuse a home this script built (skips the build)"
    )
    parser.add_argument(
        "--skip-training-set", action="store_true", help="only materialization and online reads"
    )
    args = parser.parse_args()

    from features.ingest import ingest_sources
    from features.store import FeatureRepo
    from orderlens.settings import load_settings
    from simulator.world import WorldConfig, simulate_world, write_world

    home = (args.home or Path(tempfile.mkdtemp(prefix="bench-features-"))).resolve()
    settings = load_settings(home=home)
    repo = FeatureRepo(settings)
    if args.home is None:
        world = simulate_world(WorldConfig(n_orders=args.orders, seed=11))
        write_world(world, settings.sources_dir)
        ingest_sources(settings.sources_dir, settings)
        report = repo.build()
        print(f"views built from {args.orders:,} orders in {report.seconds:.1f} s ({home})")
    feature_rows = sum(repo.manifest()["views"].values())

    if not args.skip_training_set:
        _training_set_figures(home, args.snapshots)
    if args.home is None:
        result = repo.materialize()
        print(
            f"online store load: {feature_rows:,} feature rows in {result['seconds']:.1f} s "
            f"({feature_rows / result['seconds']:,.0f} rows/s)"
        )
    _online_read_figures(repo, settings, args.reads)


def _training_set_figures(home: Path, snapshots: int) -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_build_training_set, args=(str(home), snapshots, queue))
    child.start()
    seconds, rows, columns = queue.get()
    child.join()
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    print(
        f"training set: {rows:,} snapshots x {columns} columns in {seconds:.1f} s "
        f"({rows / seconds:,.0f} rows/s), peak memory {peak_gb:.2f} GB"
    )


def _online_read_figures(repo, settings, reads: int) -> None:
    """One order's full delay_v1 feature set, and 100 orders, through the serving hot path; then
    the same reads through Feast's provider (``online_read`` per view, what the production
    profile's Redis store uses) as an in-process ratio that the machine's load cancels out of."""
    import os

    from features import lake
    from features.snapshots import entity_rows

    orders = lake.read_lake(settings, "orders").sample(100, random_state=1)
    rows = entity_rows(orders).assign(as_of=orders["created_at"].max())
    columns = {name: rows[name].tolist() for name in rows.columns}
    for name in ("as_of", "created_at", "promised_at"):
        columns[name] = [pd.Timestamp(t).to_pydatetime() for t in columns[name]]
    singles = [{name: [values[i]] for name, values in columns.items()} for i in range(100)]
    views = len(repo.online_feature_values("delay_v1", columns).ages)
    print(f"online store: {_online_store_rows(repo):,} rows; {views} views read per order")
    from features.online import OnlineReader

    fast = repo.online_reader
    paths = {"plug-in read_latest": fast}
    if callable(getattr(fast.online_store, "read_latest", None)):
        # The same plug-in without its batch read: Feast's own online_read of the same tables
        # (what any other online store, Redis in production, is read through).
        class FeastsOwnRead(type(fast.online_store)):
            read_latest = None

        feasts = OnlineReader(repo.store)
        feasts.__dict__["online_store"] = FeastsOwnRead()
        paths["Feast's online_read"] = feasts
    medians = {}
    for label, reader in paths.items():
        repo.__dict__["online_reader"] = reader
        repo.online_feature_values("delay_v1", singles[0])  # warm the registry and connection
        for size, count in ((1, reads), (100, max(reads // 10, 10))):
            timings = []
            for i in range(count):
                batch = singles[i % 100] if size == 1 else columns
                began = time.perf_counter()
                repo.online_feature_values("delay_v1", batch)
                timings.append((time.perf_counter() - began) * 1000)
            p50, p99 = np.percentile(timings, [50, 99])
            medians[label, size] = p50
            print(
                f"online read ({label}), {size:>3} order(s): p50 {p50:.2f} ms, "
                f"p99 {p99:.2f} ms ({count} reads)"
            )
    repo.__dict__["online_reader"] = fast
    if len(paths) > 1:
        for size in (1, 100):
            ratio = medians["Feast's online_read", size] / medians["plug-in read_latest", size]
            print(
                f"plug-in batch read vs Feast's online_read, {size:>3} order(s): {ratio:.1f}x faster (p50)"
            )
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared machine)")


def _online_store_rows(repo) -> int:
    import sqlite3

    path = repo.settings.feature_repo_dir / "online_store.db"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return sum(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)


if __name__ == "__main__":
    main()
