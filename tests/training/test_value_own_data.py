"""Value scoring on a shop's own export: only a few dimensions are realised there and there is no
oracle. The dimensions the export cannot give are "not available" everywhere (evaluation,
/predict payloads, /metadata), and the contribution in money is built from the rest."""

from __future__ import annotations

import numpy as np
import pytest

from orderlens.dimensions import DIMENSION_NAMES
from training.evaluate import evaluate_value, matrix_for, summarize
from training.value import (
    AVERAGE_PART,
    Money,
    gate_by_skill,
    realised_contribution,
    train_value,
    value_metadata,
    value_payloads,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REALISED = ("net_revenue", "gross_margin", "repeat_purchase_90d", "on_time_delivery")
"""What an export of orders, prices and delivery dates alone realises."""


@pytest.fixture(scope="module")
def own_export(trained):
    settings, data = trained.settings, trained.data
    frame = data.value.copy()
    for name in DIMENSION_NAMES:
        if name not in REALISED:
            frame[name] = np.nan
    value = train_value(
        frame,
        settings.training,
        rounds=settings.training.smoke_rounds,
        money=Money.from_settings(settings.value, settings.business.currency),
        log=lambda _: None,
    )
    test = frame[frame["split"] == "test"]  # no oracle columns: a shop has none
    report = evaluate_value(value, test)
    gate_by_skill(value, report, log=lambda _: None)
    return value, test, report


def test_evaluation_names_what_the_export_cannot_give(own_export):
    value, _, report = own_export
    assert set(value.models) == set(REALISED)
    for name in DIMENSION_NAMES:
        row = report[name]
        if name in REALISED:
            assert row["available"] and row["oracle"] is None and row["ratio"] is None, name
        else:
            assert row == {"metric": row["metric"], "available": False, "signal": False}, name
    summary = summarize({"delay": {}, "value": report})
    assert summary["value_mean_ratio"] is None  # no oracle, no ratio: said so, not made up
    assert not set(summary["value_no_signal"]) - set(REALISED)


def test_predictions_carry_money_from_the_realised_dimensions_only(own_export):
    value, test, _ = own_export
    arrays = value.predict_arrays(matrix_for(test, value.spec))
    assert np.isfinite(arrays["contribution"]).all()
    assert set(arrays["part_names"]) <= {*REALISED, "cash_conversion_days", AVERAGE_PART}
    assert set(arrays["tier"]) <= {"platinum", "gold", "silver", "standard"}
    payloads = value_payloads(value, arrays)
    status = value_metadata(value)["dimensions"]
    for name in DIMENSION_NAMES:
        expected = (
            "not_available"
            if name not in REALISED
            else "signal"
            if value.has_signal(name)
            else "no_signal"
        )
        assert status[name] == expected, name
        for payload in payloads[:20]:
            dim = payload["dimensions"][name]
            assert dim["status"] == expected, name
            assert (dim["score"] is None) == (expected != "signal"), name
    realised = realised_contribution(value.money, test[list(REALISED)], value.centre)
    assert np.isfinite(realised["contribution"]).all()


def test_an_export_without_money_dimensions_tiers_by_the_index(trained):
    """Delivery and return flags only (no prices, no costs): nothing has a money rate, so the
    contribution is the same for every order and tiers are cut on the value index instead."""
    settings, data = trained.settings, trained.data
    frame = data.value.copy()
    realised = ("on_time_delivery", "exchange_avoidance")
    for name in DIMENSION_NAMES:
        if name not in realised:
            frame[name] = np.nan
    value = train_value(
        frame,
        settings.training,
        rounds=settings.training.smoke_rounds,
        money=Money.from_settings(settings.value, settings.business.currency),
        log=lambda _: None,
    )
    test = frame[frame["split"] == "test"]
    gate_by_skill(value, evaluate_value(value, test), log=lambda _: None)
    assert any(value.has_signal(n) for n in realised)
    arrays = value.predict_arrays(matrix_for(test, value.spec))
    assert value.tiers_by_index and "value index" in value_metadata(value)["tiers_by"]
    assert np.ptp(arrays["contribution"]) == 0
    assert len(set(arrays["tier"])) >= 3  # the index still ranks orders
