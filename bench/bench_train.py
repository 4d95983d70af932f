"""Full training time and peak memory: simulate → ingest → features → training sets → 21 models.

Usage: ``python bench/bench_train.py [--orders 200000] [--home DIR] [--reuse] [--threads N]
[--training '{"key": value}'] [--monotone-cost]``

"Full training time" is what ``orderlens train`` spends on a built feature store: the training
sets (point-in-time joins) + fitting the delay and value models + evaluation on the test window +
registration. The world's simulation, ingestion and feature build are timed apart (``--reuse``
skips them on a home whose features are already built, to iterate on training). Prints each
stage's seconds and this process's CPU seconds (about what the stage takes on an idle machine
with one LightGBM thread) with the load average, the peak resident memory of the process, the headline
metrics against the oracle and (``--monotone-cost``) the delay AUC without monotone constraints.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path


def peak_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load() -> str:
    """The 1/5/15-minute load averages (timings on a shared machine mean little without them)."""
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def build_world(settings, orders: int, stage) -> None:
    """Simulate ``orders`` orders into the home, ingest them and build the feature views."""
    from features.ingest import ingest_sources
    from features.store import FeatureRepo
    from simulator.world import WorldConfig, simulate_world, write_world

    began = time.perf_counter()
    write_world(simulate_world(WorldConfig(n_orders=orders)), settings.sources_dir)
    stage("simulate", began)
    began = time.perf_counter()
    ingest_sources(settings.sources_dir, settings)
    stage("ingest", began)
    began = time.perf_counter()
    FeatureRepo(settings).build()
    stage("features", began)


def main() -> None:
    """Run the bench and print one line per stage, then a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument(
        "--reuse", action="store_true", help="skip the world build when --home has features"
    )
    parser.add_argument("--threads", type=int, default=None, help="LightGBM threads")
    parser.add_argument(
        "--training", type=json.loads, default={}, help="JSON overrides of settings.training"
    )
    parser.add_argument("--monotone-cost", action="store_true")
    args = parser.parse_args()

    from orderlens.settings import load_settings
    from training.data import load_training_data
    from training.delay import train_delay
    from training.evaluate import evaluate_delay, with_oracle
    from training.train import train_model_set

    home = args.home or Path(tempfile.mkdtemp(prefix="bench-train-"))
    settings = load_settings(home=home)
    overrides = dict(args.training)
    if args.threads is not None:
        overrides["threads"] = args.threads
    training = settings.training.model_validate({**settings.training.model_dump(), **overrides})
    settings = settings.model_copy(update={"training": training})
    stages: dict[str, float] = {}
    cpu: dict[str, float] = {}
    cpu_began = time.process_time()

    def stage(name: str, began: float) -> None:
        nonlocal cpu_began
        stages[name] = round(time.perf_counter() - began, 1)
        cpu[name] = round(time.process_time() - cpu_began, 1)
        cpu_began = time.process_time()
        report(name, stages[name], cpu[name])

    def report(name: str, seconds: float, cpu_seconds: float) -> None:
        print(
            f"{name:>16}: {seconds:8.1f} s  cpu {cpu_seconds:8.1f} s  peak {peak_mb():6.0f} MB"
            f"  load {load()}",
            flush=True,
        )

    built = (settings.feature_repo_dir / "manifest.json").exists()
    if args.reuse and built:
        print(f"reusing the world and features of {home}", flush=True)
    else:
        build_world(settings, args.orders, stage)
    began, cpu_began = time.perf_counter(), time.process_time()
    data = load_training_data(settings)
    stage("training_sets", began)
    result = train_model_set(settings, data, log=lambda line: print("   ", line, flush=True))
    for name, seconds in result.stages.items():
        stages[name], cpu[name] = seconds, result.cpu[name]
        report(name, seconds, cpu[name])
    full = stages["training_sets"] + result.seconds
    full_cpu = cpu["training_sets"] + sum(result.cpu.values())
    report("full training", full, full_cpu)
    summary = {
        "orders": int(data.value["order_id"].nunique()),
        "delay_rows": len(data.delay),
        "value_rows": len(data.value),
        "training": {k: v for k, v in training.model_dump().items() if k in overrides},
        "seconds": stages,
        "full_training_seconds": round(full, 1),
        "cpu_seconds": cpu,
        "full_training_cpu_seconds": round(full_cpu, 1),
        "peak_mb": round(peak_mb()),
        "load": load(),
        "summary": result.report["summary"],
        "delay": {k: v for k, v in result.report["delay"].items() if k != "by_stage"},
        "by_stage": result.report["delay"]["by_stage"],
    }
    if args.monotone_cost:
        free = settings.training.model_copy(update={"monotone": False})
        models = train_delay(data.delay, free, log=lambda _: None)
        test = with_oracle(data.delay[data.delay["split"] == "test"], data.oracle)
        summary["auc_without_monotone"] = evaluate_delay(models, test)["auc"]
    print(json.dumps(summary, indent=1, default=float))


if __name__ == "__main__":
    main()
