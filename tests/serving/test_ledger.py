"""The action ledger fires each (order, action, rule) once per window, also under races."""

from __future__ import annotations

import multiprocessing
import random
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orderlens.settings import load_settings
from serving.ledger import ActionLedger, RedisLedger, SQLiteLedger, open_ledger
from serving.policy import Action
from tests.servers import missing_service

NOW = datetime(2025, 6, 18, 12, 0, tzinfo=UTC)
N_ORDERS = 1000


def _actions(n_orders: int = N_ORDERS, window_hours: float = 24.0) -> list[Action]:
    """Two actions per order (notify from one rule, coupon from another)."""
    return [
        Action(f"OL{i}", name, rule, {}, "", window_hours, 1)
        for i in range(n_orders)
        for name, rule in (("notify", "late_risk_notify"), ("compensation_coupon", "compensate"))
    ]


def _key(a: Action) -> tuple[str, str, str]:
    return (a.order_id, a.action, a.rule)


def _claim_in_shuffled_batches(
    ledger: ActionLedger, actions: list[Action], seed: int, batch: int = 100
) -> list[tuple[str, str, str]]:
    """Claim all actions in random order and batches; return the keys this caller fired."""
    order = actions[:]
    random.Random(seed).shuffle(order)
    fired = []
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        fired += [_key(a) for a, ok in zip(chunk, ledger.claim(chunk, NOW), strict=True) if ok]
    return fired


def _assert_each_fired_once(fired_lists: list[list[tuple[str, str, str]]], actions: list[Action]):
    counts = Counter(key for fired in fired_lists for key in fired)
    assert set(counts) == {_key(a) for a in actions}
    assert max(counts.values()) == 1
    # (Which caller wins what depends on scheduling; asserting that several won would be flaky
    # on a loaded 2-core machine, so only the exactly-once property is checked.)


# ---- SQLite -------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_ledger(tmp_path: Path):
    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3")
    yield ledger
    ledger.close()


def test_fires_once_then_refuses_within_the_window(sqlite_ledger: SQLiteLedger):
    actions = _actions(5)
    assert sqlite_ledger.claim(actions, NOW) == [True] * 10
    assert sqlite_ledger.claim(actions, NOW + timedelta(hours=23, minutes=59)) == [False] * 10


def test_window_expiry_allows_a_refire(sqlite_ledger: SQLiteLedger):
    (action,) = _actions(1)[:1]
    assert sqlite_ledger.claim([action], NOW) == [True]
    assert sqlite_ledger.claim([action], NOW + timedelta(hours=24)) == [True]
    # The window restarts at the re-fire.
    assert sqlite_ledger.claim([action], NOW + timedelta(hours=47)) == [False]
    assert sqlite_ledger.claim([action], NOW + timedelta(hours=48)) == [True]


def test_same_action_twice_in_one_batch_fires_once(sqlite_ledger: SQLiteLedger):
    (action,) = _actions(1)[:1]
    assert sqlite_ledger.claim([action, action, action], NOW) == [True, False, False]


def test_key_is_order_action_and_rule(sqlite_ledger: SQLiteLedger):
    base = Action("OL1", "notify", "rule_a", {}, "", 24, 1)
    other_rule = Action("OL1", "notify", "rule_b", {}, "", 24, 1)
    other_order = Action("OL2", "notify", "rule_a", {}, "", 24, 1)
    assert sqlite_ledger.claim([base, other_rule, other_order], NOW) == [True, True, True]


def test_state_survives_reopening(tmp_path: Path):
    path = tmp_path / "ledger.sqlite3"
    first = SQLiteLedger(path)
    assert first.claim(_actions(3), NOW) == [True] * 6
    first.close()
    second = SQLiteLedger(path)
    assert second.claim(_actions(3), NOW) == [False] * 6
    assert second.prune(NOW + timedelta(days=2)) == 6
    assert second.claim(_actions(3), NOW) == [True] * 6
    second.close()


def test_empty_batch(sqlite_ledger: SQLiteLedger):
    assert sqlite_ledger.claim([], NOW) == []


