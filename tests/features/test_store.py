"""The Feast store on a tiny hand-made world: build, point-in-time training sets, online reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from features.snapshots import entity_rows, labelled_snapshots
from features.store import FeatureRepo, redis_connection_string, sqlalchemy_url
from orderlens.settings import load_settings
from tests.features.sources import good_sources, hours, signals_from_labels

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    settings = load_settings(home=tmp_path_factory.mktemp("home"))
    repo = FeatureRepo(settings)
    tables = good_sources()
    tables["ticket_signals"] = signals_from_labels(tables["tickets"])
    report = repo.build(tables)
    assert set(report.views) == {
        "order_attributes",
        "customer_history",
        "carrier_performance",
        "lane_performance",
        "warehouse_backlog",
        "weather_observed",
        "weather_forecast",
        "weather_outlook",
        "tracking_progress",
        "order_tickets",
        "customer_tickets",
    }
    # These orders carry no origin: the origin's weather is skipped, and said so.
    assert report.skipped == {"origin_weather": "no values in orders.origin_region"}
    return repo


def test_training_set_is_point_in_time(repo):
    tables = good_sources()
    entities = labelled_snapshots(
        "delay_v1", tables["orders"], tables["outcomes"], tables["tracking"]
    )
    frame = repo.training_set("delay_v1", entities)
    assert len(frame) == len(entities)
    o1 = frame[frame["order_id"] == "O1"].set_index("snapshot_stage")
    # At creation no scan is visible yet; after the arrival at the destination hub, 2 hub scans
    # and the weather-hold exception are.
    assert pd.isna(o1.loc["created", "trk_stage"])
    assert o1.loc["arrived_dest_hub", "trk_hub_scans"] == 2
    assert o1.loc["arrived_dest_hub", "trk_last_exception"] == "weather_hold"
    # The forecast issued two hours before the order is visible at creation.
    assert o1.loc["created", "fc_alert_max_72h"] == 3
    # Request-time features come from the on-demand view.
    assert o1.loc["created", "hours_to_promise"] == 72
    assert o1.loc["picked", "hours_to_promise"] == pytest.approx(72 - 4 - 1 / 3600)
    # The "where is my order" ticket (at +30 h) is visible after the hub scans, not at creation.
    assert pd.isna(o1.loc["created", "tkt_tickets"])
    assert o1.loc["arrived_dest_hub", "tkt_tickets_where_is_my_order"] == 1
    # The customer's history at their first order is empty (the order itself is not counted).
    assert pd.isna(o1.loc["created", "cust_orders_365d"])


def test_value_training_set_has_targets_and_no_tracking(repo):
    tables = good_sources()
    entities = labelled_snapshots("value_v1", tables["orders"], tables["outcomes"])
    frame = repo.training_set("value_v1", entities)
    assert len(frame) == 2 and set(frame["snapshot_stage"]) == {"created"}
    assert "net_revenue" in frame and "trk_stage" not in frame


def test_value_set_reused_from_the_delay_join_equals_its_own_join(repo):
    from features.training_sets import build_training_set

    tables = good_sources()
    delay = build_training_set(repo, tables, "delay_v1")
    reused = build_training_set(repo, tables, "value_v1", joined=delay)
    own = build_training_set(repo, tables, "value_v1")
    # Same values; an integer feature may come as float from the wider join, where later
    # snapshots had it missing.
    pd.testing.assert_frame_equal(reused[own.columns], own, check_dtype=False)
    # A joined set without the creation moments cannot serve: the join runs.
    later = delay[delay["snapshot_stage"] != "created"]
    pd.testing.assert_frame_equal(build_training_set(repo, tables, "value_v1", joined=later), own)


def test_online_features_with_freshness(repo):
    repo.materialize()
    rows = entity_rows(good_sources()["orders"]).assign(as_of=hours(100))
    features, ages = repo.online_features("delay_v1", rows)
    assert len(features) == 2
    o1 = features.iloc[0]
    assert o1["trk_stage"] == 6, "the online store holds the latest scan: delivered"
    assert o1["cust_orders_365d"] == 1
    assert ages.loc[0, "tracking_progress"] == pytest.approx((100 - 66) * 3600, abs=1)
    # 100 days on, the scans are older than the tracking view's 60-day TTL: Feast would still
    # serve them, the store blanks them. Day-keyed views simply have no row for that day.
    later, later_ages = repo.online_features("delay_v1", rows.assign(as_of=hours(24 * 100)))
    assert pd.isna(later_ages.loc[0, "tracking_progress"])  # nothing served
    assert pd.isna(later.loc[0, "trk_stage"])
    stale = repo.online_feature_values("delay_v1", rows.assign(as_of=hours(24 * 100)))
    assert stale.unused["tracking_progress"][0] == "stale"
    assert pd.isna(later_ages.loc[0, "carrier_performance"])
    assert pd.isna(later.loc[0, "carrier_orders_24h"])


def _read_through(repo, online_store, rows):
    """``repo.online_features`` of ``rows`` read by a new reader on ``online_store``."""
    from features.online import OnlineReader

    reader = OnlineReader(repo.store)
    reader.__dict__["online_store"] = online_store
    repo.__dict__["online_reader"] = reader
    try:
        return repo.online_features("delay_v1", rows)
    finally:
        del repo.__dict__["online_reader"]


def test_fast_sqlite_read_matches_feast(repo):
    """The local profile's online store is orderlens' Feast plug-in (named in
    feature_store.yaml); its batch read must serve exactly what Feast's own ``online_read`` of the
    same store serves (same values, types and ages), keys missing included."""
    from feast.infra.key_encoding_utils import serialize_entity_key

    from features.online_sqlite import FastSqliteOnlineStore, entity_key_bytes

    repo.materialize()
    assert isinstance(repo.online_reader.online_store, FastSqliteOnlineStore)
    key = EntityKeyProto(join_keys=["order_id"], entity_values=[ValueProto(string_val="O1")])
    assert entity_key_bytes("order_id", "O1") == serialize_entity_key(key, 3)
    rows = entity_rows(good_sources()["orders"]).assign(as_of=hours(100))
    rows = pd.concat([rows, rows.assign(order_id="nope", customer_id="nobody")])
    direct = repo.online_features("delay_v1", rows)

    class FeastsOwnRead(FastSqliteOnlineStore):
        read_latest = None  # no fast read: the reader falls back to Feast's online_read

    through_feast = _read_through(repo, FeastsOwnRead(), rows)
    for mine, feasts in zip(direct, through_feast, strict=True):
        pd.testing.assert_frame_equal(mine, feasts)
    assert direct[0]["cust_orders_365d"].notna().sum() == 2


def test_no_online_value_newer_than_as_of_is_served(repo):
    """Replay: the online store holds only each key's latest value; asked as of a moment before
    it, the store serves nothing (never the future), says why, and no age is negative."""
    repo.materialize()
    rows = entity_rows(good_sources()["orders"])
    latest = repo.online_feature_values("delay_v1", rows.assign(as_of=hours(100)))
    assert latest.values["trk_stage"][0] == 6
    early = repo.online_feature_values("delay_v1", rows.assign(as_of=hours(1)))
    for view, ages in early.ages.items():
        assert not (ages < 0).any(), view
    assert np.isnan(early.values["trk_stage"][0])  # the delivery scan came later
    assert np.isnan(early.ages["tracking_progress"][0])
    assert early.unused["tracking_progress"][0] == "after_as_of"
    assert "tracking_progress:after_as_of" in early.degraded(len(rows))[0]
    # Every value served is from before as_of.
    for view, ages in latest.ages.items():
        assert not (ages < 0).any(), view


def test_production_connection_strings():
    assert (
        redis_connection_string("redis://:pw@10.0.0.5:6380/2") == "10.0.0.5:6380,db=2,password=pw"
    )
    assert sqlalchemy_url("postgresql://u@h:5432/db") == "postgresql+psycopg://u@h:5432/db"


def test_first_materialization_serves_every_view_its_own_latest_window(tmp_path):
    """Weather (observations and forecast days) runs weeks past the last order. Each view's
    first load ends at its own newest row, so carriers and warehouses are still served online
    for the last orders' days, not left empty by a window anchored on the weather."""
    tables = good_sources()
    weather = tables["weather"]
    tables["weather"] = pd.concat(
        [weather, weather.assign(observed_at=hours(24 * 45))], ignore_index=True
    )
    repo = FeatureRepo(load_settings(home=tmp_path))
    repo.build(tables)
    repo.materialize()
    for view in ("carrier_performance", "warehouse_backlog", "lane_performance"):
        # Each view's own last day (not the weather's): the online store holds the latest
        # window of each view.
        offline = pd.read_parquet(repo.data_dir / f"{view}.parquet", columns=["event_timestamp"])
        newest = offline["event_timestamp"].max()
        rows = entity_rows(tables["orders"]).assign(as_of=newest + pd.Timedelta(hours=1))
        _, ages = repo.online_features("delay_v1", rows)
        assert ages[view].notna().all(), f"{view} has nothing online on its last day"


