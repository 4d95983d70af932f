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
    ("type:created_at", "orders", set_cell("orders", 1, "created_at", "yesterday-ish")),
    ("naive_time:created_at", "orders", set_cell("orders", 1, "created_at", "2025-03-01 09:00")),
    ("naive_time:event_time", "tracking", set_cell("tracking", 4, "event_time", "2025-03-01")),
    ("range:dest_lat", "orders", set_cell("orders", 1, "dest_lat", 123.0)),
    ("range:n_items", "orders", set_cell("orders", 1, "n_items", 0)),
    ("orders.promise_after_creation", "orders", set_cell("orders", 1, "promised_at", hours(-5))),
    ("orders.discount_within_value", "orders", set_cell("orders", 1, "discount", 5000.0)),
    (
        "orders.destination_given",
        "orders",
        lambda t: [set_cell("orders", 1, c, None)(t) for c in ("dest_region", "dest_lat")],
    ),
    (
        "orders.destination_coordinates_paired",
        "orders",
        set_cell("orders", 1, "dest_lon", None),
    ),
    ("weather.alert_type_matches_level", "weather", set_cell("weather", 1, "alert_type", "fog")),
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
    fmt = "csv" if rule.startswith(("type:", "naive_time:")) else "parquet"
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
    assert summary["orders"] == {
        "rows_in": 2,
        "added": 2,
        "already_present": 0,
        "quarantined": 0,
        "broken_rules": {},
    }
    missing = CliRunner().invoke(app, ["ingest", "--source", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert "source folder not found" in missing.output


def test_only_the_core_is_required(tmp_path, settings):
    """An export with the core columns only (a region as the destination) ingests whole, and the
    lake gives every optional column back as nulls."""
    tables = good_sources()
    core = ["order_id", "customer_id", "created_at", "promised_at", "order_value", "dest_region"]
    tables = {
        "orders": tables["orders"][core],
        "outcomes": tables["outcomes"][["order_id", "delivered_at"]],
        "tickets": tables["tickets"][["ticket_id", "created_at", "text"]],
    }
    write_sources(tables, tmp_path / "src", fmt="csv")
    summary = ingest_sources(tmp_path / "src", settings)
    assert {name: r.quarantined for name, r in summary.tables.items() if r.present} == {
        "orders": 0,
        "tickets": 0,
        "outcomes": 0,
    }
    orders = lake.read_lake(settings, "orders")
    assert orders["carrier_id"].isna().all() and orders["is_presale"].isna().all()
    assert str(orders["discount"].dtype) == "float64"


def test_coordinates_alone_are_a_destination(tmp_path, settings):
    tables = {"orders": good_sources()["orders"].drop(columns=["dest_region"])}
    write_sources(tables, tmp_path / "src")
    assert ingest_sources(tmp_path / "src", settings).tables["orders"].added == 2


def test_vocabularies_are_open_unless_settings_restrict_them(tmp_path):
    """Any channel, payment method, language or label name goes in, trimmed with its case kept;
    a column the settings restrict quarantines values outside its list."""
    tables = good_sources()
    set_cell("orders", 1, "payment_method", "  Boleto ")(tables)
    set_cell("orders", 1, "channel", "Mercado Livre")(tables)
    set_cell("tickets", 1, "language", "pt-BR")(tables)
    set_cell("tickets", 0, "labels", "entrega_atrasada|where_is_my_order")(tables)
    write_sources(tables, tmp_path / "src")
    open_home = load_settings(home=tmp_path / "open")
    summary = ingest_sources(tmp_path / "src", open_home)
    assert all(r.quarantined == 0 for r in summary.tables.values() if r.present)
    orders = lake.read_lake(open_home, "orders").set_index("order_id")
    assert orders.loc["O2", "payment_method"] == "Boleto"
    strict = load_settings(
        home=tmp_path / "strict", contract={"allowed_values": {"orders.channel": ["app", "web"]}}
    )
    report = ingest_sources(tmp_path / "src", strict).tables["orders"]
    assert report.broken_rules == {"allowed:channel": 1}


def test_unknown_allowed_values_column_is_refused(tmp_path):
    with pytest.raises(ValueError, match="orders.colour"):
        load_settings(home=tmp_path, contract={"allowed_values": {"orders.colour": ["red"]}})


def test_children_of_a_quarantined_order_name_that_rule(tmp_path, settings):
    """Rejecting an order does not silently cascade: its tracking, tickets and outcomes are
    quarantined as ``<table>.order_quarantined``, not as unknown orders."""
    tables = good_sources()
    set_cell("orders", 0, "promised_at", hours(-5))(tables)  # O1 breaks a rule
    set_cell("outcomes", 1, "order_id", "O-404")(tables)  # a truly unknown order
    write_sources(tables, tmp_path / "src")
    summary = ingest_sources(tmp_path / "src", settings)
    assert summary.tables["orders"].broken_rules == {"orders.promise_after_creation": 1}
    assert summary.tables["tracking"].broken_rules == {
        "tracking.order_quarantined": len(tables["tracking"])
    }
    assert summary.tables["tickets"].broken_rules == {"tickets.order_quarantined": 1}
    assert summary.tables["outcomes"].broken_rules == {
        "outcomes.order_quarantined": 1,
        "outcomes.order_exists": 1,
    }
    quarantined = pd.read_csv(summary.tables["tracking"].quarantine_file)
    assert quarantined["quarantine_reason"].str.contains("order was quarantined").all()


def test_undelivered_outcomes_are_kept(tmp_path, settings):
    tables = good_sources()
    outcomes = tables["outcomes"].assign(status=["delivered", "cancelled"])
    outcomes["delivered_at"] = outcomes["delivered_at"].astype(object)
    outcomes.loc[1, "delivered_at"] = None
    tables["outcomes"] = outcomes
    write_sources(tables, tmp_path / "src", fmt="csv")
    assert ingest_sources(tmp_path / "src", settings).tables["outcomes"].added == 2
    stored = lake.read_lake(settings, "outcomes").set_index("order_id")
    assert pd.isna(stored.loc["O2", "delivered_at"])
    assert stored.loc["O2", "status"] == "cancelled"


def test_unreadable_optional_cells_are_read_as_empty_and_noted(tmp_path, settings):
    """Text in an optional column keeps the row, with the cell empty and a note naming it."""
    tables = good_sources()
    set_cell("orders", 1, "n_items", 1.5)(tables)
    set_cell("orders", 1, "is_b2b", "maybe")(tables)
    set_cell("orders", 0, "freight_cost", "Freight Included in Commodity Cost")(tables)
    write_sources(tables, tmp_path / "src", fmt="csv")
    report = ingest_sources(tmp_path / "src", settings).tables["orders"]
    assert (report.added, report.quarantined) == (2, 0)
    assert report.notes == {
        "unreadable:n_items": 1,
        "unreadable:is_b2b": 1,
        "unreadable:freight_cost": 1,
    }
    notes = pd.read_csv(report.notes_file)
    assert set(notes["value_as_read"]) == {"1.5", "maybe", "Freight Included in Commodity Cost"}
    assert notes["source_row"].tolist() == [3, 3, 2] or set(notes["source_row"]) == {2, 3}
    stored = lake.read_lake(settings, "orders").set_index("order_id")
    assert pd.isna(stored.loc["O1", "freight_cost"]) and pd.isna(stored.loc["O2", "n_items"])