def test_threads_racing_fire_each_action_once(sqlite_ledger: SQLiteLedger):
    actions = _actions()
    n_threads = 8
    barrier = threading.Barrier(n_threads)
    results: list[list[tuple[str, str, str]]] = [[] for _ in range(n_threads)]

    def worker(i: int) -> None:
        barrier.wait()
        results[i] = _claim_in_shuffled_batches(sqlite_ledger, actions, seed=i, batch=20)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    _assert_each_fired_once(results, actions)


def _process_worker(path: str, seed: int, barrier, queue) -> None:
    ledger = SQLiteLedger(path)
    actions = _actions()
    barrier.wait()
    queue.put(_claim_in_shuffled_batches(ledger, actions, seed=seed, batch=50))
    ledger.close()


@pytest.mark.slow
def test_processes_racing_fire_each_action_once(tmp_path: Path):
    path = str(tmp_path / "ledger.sqlite3")
    SQLiteLedger(path).close()  # create the table before the race
    ctx = multiprocessing.get_context("spawn")
    n_procs = 4
    barrier, queue = ctx.Barrier(n_procs), ctx.Queue()
    procs = [
        ctx.Process(target=_process_worker, args=(path, seed, barrier, queue))
        for seed in range(n_procs)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    _assert_each_fired_once(results, _actions())


def test_open_ledger_follows_settings(tmp_path: Path):
    ledger = open_ledger(load_settings(home=tmp_path))
    assert isinstance(ledger, SQLiteLedger)
    assert ledger.path == tmp_path / "serving" / "action_ledger.sqlite3"
    ledger.close()
    redis_ledger = open_ledger(load_settings(home=tmp_path, profile="production"))
    assert isinstance(redis_ledger, RedisLedger)  # connects lazily: no server needed here
    redis_ledger.close()


# ---- Redis --------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    binary = shutil.which("redis-server")
    if binary is None:
        missing_service("redis-server is not on PATH (make system-deps installs it)")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
    client.close()
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def redis_ledger(redis_url: str, request):
    ledger = RedisLedger.from_url(redis_url, prefix=f"test:{request.node.name}")
    yield ledger
    ledger.close()


def test_redis_fires_once_then_refuses(redis_ledger: RedisLedger):
    actions = _actions(5)
    assert redis_ledger.claim(actions, NOW) == [True] * 10
    assert redis_ledger.claim(actions, NOW) == [False] * 10
    (action,) = actions[:1]
    assert redis_ledger.claim([action, action], NOW) == [False, False]


def test_redis_window_expiry_allows_a_refire(redis_ledger: RedisLedger):
    short = Action("OL1", "notify", "r", {}, "", 0.3 / 3600, 1)  # a 0.3 s window
    assert redis_ledger.claim([short], NOW) == [True]
    assert redis_ledger.claim([short], NOW) == [False]
    key = redis_ledger.key(short)
    assert 0 < redis_ledger.client.pttl(key) <= 300  # Redis forgets the claim after the window
    redis_ledger.client.pexpireat(key, 1)  # the window passes (a deadline in the past), no sleep
    assert redis_ledger.claim([short], NOW) == [True]


def test_redis_keys_do_not_collide(redis_ledger: RedisLedger):
    a = Action("OL1:notify", "expedite", "r", {}, "", 1, 1)
    b = Action("OL1", "notify:expedite", "r", {}, "", 1, 1)
    assert redis_ledger.key(a) != redis_ledger.key(b)


def test_redis_threads_racing_fire_each_action_once(redis_url: str):
    actions = _actions()
    n_threads = 6
    barrier = threading.Barrier(n_threads)
    results: list[list[tuple[str, str, str]]] = [[] for _ in range(n_threads)]

    def worker(i: int) -> None:
        ledger = RedisLedger.from_url(redis_url, prefix="race")
        barrier.wait()
        results[i] = _claim_in_shuffled_batches(ledger, actions, seed=i, batch=25)
        ledger.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    _assert_each_fired_once(results, actions)
