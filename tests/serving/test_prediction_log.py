"""The prediction log: journaled with the request's actions, drained into parquet parts by day
exactly once (also when a drain dies half-way), read back one row per order."""

from __future__ import annotations

import copy
import json
import os
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orderlens.dimensions import DIMENSION_NAMES
from orderlens.records import log_schema, read_prediction_log
from orderlens.settings import load_settings
from serving.ledger import SQLiteLedger, open_ledger
from serving.policy import Action
from serving.prediction_log import PredictionLog, drain_prediction_journal, record_request
from serving.schemas import EXAMPLE_INPUT, parse_request

from .conftest import make_prediction

DAY1 = datetime(2025, 6, 18, 23, 59, 30, tzinfo=UTC)
DAY2 = datetime(2025, 6, 19, 0, 0, 10, tzinfo=UTC)


def _orders(*ids: str):
    payload = copy.deepcopy(EXAMPLE_INPUT)
    payload["orders"] = [{**payload["orders"][0], "order_id": i} for i in ids]
    return parse_request(payload).orders


@pytest.fixture
def settings(tmp_path: Path):
    return load_settings(home=tmp_path, serving={"log_flush_seconds": 60})


@pytest.fixture
def ledger(settings):
    store = open_ledger(settings)
    yield store
    store.close()


def _answer(ledger, request_id: str, at: datetime, ids: tuple[str, ...]) -> list[dict]:
    """Record a request the way the service does: every order gets a notify action."""
    predictions = [make_prediction(i).model_dump() for i in ids]
    actions = [[Action(i, "notify", "late_risk_notify", {}, "Late risk", 24, 100)] for i in ids]
    record_request(
        ledger,
        predictions,
        actions,
        request_id=request_id,
        received_at=at,
        orders=_orders(*ids),
        model_versions={"delay": "v3", "value": "v2"},
        latency_ms=12.5,
    )
    return predictions


def test_round_trip(settings, ledger):
    _answer(ledger, "r1", DAY1, ("OL1", "OL2"))
    answered = _answer(ledger, "r2", DAY2, ("OL3", "OL1"))  # OL1's notify already fired
    assert [a["status"] for p in answered for a in p["actions"]] == ["fired", "suppressed"]
    with PredictionLog.from_settings(settings, ledger) as plog:
        plog.log(
            request_id="r3",
            received_at=DAY2,
            orders=[],
            predictions=[],
            model_versions={},
            latency_ms=0.4,
            status="invalid_request",
        )
    frame = read_prediction_log(settings)

    assert list(frame.columns) == log_schema().names
    assert list(frame["request_id"]) == ["r1", "r1", "r2", "r2", "r3"]
    assert list(frame["order_id"][:4]) == ["OL1", "OL2", "OL3", "OL1"]
    assert frame["order_id"].isna().iloc[4]
    assert list(frame["status"]) == ["ok"] * 4 + ["invalid_request"]

    first = frame.iloc[0]
    assert first["logged_at"] == DAY1
    assert first["dest_region"] == "Zhengzhou"
    assert first["promised_at"] == datetime.fromisoformat(EXAMPLE_INPUT["orders"][0]["promised_at"])
    assert first["as_of"] == datetime.fromisoformat(EXAMPLE_INPUT["orders"][0]["as_of"])
    assert first["contact_preferences"] == "push|sms"
    assert first["p_late"] == pytest.approx(0.85)
    assert (first["risk_level"], first["top_reason_group"], first["tier"]) == (
        "critical",
        "weather",
        "platinum",
    )
    assert first["quadrant_customer"] == 90
    # Scores as logged; a dimension without signal has none (make_prediction: referral_leads).
    logged = [first[f"dim_{n}"] for n in DIMENSION_NAMES]
    expected = [None if n == "referral_leads" else i for i, n in enumerate(DIMENSION_NAMES)]
    assert [None if v != v else v for v in logged] == expected
    assert first["actions_fired"] == "late_risk_notify:notify"
    assert frame.iloc[3]["actions_fired"] == ""
    assert frame.iloc[3]["actions_suppressed"] == "late_risk_notify:notify"
    assert json.loads(first["model_versions"]) == {"delay": "v3", "value": "v2"}
    assert first["latency_ms"] == 12.5

    days = sorted(p.name for p in settings.prediction_log_dir.iterdir())
    assert days == ["date=2025-06-18", "date=2025-06-19"]
    only_day2 = read_prediction_log(settings, start=date(2025, 6, 19))
    assert list(only_day2["request_id"]) == ["r2", "r2", "r3"]
    assert ledger.read_journal(10) == []  # drained


