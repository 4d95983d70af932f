"""Leakage proof for the feature store, on a small synthetic world.

1. Future invariance: a feature row stamped at t is computed only from what was known by t —
   recomputing every view from sources cut at t gives the same rows up to t.
2. Point-in-time joins: every training-set value equals the latest feature row stamped at or
   before its snapshot (a reference as-of join), and the row count equals the entity frame's.
3. No oracle, outcome or label column reaches any feature view.
"""

from __future__ import annotations

import pandas as pd
import pytest

from features.repo.definitions import VIEW_BY_NAME
from features.snapshots import labelled_snapshots
from features.store import VIEW_BUILDERS, FeatureRepo
from features.transforms.keys import day_keyed
from orderlens.contracts import OUTCOMES
from orderlens.dimensions import DIMENSION_NAMES
from orderlens.settings import load_settings
from simulator.world import WorldConfig, simulate_world
from tests.features.sources import signals_from_labels

pytestmark = pytest.mark.integration

SOURCE_TIME = {
    "orders": "created_at",
    "weather": "observed_at",
    "forecasts": "issued_at",
    "tracking": "event_time",
    "tickets": "created_at",
    "outcomes": "delivered_at",
    "ticket_signals": "created_at",
}


@pytest.fixture(scope="module")
def world():
    world = simulate_world(WorldConfig(n_orders=1500, seed=3, start="2025-05-01", days=40))
    world["ticket_signals"] = signals_from_labels(world["tickets"])
    return world


@pytest.fixture(scope="module")
def repo(world, tmp_path_factory):
    repo = FeatureRepo(load_settings(home=tmp_path_factory.mktemp("home")))
    repo.build({k: v for k, v in world.items() if k != "oracle"})
    return repo


@pytest.fixture(scope="module")
def delay_training_set(world, repo):
    tables = {k: v for k, v in world.items() if k != "oracle"}
    entities = labelled_snapshots(
        "delay_v1", tables["orders"], tables["outcomes"], tables["tracking"]
    )
    frame = repo.training_set("delay_v1", entities)
    assert len(frame) == len(entities), "no entity row dropped or duplicated"
    return frame


def cut_at(world: dict[str, pd.DataFrame], moment: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The sources as they stood at ``moment``: only rows that had happened by then."""
    return {
        name: frame[frame[SOURCE_TIME[name]] <= moment]
        for name, frame in world.items()
        if name in SOURCE_TIME
    }


@pytest.mark.parametrize("view", sorted(VIEW_BUILDERS))
def test_views_use_only_the_past(world, view):
    moment = pd.Timestamp("2025-05-20 13:30", tz="UTC")
    full = VIEW_BUILDERS[view](world)
    past = VIEW_BUILDERS[view](cut_at(world, moment))
    key = VIEW_BY_NAME[view].natural_key
    full_known = full[full["event_timestamp"] <= moment].sort_values([key, "event_timestamp"])
    past_known = past[past["event_timestamp"] <= moment].sort_values([key, "event_timestamp"])
    assert len(full_known) > 0
    pd.testing.assert_frame_equal(
        full_known.reset_index(drop=True),
        past_known.reset_index(drop=True)[full_known.columns],
        check_dtype=False,
    )


@pytest.mark.parametrize(
    ("view", "column"),
    [
        ("customer_history", "cust_late_share_365d"),
        ("carrier_performance", "carrier_on_time_rate_30d"),
        ("warehouse_backlog", "wh_unpicked_orders"),
        ("warehouse_backlog", "wh_queue_hours"),
        ("weather_forecast", "fc_alert_max_72h"),
        ("weather_outlook", "fc_dest_d1_alert"),
        ("origin_weather", "fc_origin_d0_alert_max"),
        ("tracking_progress", "trk_hours_behind_plan"),
    ],
)
def test_training_set_values_are_the_latest_known_at_each_snapshot(
    world, delay_training_set, view, column
):
    tables = {k: v for k, v in world.items() if k != "oracle"}
    frame = delay_training_set

    spec = VIEW_BY_NAME[view]
    rows = VIEW_BUILDERS[view](tables)
    if spec.entity.join_key != spec.natural_key:
        rows = day_keyed(rows, spec.natural_key)
    key = spec.entity.join_key
    reference = pd.merge_asof(
        frame[["event_timestamp", key]].reset_index().sort_values("event_timestamp"),
        rows[[key, "event_timestamp", column]]
        .rename(columns={"event_timestamp": "feature_time"})
        .sort_values("feature_time"),
        left_on="event_timestamp",
        right_on="feature_time",
        by=key,
        direction="backward",
    ).set_index("index")
    fresh = (reference["event_timestamp"] - reference["feature_time"]) <= spec.ttl
    expected = reference[column].where(fresh).sort_index()
    matched = reference.dropna(subset=["feature_time"])
    assert (matched["feature_time"] <= matched["event_timestamp"]).all()
    pd.testing.assert_series_equal(
        frame[column].astype("float64"), expected.astype("float64"), check_names=False
    )


def test_training_set_equals_feasts_join_of_the_whole_service(world, repo, delay_training_set):
    """Asking Feast view group by view group, in chunks, each (key, moment) once, gives what
    one ``get_historical_features`` request for the whole service gives, value for value."""
    store = repo.store
    service = store.get_feature_service("delay_v1")
    on_demand = {v.name: v for v in store.list_on_demand_feature_views()}
    projections = [p for p in service.feature_view_projections if p.name not in on_demand]
    names = [f.name for p in projections for f in p.features]
    computed = [f.name for v in on_demand.values() for f in v.features]
    keys = sorted({VIEW_BY_NAME[p.name].entity.join_key for p in projections})
    entities = delay_training_set.drop(columns=[*names, *computed])
    one_request = (
        store.get_historical_features(
            entity_df=entities[[*keys, "event_timestamp"]].assign(_row=range(len(entities))),
            features=[f"{p.name}:{f.name}" for p in projections for f in p.features],
        )
        .to_df()
        .sort_values("_row")
        .reset_index(drop=True)[names]
    )
    # A snapshot given twice (Feast alone would join its features twice) and small chunks.
    twice = pd.concat([entities, entities.iloc[[7]]], ignore_index=True)
    frame = repo.training_set("delay_v1", twice, chunk_rows=2_500)
    assert len(frame) == len(twice)
    same = (frame["order_id"] == entities["order_id"].iloc[7]) & (
        frame["event_timestamp"] == entities["event_timestamp"].iloc[7]
    )
    first, second = frame.index[same]
    assert frame.loc[first, names].equals(frame.loc[second, names])
    pd.testing.assert_frame_equal(
        frame[names].drop(index=second).reset_index(drop=True), one_request, check_exact=True
    )


def test_no_oracle_outcome_or_label_reaches_a_feature_view(world, repo):
    forbidden = set(world["oracle"].columns) | set(OUTCOMES.column_names) | set(DIMENSION_NAMES)
    forbidden |= {"is_late", "delay_hours", "labels", "template_id"}
    forbidden -= {"order_id"}
    features = {f for names in repo.manifest()["features"].values() for f in names}
    assert features, "the manifest lists the features"
    assert not features & forbidden
