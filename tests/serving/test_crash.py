"""Nothing answered is lost: the server is killed with SIGKILL under load at a random moment
(several seeds), then the prediction log must hold every answered prediction — and nothing that
was not at least sent — once, and the action ledger must agree with the log action by action."""

from __future__ import annotations

import random
import sqlite3
import threading
from pathlib import Path

import httpx
import pandas as pd
import pytest

from orderlens.records import read_prediction_log
from orderlens.settings import load_settings
from serving.prediction_log import drain_prediction_journal
from tests.serving.live import copy_serving_home, kill_hard, order_payloads, running_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIENTS = 4
ENV = {
    "ORDERLENS_SERVING__RATE_LIMIT_PER_SECOND": "0",
    "ORDERLENS_SERVING__FEATURE_TIMEOUT_MS": "1500",
    "ORDERLENS_SERVING__LOG_FLUSH_SECONDS": "0.5",  # drains run (and may be killed) under load
}


class Load:
    """Client threads sending requests of 1-20 orders until the server dies; each request is
    recorded as answered (200, with its predictions), shed (503 from the capacity gate: refused,
    so never logged) or unanswered (sent, no answer)."""

    def __init__(self, url: str, orders: list[dict], seed: int, kill_after: int) -> None:
        rng = random.Random(seed)
        self.url = url
        self.requests: list[list[dict]] = []
        i = 0
        while i < len(orders):
            size = rng.choice((1, 1, 1, 5, 20))
            self.requests.append(orders[i : i + size])
            i += size
        self.answered: dict[str, dict] = {}  # order_id -> prediction
        self.unanswered: set[str] = set()
        self.shed: set[str] = set()
        self.other: list[int] = []
        self._next = 0
        self._lock = threading.Lock()
        self._answers = 0
        self.kill_after = kill_after
        self.time_to_kill = threading.Event()

    def _take(self) -> list[dict] | None:
        with self._lock:
            if self._next >= len(self.requests):
                return None
            self._next += 1
            return self.requests[self._next - 1]

    def client(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30.0) as http:
            while (orders := self._take()) is not None:
                ids = {o["order_id"] for o in orders}
                try:
                    response = http.post("/predict", json={"orders": orders})
                except httpx.HTTPError:
                    with self._lock:
                        self.unanswered |= ids
                    return  # the server is gone
                with self._lock:
                    self._answers += 1
                    if self._answers >= self.kill_after:
                        self.time_to_kill.set()
                    if response.status_code == 200:
                        for p in response.json()["predictions"]:
                            self.answered[p["order_id"]] = p
                    elif response.status_code == 503 and "retry-after" in response.headers:
                        self.shed |= ids  # over capacity on a busy machine: refused, not lost
                    else:
                        self.other.append(response.status_code)


@pytest.mark.parametrize("seed", [3, 17, 29])
def test_sigkill_under_load_loses_no_answered_prediction(seed, serving_home, tmp_path):
    home = copy_serving_home(serving_home.home, tmp_path / "home")
    kill_after = random.Random(seed).randint(3, 60)  # the random moment: after that many answers
    suffix = f"-kill{seed}"
    rows = serving_home.orders.sample(600, random_state=seed)
    with running_server(home, tmp_path / "server.log", **ENV) as server:
        load = Load(server.url, order_payloads(rows, suffix=suffix), seed, kill_after)
        threads = [threading.Thread(target=load.client) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        assert load.time_to_kill.wait(300), "the load ran out before the kill"
        kill_hard(server)
        for t in threads:
            t.join(timeout=60)
    assert not load.other, load.other
    answered = set(load.answered)
    assert answered, "the load never got an answer"
    assert load.unanswered, "the kill came between requests: not under load"

    settings = load_settings(home=home)
    drain_prediction_journal(settings)  # what the next start would do first
    log = read_prediction_log(settings)
    log = log[log["order_id"].fillna("").str.endswith(suffix)]

    # Every answered prediction is in the log, once; nothing is there that was not sent.
    logged = list(log["order_id"])
    assert len(logged) == len(set(logged)), "a prediction was logged twice"
    assert answered <= set(logged), f"{len(answered - set(logged))} answered predictions lost"
    assert set(logged) <= answered | load.unanswered, "a refused request was logged"
    print(
        f"seed {seed}: killed after {len(answered)} answered orders with"
        f" {len(load.unanswered)} in flight, of which {len(set(logged) - answered)} were logged;"
        f" {len(load.shed)} shed (503)"
    )
    # The log holds what the caller was told.
    for row in log[log["order_id"].isin(answered)].itertuples():
        told = load.answered[row.order_id]
        assert row.p_late == pytest.approx(told["delay"]["probability"])
        assert (row.risk_level, row.tier) == (told["delay"]["risk_level"], told["value"]["tier"])
        assert row.value_index == pytest.approx(told["value"]["index"])
        assert _same(row.quadrant_customer, told["value"]["quadrants"]["customer"])
        dims = told["value"]["dimensions"]
        # A dimension without signal is answered as null and logged as null (NaN when read back).
        for name, dim in dims.items():
            assert _same(getattr(row, f"dim_{name}"), dim["score"]), name
        assert row.degraded == "|".join(told["degraded"])
        reasons = told["delay"]["reasons"]
        assert row.top_reason_group == (reasons[0]["group"] if reasons else None)
        fired = {f"{a['rule']}:{a['action']}" for a in told["actions"] if a["status"] == "fired"}
        assert set(filter(None, row.actions_fired.split("|"))) == fired

    # The ledger and the log agree action by action: fired, and pending suggestions.
    ledger_fired, ledger_suggested = _ledger_actions(settings.action_ledger_path, suffix)
    assert ledger_fired == _log_actions(log, "actions_fired")
    assert ledger_suggested == _log_actions(log, "actions_suggested")


def _ledger_actions(path: Path, suffix: str) -> tuple[set, set]:
    with sqlite3.connect(path) as conn:
        fired = {
            (o, f"{r}:{a}")
            for o, a, r in conn.execute("SELECT order_id, action, rule FROM action_ledger")
            if o.endswith(suffix)
        }
        suggested = {
            (o, f"{r}:{a}")
            for o, a, r in conn.execute("SELECT order_id, action, rule FROM suggestions")
            if o.endswith(suffix)
        }
    return fired, suggested


def _log_actions(log: pd.DataFrame, column: str) -> set:
    return {
        (order_id, action)
        for order_id, actions in zip(log["order_id"], log[column].fillna(""), strict=True)
        for action in actions.split("|")
        if action
    }


def _same(logged: float, answered: float | None) -> bool:
    """A logged figure equals the answered one; null answered = missing in the log."""
    if answered is None:
        return bool(pd.isna(logged))
    return logged == pytest.approx(answered)
