"""Value over real HTTP: dimensions without signal are said so (not scored) in /predict and
/metadata alike, and every prediction carries its expected contribution in money with parts."""

from __future__ import annotations

import math

import pytest

from orderlens.dimensions import DIMENSION_NAMES
from tests.serving.live import order_payloads

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def served(serving_home, server):
    orders = order_payloads(serving_home.orders.iloc[300:340], suffix="-value-money")
    with server.client() as http:
        metadata = http.get("/metadata").json()
        response = http.post("/predict", json={"orders": orders})
    assert response.status_code == 200, response.text
    return metadata, response.json()["predictions"]


def test_metadata_and_predictions_agree_on_the_signal(served):
    metadata, predictions = served
    status = metadata["value"]["dimensions"]
    assert set(status) == set(DIMENSION_NAMES)
    assert set(status.values()) <= {"signal", "no_signal", "not_available"}
    # The flags come from the model set's test-window skill (its manifest's metrics).
    skill = metadata["metrics"]["value"]
    for name, state in status.items():
        if state != "not_available":
            assert skill[name]["signal"] == (state == "signal"), name
    for prediction in predictions:
        dims = prediction["value"]["dimensions"]
        for name, state in status.items():
            assert dims[name]["status"] == state, name
            # "no signal" is a mark, never a number.
            assert (dims[name]["score"] is None) == (state != "signal"), name


def test_every_prediction_has_its_contribution_in_money(served):
    metadata, predictions = served
    money = metadata["value"]["money"]
    silent = {n for n, s in metadata["value"]["dimensions"].items() if s != "signal"}
    amounts = []
    for prediction in predictions:
        contribution = prediction["value"]["contribution"]
        assert contribution["currency"] == money["currency"]
        parts = contribution["parts"]
        assert math.isclose(sum(parts.values()), contribution["amount"], abs_tol=0.05 * len(parts))
        assert not silent & set(parts), "a dimension without signal has no part of its own"
        amounts.append(contribution["amount"])
    assert len(set(amounts)) > len(amounts) // 2  # an order-by-order figure, not a constant
    # Tiers follow the contribution: a better tier never has a smaller one in the batch.
    order = {"standard": 0, "silver": 1, "gold": 2, "platinum": 3}
    ranked = sorted(predictions, key=lambda p: p["value"]["contribution"]["amount"])
    tiers = [order[p["value"]["tier"]] for p in ranked]
    assert tiers == sorted(tiers)


def test_the_logged_value_columns_are_the_answered_ones(serving_home):
    """The prediction log's value columns, built from the scorer's arrays, say what the answer
    says: the same index, tier and quadrants, a score only for dimensions with signal."""
    from serving.policy import load_policy
    from serving.prediction_log import score_columns
    from serving.schemas import parse_request
    from serving.scoring import Scorer, request_columns
    from training import registry

    settings = serving_home.settings
    scorer = Scorer(registry.load_champion(settings), load_policy(settings.serving.policy_file))
    payload = {"orders": order_payloads(serving_home.orders.iloc[340:360], suffix="-value-log")}
    result = scorer.score(request_columns(parse_request(payload).orders), None)
    answered = score_columns(result.predictions)
    assert {k: result.log_scores[k] for k in answered} == answered