def _packed_tables(repo) -> dict[str, int]:
    """The online store's packed tables and their row counts."""
    import sqlite3

    from features.online_sqlite import PACKED_SUFFIX, FastSqliteOnlineStore

    path = FastSqliteOnlineStore.database_path(repo.store.config)
    with sqlite3.connect(path) as conn:
        names = [
            n
            for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if n.endswith(PACKED_SUFFIX)
        ]
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


def test_packed_rows_hold_every_key_and_a_store_without_them_still_reads(repo):
    """Each view has a packed table (one row per entity key, written with Feast's rows); a store
    built before them is read in Feast's layout with the same answer, and its next apply fills
    them from Feast's rows."""
    import sqlite3

    from features.online_sqlite import PACKED_SUFFIX, FastSqliteOnlineStore

    repo.materialize()
    packed = _packed_tables(repo)
    path = FastSqliteOnlineStore.database_path(repo.store.config)
    with sqlite3.connect(path) as conn:
        for name, count in packed.items():
            feast_table = name.removesuffix(PACKED_SUFFIX)
            keys = conn.execute(f'SELECT count(DISTINCT entity_key) FROM "{feast_table}"')
            assert count == keys.fetchone()[0] > 0, name
    assert "orderlens_customer_history" + PACKED_SUFFIX in packed
    rows = entity_rows(good_sources()["orders"]).assign(as_of=hours(100))
    rows = pd.concat([rows, rows.assign(order_id="nope", customer_id="nobody")])
    packed_read = repo.online_features("delay_v1", rows)

    with sqlite3.connect(path) as conn:  # a store from before: no packed tables
        for name in packed:
            conn.execute(f'DROP TABLE "{name}"')
    rows_read = _read_through(repo, FastSqliteOnlineStore(), rows)  # a fresh reader
    for a, b in zip(packed_read, rows_read, strict=True):
        pd.testing.assert_frame_equal(a, b)

    tables = good_sources()
    tables["ticket_signals"] = signals_from_labels(tables["tickets"])
    repo.build(tables)  # apply: the packed tables come back, filled from Feast's rows
    assert _packed_tables(repo) == packed
    for a, b in zip(repo.online_features("delay_v1", rows), packed_read, strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_pushes_and_partial_writes_reach_the_packed_row(repo):
    """A push (Feast's write_to_online_store) is what the next read serves; a write of some of
    a view's features keeps the others, as Feast's per-feature rows do; a value written as
    missing reads as missing."""
    from features.online_sqlite import FastSqliteOnlineStore

    repo.materialize()
    rows = entity_rows(good_sources()["orders"]).head(1).assign(as_of=hours(100))
    before = repo.online_feature_values("delay_v1", rows)
    names = [f.name for f in repo.store.get_feature_view("customer_history").features]
    push = {name: [float(before.values[name][0])] for name in names}
    push |= {"cust_orders_365d": [41.0], "cust_spend_365d": [None]}
    customer = str(rows["customer_id"].iloc[0])
    repo.store.write_to_online_store(
        "customer_history",
        pd.DataFrame({"customer_id": [customer], "event_timestamp": [hours(99)], **push}),
    )
    pushed = repo.online_feature_values("delay_v1", rows)
    assert pushed.values["cust_orders_365d"][0] == 41
    assert np.isnan(pushed.values["cust_spend_365d"][0])
    assert not np.isnan(before.values["cust_spend_365d"][0])

    key = EntityKeyProto(join_keys=["customer_id"], entity_values=[ValueProto(string_val=customer)])
    FastSqliteOnlineStore().online_write_batch(
        repo.store.config,
        repo.store.get_feature_view("customer_history"),
        [(key, {"cust_orders_365d": ValueProto(int64_val=42)}, hours(99).to_pydatetime(), None)],
        None,
    )
    partial = repo.online_feature_values("delay_v1", rows)
    assert partial.values["cust_orders_365d"][0] == 42
    assert partial.values["cust_orders_90d"][0] == before.values["cust_orders_90d"][0]
    assert np.isnan(partial.values["cust_spend_365d"][0])


def test_a_failed_feast_write_leaves_no_packed_row_behind(repo, monkeypatch):
    """The packed rows and Feast's rows are one transaction: when Feast's write fails, the
    packed rows written before it are rolled back, not committed by the next write."""
    from feast.infra.online_stores.sqlite import SqliteOnlineStore

    from features.online_sqlite import FastSqliteOnlineStore

    repo.materialize()
    rows = entity_rows(good_sources()["orders"]).head(1).assign(as_of=hours(100))
    before = repo.online_feature_values("delay_v1", rows).values["cust_orders_365d"][0]
    customer = str(rows["customer_id"].iloc[0])
    key = EntityKeyProto(join_keys=["customer_id"], entity_values=[ValueProto(string_val=customer)])
    write = [(key, {"cust_orders_365d": ValueProto(int64_val=99)}, hours(99).to_pydatetime(), None)]

    def broken(*args, **kwargs):
        raise OSError("disk full")

    store = FastSqliteOnlineStore()
    view = repo.store.get_feature_view("customer_history")
    with monkeypatch.context() as patch:
        patch.setattr(SqliteOnlineStore, "online_write_batch", broken)
        with pytest.raises(OSError):
            store.online_write_batch(repo.store.config, view, write, None)
    assert not store._get_conn(repo.store.config).in_transaction
    after = repo.online_feature_values("delay_v1", rows).values["cust_orders_365d"][0]
    assert after == before != 99


def test_request_times_read_as_naive_utc_microseconds_whatever_their_form():
    """``utc_times`` reads aware datetimes (any offset, microseconds), pandas timestamps, naive
    datetimes (taken as UTC), missing moments and datetime64 arrays to the same instants,
    whether a column is short or long (the aware fast path and pandas agree)."""
    from datetime import UTC, datetime, timedelta, timezone

    from features.online import VECTORISED_TIMES, utc_times

    east, west = timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))
    aware = [
        datetime(2025, 6, 16, 9, 30, 0, 123456, tzinfo=east),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=west),
        datetime(2025, 1, 1, tzinfo=UTC),
    ]
    expected = np.array(
        ["2025-06-16T01:30:00.123456", "2000-01-01T05:29:59.999999", "2025-01-01T00:00:00"],
        dtype="datetime64[us]",
    )
    for repeat in (1, VECTORISED_TIMES):
        np.testing.assert_array_equal(utc_times(aware * repeat), np.tile(expected, repeat))
        stamps = [pd.Timestamp(m) for m in aware] * repeat
        np.testing.assert_array_equal(utc_times(stamps), np.tile(expected, repeat))
        naive = [m.astimezone(UTC).replace(tzinfo=None) for m in aware] * repeat
        np.testing.assert_array_equal(utc_times(naive), np.tile(expected, repeat))
        missing = utc_times([aware[0], None] * repeat)
        assert missing[0] == expected[0] and np.isnat(missing[1])
    np.testing.assert_array_equal(utc_times(expected), expected)
