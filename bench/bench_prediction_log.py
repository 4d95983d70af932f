"""Cost of the prediction log on the service's hot path: ``PredictionLog.log`` per request.

    .venv/bin/python bench/bench_prediction_log.py [--requests 2000] [--orders 100]

Prints microseconds per ``log`` call (a request of ``--orders`` orders) and per order, then the
time of the final flush, with the load average beside them (the machine may be shared). The log
lives in a temporary directory. This figure replaced a timed test (tests time nothing).
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from orderlens.settings import load_settings
from serving.prediction_log import PredictionLog
from serving.schemas import EXAMPLE_INPUT, Prediction, parse_request
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
    predictions: list[Prediction] = [make_prediction(o.order_id) for o in orders]
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(home=Path(tmp))
        plog = PredictionLog.from_settings(settings)
        began = time.perf_counter()
        for i in range(args.requests):
            plog.log(
                request_id=f"r{i}",
                received_at=datetime.now(UTC),
                orders=orders,
                predictions=predictions,
                model_versions={},
                latency_ms=1.0,
            )
        per_call = (time.perf_counter() - began) / args.requests
        began = time.perf_counter()
        plog.close()
        flush = time.perf_counter() - began
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"log(): {per_call * 1e6:.0f} us per request of {args.orders} orders "
        f"({per_call * 1e6 / args.orders:.2f} us per order); final flush {flush:.2f} s "
        f"[load {load}]"
    )


if __name__ == "__main__":
    main()
