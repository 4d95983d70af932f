"""Ticket signal extraction throughput on one core (tickets/s). Target: ≥ 5,000.

Usage: ``.venv/bin/python bench/bench_nlp.py [--tickets N] [--version V]``. Uses the current
pipeline under ``<home>/nlp``; with none trained yet, trains a smoke-size one in a temporary home
(quality does not change the cost of a bag-of-words model much; entity matching is the same).
"""

from __future__ import annotations

import os

# One core: pin the numeric libraries' thread pools before numpy/thinc are imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("ANSI_COLORS_DISABLED", "1")

import argparse  # noqa: E402
import io  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402


def main() -> None:
    """Extract signals from N synthetic tickets with the current pipelines and print tickets/s."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--version", default=None)
    parser.add_argument("--repeat", type=int, default=3, help="best of N timed runs")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    from nlp.extract import extract_signals
    from nlp.store import current_version, load_pipelines
    from orderlens.settings import load_settings
    from simulator.ticket_text import synthetic_tickets

    settings = load_settings()
    if current_version(settings) is None and args.version is None:
        from nlp.training import train_pipelines

        settings = load_settings(home=tempfile.mkdtemp(prefix="bench_nlp_"))
        train_pipelines(synthetic_tickets(600, seed=1), settings, smoke=True, stdout=io.StringIO())
    version, pipelines = load_pipelines(settings, args.version)
    tickets = synthetic_tickets(args.tickets, seed=11)
    extract_signals(tickets.head(500), pipelines, version=version)  # warm-up (jieba dictionary)
    best, best_cpu = float("inf"), float("inf")
    for _ in range(args.repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        signals = extract_signals(tickets, pipelines, version=version)
        best = min(best, time.perf_counter() - began)
        best_cpu = min(best_cpu, time.process_time() - began_cpu)
    mean_chars = tickets["text"].str.len().mean()
    # Wall time counts the time other processes hold the core; CPU time is this job's own cost.
    print(
        f"nlp extract: {len(signals):,} tickets (mean {mean_chars:.0f} chars, "
        f"{(tickets['language'] == 'zh').mean():.0%} zh) on 1 core: "
        f"{len(signals) / best:,.0f} tickets/s wall ({best:.2f} s), "
        f"{len(signals) / best_cpu:,.0f} tickets/s CPU ({best_cpu:.2f} s) "
        f"(target 5,000) [pipeline {version}]"
    )


if __name__ == "__main__":
    main()
