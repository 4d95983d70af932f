"""Suggested actions on the order-health page: the service's snapshot of its ledger, read back
by the reports, counted per action, and the pending ones listed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from orderlens.records import read_suggestions, suggestions_schema
from orderlens.settings import load_settings
from reports.suggestions import by_action, section
from serving.ledger import SQLiteLedger
from serving.policy import Action
from serving.suggestions import write_snapshot

NOW = datetime(2025, 6, 18, 12, tzinfo=UTC)


def _suggest(order_id: str, action: str = "compensation_coupon", expires_hours: float = 24):
    params = {"amount": 80.0, "currency": "CNY"}
    return Action(order_id, action, "r", params, "costly", 72, 1, "suggest", expires_hours, "gold")


@pytest.fixture
def settings(tmp_path):
    settings = load_settings(home=tmp_path)
    ledger = SQLiteLedger(settings.action_ledger_path)
    outcomes = ledger.record(
        [_suggest(f"OL{i}") for i in range(5)] + [_suggest("OL9", "expedite", 0.5)], NOW
    )
    ids = [o.suggestion_id for o in outcomes]
    later = NOW + timedelta(minutes=30)
    ledger.decide(ids[:2], "confirm", decider="cs-lead", reason="ok", now=later)
    ledger.decide(
        ids[2:3], "reject", decider="cs-lead", reason="no", now=later + timedelta(hours=1)
    )
    assert write_snapshot(ledger, settings.suggestions_path, NOW + timedelta(hours=2)) == 6
    ledger.close()
    return settings


def test_the_snapshot_reads_back_with_statuses_and_deciders(settings):
    frame = read_suggestions(settings, now=NOW + timedelta(hours=2))
    assert list(frame.columns) == suggestions_schema().names
    assert frame["status"].value_counts().to_dict() == {
        "confirmed": 2,
        "pending": 2,
        "rejected": 1,
        "expired": 1,  # 30 minutes to decide, nobody did
    }
    assert set(frame.loc[frame["status"] == "confirmed", "decided_by"]) == {"cs-lead"}


def test_figures_per_action(settings):
    table = by_action(read_suggestions(settings, now=NOW + timedelta(hours=2)))
    coupon = table.loc["compensation_coupon"]
    assert (coupon["suggested"], coupon["pending"], coupon["confirmed"], coupon["rejected"]) == (
        5,
        2,
        2,
        1,
    )
    assert coupon["confirm_rate"] == pytest.approx(2 / 3)
    assert coupon["median_minutes_to_decision"] == pytest.approx(30)  # 30, 30, 90
    assert table.loc["expedite", "expired"] == 1


def test_the_section_lists_what_waits(settings):
    frame = read_suggestions(settings, now=NOW + timedelta(hours=2))
    html = section(frame, pd.Timestamp(NOW + timedelta(hours=3)))
    pending = frame.loc[frame["status"] == "pending", "suggestion_id"]
    assert all(sid in html for sid in pending)
    assert "amount 80.0, currency CNY" in html
    assert "Suggested actions" in section(frame.iloc[0:0])
