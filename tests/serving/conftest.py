"""Shared builders for the serving tests."""

from __future__ import annotations

from typing import Any

import pytest

from orderlens.dimensions import DIMENSION_NAMES
from serving.schemas import Prediction


def make_prediction(order_id: str, *, p_late: float = 0.85, fired: bool = True) -> Prediction:
    """A complete, valid prediction for ``order_id`` (scores vary with the dimension's position)."""
    payload: dict[str, Any] = {
        "order_id": order_id,
        "delay": {
            "probability": p_late,
            "expected_hours": 9.5,
            "p90_hours": 20.0,
            "risk_level": "critical",
            "reasons": [
                {
                    "group": "weather",
                    "text": "Red rainstorm alert in Zhengzhou during transit (+21 pts)",
                    "contribution": 21.0,
                }
            ],
        },
        "value": {
            "index": 88.0,
            "tier": "platinum",
            "quadrants": {"financial": 80, "customer": 90, "operational": 70, "strategic": 60},
            "dimensions": {name: {"score": float(i)} for i, name in enumerate(DIMENSION_NAMES)},
        },
        "actions": [
            {
                "action": "notify",
                "rule": "late_risk_notify",
                "params": {"channel": "push"},
                "reason": "Late risk 85%",
                "fired": fired,
            }
        ],
        "model_versions": {"delay": "v3", "value": "v2"},
        "feature_freshness": {"weather": 120.0, "tracking": None},
        "degraded": [],
    }
    return Prediction.model_validate(payload)


@pytest.fixture
def prediction_factory():
    return make_prediction