def test_suggested_actions_have_their_own_column(settings, ledger):
    predictions = [make_prediction("OL9").model_dump()]
    coupon = Action(
        "OL9",
        "compensation_coupon",
        "late_risk_compensate",
        {"amount": 80},
        "",
        72,
        90,
        "suggest",
        24,
    )
    record_request(
        ledger,
        predictions,
        [[coupon]],
        request_id="r",
        received_at=DAY1,
        orders=_orders("OL9"),
        model_versions={},
        latency_ms=1.0,
    )
    (action,) = predictions[0]["actions"]
    assert action["status"] == "suggested" and not action["fired"] and action["suggestion_id"]
    drain_prediction_journal(settings)
    row = read_prediction_log(settings).iloc[0]
    assert (row["actions_fired"], row["actions_suggested"]) == (
        "",
        "late_risk_compensate:compensation_coupon",
    )


def test_empty_log_has_the_columns(settings):
    frame = read_prediction_log(settings)
    assert frame.empty
    assert list(frame.columns) == log_schema().names


def test_journaled_before_drained(settings, ledger):
    _answer(ledger, "r1", DAY1, ("OL1",))
    assert read_prediction_log(settings).empty
    assert len(ledger.read_journal(10)) == 1  # durable already, in the ledger's database
    PredictionLog.from_settings(settings, ledger).close()
    assert len(read_prediction_log(settings)) == 1


def test_a_drain_that_died_after_writing_is_finished_exactly_once(settings, ledger):
    """A drain that renamed its part but died before deleting the entries from the journal:
    the next drain must not write those rows again, and must still write the rest."""
    _answer(ledger, "r1", DAY1, ("OL1", "OL2"))
    _answer(ledger, "r2", DAY2, ("OL3",))
    plog = PredictionLog.from_settings(settings, ledger)
    entries = ledger.read_journal(10)
    deleted: list[int] = []
    ledger_delete = ledger.delete_journal
    ledger.delete_journal = deleted.append  # the crash: nothing is deleted
    plog._write(entries[:1])  # the first request's part is renamed into place ...
    ledger.delete_journal = ledger_delete
    assert deleted == [entries[0].key]
    _answer(ledger, "r3", DAY2, ("OL4",))
    plog.drain()  # ... and the next drain finds it
    frame = read_prediction_log(settings)
    assert list(frame["request_id"]) == ["r1", "r1", "r2", "r3"]
    assert ledger.read_journal(10) == []


def test_one_drainer_at_a_time(settings, ledger):
    _answer(ledger, "r1", DAY1, ("OL1",))
    plog = PredictionLog.from_settings(settings, ledger)
    with ledger.drain_lock() as held:
        assert held
        assert plog.drain() == []  # another process holds the lock: nothing written
    assert len(plog.drain()) == 1


def test_failed_write_keeps_the_entries(tmp_path: Path):
    settings = load_settings(home=tmp_path)
    ledger = SQLiteLedger(settings.action_ledger_path)
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the log directory should be")
    plog = PredictionLog(blocker, ledger)
    _answer(ledger, "r1", DAY1, ("OL1",))
    with pytest.raises(OSError):
        plog.drain()
    assert len(ledger.read_journal(10)) == 1
    blocker.unlink()
    assert len(plog.drain()) == 1  # written on the next drain
    ledger.close()


def test_parts_written_before_a_column_was_added_still_read(settings):
    """Part files of an older schema (no ``actions_suggested``) read with the column empty."""
    old = log_schema().remove(log_schema().get_field_index("actions_suggested"))
    day = settings.prediction_log_dir / "date=2025-06-18"
    day.mkdir(parents=True)
    row = {name: [None] for name in old.names}
    row["logged_at"], row["request_id"], row["status"] = [DAY1], ["old"], ["ok"]
    pq.write_table(pa.table(row, schema=old), day / "part-old.parquet")
    frame = read_prediction_log(settings)
    assert list(frame["request_id"]) == ["old"]
    assert frame["actions_suggested"].isna().all()


