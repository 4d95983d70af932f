"""The monitoring module on small inline frames: performance estimated and realised, drift as
effect sizes beyond sampling noise, labels as they become known, the verdict and the action
comparison."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from orderlens.settings import MonitoringSettings
from reports.monitoring import actions, drift, performance, verdict
from reports.monitoring.served import with_outcomes


def calibrated(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores that are calibrated probabilities, and labels drawn from them."""
    rng = np.random.default_rng(seed)
    p = rng.beta(1.2, 4.0, n)
    return p, (rng.random(n) < p).astype(int)


# --- performance -----------------------------------------------------------------------------
def test_estimated_auc_matches_the_realised_one_when_probabilities_are_calibrated():
    p, y = calibrated(20_000)
    assert performance.expected_auc(p, p) == pytest.approx(roc_auc_score(y, p), abs=0.01)


def test_the_estimate_band_covers_the_realised_auc_about_95_times_in_100():
    covered = 0
    for seed in range(40):
        p, y = calibrated(600, seed)
        low, high = performance.auc_band(p, p, seed=seed)
        covered += low <= roc_auc_score(y, p) <= high
    assert covered >= 34  # 95 % nominal; 34/40 allows for chance


def test_an_overconfident_model_is_recalibrated_before_estimating():
    p, y = calibrated(8_000, seed=3)
    overconfident = np.clip(p**0.5, 0, 1)  # same ranking, probabilities far too high
    realised = roc_auc_score(y, overconfident)
    assert abs(performance.expected_auc(overconfident, overconfident) - realised) > 0.03
    stage = np.full(len(p), "at_creation")
    half = len(p) // 2  # the map learns on older labelled predictions, estimates the newer
    fitted = performance.CalibrationMap().fit(overconfident[:half], y[:half], stage[:half])
    q = fitted.predict(overconfident[half:], stage[half:])
    estimate = performance.expected_auc(overconfident[half:], q)
    assert estimate == pytest.approx(roc_auc_score(y[half:], overconfident[half:]), abs=0.02)
    assert "at_creation (4,000)" in fitted.describe()


def test_a_stage_with_few_labels_keeps_the_models_probability():
    stage = np.array(["at_creation"] * 50 + ["later"] * 500)
    p, y = calibrated(550)
    fitted = performance.CalibrationMap(min_rows=300).fit(p, y, stage)
    q = fitted.predict(p, stage)
    np.testing.assert_array_equal(q[:50], p[:50])
    assert "own P(late) for at_creation" in fitted.describe()


def test_delong_auc_equals_sklearn_and_its_interval_shrinks_with_rows():
    p, y = calibrated(4_000, seed=1)
    auc, se = performance.delong_auc(p, y)
    assert auc == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    _, se_small = performance.delong_auc(p[:400], y[:400])
    assert se < se_small / 2.5


def test_measure_reports_realised_figures_only_with_enough_outcomes():
    p, y = calibrated(500, seed=2)
    late = np.where(np.arange(500) < 20, y, np.nan)
    few = performance.measure(p, p, late, min_labelled=30)
    assert few.labelled == 20 and few.realised_auc != few.realised_auc  # NaN
    many = performance.measure(p, p, y.astype(float))
    assert many.realised_late_rate_low <= y.mean() <= many.realised_late_rate_high
    assert many.as_dict()["realised_auc"] == pytest.approx(roc_auc_score(y, p))


def test_wilson_interval():
    low, high = performance.wilson(0, 10)
    assert low == 0 and 0.2 < high < 0.35
    assert performance.wilson(0, 0) != performance.wilson(0, 0)  # NaNs


