"""The issue-16 probes of the service's guard, at the issue's sizes, with the figures printed.

    .venv/bin/python bench/bench_guard.py [--home DIR] [--seconds 20]

Two real servers (``bentoml serve``, 2 workers each) on *copies* of a home with a champion
(without ``--home``, a smoke home is built in a temporary folder first):

- **limited**: no API keys (callers told apart by address), ``--rate`` orders a second, burst
  ``--burst``, no trusted proxy. Probes, each ``--seconds`` long from 4 client threads, a new
  connection per request (so either worker takes it): one-order requests with a different forged
  ``X-Forwarded-For`` each; plain one-order requests (and which worker answered); 100-order
  requests. Each prints the orders admitted against the most the rate allows
  (burst + rate x elapsed, plus one request's excess over the burst) and the 429s.
- **keyed**: API keys, the default limits, loopback a trusted proxy. Probes: 200 sequential
  one-order requests and 20 sequential 1,000-order requests from one key (429s: the issue saw one
  at request 109); 60 wrong keys from one client address (401 then 429), then the right key
  from it, and from another address; every route without a key; server paths in any answer;
  ``/metrics`` size before and after 3,000 requests to random paths.

Every figure is printed with the load average (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from serving.schemas import EXAMPLE_INPUT, EXAMPLE_ORDER
from tests.serving.live import build_home, copy_serving_home, running_server

KEYS = {"oms": "key-oms-123"}


def load() -> str:
    return "load " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def orders(n: int) -> list[dict[str, Any]]:
    tag = uuid.uuid4().hex[:8]
    return [{**EXAMPLE_ORDER, "order_id": f"B{tag}{i}"} for i in range(n)]


def hammer(url: str, size: int, *, forged: bool, seconds: float, threads: int = 4) -> dict:
    """``threads`` clients sending ``size``-order requests for ``seconds``; returns counts."""
    statuses: Counter[int] = Counter()
    admitted = [0]
    lock = threading.Lock()
    counter = iter(range(10**9))
    began = time.monotonic()

    def client() -> None:
        while time.monotonic() < began + seconds:
            with lock:
                i = next(counter)
            headers = {"X-Forwarded-For": f"198.51.{i // 250 % 250}.{i % 250}"} if forged else {}
            response = httpx.post(
                f"{url}/predict", json={"orders": orders(size)}, headers=headers, timeout=60
            )
            with lock:
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    admitted[0] += size

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return {
        "statuses": dict(statuses),
        "admitted": admitted[0],
        "elapsed": time.monotonic() - began,
    }


ACCESS_LINE = re.compile(r"\[entry_service:orderlens:(\d+)\].*path=/predict")


def limited_probes(home: Path, tmp: Path, args: argparse.Namespace) -> None:
    env = {
        "ORDERLENS_SERVING__RATE_LIMIT_PER_SECOND": str(args.rate),
        "ORDERLENS_SERVING__RATE_LIMIT_BURST": str(args.burst),
        "ORDERLENS_SERVING__FEATURE_TIMEOUT_MS": "1500",
    }
    print(f"limited server: 2 workers, {args.rate:g} orders/s per client, burst {args.burst}")
    with running_server(home, tmp / "limited.log", workers=2, **env) as server:
        for name, size, forged in (
            ("forged X-Forwarded-For, a new one per request", 1, True),
            ("plain one-order requests, both workers", 1, False),
            ("100-order requests", 100, False),
        ):
            before = len(server.log.read_text().splitlines())
            time.sleep(args.burst / args.rate + 0.5)  # the bucket refills between probes
            got = hammer(server.url, size, forged=forged, seconds=args.seconds)
            # A request above the burst may leave the bucket in debt by its excess (once).
            bound = args.burst + args.rate * got["elapsed"] + max(0, size - args.burst)
            workers = Counter(
                m.group(1)
                for line in server.log.read_text().splitlines()[before:]
                if (m := ACCESS_LINE.search(line))
            )
            print(
                f"  {name}: {sum(got['statuses'].values())} requests in {got['elapsed']:.1f} s,"
                f" statuses {got['statuses']}, admitted {got['admitted']} orders"
                f" (rate allows <= {bound:.0f}); answered by workers {dict(workers)} [{load()}]"
            )


def keyed_probes(home: Path, tmp: Path) -> None:
    env = {
        "ORDERLENS_SERVING__API_KEYS": json.dumps(KEYS),
        "ORDERLENS_SERVING__TRUSTED_PROXIES": '["127.0.0.1"]',
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        "ORDERLENS_SERVING__FEATURE_TIMEOUT_MS": "1500",
    }
    print("keyed server: 2 workers, API keys, default limits, loopback a trusted proxy")
    with running_server(home, tmp / "keyed.log", workers=2, **env) as server:
        key = {"X-API-Key": KEYS["oms"]}
        with server.client(headers=key) as http:
            began = time.monotonic()
            seq = Counter(
                http.post("/predict", json={"orders": orders(1)}).status_code for _ in range(200)
            )
            one = time.monotonic() - began
            began = time.monotonic()
            big = Counter(
                http.post("/predict", json={"orders": orders(1000)}).status_code for _ in range(20)
            )
            thousand = time.monotonic() - began
        print(
            f"  one client, 200 sequential one-order requests: {dict(seq)} in {one:.1f} s;"
            f" 20 sequential 1,000-order requests: {dict(big)} in {thousand:.1f} s"
            f" ({20_000 / thousand:,.0f} orders/s) [{load()}]"
        )
        with server.client() as http:
            behind = {"X-Forwarded-For": "203.0.113.7"}
            wrong = Counter(
                http.post(
                    "/predict", json=EXAMPLE_INPUT, headers={**behind, "X-API-Key": f"guess-{i}"}
                ).status_code
                for i in range(60)
            )
            right_same = http.post("/predict", json=EXAMPLE_INPUT, headers={**behind, **key})
            other = http.post(
                "/predict", json=EXAMPLE_INPUT, headers={"X-Forwarded-For": "203.0.113.8", **key}
            )
            print(
                f"  60 wrong keys from one address: {dict(wrong)}; then the right key from it:"
                f" {right_same.status_code}, from another address: {other.status_code} [{load()}]"
            )
            routes = [
                ("GET", "/metadata"),
                ("GET", "/docs.json"),
                ("GET", "/metrics"),
                ("GET", "/schema.json"),
                ("GET", "/"),
                ("GET", "/suggestions"),
                ("POST", "/admin/reload"),
                ("POST", "/predict"),
                ("GET", "/healthz"),
                ("GET", "/readyz"),
            ]
            without = {
                route: http.request(
                    method,
                    route,
                    headers={"X-Forwarded-For": f"192.0.2.{i + 1}"},
                    **({"json": EXAMPLE_INPUT} if method == "POST" else {}),
                ).status_code
                for i, (method, route) in enumerate(routes)
            }
            print(f"  without a key: {without}")
            paths = []
            for method, route in routes:
                text = http.request(
                    method,
                    route,
                    headers=key,
                    **({"json": EXAMPLE_INPUT} if method == "POST" else {}),
                ).text
                if str(home) in text or "/work/" in text or "/tmp/" in text:
                    paths.append(route)
            print(f"  answers (with the key) that show a server path: {paths or 'none'}")
            before = len(http.get("/metrics", headers=key).content)
            began = time.monotonic()
            for i in range(3_000):
                http.get(f"/no/such/{uuid.uuid4().hex}/{i}", headers=key)
            spent = time.monotonic() - began
            began = time.monotonic()
            after = len(http.get("/metrics", headers=key).content)
            scrape = time.monotonic() - began
            print(
                f"  /metrics: {before:,} bytes, after 3,000 requests to random paths"
                f" ({spent:.1f} s) {after:,} bytes, scraped in {scrape * 1000:.0f} ms [{load()}]"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a home with a champion (default: build one)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=5.0, help="orders a second per client")
    parser.add_argument("--burst", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        source = args.home
        if source is None:
            source = tmp / "source"
            print("building a smoke home ...", flush=True)
            build_home(source)
        limited_probes(copy_serving_home(source, tmp / "limited"), tmp, args)
        keyed_probes(copy_serving_home(source, tmp / "keyed"), tmp)


if __name__ == "__main__":
    main()
