"""Full training time and peak memory: simulate → ingest → features → training sets → 21 models.

Usage: ``python bench/bench_train.py [--orders 200000] [--home DIR] [--monotone-cost]``

Prints the seconds of each stage, the peak resident memory of the process, the headline metrics
against the oracle and (``--monotone-cost``) the delay AUC with and without monotone constraints.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path


def peak_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Run the bench and print one line per stage, then a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--monotone-cost", action="store_true")
    args = parser.parse_args()

    from features.ingest import ingest_sources
    from features.store import FeatureRepo
    from features.synthetic.world import WorldConfig, simulate_world, write_world
    from orderlens.settings import load_settings
    from training.data import load_training_data
    from training.delay import train_delay
    from training.evaluate import evaluate_delay, with_oracle
    from training.train import train_model_set

    home = args.home or Path(tempfile.mkdtemp(prefix="bench-train-"))
    settings = load_settings(home=home)
    stages: dict[str, float] = {}

    def stage(name: str, began: float) -> None:
        stages[name] = round(time.perf_counter() - began, 1)
        print(f"{name:>14}: {stages[name]:8.1f} s   peak {peak_mb():8.0f} MB", flush=True)

    began = time.perf_counter()
    write_world(simulate_world(WorldConfig(n_orders=args.orders)), settings.sources_dir)
    stage("simulate", began)
    began = time.perf_counter()
    ingest_sources(settings.sources_dir, settings)
    stage("ingest", began)
    began = time.perf_counter()
    FeatureRepo(settings).build()
    stage("features", began)
    began = time.perf_counter()
    data = load_training_data(settings)
    stage("training_sets", began)
    began = time.perf_counter()
    result = train_model_set(settings, data, log=lambda line: print("   ", line, flush=True))
    stage("train_21", began)
    summary = {
        "orders": args.orders,
        "delay_rows": len(data.delay),
        "seconds": stages,
        "peak_mb": round(peak_mb()),
        "summary": result.report["summary"],
        "delay": {k: v for k, v in result.report["delay"].items() if k != "by_stage"},
    }
    if args.monotone_cost:
        free = settings.training.model_copy(update={"monotone": False})
        models = train_delay(data.delay, free, log=lambda _: None)
        test = with_oracle(data.delay[data.delay["split"] == "test"], data.oracle)
        summary["auc_without_monotone"] = evaluate_delay(models, test)["auc"]
    print(json.dumps(summary, indent=1, default=float))


if __name__ == "__main__":
    main()