# --- drift -----------------------------------------------------------------------------------
def features(n: int, seed: int, shift: float = 0.0, orders: int | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    orders = orders or n
    return pd.DataFrame(
        {
            "order_id": [f"O{seed}-{i % orders}" for i in range(n)],
            "route_km": rng.normal(800 + 400 * shift, 300, n),
            "wind": rng.normal(10, 3, n),
            "carrier_id": rng.choice(["SF", "ZTO"] if not shift else ["SF", "ZTO", "JD"], n),
            "cust_orders": rng.poisson(3 + 10 * shift, n),
            "trk_stage": np.nan,
        }
    )


IMPORTANCE = {"route_km": 3.0, "wind": 0.1, "carrier_id": 1.0, "cust_orders": 1.0, "trk_stage": 0.0}


def compare(reference, current):
    return drift.compare_features(
        reference, current, IMPORTANCE, categorical={"carrier_id"}, cumulative={"cust_orders"}
    )


def test_samples_of_one_world_do_not_drift_however_small():
    reference = features(5_000, seed=1)
    for n in (60, 300, 3_000):
        summary = compare(reference, features(n, seed=n))
        assert summary.drifted_features == [], n
        assert summary.drift_score < 0.05, (n, summary.drift_score)


def test_a_shift_in_an_important_feature_drifts_and_weighs_by_importance():
    summary = compare(features(5_000, seed=1), features(800, seed=2, shift=1.0))
    assert summary.drifted_features[:2] == ["route_km", "carrier_id"]
    top = summary.top(1)[0]
    assert (
        top.feature == "route_km" and top.excess > 1.0 and top.importance == pytest.approx(3 / 4.1)
    )
    assert summary.drift_score > 0.8
    assert summary.not_compared == {
        "cust_orders": "cumulative count: grows with the shop's history by construction",
        "trk_stage": "no values on either side",
    }


def test_clustered_predictions_raise_the_noise_not_the_drift():
    """40 orders scored 6 times each look like 240 rows but carry the information of 40."""
    reference = features(6_000, seed=1, orders=1_000)
    clustered = features(240, seed=7, orders=40)
    summary = compare(reference, clustered)
    assert summary.drifted_features == []
    by_name = {s.feature: s for s in summary.shifts}
    assert by_name["route_km"].noise > 0.1  # the noise of 40 orders, not of 240 rows


def test_psi_stays_finite_for_categories_seen_on_one_side():
    value = drift.psi(pd.Series(["a"] * 50), pd.Series(["b"] * 50))
    assert np.isfinite(value) and value > 1
    assert drift.psi(pd.Series(["a", "b"] * 20), pd.Series(["b", "a"] * 20)) == 0


def test_the_reference_is_drawn_at_the_current_mix_of_stages():
    reference = pd.DataFrame({"trk_stage": [np.nan] * 100 + [3.0] * 900, "x": range(1_000)})
    current = pd.DataFrame({"trk_stage": [np.nan] * 50 + [3.0] * 50})
    matched = drift.matched_reference(reference, current, 1_000)
    assert matched["trk_stage"].isna().mean() == pytest.approx(0.5)


# --- labels ------------------------------------------------------------------------------------
def test_an_outcome_counts_a_day_after_the_promise():
    promise = pd.Timestamp("2025-05-10 12:00", tz="UTC")
    predictions = pd.DataFrame(
        {"order_id": ["early", "late", "lost", "unknown"], "promised_at": [promise] * 4}
    )
    outcomes = pd.DataFrame(
        {
            "order_id": ["early", "late", "lost"],
            "delivered_at": [promise - timedelta(hours=30), promise + timedelta(days=3), pd.NaT],
        }
    ).astype({"delivered_at": "datetime64[us, UTC]"})
    before = with_outcomes(predictions, outcomes, promise + timedelta(hours=23))
    assert before["late"].isna().all()  # even the early delivery waits for its promise
    after = with_outcomes(predictions, outcomes, promise + timedelta(hours=25))
    # "unknown" has no outcome row a day after its promise: not delivered, so late
    assert after["late"].tolist() == [0.0, 1.0, 1.0, 1.0]
    none = with_outcomes(predictions, outcomes.iloc[:0], promise + timedelta(days=9))
    assert none["late"].isna().all()  # no outcomes at all: nothing is known
    cancelled = outcomes.assign(status=[None, None, "Cancelled"])
    known = with_outcomes(predictions, cancelled, promise + timedelta(hours=25))
    assert known["late"].isna().tolist() == [False, False, True, False]


# --- verdict -----------------------------------------------------------------------------------
CONFIG = MonitoringSettings(
    min_window_predictions=100, min_labelled=100, segment_min_predictions=50
)
AS_OF = pd.Timestamp("2025-06-01", tz="UTC")


def perf(auc: float, n: int = 1_000, labelled: int = 0, **realised) -> performance.Performance:
    return performance.Performance(
        predictions=n, estimated_auc=auc, estimated_auc_low=auc - 0.02,
        estimated_auc_high=auc + 0.02, estimated_late_rate=0.2, estimated_brier=0.1,
        labelled=labelled, **realised,
    )  # fmt: skip


BASELINE = perf(0.90, labelled=1_000, realised_auc=0.90, realised_brier=0.10)


def decide(window, recent=None, drift_summary=None, segments=None, last=None):
    return verdict.decide(
        CONFIG, as_of=AS_OF, window=window, recent=recent or perf(0.9), baseline=BASELINE,
        drift=drift_summary, segments=segments or {}, last_retrain=last,
    )  # fmt: skip


def test_no_evidence_no_alarm():
    result = decide(perf(0.89))
    assert not result.alarm and not result.retrain and result.reasons == []


def test_an_estimated_drop_beyond_tolerance_and_sampling_alarms_and_retrains():
    result = decide(perf(0.80))
    assert result.alarm and result.retrain
    assert "estimated AUC 0.800" in result.reasons[0]
    # the same drop with a band reaching the baseline is sampling, not evidence
    wide = perf(0.80)
    wide = performance.Performance(**{**wide.__dict__, "estimated_auc_high": 0.91})
    assert not decide(wide).alarm


def test_the_cooldown_holds_a_second_retrain_back():
    held = decide(perf(0.80), last=AS_OF - timedelta(days=2))
    assert held.alarm and not held.retrain
    assert "cool-down" in held.watch[-1]
    assert decide(perf(0.80), last=AS_OF - timedelta(days=8)).retrain


def test_too_few_predictions_give_no_verdict():
    result = decide(perf(0.5, n=20))
    assert not result.alarm and "no verdict" in result.reasons[0]


def test_a_home_with_nothing_served_gets_a_pass_that_says_so(tmp_path):
    from orderlens.settings import load_settings
    from reports.monitoring.monitor import run_pass

    record = run_pass(load_settings(home=tmp_path)).record()
    assert record["alarm"] is False and record["retrain"] is False
    assert record["realised_auc"] is None and record["recent"]["days"] == []
    assert "the prediction log is empty" in record["reasons"][0]


def test_more_late_orders_than_predicted_alarm():
    recent = perf(
        0.9, labelled=500, realised_auc=0.9, realised_auc_high=0.93, realised_brier=0.1,
        realised_brier_low=0.09, realised_late_rate=0.40, realised_late_rate_low=0.36,
        realised_late_rate_high=0.44, predicted_late_rate_labelled=0.2,
    )  # fmt: skip
    result = decide(perf(0.9), recent=recent)
    assert result.alarm and "more orders late than predicted" in result.reasons[0]


def test_severe_drift_in_one_segment_alarms_a_risk_shift_alone_does_not():
    quiet = drift.DriftSummary(
        drift_score=0.05, drifted_importance=0, prediction_shift=0, shifts=[]
    )
    segment = {"predictions": 80, "drift_score": 0.6, "prediction_shift": 0.9,
               "reference_p": 0.1, "current_p": 0.45, "top_features": ["trk_hours_behind_plan"]}  # fmt: skip
    result = decide(perf(0.9), drift_summary=quiet, segments={"carrier=ZTO": segment})
    assert result.alarm and "carrier=ZTO" in result.reasons[0]
    small = {"carrier=ZTO": {**segment, "predictions": 20}}  # too few to judge alone
    assert not decide(perf(0.9), drift_summary=quiet, segments=small).alarm
    shifted = {"carrier=ZTO": {**segment, "drift_score": 0.1}}  # the model answering a storm
    result = decide(perf(0.9), drift_summary=quiet, segments=shifted)
    assert not result.alarm and "predicted risk in carrier=ZTO" in result.watch[0]


def test_orders_due_later_than_predicted_alarm():
    def cohort(orders, predicted, late):
        low, high = performance.wilson(late, orders)
        return {"orders": orders, "predicted": predicted, "realised": late / orders,
                "low": low, "high": high}  # fmt: skip

    due = {"all": cohort(700, 0.10, 84), "carrier=ZTO": cohort(110, 0.09, 45)}
    result = verdict.decide(
        CONFIG, as_of=AS_OF, window=perf(0.9), recent=perf(0.9), baseline=BASELINE, drift=None,
        segments={}, last_retrain=None, due=due,
    )  # fmt: skip
    assert result.alarm and len(result.reasons) == 1
    assert (
        "in carrier=ZTO: of 110 orders whose promise just passed, 41% were late"
        in (result.reasons[0])
    )


# --- actions -----------------------------------------------------------------------------------
def acted_world(effect: float, n: int = 6_000, seed: int = 0) -> pd.DataFrame:
    """Predictions where high-risk orders get ``notify``; lateness follows the risk, and the
    action changes it by ``effect``."""
    rng = np.random.default_rng(seed)
    p = rng.beta(1.5, 3.0, n)
    acted = (p > 0.5) & (rng.random(n) < 0.5)
    late = (rng.random(n) < np.clip(p + effect * acted, 0, 1)).astype(float)
    return pd.DataFrame(
        {
            "order_id": [f"O{i}" for i in range(n)],
            "predicted_at": pd.Timestamp("2025-05-01", tz="UTC"),
            "p_late": p,
            "stage": "at_creation",
            "actions_fired": np.where(acted, "late_risk_notify:notify", ""),
            "late": late,
        }
    )


def test_matched_comparison_finds_no_effect_where_there_is_none():
    (report,) = actions.action_effects(acted_world(0.0), {"notify": 0.5})
    (late,) = report.effects
    assert report.fired == report.orders and report.cost == pytest.approx(0.5 * report.fired)
    assert late.low <= 0 <= late.high
    # an unmatched comparison would have blamed the action for its orders' higher risk
    world = acted_world(0.0)
    acted = world["actions_fired"] != ""
    assert world.loc[acted, "late"].mean() - world.loc[~acted, "late"].mean() > 0.2


def test_an_action_every_risky_order_gets_has_no_comparison():
    world = acted_world(0.0)
    world["actions_fired"] = np.where(world["p_late"] > 0.5, "late_risk_notify:notify", "")
    (report,) = actions.action_effects(world, {})
    (late,) = report.effects
    assert late.difference != late.difference  # NaN: nothing comparable
    assert late.unmatched == report.orders


def test_matched_comparison_finds_a_real_effect():
    (report,) = actions.action_effects(acted_world(-0.2), {})
    (late,) = report.effects
    assert late.high < 0 and late.difference == pytest.approx(-0.2, abs=0.06)


def test_complaints_are_tickets_with_the_shops_complaint_labels():
    at = pd.Timestamp("2025-05-02", tz="UTC")
    signals = pd.DataFrame(
        {
            "order_id": ["O1", "O1", "O2", None],
            "created_at": [at + timedelta(hours=2), at, at, at],
            "label_where_is_my_order": [0.9, 0.8, 0.1, 0.9],
            "label_praise": [0.0, 0.1, 0.9, 0.0],
        }
    )
    by_probability = actions.complaints(signals, ["where_is_my_order", "delay_complaint"])
    assert by_probability.to_dict("records") == [{"order_id": "O1", "complained_at": at}]
    # the scorer's decision, when the signals carry it, wins over a probability
    decided = signals.assign(labels=["where_is_my_order", "", "praise|where_is_my_order", ""])
    found = actions.complaints(decided, ["where_is_my_order"])
    assert found.set_index("order_id")["complained_at"].to_dict() == {
        "O1": at + timedelta(hours=2),
        "O2": at,
    }
    # a label set without any complaint label cannot measure complaints: None, not "no complaint"
    assert actions.complaints(signals, ["chaser"]) is None
    assert actions.complaints(None, ["where_is_my_order"]) is None


def test_an_action_before_the_complaint_counts_it():
    world = acted_world(0.0)
    first = world.loc[world["actions_fired"] != "", "order_id"].iloc[0]
    complained = pd.DataFrame(
        {"order_id": [first], "complained_at": [pd.Timestamp("2025-05-03", tz="UTC")]}
    )
    (report,) = actions.action_effects(world, {}, complained)
    assert [e.outcome for e in report.effects] == ["late", "complaint"]
