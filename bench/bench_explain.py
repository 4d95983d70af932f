"""Explanation cost per order: LightGBM exact TreeSHAP (``pred_contrib``) at 15/31/63 leaves vs
the service's TreeSHAP on compiled trees (:class:`serving.compiled.TreeShap`) and the ``shap``
package's TreeExplainer, and the overall throughput of a 1,000-order batch that predicts every
order and explains only those whose risk triggers an action.

Usage: ``python bench/bench_explain.py --training-set ts_delay.parquet [--rounds 200]``
(a delay_v1 training set, e.g. from ``orderlens features training-set``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def per_second(fn, rows: int, repeat: int = 3) -> float:
    """Rows per second of ``fn()`` (best of ``repeat``)."""
    best = np.inf
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - began)
    return rows / best


def main() -> None:
    """Train one classifier per tree size and print the cost of each explanation option."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--training-set", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=200, help="trees per model (fixed)")
    parser.add_argument("--trigger-share", type=float, default=0.1, help="orders explained")
    args = parser.parse_args()

    import lightgbm as lgb
    import pandas as pd
    import shap

    from orderlens.settings import load_settings
    from serving.compiled import CompiledBooster
    from training import boosting, metrics
    from training.data import assign_split, time_split
    from training.explain import group_matrix, probability_points
    from training.matrix import fit_feature_spec, to_matrix

    frame = pd.read_parquet(args.training_set)
    frame = assign_split(frame, time_split(frame["created_at"]))
    train, test = frame[frame["split"] == "train"], frame[frame["split"] == "test"]
    spec = fit_feature_spec(train)
    x_train, x_test = to_matrix(train, spec), to_matrix(test, spec)
    batch = x_test[:1_000]
    groups = group_matrix(spec.names)
    results = {}
    for leaves in (15, 31, 63):
        params = boosting.base_params(
            load_settings().training,
            "binary",
            num_leaves=leaves,
            monotone_constraints=spec.monotone_constraints(),
        )
        data = lgb.Dataset(
            x_train, train["is_late"].to_numpy(float), categorical_feature=spec.categorical_indices
        )
        booster = lgb.train(params, data, num_boost_round=args.rounds)
        auc = metrics.auc(test["is_late"].to_numpy(float), booster.predict(x_test))
        predict = per_second(lambda b=booster: b.predict(batch), len(batch))
        contrib = per_second(lambda b=booster: b.predict(batch, pred_contrib=True), len(batch))
        one = per_second(lambda b=booster: b.predict(batch[:1], pred_contrib=True), 1, repeat=20)
        explainer = shap.TreeExplainer(booster)
        shap_rate = per_second(lambda e=explainer: e.shap_values(batch[:200]), 200, repeat=1)
        exact = booster.predict(batch[:200], pred_contrib=True)[:, :-1]
        shap_diff = float(np.abs(np.asarray(explainer.shap_values(batch[:200])) - exact).max())
        fast = _fasttreeshap(booster, batch[:200], exact)
        compiled = CompiledBooster(booster)
        began = time.perf_counter()
        compiled.predict(batch[:1], pred_contrib=True)  # builds its tables
        tables_s = time.perf_counter() - began
        compiled_rate = per_second(
            lambda c=compiled: c.predict(batch, pred_contrib=True), len(batch)
        )
        compiled_diff = float(
            np.abs(compiled.predict(batch[:200], pred_contrib=True)[:, :-1] - exact).max()
        )

        def serve(b=booster, n_explain=int(len(batch) * args.trigger_share)) -> None:
            p = b.predict(batch)
            risky = np.argsort(-p)[:n_explain]
            c = b.predict(batch[risky], pred_contrib=True)
            probability_points(c[:, :-1], p[risky], 0.1) @ groups

        overall = per_second(serve, len(batch))
        results[leaves] = {
            "auc": round(auc, 4),
            "trees": booster.num_trees(),
            "predict_rows_per_s": round(predict),
            "pred_contrib_rows_per_s": round(contrib),
            "pred_contrib_ms_per_order": round(1000 / contrib, 3),
            "pred_contrib_one_row_ms": round(1000 / one, 3),
            "compiled_treeshap_rows_per_s": round(compiled_rate),
            "compiled_treeshap_ms_per_order": round(1000 / compiled_rate, 3),
            "compiled_treeshap_tables_s": round(tables_s, 3),
            "compiled_treeshap_max_abs_diff_vs_pred_contrib": compiled_diff,
            "shap_treeexplainer_rows_per_s": round(shap_rate),
            "shap_max_abs_diff_vs_pred_contrib": shap_diff,
            **fast,
            f"batch_1000_explain_{args.trigger_share:.0%}_orders_per_s": round(overall),
        }
        print(leaves, json.dumps(results[leaves]), flush=True)
    print(json.dumps(results, indent=1))


def _fasttreeshap(booster, rows: np.ndarray, exact: np.ndarray) -> dict[str, float]:
    """FastTreeSHAP's exact algorithms (v1, v2) when the package is importable: rows per second
    and the largest difference from ``pred_contrib`` (not a project dependency; install it
    beside the bench, e.g. ``uv pip install --target DIR fasttreeshap-fixed`` and PYTHONPATH)."""
    try:
        import fasttreeshap_fixed as fasttreeshap
    except ImportError:
        try:
            import fasttreeshap
        except ImportError:
            return {}
    out: dict[str, float] = {}
    for algorithm in ("v1", "v2"):
        explainer = fasttreeshap.TreeExplainer(booster, algorithm=algorithm, n_jobs=1)
        try:
            rate = per_second(lambda e=explainer: e.shap_values(rows), len(rows), repeat=1)
        except Exception as error:  # noqa: BLE001 - an unsupported model is a finding, not a crash
            out[f"fasttreeshap_{algorithm}_error"] = f"{type(error).__name__}: {error}"
            continue
        values = np.asarray(explainer.shap_values(rows))
        out[f"fasttreeshap_{algorithm}_rows_per_s"] = round(rate)
        out[f"fasttreeshap_{algorithm}_max_abs_diff"] = float(np.abs(values - exact).max())
    return out


if __name__ == "__main__":
    main()
