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
            "dimensions": {
                name: {"score": float(i), "status": "signal"}
                for i, name in enumerate(DIMENSION_NAMES)
            }
            | {"referral_leads": {"score": None, "status": "no_signal"}},
            "contribution": {
                "amount": 312.5,
                "currency": "CNY",
                "parts": {"gross_margin": 300.0, "average_without_signal": 12.5},
            },
        },
        "actions": [
            {
                "action": "notify",
                "rule": "late_risk_notify",
                "params": {"channel": "push"},
                "reason": "Late risk 85%",
                "status": "fired" if fired else "suppressed",
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


# ---- a real service (integration) -------------------------------------------------------------

SERVER_ENV = {
    "ORDERLENS_SERVING__DEBUG_FAULTS": "true",
    "ORDERLENS_SERVING__RATE_LIMIT_PER_SECOND": "0",  # the fuzz and load tests are one client
    "ORDERLENS_SERVING__MAX_ORDERS_PER_REQUEST": "500",
    # Generous: the test machine is shared; the fault tests slow the store far beyond it.
    "ORDERLENS_SERVING__FEATURE_TIMEOUT_MS": "1500",
    "ORDERLENS_SERVING__BREAKER_FAILURES": "3",
    "ORDERLENS_SERVING__BREAKER_COOLDOWN_SECONDS": "2",
    "ORDERLENS_SERVING__RELOAD_SECONDS": "1",
    "ORDERLENS_SERVING__LOG_FLUSH_SECONDS": "1",
}


@pytest.fixture(scope="session")
def serving_home(tmp_path_factory):
    """A smoke home with a champion and a spare candidate (≈1–2 min, once per session)."""
    from tests.serving.live import build_home

    return build_home(tmp_path_factory.mktemp("serving_home"))


@pytest.fixture(scope="session")
def server(serving_home, tmp_path_factory):
    """The service over real HTTP on a free loopback port (debug faults on, no rate limit)."""
    from tests.serving.live import running_server

    log = tmp_path_factory.mktemp("server_log") / "server.log"
    with running_server(serving_home.home, log, **SERVER_ENV) as running:
        yield running


@pytest.fixture
def client(server):
    with server.client() as http:
        yield http
