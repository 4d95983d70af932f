"""Evaluation figures over rows that have no oracle are absent, not NaN."""

import warnings

import numpy as np

from training import metrics
from training.evaluate import _or_none


def test_a_figure_against_a_missing_oracle_is_none_without_a_warning():
    y = np.array([0.0, 1.0, 1.0, 0.0])
    no_oracle = np.full(4, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "Mean of empty slice" would fail here
        assert _or_none(metrics.brier, y, no_oracle) is None
        assert _or_none(metrics.ece, y, no_oracle) is None
    assert _or_none(metrics.brier, y, np.array([0.0, 1.0, 1.0, 1.0])) == 0.25
