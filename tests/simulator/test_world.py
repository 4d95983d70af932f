"""The synthetic world: contract, determinism, causality and the oracle's honesty."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from orderlens import vocab
from orderlens.contracts import CONTRACTS
from orderlens.dimensions import DIMENSION_NAMES
from orderlens.intents import INTENT_NAMES, split_labels
from simulator.world import TABLES, WorldConfig, simulate_world, write_world

ORACLE_COLUMNS = ("p_late", "expected_delay_hours", *DIMENSION_NAMES)
STATIC_COLUMNS = (
    "channel", "warehouse_id", "dest_region", "carrier_id", "service_level", "n_items", "category",
    "order_value", "discount", "freight_cost", "payment_method", "is_presale",
    "needs_customization", "cold_chain", "has_gift", "is_b2b",
)  # fmt: skip
ROUTE_RANK = {
    "created": 0, "picked": 1, "departed_origin": 2, "arrived_hub": 3, "departed_hub": 3,
    "arrived_dest_hub": 4, "out_for_delivery": 5, "delivered": 6,
}  # fmt: skip


def _late(world: dict[str, pd.DataFrame]) -> np.ndarray:
    orders, outcomes = world["orders"], world["outcomes"]
    assert (orders["order_id"].to_numpy() == outcomes["order_id"].to_numpy()).all()
    return (outcomes["delivered_at"] > orders["promised_at"]).to_numpy()


def _local_day(ts: pd.Series) -> pd.Series:
    return ts.dt.tz_convert("Asia/Shanghai").dt.strftime("%m-%d")


def test_same_seed_same_world_other_seed_other_world():
    small = WorldConfig(
        n_orders=2_000, seed=3, days=60, oracle_replicas=2, oracle_focus_replicas=4, oracle_batch=2
    )
    first, again = simulate_world(small), simulate_world(small)
    other = simulate_world(replace(small, seed=4))
    assert set(first) == set(TABLES)
    for table in TABLES:
        pd.testing.assert_frame_equal(first[table], again[table])
    assert not first["orders"]["created_at"].equals(other["orders"]["created_at"])
    assert not first["weather"]["alert_level"].equals(other["weather"]["alert_level"])


def _kind_ok(series: pd.Series, kind: str) -> bool:
    dtype = series.dtype
    if kind == "timestamp":
        return str(dtype) == "datetime64[us, UTC]"
    if kind == "str":
        return pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)
    if kind == "float":
        return pd.api.types.is_float_dtype(dtype)
    if kind == "int":
        return pd.api.types.is_integer_dtype(dtype)
    return pd.api.types.is_bool_dtype(dtype)


@pytest.mark.parametrize("table", list(CONTRACTS))
def test_tables_follow_the_source_contract(world, table):
    frame, contract = world[table], CONTRACTS[table]
    assert len(frame) > 0
    missing = set(contract.column_names) - set(frame.columns)
    assert not missing, f"{table} lacks {missing}"
    for column in contract.columns:
        values = frame[column.name]
        assert _kind_ok(values, column.kind), (table, column.name, values.dtype)
        if not column.nullable:
            assert values.notna().all(), (table, column.name)
        present = values.dropna()
        if column.allowed is not None:
            assert set(present.unique()) <= set(column.allowed), (table, column.name)
        if column.min is not None:
            assert (present >= column.min).all(), (table, column.name)
        if column.max is not None:
            assert (present <= column.max).all(), (table, column.name)
    assert not frame.duplicated(list(contract.key)).any(), f"{table} repeats its key"


def test_row_rules_hold(world):
    orders, weather = world["orders"], world["weather"]
    assert (orders["promised_at"] > orders["created_at"]).all()
    assert (orders["discount"] <= orders["order_value"]).all()
    for frame in (weather, world["forecasts"]):
        assert ((frame["alert_level"] > 0) == frame["alert_type"].notna()).all()
    tracking = world["tracking"]
    assert ((tracking["event_type"] == "exception") == tracking["exception_code"].notna()).all()
    labels = world["tickets"]["labels"].map(split_labels)
    assert labels.map(lambda names: bool(names) and set(names) <= set(INTENT_NAMES)).all()
    merged = world["outcomes"].merge(orders[["order_id", "order_value"]], on="order_id")
    assert (merged["refunded_amount"] <= merged["order_value"]).all()


def test_oracle_and_latent_traits_stay_out_of_the_sources(world):
    oracle = world["oracle"]
    noise = [f"{name}__mc_var" for name in DIMENSION_NAMES]
    assert list(oracle.columns) == ["order_id", *ORACLE_COLUMNS, *noise]
    assert oracle[list(ORACLE_COLUMNS)].notna().all().all()
    assert (oracle[noise] >= 0).all().all()
    assert (oracle["order_id"] == world["orders"]["order_id"]).all()
    latent = {"loyalty", "spend_level", "social_reach", "price_sensitivity", "review_propensity"}
    # carbon_kg is both an outcome and a dimension: the oracle's own names are the others.
    contract_names = {c for contract in CONTRACTS.values() for c in contract.column_names}
    oracle_only = set(ORACLE_COLUMNS) - contract_names
    for table in CONTRACTS:
        columns = set(world[table].columns)
        assert not columns & oracle_only, table
        assert not columns & latent, table
    assert set(world["orders"].columns) == set(CONTRACTS["orders"].column_names)


def test_late_rate_is_in_the_intended_range(world):
    assert 0.08 <= _late(world).mean() <= 0.20


def test_oracle_is_calibrated(world):
    late, oracle = _late(world), world["oracle"]
    p = oracle["p_late"].to_numpy()
    assert abs(p.mean() - late.mean()) < 0.01
    decile = pd.qcut(p, 10, labels=False, duplicates="drop")
    binned = pd.DataFrame({"p": p, "late": late, "bin": decile}).groupby("bin").mean()
    assert (binned["p"] - binned["late"]).abs().max() < 0.035, binned
    hours = (world["outcomes"]["delivered_at"] - world["orders"]["promised_at"]).dt.total_seconds()
    realised = (hours / 3600).clip(lower=0).mean()
    assert abs(oracle["expected_delay_hours"].mean() - realised) < 0.15 * realised
    on_time = 1 - late
    assert abs(oracle["on_time_delivery"].mean() - on_time.mean()) < 0.01
    first_attempt = (world["outcomes"]["delivery_attempts"] == 1).mean()
    assert abs(oracle["first_attempt_success"].mean() - first_attempt) < 0.01


def test_value_oracle_tracks_the_realised_targets(world):
    from features.labels import value_targets

    targets = value_targets(world["orders"], world["outcomes"]).set_index("order_id")
    oracle = world["oracle"].set_index("order_id").loc[targets.index]
    for name in ("net_revenue", "repeat_purchase_90d", "satisfaction", "service_attach"):
        realised = targets[name].dropna()
        expected = oracle.loc[realised.index, name]
        # Unbiased on average and informative order by order (satisfaction least: the oracle
        # knows loyalty only as well as the customer's order stream tells).
        assert abs(expected.mean() - realised.mean()) < 0.05 * abs(realised.mean()) + 0.02, name
        assert np.corrcoef(expected, realised)[0, 1] > 0.12, name


def test_oracle_beats_static_attributes_but_not_perfectly(world):
    import lightgbm as lgb

    late, orders = _late(world), world["orders"]
    features = orders[list(STATIC_COLUMNS)].copy()
    for column in features.select_dtypes("object").columns:
        features[column] = features[column].astype("category")
    train = np.arange(len(orders)) < 0.7 * len(orders)  # orders are in time order
    model = lgb.LGBMClassifier(n_estimators=100, learning_rate=0.08, n_jobs=1, verbose=-1)
    model.fit(features[train], late[train])
    static_auc = roc_auc_score(late[~train], model.predict_proba(features[~train])[:, 1])
    oracle_auc = roc_auc_score(late[~train], world["oracle"]["p_late"].to_numpy()[~train])
    assert 0.75 <= oracle_auc <= 0.92
    assert oracle_auc > static_auc + 0.04, (static_auc, oracle_auc)


def test_tracking_agrees_with_the_outcome_and_follows_the_route(world):
    tracking, orders = world["tracking"], world["orders"]
    delivered = tracking[tracking["event_type"] == "delivered"].set_index("order_id")["event_time"]
    outcomes = world["outcomes"].set_index("order_id")["delivered_at"]
    assert delivered.index.is_unique and len(delivered) == len(outcomes)
    assert (delivered.loc[outcomes.index] == outcomes).all()
    created = orders.set_index("order_id")["created_at"]
    assert (tracking["event_time"].to_numpy() >= created.loc[tracking["order_id"]].to_numpy()).all()
    same_order = tracking["order_id"].eq(tracking["order_id"].shift())
    assert (tracking["event_time"].diff()[same_order] > pd.Timedelta(0)).all()
    scans = tracking[tracking["event_type"] != "exception"]
    rank = scans["event_type"].map(ROUTE_RANK)
    same = scans["order_id"].eq(scans["order_id"].shift())
    assert (rank.diff()[same] >= 0).all()
    # A failed first attempt shows as an exception followed by a second delivery round.
    absent = tracking[tracking["exception_code"] == "recipient_absent"]["order_id"]
    rounds = scans[scans["event_type"] == "out_for_delivery"].groupby("order_id").size()
    assert (rounds.loc[absent] == 2).all()
    attempts = world["outcomes"].set_index("order_id")["delivery_attempts"]
    assert (attempts.loc[absent] == 2).all() and (attempts == 2).sum() == len(absent)


def test_weather_alerts_come_before_their_impact(world):
    forecasts, weather, tracking = world["forecasts"], world["weather"], world["tracking"]
    assert (forecasts["valid_at"] > forecasts["issued_at"]).all()
    holds = tracking[(tracking["exception_code"] == "weather_hold") & tracking["hub"].notna()]
    assert len(holds) > 50
    city = holds["hub"].str.split("-", n=1).str[1].to_numpy()
    day = holds["event_time"].dt.floor("D")
    alerts = weather[weather["alert_level"] >= 2]
    alert_days = set(zip(alerts["city"], alerts["observed_at"].dt.floor("D"), strict=True))
    # The hold's day is the day the parcel was planned to be there; noise moves the scan by a
    # day or two, so look around it.
    near = [
        any((c, d + pd.Timedelta(days=k)) in alert_days for k in range(-3, 2))
        for c, d in zip(city, day, strict=True)
    ]
    assert np.mean(near) > 0.95
    warned = forecasts[forecasts["alert_level"] > 0]
    first_warning = warned.groupby(["city", warned["valid_at"].dt.floor("D")])["issued_at"].min()
    lookup = first_warning.to_dict()
    preceded = [
        any(lookup.get((c, d + pd.Timedelta(days=k)), t) < t for k in range(-3, 2))
        for c, d, t in zip(city, day, holds["event_time"], strict=True)
    ]
    assert np.mean(preceded) > 0.8
    late = pd.Series(_late(world), index=world["orders"]["order_id"])
    held = late.index.isin(holds["order_id"])
    assert late[held].mean() > 2 * late[~held].mean()


def test_promotions_raise_volume_and_delay(world):
    orders = world["orders"]
    day = _local_day(orders["created_at"])
    per_day = day.value_counts()
    peaks = ["06-18", "11-11", "12-12"]
    assert per_day.loc[peaks].min() > 2 * per_day.median()
    late = pd.Series(_late(world))
    promo = day.isin(peaks).to_numpy()
    assert late[promo].mean() > 1.2 * late[~promo].mean()


def test_tickets_reflect_what_happened(world):
    tickets, orders = world["tickets"], world["orders"]
    late = pd.Series(_late(world), index=orders["order_id"])
    labels = tickets["labels"].map(split_labels)
    about_delay = tickets.loc[
        labels.map(lambda names: bool({"where_is_my_order", "delay_complaint"} & set(names))),
        "order_id",
    ].unique()
    asked = late.index.isin(about_delay)
    assert asked[late.to_numpy()].mean() > 5 * asked[~late.to_numpy()].mean()
    install = tickets.loc[labels.map(lambda names: "installation_booking" in names), "order_id"]
    category = orders.set_index("order_id")["category"]
    share = category.loc[install.unique()].value_counts(normalize=True)
    assert share.get("home_appliances", 0) + share.get("furniture", 0) > 0.7
    created = orders.set_index("order_id")["created_at"].loc[tickets["order_id"]].to_numpy()
    assert (tickets["created_at"].to_numpy() >= created).all()
    assert set(tickets["language"]) == set(vocab.LANGUAGES)
    assert labels.map(len).gt(1).mean() > 0.02  # some tickets carry several intents
    mentions = tickets.apply(lambda row: row["order_id"] in row["text"], axis=1)
    assert 0.1 < mentions.mean() < 0.9  # some customers quote the order number, not all
    assert len(tickets) < 0.4 * len(orders)


def test_repeat_customers_and_latent_value(world):
    orders = world["orders"]
    per_customer = orders["customer_id"].value_counts()
    assert (per_customer > 1).mean() > 0.3
    assert per_customer.max() > 20 * per_customer.median()
    outcomes = world["outcomes"]
    late = _late(world)
    score = outcomes["review_score"]
    assert score[late].mean() < score[~late].mean() - 0.3
    notified = outcomes["notified_before_delay"].to_numpy()
    assert score[late & notified].mean() > score[late & ~notified].mean()
    assert outcomes["repeat_orders_90d"][late].mean() < outcomes["repeat_orders_90d"][~late].mean()


def test_write_world_writes_one_parquet_per_table(world, tmp_path):
    small = {name: frame.head(50) for name, frame in world.items()}
    paths = write_world(small, tmp_path)
    assert set(paths) == set(TABLES)
    back = pd.read_parquet(paths["orders"])
    assert str(back["created_at"].dtype) == "datetime64[us, UTC]"
    assert len(back) == 50
