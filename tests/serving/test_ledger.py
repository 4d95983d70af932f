"""The action ledger fires each (order, action, rule) once per window, also under races; keeps
suggested actions pending until a person decides (confirmations fire exactly once); and journals
each request in the same atomic step. The suggestion and journal tests run on both backends."""

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
from serving.ledger import ActionLedger, SQLiteLedger, SuggestionError, open_ledger
from serving.ledger_redis import RedisLedger
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
    key = redis_ledger.fired_key(short)
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


# ---- suggestions and the journal (both backends) ------------------------------------------------


@pytest.fixture(params=["sqlite", "redis"])
def ledger(request, tmp_path: Path):
    if request.param == "sqlite":
        store: ActionLedger = SQLiteLedger(tmp_path / "ledger.sqlite3")
    else:
        url = request.getfixturevalue("redis_url")
        store = RedisLedger.from_url(url, prefix=f"t:{time.time_ns()}")
    yield store
    store.close()


def _suggest(order_id: str = "OL1", *, expires_hours: float = 24.0, tier: str = "platinum"):
    return Action(
        order_id,
        "compensation_coupon",
        "late_risk_compensate",
        {"amount": 80.0, "currency": "CNY"},
        "Likely 9 h late: compensation coupon",
        72.0,
        90,
        "suggest",
        expires_hours,
        tier,
    )


def test_a_suggest_action_is_pending_until_decided(ledger: ActionLedger):
    (first,) = ledger.record([_suggest()], NOW)
    assert first.status == "suggested" and first.suggestion_id
    # Re-scoring while it waits: the same pending suggestion, no second one.
    (again,) = ledger.record([_suggest()], NOW + timedelta(hours=1))
    assert again.status == "pending" and again.suggestion_id == first.suggestion_id
    (listed,) = ledger.suggestions(NOW + timedelta(hours=1))
    assert listed.suggestion_id == first.suggestion_id
    assert listed.params == {"amount": 80.0, "currency": "CNY"} and listed.tier == "platinum"
    assert listed.status == "pending"
    assert listed.expires_at == pytest.approx((NOW + timedelta(hours=24)).timestamp())


def test_confirming_fires_once_records_the_decider_and_suppresses_rescoring(ledger):
    (o,) = ledger.record([_suggest()], NOW)
    at = NOW + timedelta(hours=2)
    (decided,) = ledger.decide([o.suggestion_id], "confirm", decider="cs-lead", reason="ok", now=at)
    assert decided.fired
    assert decided.suggestion.status == "confirmed"
    assert decided.suggestion.decided_by == "cs-lead"
    assert decided.suggestion.decision_reason == "ok"
    assert decided.suggestion.decided_at == pytest.approx(at.timestamp())
    with pytest.raises(SuggestionError) as twice:
        ledger.decide([o.suggestion_id], "confirm", decider="other", reason="", now=at)
    assert twice.value.problems == {o.suggestion_id: "already_decided"}
    # The confirmation fired it: re-scoring within the rule's window does not ask again.
    assert ledger.record([_suggest()], at + timedelta(hours=1))[0].status == "suppressed"
    assert ledger.suggestions(at) == []
    (history,) = ledger.suggestions(at, status="confirmed")
    assert history.decided_by == "cs-lead"


def test_rejected_is_not_suggested_again_within_the_window(ledger):
    (o,) = ledger.record([_suggest()], NOW)
    (d,) = ledger.decide([o.suggestion_id], "reject", decider="cs-lead", reason="no", now=NOW)
    assert not d.fired and d.suggestion.status == "rejected"
    assert ledger.record([_suggest()], NOW + timedelta(hours=71))[0].status == "suppressed"
    assert ledger.record([_suggest()], NOW + timedelta(hours=73))[0].status == "suggested"


