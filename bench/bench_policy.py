"""Throughput of the action policy and the action ledger on 1,000-order batches.

    .venv/bin/python bench/bench_policy.py [--batches 20] [--redis-url redis://127.0.0.1:6379/0]

Prints orders/s for policy evaluation (the shipped ``action_policy.yaml``, on a realistic mix and
on an all-high-risk mix), then actions/s for SQLite ledger claims of the all-high-risk batches
(every order fires several actions: the ledger's worst case), first as fresh actions and then
again as re-scoring would, and the same for Redis when ``--redis-url`` is given. The SQLite ledger
lives in a temporary directory.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orderlens.reasons import REASON_GROUPS
from serving.ledger import ActionLedger, RedisLedger, SQLiteLedger
from serving.policy import Action, ScoredOrder, evaluate_policy, load_policy

BATCH = 1_000
STAGES = ("not_shipped", "in_transit", "delivered")


def scored_orders(n: int, *, risky: bool = False, seed: int = 7) -> list[ScoredOrder]:
    """A mix like production (most orders calm, a tail of risky ones) or all high-risk."""
    rng = random.Random(seed)
    orders = []
    for i in range(n):
        p_late = rng.uniform(0.8, 1.0) if risky else min(1.0, rng.betavariate(1.2, 5.0) * 1.6)
        orders.append(
            ScoredOrder(
                order_id=f"OL{i:09d}",
                p_late=p_late,
                expected_hours=rng.uniform(6, 30) if risky else p_late * rng.uniform(0, 20),
                p90_hours=p_late * 30,
                reason_groups=tuple(rng.sample(REASON_GROUPS, 3)),
                stage=rng.choice(("not_shipped", "in_transit") if risky else STAGES),
                tier=rng.choices(("platinum", "gold", "silver", "standard"), (1, 3, 6, 10))[0],
                value_index=rng.uniform(0, 100),
                push_dismissals=rng.choice((0, 0, 0, 1, 3, 5)),
                contact_preferences=rng.choice(((), ("sms",), ("push", "email"))),
            )
        )
    return orders


def bench_policy(label: str, batches: list[list[ScoredOrder]]) -> list[list[Action]]:
    policy = load_policy()
    out = []
    start = time.perf_counter()
    for batch in batches:
        out.append([a for s in batch for a in evaluate_policy(policy, s)])
    elapsed = time.perf_counter() - start
    n_orders = sum(map(len, batches))
    n_actions = sum(map(len, out))
    print(
        f"policy ({label}): {n_orders / elapsed:>10,.0f} orders/s  "
        f"({elapsed / len(batches) * 1e3:.2f} ms per {BATCH}-order batch, "
        f"{n_actions / n_orders:.2f} actions/order)"
    )
    return out


def bench_ledger(name: str, ledger: ActionLedger, action_batches: list[list[Action]]) -> None:
    now = datetime(2025, 6, 18, 12, tzinfo=UTC)
    for label, at in (("first claim", now), ("re-claim", now + timedelta(minutes=5))):
        start = time.perf_counter()
        fired = sum(sum(ledger.claim(batch, at)) for batch in action_batches)
        elapsed = time.perf_counter() - start
        n = sum(map(len, action_batches))
        print(
            f"{name} {label}: {n / elapsed:>10,.0f} actions/s  "
            f"({elapsed / len(action_batches) * 1e3:.2f} ms per {BATCH}-order batch of "
            f"{n / len(action_batches):,.0f} actions, {fired} of {n} fired)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()

    def batches(risky: bool) -> list[list[ScoredOrder]]:
        orders = scored_orders(args.batches * BATCH, risky=risky)
        return [orders[i : i + BATCH] for i in range(0, len(orders), BATCH)]

    bench_policy("realistic mix", batches(risky=False))
    action_batches = bench_policy("all high risk", batches(risky=True))
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SQLiteLedger(Path(tmp) / "ledger.sqlite3")
        bench_ledger("sqlite", sqlite, action_batches)
        sqlite.close()
    if args.redis_url:
        redis_ledger = RedisLedger.from_url(args.redis_url, prefix=f"bench:{time.time_ns()}")
        bench_ledger("redis ", redis_ledger, action_batches)
        redis_ledger.close()


if __name__ == "__main__":
    main()