def test_the_request_columns_are_the_orders_and_older_entries_still_drain(settings, ledger):
    """The service journals its request columns (times as UTC microseconds); an entry journaled
    before that, with the orders as a list and times as ISO strings, drains to the same row."""
    import orjson

    from serving.prediction_log import _pack, score_columns
    from serving.scoring import request_columns

    orders = _orders("OL5")
    predictions = [make_prediction("OL5").model_dump()]
    record_request(
        ledger,
        copy.deepcopy(predictions),
        [[]],
        request_id="columns",
        received_at=DAY1,
        orders=orders,
        columns=request_columns(orders),
        model_versions={"delay": "v3"},
        latency_ms=2.0,
    )
    legacy = {
        "request_id": "legacy",
        "received_at": DAY1,
        "latency_ms": 2.0,
        "status": "ok",
        "versions": {"delay": "v3"},
        "orders": [orders[0].__dict__],
        "scores": score_columns(predictions),
        "actions": [[]],
    }
    ledger.record([], DAY1, _pack(orjson.dumps(legacy)))
    drain_prediction_journal(settings)
    frame = read_prediction_log(settings)
    assert list(frame["request_id"]) == ["columns", "legacy"]
    new, old = frame.iloc[0].drop("request_id"), frame.iloc[1].drop("request_id")
    assert new.equals(old), new.compare(old)
    order = EXAMPLE_INPUT["orders"][0]
    assert new["created_at"] == datetime.fromisoformat(order["created_at"])
    assert new["as_of"] == datetime.fromisoformat(order["as_of"])
    assert new["contact_preferences"] == "push|sms" and new["logged_at"] == DAY1


def test_the_drainer_process_drains_writes_the_snapshot_and_stops(tmp_path, monkeypatch):
    """A service worker's drainer is a process of its own: it drains the journal and writes the
    suggestions snapshot every flush, is started again when it died, drains what is left when
    told to stop, and stops by itself (after one last drain) once the worker that started it is
    gone."""
    import subprocess

    from serving.prediction_log import DrainerProcess

    monkeypatch.setenv("ORDERLENS_SERVING__LOG_FLUSH_SECONDS", "0.2")
    settings = load_settings(home=tmp_path)
    ledger = open_ledger(settings)
    try:

        def logged_once(*request_ids: str) -> bool:
            """Waits for exactly these requests in the log and a suggestions snapshot: the
            drainer writes the snapshot after the drain, so the log alone can come first."""
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                logged = sorted(read_prediction_log(settings)["request_id"]) == list(request_ids)
                if logged and settings.suggestions_path.exists():
                    return True
                time.sleep(0.1)
            return False

        _answer(ledger, "r1", DAY1, ("OL1",))
        drainer = DrainerProcess(settings)
        drainer.start()
        process = drainer.process
        assert logged_once("r1")  # and the suggestions snapshot written
        process.kill()  # a drainer that dies is replaced on the worker's next watch
        process.wait()
        _answer(ledger, "r2", DAY2, ("OL2",))
        assert drainer.ensure_running() and drainer.process.poll() is None
        assert not drainer.ensure_running()
        assert logged_once("r1", "r2")  # the replacement drains
        _answer(ledger, "r3", DAY2, ("OL3",))
        replacement = drainer.process
        drainer.stop()
        assert replacement.returncode == 0  # stopped, not killed, after one last drain
        assert not drainer.ensure_running() and drainer.process is None
        assert sorted(read_prediction_log(settings)["request_id"]) == ["r1", "r2", "r3"]

        _answer(ledger, "r4", DAY2, ("OL4",))
        # Started by a "worker" that is not its parent: as if the worker had died.
        orphan = subprocess.run(
            DrainerProcess.command(parent_pid=1),
            env={**os.environ, "ORDERLENS_HOME": str(tmp_path)},
            timeout=60,
        )
        assert orphan.returncode == 0
        assert sorted(read_prediction_log(settings)["request_id"]) == ["r1", "r2", "r3", "r4"]
        assert ledger.read_journal(10) == []
    finally:
        ledger.close()
