"""Benchmark the synthetic world: simulate N orders (default 1 M) with every table, write them to
a temporary folder, and print wall time, peak memory, the late rate and the oracle's quality.

    .venv/bin/python bench/bench_simulate.py [--orders 1000000] [--seed 7]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from simulator.world import WorldConfig, simulate_world, write_world


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """ECE over equal-count bins of the predicted probability."""
    edges = np.quantile(p, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    err = 0.0
    for b in range(bins):
        mine = which == b
        if mine.any():
            err += mine.mean() * abs(p[mine].mean() - y[mine].mean())
    return float(err)


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    began = time.perf_counter()
    world = simulate_world(WorldConfig(n_orders=args.orders, seed=args.seed))
    simulated = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as tmp:
        write_world(world, Path(tmp))
        size_mb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 2**20
    wall = time.perf_counter() - began
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_gb = usage.ru_maxrss / 2**20  # KiB on Linux
    cpu = usage.ru_utime + usage.ru_stime  # ≈ wall time on an idle machine (mostly one thread)

    orders, outcomes, oracle = world["orders"], world["outcomes"], world["oracle"]
    late = (outcomes["delivered_at"] > orders["promised_at"]).to_numpy()
    day = orders["created_at"].dt.tz_convert("Asia/Shanghai").dt.strftime("%m-%d")
    promo = day.isin(["06-18", "11-11", "12-12"]).to_numpy()
    held = world["tracking"].query("exception_code == 'weather_hold'")["order_id"].unique()
    stormy = orders["order_id"].isin(held).to_numpy()
    p = oracle["p_late"].to_numpy()
    print(f"orders                 {args.orders:,}")
    print(f"simulate               {simulated:.1f} s")
    print(f"simulate + write       {wall:.1f} s  ({size_mb:.0f} MiB of parquet)")
    print(f"process CPU time       {cpu:.1f} s  (wall is longer when the machine is shared)")
    print(f"peak memory (maxrss)   {peak_gb:.2f} GiB")
    for name, frame in world.items():
        print(f"  {name:<10} {len(frame):>12,} rows")
    print(f"late rate              {late.mean():.3f}")
    print(f"  promotion peak days  {late[promo].mean():.3f}")
    print(f"  weather-held orders  {late[stormy].mean():.3f}  ({stormy.mean():.1%} of orders)")
    print(f"  other days           {late[~promo].mean():.3f}")
    print(f"oracle AUC             {roc_auc_score(late, p):.3f}")
    print(f"oracle ECE (10 bins)   {expected_calibration_error(p, late):.4f}")
    hours = ((outcomes["delivered_at"] - orders["promised_at"]).dt.total_seconds() / 3600).clip(0)
    print(
        f"mean delay hours       {hours.mean():.2f} (oracle {oracle['expected_delay_hours'].mean():.2f})"
    )
    print(pd.Series(late).groupby(orders["service_level"].to_numpy()).mean().round(3).to_string())


if __name__ == "__main__":
    main()
