"""The ECE and its noise floor: what perfectly calibrated probabilities score on as many rows."""

from __future__ import annotations

import numpy as np

from training import metrics


def test_noise_floor_is_the_ece_of_calibrated_probabilities_on_as_many_rows():
    rng = np.random.default_rng(3)
    p = rng.beta(2, 7, 2_400)  # a late rate near 0.2, as the demo's test window
    drawn = [metrics.ece(rng.binomial(1, p).astype(float), p) for _ in range(200)]
    floor = metrics.ece_noise_floor(p)
    assert abs(floor - np.mean(drawn)) < 0.1 * floor
    # A 0.02 bar is about the floor itself at this size; with 100x the rows the floor is 10x lower.
    assert 0.015 < floor < 0.025
    assert metrics.ece_noise_floor(np.tile(p, 100)) < 0.1 * floor + 1e-12


def test_a_miscalibrated_model_stands_above_the_floor():
    rng = np.random.default_rng(4)
    p = rng.beta(2, 7, 20_000)
    y = rng.binomial(1, p).astype(float)
    assert metrics.ece(y, p) < 2 * metrics.ece_noise_floor(p)
    assert metrics.ece(y, np.clip(p + 0.05, 0, 1)) > 0.04 > 5 * metrics.ece_noise_floor(p)
