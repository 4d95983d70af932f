"""Report test data: a small synthetic world in the lake and a prediction log written by the real
:class:`serving.prediction_log.PredictionLog` writer.

No trained model exists in these tests, so the predictions are scored from the simulator's oracle
(the Bayes-optimal late probability and expected value of each dimension) plus noise; the actions
come from the real action policy. What the reports read is therefore exactly what the service
would log, with numbers that relate to the outcomes the way a good model's would.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from orderlens.dimensions import DIMENSIONS, QUADRANTS
from orderlens.settings import Settings

SERVED_SHARE = 0.25
"""The newest quarter of the world's orders is 'served' (logged); the rest is the reference."""
ERROR_EVERY = 25
"""Every 25th request fails (status ``error``, no prediction): the health page must count it."""
MODEL_VERSIONS = {"delay": "test-oracle", "value": "test-oracle"}
_REASON_GROUPS = ("weather", "carrier", "warehouse_backlog", "route_distance", "promise_tightness")


def ingest_world(world: dict[str, pd.DataFrame], settings: Settings, folder: Path) -> None:
    """Write the world's source tables and ingest them into the lake (the real ingest path)."""
    from features.ingest import ingest_sources
    from simulator.world import write_world

    write_world({k: v for k, v in world.items() if k != "oracle"}, folder)
    ingest_sources(folder, settings)


def served_orders(world: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The orders that get a prediction: the newest :data:`SERVED_SHARE` by creation time."""
    orders = world["orders"].sort_values(["created_at", "order_id"], kind="stable")
    return orders.iloc[-max(1, int(len(orders) * SERVED_SHARE)) :].reset_index(drop=True)


def oracle_scores(world: dict[str, pd.DataFrame], seed: int = 0) -> pd.DataFrame:
    """Per order: ``p_late``, ``expected_hours`` and 0–100 dimension scores, from the oracle.

    Dimension scores are the oracle's expected value ranked against all orders (direction-aware,
    as the value models score), blurred by noise so predictions are good but not perfect.
    """
    rng = np.random.default_rng(seed)
    oracle = world["oracle"]
    n = len(oracle)
    logit = np.log(
        oracle["p_late"].clip(1e-4, 1 - 1e-4) / (1 - oracle["p_late"].clip(1e-4, 1 - 1e-4))
    )
    scores = pd.DataFrame(
        {
            "order_id": oracle["order_id"],
            "p_late": 1 / (1 + np.exp(-(logit + rng.normal(0, 0.3, n)))),
            "expected_hours": oracle["expected_delay_hours"].clip(lower=0),
        }
    )
    for dim in DIMENSIONS:
        value = oracle[dim.name].fillna(oracle[dim.name].median())
        rank = value.rank(pct=True) * 100
        rank = rank if dim.higher_is_better else 100 - rank
        scores[dim.name] = (rank + rng.normal(0, 8, n)).clip(0, 100)
    return scores


def _prediction(row: pd.Series, settings: Settings, policy, index_rank: float) -> dict:
    """One :class:`serving.schemas.Prediction` payload for a scored order."""
    from serving.policy import ScoredOrder, evaluate_policy

    weights = settings.training.value_weights
    dims = {d.name: float(row[d.name]) for d in DIMENSIONS}
    quadrants = {
        q: float(np.mean([dims[d.name] for d in DIMENSIONS if d.quadrant == q])) for q in QUADRANTS
    }
    index = sum(weights.get(k, 1.0) * v for k, v in dims.items()) / sum(
        weights.get(k, 1.0) for k in dims
    )
    tier = next(
        (t for t, cut in settings.training.tier_cutoffs.items() if index_rank >= cut), "standard"
    )
    group = _REASON_GROUPS[int(row["order_id"][-1:], 36) % len(_REASON_GROUPS)]
    hours = float(row["expected_hours"])
    scored = ScoredOrder(
        order_id=row["order_id"],
        p_late=float(row["p_late"]),
        expected_hours=hours,
        p90_hours=hours * 2.5 + 2,
        reason_groups=(group,),
        stage="not_shipped",
        tier=tier,
        value_index=index,
    )
    actions = [
        {"action": a.action, "rule": a.rule, "params": {}, "reason": a.reason, "fired": True}
        for a in evaluate_policy(policy, scored)
    ]
    return {
        "order_id": row["order_id"],
        "delay": {
            "probability": float(row["p_late"]),
            "expected_hours": hours,
            "p90_hours": hours * 2.5 + 2,
            "risk_level": policy.risk_level(float(row["p_late"])),
            "reasons": [{"group": group, "text": group, "contribution": 10.0}],
        },
        "value": {
            "index": index,
            "tier": tier,
            "quadrants": quadrants,
            "dimensions": {k: {"score": v} for k, v in dims.items()},
        },
        "actions": actions,
        "model_versions": MODEL_VERSIONS,
        "degraded": ["online_store_timeout"] if row.name % 40 == 7 else [],
    }


def write_prediction_log(
    world: dict[str, pd.DataFrame], settings: Settings, *, batch: int = 20, seed: int = 0
) -> pd.DataFrame:
    """Log a prediction for every served order, ``batch`` orders per request, at the time each
    request's first order was created; every :data:`ERROR_EVERY`-th request fails.

    Returns:
        The served orders (one row per logged order).
    """
    from serving.policy import load_policy
    from serving.prediction_log import PredictionLog
    from serving.schemas import Order

    rng = np.random.default_rng(seed)
    policy = load_policy()
    served = served_orders(world)
    scores = oracle_scores(world, seed).set_index("order_id").loc[served["order_id"]]
    scores = scores.reset_index()
    index_rank = scores[[d.name for d in DIMENSIONS]].mean(axis=1).rank(pct=True).to_numpy()
    log = PredictionLog.from_settings(settings)
    fields = list(Order.model_fields)
    for k, lo in enumerate(range(0, len(served), batch)):
        chunk = served.iloc[lo : lo + batch]
        # The log takes the orders as the service read them (fields by name); the service's
        # strict model reads only JSON (RFC 3339 strings), these are the lake's Timestamps.
        orders = [
            {f: r[f] for f in fields if f in r} | {"as_of": r["created_at"]}
            for r in chunk.to_dict("records")
        ]
        failed = k % ERROR_EVERY == ERROR_EVERY - 1
        predictions = (
            []
            if failed
            else [
                _prediction(scores.iloc[i], settings, policy, index_rank[i])
                for i in range(lo, lo + len(chunk))
            ]
        )
        log.log(
            request_id=f"req-{k}",
            received_at=chunk["created_at"].iloc[0].to_pydatetime() + timedelta(minutes=1),
            orders=orders,
            predictions=predictions,
            model_versions=MODEL_VERSIONS,
            latency_ms=float(rng.lognormal(2.0, 0.5)),
            status="error" if failed else "ok",
        )
    log.close()
    return served
