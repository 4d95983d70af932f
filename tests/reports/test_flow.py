"""Deliveries of in-flight orders (reports/monitoring/flow.py) on a small simulated shop: three
carriers whose on-time orders are delivered uniformly through their promise window; one of them
stops delivering. Its flow ratio falls, the estimate raises its orders' P(late) and the
estimated AUC falls towards what the outcomes later show; the carriers that keep delivering
are left as the model said."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from orderlens.settings import MonitoringSettings
from reports.monitoring import flow, performance, verdict

AS_OF = pd.Timestamp("2025-06-20", tz="UTC")
GRACE = timedelta(hours=6)
CARRIERS = ["A", "B", "C"]


def shop(failing: str | None = None, seed: int = 0, days: int = 20, per_day: int = 300):
    """Orders of ``days`` days before ``AS_OF`` (promise windows of 1-4 days, P(late)
    calibrated), their true label and their delivery; ``failing`` delivers nothing of the
    orders placed in the last 2 days (they will all be late)."""
    rng = np.random.default_rng(seed)
    n = days * per_day
    created = AS_OF - pd.to_timedelta(rng.uniform(0, days * 24, n), unit="h")
    window = pd.to_timedelta(24 * rng.integers(1, 5, n) + rng.uniform(-3, 3, n), unit="h")
    carrier = rng.choice(CARRIERS, n)
    p = rng.beta(1.0, 9.0, n)
    late = rng.random(n) < p
    recent = created >= AS_OF - timedelta(days=2)
    if failing:
        late = late | (recent & (carrier == failing))
    share = np.where(late, 1 + rng.uniform(0.05, 1.0, n), rng.uniform(0.05, 1.0, n))
    orders = pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(n)],
            "carrier_id": carrier,
            "created_at": created,
            "promised_at": created + window,
            "predicted_at": created,
            "p_late": p,
        }
    )
    delivered = orders["created_at"] + window * share
    return orders, late.astype(float), delivered


def measured(orders, late, delivered, **kw):
    # Deliveries as the lake holds them, later ones too: the module must not count what the
    # outcomes feed may not have sent by AS_OF - GRACE.
    rows = orders.assign(
        delivered_at=delivered,
        late=pd.Series(late).where(orders["promised_at"] + GRACE <= AS_OF).to_numpy(),
    )
    settings = {"history": timedelta(days=14), "in_flight_days": 2, "alarm_ratio": 0.5} | kw
    return rows, flow.measure_flow(rows, rows["p_late"].to_numpy(), rows, AS_OF, GRACE, **settings)


def test_carriers_delivering_as_usual_have_a_flow_ratio_near_one_and_keep_the_models_p():
    orders, late, delivered = shop()
    rows, result = measured(orders, late, delivered)
    assert set(result.segments) == {f"carrier={c}" for c in CARRIERS}
    for name, seg in result.segments.items():
        assert seg["ratio_low"] < 1 < seg["ratio_high"], (name, seg)
        assert seg["expected"] > 20 and not seg["short"]
    assert result.shift == {}
    estimate = result.estimate(rows, rows["p_late"].to_numpy())
    unknown = rows["late"].isna().to_numpy()
    np.testing.assert_allclose(estimate[unknown], rows["p_late"].to_numpy()[unknown], rtol=1e-9)
    np.testing.assert_array_equal(estimate[~unknown], rows["late"].to_numpy()[~unknown])


def test_a_carrier_that_stops_delivering_raises_its_p_and_the_estimated_auc_falls():
    orders, late, delivered = shop(failing="B")
    rows, result = measured(orders, late, delivered)
    short = result.segments["carrier=B"]
    assert short["short"] and short["ratio_high"] < 0.5 and short["delivered"] == 0
    assert short["estimated"] > 0.8 > 0.2 > short["predicted"]
    assert set(result.shift) == {"B"}
    for other in ("A", "C"):
        assert not result.segments[f"carrier={other}"]["short"]
    judged = (rows["predicted_at"] >= AS_OF - timedelta(days=1)).to_numpy()
    window = rows[judged]
    q = window["p_late"].to_numpy()
    estimate = result.estimate(window, q)
    model_only = performance.expected_auc(q, q)
    censored = performance.expected_auc(q, estimate)
    truth = roc_auc_score(late[judged], q)
    assert censored < model_only - 0.05
    assert censored == pytest.approx(truth, abs=0.05)


def test_the_shift_is_the_level_at_which_expected_deliveries_meet_the_observed():
    q = np.full(400, 0.1)
    g = np.full(400, 0.5)
    delivered = np.zeros(400, dtype=bool)
    delivered[:90] = True  # (1 - p)·0.5·400 = 90 → p = 0.55
    shift = flow.fit_shift(q, g, delivered)
    assert 1 / (1 + np.exp(-(np.log(0.1 / 0.9) + shift))) == pytest.approx(0.55, abs=1e-6)
    delivered[:200] = True  # more than expected: the model's level stays
    assert flow.fit_shift(q, g, delivered) == 0.0


def test_deliveries_after_the_feeds_grace_do_not_count_yet():
    orders, late, _ = shop()
    # every delivery lands in the last hour, after AS_OF - GRACE: none may count yet
    an_hour_ago = pd.Series(AS_OF - timedelta(hours=1), index=orders.index)
    _, result = measured(orders, late, an_hour_ago)
    assert all(seg["delivered"] == 0 for seg in result.segments.values())


def test_the_verdict_alarms_on_a_short_carrier_only_with_enough_expected():
    config = MonitoringSettings(min_window_predictions=10)
    window = performance.Performance(
        predictions=100, estimated_auc=0.9, estimated_auc_low=0.88, estimated_auc_high=0.92,
        estimated_late_rate=0.1, estimated_brier=0.09,
    )  # fmt: skip
    seg = {
        "orders": 200, "delivered": 3, "expected": 40.0, "ratio": 0.075, "ratio_low": 0.015,
        "ratio_high": 0.22, "shift": 4.0, "predicted": 0.06, "estimated": 0.8, "short": True,
    }  # fmt: skip
    common = {
        "as_of": AS_OF, "window": window, "recent": window, "baseline": None, "drift": None,
        "segments": {}, "last_retrain": None,
    }  # fmt: skip
    found = verdict.decide(config, flow={"carrier=B": seg}, **common)
    assert found.alarm and found.retrain
    assert "deliveries short in carrier=B: 3 of its 200" in found.reasons[0]
    few = verdict.decide(config, flow={"carrier=B": seg | {"expected": 10.0}}, **common)
    assert not few.alarm
    unsure = verdict.decide(config, flow={"carrier=B": seg | {"ratio_high": 0.7}}, **common)
    assert not unsure.alarm


def test_a_shop_without_carriers_is_judged_as_one_flow():
    orders, late, delivered = shop(failing="B")
    rows, result = measured(orders.drop(columns="carrier_id"), late, delivered)
    assert set(result.segments) == {"all"} and result.column is None
    # one carrier of three stopped: the whole flow is short, though not beyond doubt at 0.5
    whole = result.segments["all"]
    assert whole["ratio_high"] < 1 and whole["ratio"] > 0.5 and not whole["short"]
    estimate = result.estimate(rows, rows["p_late"].to_numpy())
    unknown = rows["late"].isna().to_numpy()
    np.testing.assert_allclose(estimate[unknown], rows["p_late"].to_numpy()[unknown], rtol=1e-9)
