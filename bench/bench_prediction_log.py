"""Cost of the prediction log on the service's hot path, and of draining it.

    .venv/bin/python bench/bench_prediction_log.py [--requests 2000] [--orders 100]

On the hot path a request's prediction-log entry is encoded and appended to the ledger's journal
in the same transaction as its actions (:func:`serving.prediction_log.record_request`): prints
the microseconds of that step per request of ``--orders`` orders and per order, wall and CPU (each
prediction carries one new action, so each is a ledger insert), then how long draining the journal into parquet parts takes, with the load
average beside them (the machine may be shared). The ledger and log live in a temporary home.
This figure replaced a timed test (tests time nothing).
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from orderlens.records import read_prediction_log
from orderlens.settings import load_settings
from serving.ledger import open_ledger
from serving.policy import Action
from serving.prediction_log import PredictionLog, record_request, score_columns
from serving.schemas import EXAMPLE_INPUT, parse_request
from serving.scoring import request_columns
from tests.serving.conftest import make_prediction


def _orders(n: int):
    payload = copy.deepcopy(EXAMPLE_INPUT)
    payload["orders"] = [{**payload["orders"][0], "order_id": f"OL{i}"} for i in range(n)]
    return parse_request(payload).orders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--orders", type=int, default=100, help="orders per request")
    args = parser.parse_args()
    orders = _orders(args.orders)
    columns = request_columns(orders)  # the service has them: it scored the orders from them
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(home=Path(tmp), serving={"log_flush_seconds": 3600})
        ledger = open_ledger(settings)
        spent = cpu = 0.0
        for i in range(args.requests):
            predictions = [make_prediction(o.order_id).model_dump() for o in orders]
            # A fresh order id per request: every action is claimed (a ledger insert), as for
            # new orders; a repeated order would only be looked up.
            actions = [
                [
                    Action(
                        f"{o.order_id}-{i}", "notify", "late_risk_notify", {}, "Late risk", 24, 100
                    )
                ]
                for o in orders
            ]
            scores = score_columns(predictions)  # the service has them as the scorer's columns
            began, began_cpu = time.perf_counter(), time.process_time()
            record_request(
                ledger,
                predictions,
                actions,
                request_id=f"r{i}",
                received_at=datetime.now(UTC),
                orders=orders,
                columns=columns,
                model_versions={"delay": "v1"},
                latency_ms=1.0,
                scores=scores,
            )
            spent += time.perf_counter() - began
            cpu += time.process_time() - began_cpu
        per_call, cpu_per_call = spent / args.requests, cpu / args.requests
        began = time.perf_counter()
        PredictionLog.from_settings(settings, ledger).drain()
        drain = time.perf_counter() - began
        rows = len(read_prediction_log(settings))
        ledger.close()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"record_request: {per_call * 1e6:.0f} us per request of {args.orders} orders "
        f"({per_call * 1e6 / args.orders:.2f} us per order; CPU {cpu_per_call * 1e6 / args.orders:.2f}"
        f" us per order), actions + journal entry in one ledger transaction; drain of {rows} rows"
        f" {drain:.2f} s ({drain / max(rows, 1) * 1e6:.1f} us per row) [load {load}]"
    )


if __name__ == "__main__":
    main()
