"""The skill gate's statistics: intervals that decide "no signal", customer-clustered resampling,
and the oracle's Monte Carlo correction."""

from __future__ import annotations

import numpy as np

from training.value_skill import grade, resample_weights, weighted_auc, weighted_r2


def test_noise_has_no_signal_and_a_real_model_has():
    rng = np.random.default_rng(1)
    x = rng.normal(size=3_000)
    y = x + rng.normal(size=3_000)
    assert grade("r2", y, x).signal
    assert not grade("r2", y, rng.normal(size=3_000) * 0.1).signal
    label = (y > 0).astype(float)
    assert grade("auc", label, x).signal
    assert not grade("auc", label, rng.normal(size=3_000)).signal


def test_full_sample_figures_match_the_plain_formulas():
    rng = np.random.default_rng(2)
    y = rng.normal(size=500)
    p = y + rng.normal(size=500)
    r2 = 1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2)
    assert np.isclose(weighted_r2(y, p, np.ones(500))[0], r2)
    label = (y > 0).astype(float)
    pos, neg = p[label == 1], p[label == 0]
    auc = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert np.isclose(weighted_auc(label, p, np.ones(500))[0], auc)


def test_customers_are_resampled_whole_and_widen_the_interval():
    rng = np.random.default_rng(3)
    customers = np.repeat(np.arange(100), 20)  # 20 orders each, sharing one latent trait
    trait = rng.normal(size=100)[customers]
    y = trait + 0.2 * rng.normal(size=len(customers))
    p = np.zeros(len(y)) + 0.3 * trait + 0.1
    weights = resample_weights(len(y), 50, clusters=customers)
    # Every order of a customer weighs the same in a resample.
    assert (weights.reshape(50, 100, 20).std(axis=2) == 0).all()
    by_order = grade("r2", y, p)
    by_customer = grade("r2", y, p, clusters=customers)
    assert np.isclose(by_order.score, by_customer.score)
    width = by_customer.ci_high - by_customer.ci_low
    assert width > 2 * (by_order.ci_high - by_order.ci_low)


def test_the_oracles_monte_carlo_noise_is_taken_off_its_r2():
    rng = np.random.default_rng(4)
    truth = rng.normal(size=20_000)
    y = truth + rng.normal(size=20_000)
    noise_variance = np.full(len(y), 0.5)
    oracle = truth + rng.normal(size=len(y)) * np.sqrt(noise_variance)
    exact = grade("r2", y, truth).score
    noisy = grade("r2", y, truth, oracle).oracle
    corrected = grade("r2", y, truth, oracle, noise_variance).oracle
    assert noisy < exact - 0.15  # half a unit of noise costs R² a quarter
    assert abs(corrected - exact) < 0.02
