"""Ingest: the contract's rules, quarantine with reasons, idempotence, CSV and parquet."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from features import lake
from features.ingest import SourceContractError, ingest_sources
from orderlens.settings import load_settings
from tests.features.sources import good_sources, hours, write_sources


@pytest.fixture
def settings(tmp_path):
    return load_settings(home=tmp_path / "home")


def set_cell(table: str, row: int, column: str, value):
    def mutate(tables):
        frame = tables[table]
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value

    return mutate


# One bad row for every rule: (rule name, table, mutation). The good row is the unmutated frame.
BAD_ROWS = [
    ("missing:order_id", "orders", set_cell("orders", 1, "order_id", None)),
    ("type:order_value", "orders", set_cell("orders", 1, "order_value", "lots")),
    ("type:n_items", "orders", set_cell("orders", 1, "n_items", 1.5)),
    ("type:created_at", "orders", set_cell("orders", 1, "created_at", "yesterday-ish")),
    ("type:is_b2b", "orders", set_cell("orders", 1, "is_b2b", "maybe")),
    ("allowed:channel", "orders", set_cell("orders", 1, "channel", "carrier_pigeon")),
    ("range:dest_lat", "orders", set_cell("orders", 1, "dest_lat", 123.0)),
    ("range:n_items", "orders", set_cell("orders", 1, "n_items", 0)),
    ("orders.promise_after_creation", "orders", set_cell("orders", 1, "promised_at", hours(-5))),
    ("orders.discount_within_value", "orders", set_cell("orders", 1, "discount", 5000.0)),
    ("weather.alert_type_matches_level", "weather", set_cell("weather", 1, "alert_type", "fog")),
    ("allowed:alert_type", "weather", set_cell("weather", 0, "alert_type", "locusts")),
    ("range:alert_level", "forecasts", set_cell("forecasts", 1, "alert_level", 7)),
    ("forecasts.valid_after_issue", "forecasts", set_cell("forecasts", 1, "issued_at", hours(30))),
    ("allowed:event_type", "tracking", set_cell("tracking", 2, "event_type", "teleported")),
    (
        "tracking.exception_code_matches_event",
        "tracking",
        set_cell("tracking", 2, "exception_code", "hub_backlog"),
    ),
    ("tracking.order_exists", "tracking", set_cell("tracking", 3, "order_id", "O-404")),
    ("tracking.not_before_creation", "tracking", set_cell("tracking", 0, "event_time", hours(-1))),
    ("tracking.in_time_order", "tracking", set_cell("tracking", 10, "event_time", hours(50))),
    ("tickets.known_labels", "tickets", set_cell("tickets", 0, "labels", "where_is_my_order|x")),
    ("allowed:language", "tickets", set_cell("tickets", 1, "language", "fr")),
    ("tickets.order_exists", "tickets", set_cell("tickets", 0, "order_id", "O-404")),
    ("tickets.not_before_creation", "tickets", set_cell("tickets", 0, "created_at", hours(-3))),
    ("outcomes.order_exists", "outcomes", set_cell("outcomes", 1, "order_id", "O-404")),
    (
        "outcomes.delivered_after_creation",
        "outcomes",
        set_cell("outcomes", 1, "delivered_at", hours(-9)),
    ),
    ("outcomes.refund_within_value", "outcomes", set_cell("outcomes", 0, "refunded_amount", 900.0)),
    ("range:review_score", "outcomes", set_cell("outcomes", 0, "review_score", 9.0)),
]


def test_good_sources_are_all_accepted(tmp_path, settings):
    tables = good_sources()
    write_sources(tables, tmp_path / "src")
    summary = ingest_sources(tmp_path / "src", settings)
    for name, frame in tables.items():
        report = summary.tables[name]
        assert (report.rows_in, report.added, report.quarantined) == (len(frame), len(frame), 0)
    orders = lake.read_lake(settings, "orders")
    assert orders["carried_extra"].tolist() == ["kept", "kept"], "extra columns are carried"
    assert str(orders["created_at"].dtype) == "datetime64[us, UTC]"


@pytest.mark.parametrize(("rule", "table", "mutate"), BAD_ROWS, ids=[r[0] for r in BAD_ROWS])
def test_each_rule_quarantines_its_bad_row(tmp_path, settings, rule, table, mutate):
    tables = good_sources()
    mutate(tables)
    # A cell of the wrong type cannot be stored in a typed parquet column: such rows come in CSV.
    fmt = "csv" if rule.startswith("type:") else "parquet"
    write_sources(tables, tmp_path / "src", fmt=fmt)
    report = ingest_sources(tmp_path / "src", settings).tables[table]
    assert report.quarantined == 1
    assert report.added == report.rows_in - 1, "the good rows still go in"
    quarantined = pd.read_csv(report.quarantine_file)
    assert rule in quarantined.loc[0, "quarantine_rules"].split(";")
    assert quarantined.loc[0, "quarantine_reason"], "a plain reason accompanies the rule"
    assert quarantined.loc[0, "source_file"].endswith(f"{table}.{fmt}")


def test_csv_sources_are_read_like_parquet(tmp_path, settings):
    tables = good_sources()
    set_cell("orders", 1, "order_value", "n/a")(tables)
    write_sources(tables, tmp_path / "src", fmt="csv")
    summary = ingest_sources(tmp_path / "src", settings)
    assert summary.tables["tracking"].added == len(tables["tracking"])
    orders = summary.tables["orders"]
    assert (orders.added, orders.quarantined) == (1, 1)
    quarantined = pd.read_csv(orders.quarantine_file)
    assert quarantined.loc[0, "source_row"] == 3, "CSV line number of the bad row (header is 1)"
    accepted = lake.read_lake(settings, "orders")
    assert accepted["is_b2b"].dtype == bool
    assert accepted["n_items"].dtype == "int64"


def test_ingesting_twice_adds_nothing(tmp_path, settings):
    write_sources(good_sources(), tmp_path / "src")
    first = ingest_sources(tmp_path / "src", settings).as_dict()
    second = ingest_sources(tmp_path / "src", settings)
    assert all(r["added"] > 0 for r in first.values())
    assert all(r.added == 0 for r in second.tables.values() if r.present)
    assert all(r.already_present == r.rows_in for r in second.tables.values() if r.present)
    assert len(lake.read_lake(settings, "tracking")) == len(good_sources()["tracking"])


def test_repeated_and_conflicting_keys_in_one_batch(tmp_path, settings):
    tables = good_sources()
    orders = tables["orders"]
    conflicting = orders.iloc[[0]].assign(order_value=500.0)
    tables["orders"] = pd.concat([orders, orders.iloc[[0]], conflicting], ignore_index=True)
    write_sources(tables, tmp_path / "src")
    report = ingest_sources(tmp_path / "src", settings).tables["orders"]
    assert (report.rows_in, report.added, report.already_present, report.quarantined) == (
        4,
        2,
        1,
        1,
    )
    assert report.broken_rules == {"orders.duplicate_key": 1}


def test_missing_optional_table_is_reported_and_the_rest_goes_on(tmp_path, settings):
    tables = good_sources()
    del tables["weather"], tables["tickets"]
    write_sources(tables, tmp_path / "src")
    summary = ingest_sources(tmp_path / "src", settings)
    assert not summary.tables["weather"].present
    assert "weather" not in summary.as_dict()
    assert "absent" in summary.as_table()
    assert summary.tables["orders"].added == 2


def test_missing_required_table_is_a_clear_error(tmp_path, settings):
    tables = good_sources()
    del tables["orders"]
    write_sources(tables, tmp_path / "src")
    with pytest.raises(SourceContractError, match="required table 'orders'"):
        ingest_sources(tmp_path / "src", settings)
    assert not lake.has_table(settings, "tracking"), "nothing is written on a contract error"


def test_missing_required_column_names_it(tmp_path, settings):
    tables = good_sources()
    tables["orders"] = tables["orders"].drop(columns=["promised_at"])
    write_sources(tables, tmp_path / "src")
    with pytest.raises(SourceContractError, match="promised_at"):
        ingest_sources(tmp_path / "src", settings)


def test_cli_json_summary_and_error_exit(tmp_path, monkeypatch):
    monkeypatch.setenv("ORDERLENS_HOME", str(tmp_path / "home"))
    write_sources(good_sources(), tmp_path / "src")
    result = CliRunner().invoke(app, ["ingest", "--source", str(tmp_path / "src"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["orders"] == {"rows_in": 2, "added": 2, "quarantined": 0}
    missing = CliRunner().invoke(app, ["ingest", "--source", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert "source folder not found" in missing.output