def test_expired_cannot_be_confirmed_and_a_new_one_is_suggested(ledger):
    (o,) = ledger.record([_suggest(expires_hours=1)], NOW)
    late = NOW + timedelta(hours=1, seconds=1)
    with pytest.raises(SuggestionError) as expired:
        ledger.decide([o.suggestion_id], "confirm", decider="cs-lead", reason="", now=late)
    assert expired.value.problems == {o.suggestion_id: "expired"}
    (gone,) = ledger.suggestions(late, status="expired")
    assert gone.suggestion_id == o.suggestion_id
    (renewed,) = ledger.record([_suggest(expires_hours=1)], late)
    assert renewed.status == "suggested" and renewed.suggestion_id != o.suggestion_id


def test_a_decision_is_all_or_nothing(ledger):
    a, b = ledger.record([_suggest("OL1"), _suggest("OL2")], NOW)
    with pytest.raises(SuggestionError) as unknown:
        ledger.decide([a.suggestion_id, "sg_nope"], "confirm", decider="x", reason="", now=NOW)
    assert unknown.value.problems == {"sg_nope": "unknown"}
    assert {s.suggestion_id for s in ledger.suggestions(NOW)} == {a.suggestion_id, b.suggestion_id}
    both = ledger.decide(
        [a.suggestion_id, b.suggestion_id], "confirm", decider="x", reason="", now=NOW
    )
    assert [d.fired for d in both] == [True, True]


def test_suggestions_filter_by_action_tier_and_age(ledger):
    ledger.record([_suggest("OL1", tier="platinum")], NOW)
    ledger.record([_suggest("OL2", tier="gold")], NOW + timedelta(hours=3))
    later = NOW + timedelta(hours=4)
    assert [s.order_id for s in ledger.suggestions(later, tier="gold")] == ["OL2"]
    assert [s.order_id for s in ledger.suggestions(later, min_age_s=2 * 3600)] == ["OL1"]
    assert [s.order_id for s in ledger.suggestions(later, max_age_s=2 * 3600)] == ["OL2"]
    assert ledger.suggestions(later, action="notify") == []
    assert len(ledger.suggestions(later, status=None)) == 2


def test_concurrent_confirmations_fire_once(ledger, request):
    (o,) = ledger.record([_suggest()], NOW)
    n = 8
    barrier = threading.Barrier(n)
    results: list[str] = []
    lock = threading.Lock()
    # Each thread its own client/connection, as concurrent requests have.
    if isinstance(ledger, RedisLedger):
        url = request.getfixturevalue("redis_url")
        clients = [RedisLedger.from_url(url, prefix=ledger.prefix) for _ in range(n)]
    else:
        clients = [ledger] * n  # one connection per thread inside

    def confirm(i: int) -> None:
        barrier.wait()
        try:
            (d,) = clients[i].decide(
                [o.suggestion_id], "confirm", decider=f"lead{i}", reason="", now=NOW
            )
            outcome = "fired" if d.fired else "confirmed-not-fired"
        except SuggestionError as exc:
            outcome = exc.problems[o.suggestion_id]
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=confirm, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == ["already_decided"] * (n - 1) + ["fired"]


def test_journal_is_written_with_the_actions_and_read_in_order(ledger):
    fire = Action("OL1", "notify", "late_risk_notify", {}, "", 24, 100)
    ledger.record([fire, _suggest()], NOW, b"entry-1")
    ledger.record([], NOW, b"entry-2")
    ledger.record([fire], NOW, b"entry-3")
    journal = ledger.read_journal(10)
    assert [(e.entry, e.statuses) for e in journal] == [
        (b"entry-1", "FG"),
        (b"entry-2", ""),
        (b"entry-3", "S"),
    ]
    keys = [e.key for e in journal]
    assert keys == sorted(keys) and len(set(keys)) == 3
    assert [e.entry for e in ledger.read_journal(10, first=keys[1])] == [b"entry-2", b"entry-3"]
    ledger.delete_journal(keys[1])
    assert [e.entry for e in ledger.read_journal(10)] == [b"entry-3"]
    with ledger.drain_lock() as held, ledger.drain_lock() as second:
        assert held and not second
