"""Model quality against the oracle, behaviours (direction, invariance) and reasons, at smoke
size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orderlens.reasons import REASON_GROUPS
from training.delay import train_delay
from training.explain import reason_group, render_reasons, top_reasons
from training.matrix import NOT_FEATURES, fit_feature_spec, to_matrix
from training.registry import load_champion

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def champion(trained):
    return load_champion(trained.settings)


@pytest.fixture(scope="module")
def created_test(trained) -> pd.DataFrame:
    delay = trained.data.delay
    return delay[(delay["split"] == "test") & (delay["snapshot_stage"] == "created")]


def test_delay_quality_against_the_oracle(trained):
    delay = trained.result.report["delay"]
    assert delay["oracle_auc"] is not None, "the simulator's oracle was joined"
    assert delay["auc"] >= 0.7
    assert delay["auc"] >= 0.85 * delay["oracle_auc"]
    assert delay["ece"] <= 0.08
    assert 0.7 <= delay["hours_p90_coverage"] <= 0.99
    assert set(delay["by_stage"]) >= {"created", "picked", "out_for_delivery"}
    # Later snapshots know more (scans, exceptions): risk is sharper than at creation.
    assert delay["by_stage"]["out_for_delivery"]["auc"] > delay["by_stage"]["created"]["auc"]


def test_value_quality_against_the_oracle(trained):
    value = trained.result.report["value"]
    assert len(value) == 19
    ratios = [row["ratio"] for row in value.values() if row["ratio"] is not None]
    assert len(ratios) >= 15
    assert np.mean(ratios) >= 0.5
    assert value["on_time_delivery"]["metric"] == "auc"
    assert value["net_revenue"]["metric"] == "r2" and value["net_revenue"]["score"] > 0.3


@pytest.mark.parametrize(
    ("column", "low", "high"),
    [
        ("fc_alert_max_72h", 0, 4),
        ("obs_alert_level_max_48h", 0, 4),
        ("carrier_load_ratio", 0.5, 1.5),
        ("wh_unpicked_orders", 0, 5_000),
        ("trk_exceptions", 0, 2),
    ],
)
def test_risk_never_falls_with_alerts_backlog_or_exceptions(
    champion, created_test, column, low, high
):
    calm = champion.predict_delay(champion.delay_matrix(created_test.assign(**{column: low})))
    stormy = champion.predict_delay(champion.delay_matrix(created_test.assign(**{column: high})))
    assert np.all(stormy["p_late"] >= calm["p_late"] - 1e-12)
    assert stormy["p_late"].mean() >= calm["p_late"].mean()


def test_fields_that_should_not_matter_barely_move_the_risk(champion, created_test):
    spec = champion.features["delay"]
    assert not NOT_FEATURES & set(spec.names), "ids, timestamps, stage and labels are not features"
    base = champion.predict_delay(champion.delay_matrix(created_test))["p_late"]
    other_id = created_test.assign(order_id="O-something-else", customer_id="C-else")
    assert np.array_equal(champion.predict_delay(champion.delay_matrix(other_id))["p_late"], base)
    for column, value in (
        ("has_gift", 1),
        ("payment_method", spec.categories["payment_method"][0]),
    ):
        moved = champion.predict_delay(
            champion.delay_matrix(created_test.assign(**{column: value}))
        )
        assert np.mean(np.abs(moved["p_late"] - base)) < 0.02, column


def test_one_row_from_a_mapping_equals_the_frame_row(champion, created_test):
    frame = created_test.head(5)
    row = {k: [v] for k, v in frame.iloc[2].to_dict().items()}
    expected = champion.delay_matrix(frame)[2]
    np.testing.assert_array_equal(champion.delay_matrix(row)[0], expected)
    unseen = champion.delay_matrix({**row, "carrier_id": ["CR-never-seen"]})
    assert np.isnan(unseen[0, champion.features["delay"].names.index("carrier_id")])


def test_every_feature_has_a_reason_group(champion):
    for spec in champion.features.values():
        for name in spec.names:
            assert reason_group(name) in REASON_GROUPS
    with pytest.raises(KeyError):
        reason_group("brand_new_feature")


def test_reasons_add_up_to_the_risk_above_base(champion, created_test):
    frame = created_test.head(200)
    matrix = champion.delay_matrix(frame)
    points = champion.explain_delay(matrix)
    p = champion.predict_delay(matrix)["p_late"]
    assert points.shape == (len(frame), len(REASON_GROUPS))
    # Orders at creation are explained against the creation model's base (trees blended with
    # the logistic companion).
    np.testing.assert_allclose(
        points.sum(axis=1), 100 * (p - champion.delay.creation_base_probability), atol=1e-6
    )
    riskiest = np.argsort(-p)[:5]
    reasons = top_reasons(points[riskiest])
    texts = render_reasons(reasons, frame.iloc[riskiest])
    assert any(texts), "the riskiest orders have at least one reason"
    assert all(t.endswith(("pts)", "pt)")) for order in texts for t in order)


def test_models_train_without_absent_sources(trained):
    """Your own data without weather or tracking: those features are simply not used."""
    delay = trained.data.delay
    dropped = [c for c in delay if c.startswith(("trk_", "fc_", "obs_"))]
    models = train_delay(
        delay.drop(columns=dropped),
        trained.settings.training.model_copy(update={"smoke_rounds": 5}),
        rounds=5,
        skipped_views=("weather_observed", "tracking_progress"),
        log=lambda _: None,
    )
    assert not set(dropped) & set(models.spec.names)
    assert models.spec.skipped_views == ("weather_observed", "tracking_progress")
    assert 0 <= models.base_probability <= 1


def test_feature_spec_fixes_categories_at_training_time():
    train = pd.DataFrame({"channel": ["app", "web", "app"], "n_items": [1, 2, 3], "order_id": "x"})
    spec = fit_feature_spec(train)
    assert spec.names == ("channel", "n_items") and spec.categories["channel"] == ("app", "web")
    serving = pd.DataFrame({"channel": ["web", "tv", None], "n_items": [1.0, None, 2.0]})
    matrix = to_matrix(serving, spec)
    np.testing.assert_array_equal(matrix[:, 0], [1.0, np.nan, np.nan])
    np.testing.assert_array_equal(matrix[:, 1], [1.0, np.nan, 2.0])
    with pytest.raises(KeyError, match="n_items"):
        to_matrix(serving.drop(columns="n_items"), spec)


def test_training_set_budgets_sample_orders_then_later_snapshots(trained):
    """At scale: at most max_orders orders, every creation snapshot of theirs, later snapshots
    up to delay_max_rows; the value rows are those orders' creation snapshots."""
    from training.data import load_training_data

    budget = trained.settings.training.model_copy(
        update={"max_orders": 1_000, "delay_max_rows": 2_500}
    )
    data = load_training_data(trained.settings.model_copy(update={"training": budget}))
    created = data.delay[data.delay["snapshot_stage"] == "created"]
    assert len(data.delay) == 2_500 and data.delay["order_id"].nunique() == len(created)
    assert len(data.value) == len(created) <= 1_000
    assert set(data.value["order_id"]) == set(created["order_id"])
    assert set(data.delay["snapshot_stage"]) == set(trained.data.delay["snapshot_stage"])
    # The same orders keep the same features as in the full sets (the join is row-wise).
    full = trained.data.value.set_index("order_id").loc[data.value["order_id"]]
    assert np.allclose(
        full["order_value"].to_numpy(float), data.value["order_value"].to_numpy(float)
    )
