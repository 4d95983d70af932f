"""Tier stability: train the value models twice on the same training set with different seeds
(each gated by its own test-window skill, as a real training is) and print the share of test
orders that land in the same tier, the tier mix, and how the contribution moved.

    .venv/bin/python bench/bench_tiers.py --home var [--seeds 1 2] [--smoke]

Needs a home whose features are built (``make demo`` or ``orderlens flow run daily``). Target:
at least 90 % of test orders keep their tier.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", default=None, help="ORDERLENS_HOME with built features")
    parser.add_argument("--seeds", type=int, nargs=2, default=(1, 2))
    parser.add_argument("--smoke", action="store_true", help="smoke rounds (quick check)")
    args = parser.parse_args()
    if args.home:
        os.environ["ORDERLENS_HOME"] = args.home

    from orderlens.settings import load_settings
    from training.data import load_training_data
    from training.evaluate import evaluate_value, matrix_for, with_oracle
    from training.value import Money, gate_by_skill, train_value

    settings = load_settings()
    began = time.perf_counter()
    data = load_training_data(settings)
    test = with_oracle(data.value[data.value["split"] == "test"], data.oracle)
    print(f"home                   {settings.home}")
    print(f"orders                 {len(data.value):,} ({len(test):,} in the test window)")
    runs = []
    for seed in args.seeds:
        training = settings.training.model_copy(update={"seed": seed})
        rounds = training.smoke_rounds if args.smoke else training.max_rounds
        value = train_value(
            data.value,
            training,
            rounds=rounds,
            money=Money.from_settings(settings.value, settings.business.currency),
            log=lambda _: None,
        )
        gate_by_skill(value, evaluate_value(value, test), log=lambda _: None)
        arrays = value.predict_arrays(matrix_for(test, value.spec))
        silent = sorted(n for n in value.models if not value.has_signal(n))
        print(f"seed {seed:<3} no signal       {', '.join(silent) or 'none'}")
        runs.append(arrays)
    first, second = runs
    same = first["tier"] == second["tier"]
    print(f"same tier              {same.mean():.1%} of test orders  (target >= 90%)")
    for tier in ("platinum", "gold", "silver", "standard"):
        mine = first["tier"] == tier
        print(
            f"  {tier:<9} {mine.mean():6.1%} of orders, kept by the other seed "
            f"{same[mine].mean() if mine.any() else float('nan'):.1%}"
        )
    moved = np.abs(first["contribution"] - second["contribution"])
    scale = np.abs(first["contribution"]).mean()
    print(
        f"contribution moved     median {np.median(moved):.2f}, p90 {np.quantile(moved, 0.9):.2f}"
        f" {settings.business.currency} (mean |contribution| {scale:.1f})"
    )
    print(f"wall                   {time.perf_counter() - began:.0f} s; load {os.getloadavg()}")
    print("(the machine is shared: wall time is indicative only)")


if __name__ == "__main__":
    main()
