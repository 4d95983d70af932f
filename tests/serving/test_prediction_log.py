"""The prediction log: buffered writes, parquet parts by day, read back one row per order."""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from orderlens.dimensions import DIMENSION_NAMES
from orderlens.records import log_schema, read_prediction_log
from orderlens.settings import load_settings
from serving.prediction_log import PredictionLog
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
    return load_settings(home=tmp_path, serving={"log_flush_rows": 1000, "log_flush_seconds": 60})


def _log(plog: PredictionLog, request_id: str, at: datetime, ids: tuple[str, ...], **kw):
    plog.log(
        request_id=request_id,
        received_at=at,
        orders=_orders(*ids),
        predictions=[make_prediction(i, fired=(i != "OL2")) for i in ids],
        model_versions={"delay": "v3", "value": "v2"},
        latency_ms=12.5,
        **kw,
    )


def test_round_trip(settings):
    with PredictionLog.from_settings(settings) as plog:
        _log(plog, "r1", DAY1, ("OL1", "OL2"))
        _log(plog, "r2", DAY2, ("OL3",))
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
    assert list(frame["request_id"]) == ["r1", "r1", "r2", "r3"]
    assert list(frame["order_id"][:3]) == ["OL1", "OL2", "OL3"]
    assert frame["order_id"].isna().iloc[3]
    assert list(frame["status"]) == ["ok", "ok", "ok", "invalid_request"]

    first = frame.iloc[0]
    assert first["logged_at"] == DAY1
    assert first["dest_region"] == "Zhengzhou"
    assert first["promised_at"] == datetime.fromisoformat(EXAMPLE_INPUT["orders"][0]["promised_at"])
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
    assert frame.iloc[1]["actions_fired"] == ""
    assert frame.iloc[1]["actions_suppressed"] == "late_risk_notify:notify"
    assert json.loads(first["model_versions"]) == {"delay": "v3", "value": "v2"}
    assert first["latency_ms"] == 12.5

    days = sorted(p.name for p in settings.prediction_log_dir.iterdir())
    assert days == ["date=2025-06-18", "date=2025-06-19"]
    only_day2 = read_prediction_log(settings, start=date(2025, 6, 19))
    assert list(only_day2["request_id"]) == ["r2", "r3"]


def test_empty_log_has_the_columns(settings):
    frame = read_prediction_log(settings)
    assert frame.empty
    assert list(frame.columns) == log_schema().names


def test_log_is_only_buffered_until_a_flush(settings):
    plog = PredictionLog.from_settings(settings)
    _log(plog, "r1", DAY1, ("OL1",))
    assert read_prediction_log(settings).empty
    plog.close()
    assert len(read_prediction_log(settings)) == 1


def test_background_writer_flushes_by_size(tmp_path: Path):
    settings = load_settings(home=tmp_path)
    plog = PredictionLog(settings.prediction_log_dir, flush_rows=3, flush_seconds=60)
    try:
        _log(plog, "r1", DAY1, ("OL1", "OL2", "OL3"))
        deadline = time.monotonic() + 10
        while read_prediction_log(settings).empty and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(read_prediction_log(settings)) == 3
    finally:
        plog.close()


def test_background_writer_flushes_by_time(tmp_path: Path):
    settings = load_settings(home=tmp_path)
    plog = PredictionLog(settings.prediction_log_dir, flush_rows=1000, flush_seconds=0.05)
    try:
        _log(plog, "r1", DAY1, ("OL1",))
        deadline = time.monotonic() + 10
        while read_prediction_log(settings).empty and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(read_prediction_log(settings)) == 1
    finally:
        plog.close()


def test_failed_write_keeps_the_rows(tmp_path: Path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the log directory should be")
    plog = PredictionLog(blocker, flush_rows=1000, flush_seconds=60)
    _log(plog, "r1", DAY1, ("OL1",))
    with pytest.raises(OSError):
        plog.flush()
    blocker.unlink()
    assert len(plog.flush()) == 1  # the row was kept and written on the next flush
    plog.close()


def test_requests_are_buffered_and_written_in_batches(settings):
    """The hot path only buffers: 200 requests of 100 orders reach disk in a few part files, not
    one write per request. (Its cost per request is a figure: bench/bench_prediction_log.py.)"""
    orders = _orders(*(f"OL{i}" for i in range(100)))
    predictions = [make_prediction(o.order_id) for o in orders]
    plog = PredictionLog.from_settings(settings)
    for i in range(200):
        plog.log(
            request_id=f"r{i}",
            received_at=DAY1,
            orders=orders,
            predictions=predictions,
            model_versions={},
            latency_ms=1.0,
        )
    plog.close()
    assert len(read_prediction_log(settings)) == 20_000
    parts = list(settings.prediction_log_dir.rglob("*.parquet"))
    assert 1 <= len(parts) < 200
