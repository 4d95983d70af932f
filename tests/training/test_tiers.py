"""Tier stability: two trainings on the same data with different seeds put (almost) every test
order in the same tier — tiers are cut on the expected contribution, whose money is dominated
by dimensions the models predict well, and dimensions without signal weigh nothing."""

from __future__ import annotations

import numpy as np
import pytest

from training.evaluate import evaluate_value, matrix_for, with_oracle
from training.value import Money, gate_by_skill, train_value

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_two_seeds_agree_on_nine_tiers_in_ten(trained):
    settings, data = trained.settings, trained.data
    test = with_oracle(data.value[data.value["split"] == "test"], data.oracle)
    tiers = []
    for seed in (1, 2):
        training = settings.training.model_copy(update={"seed": seed})
        value = train_value(
            data.value,
            training,
            rounds=training.smoke_rounds,
            money=Money.from_settings(settings.value, settings.business.currency),
            log=lambda _: None,
        )
        gate_by_skill(value, evaluate_value(value, test), log=lambda _: None)
        tiers.append(value.predict_arrays(matrix_for(test, value.spec))["tier"])
    agreement = float(np.mean(tiers[0] == tiers[1]))
    assert agreement >= 0.9, agreement
    assert len(set(tiers[0])) == 4  # all four tiers are used
