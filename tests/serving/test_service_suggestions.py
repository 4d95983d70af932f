"""Suggest, then confirm, over real HTTP: a suggest rule makes a pending suggestion; people list,
confirm and reject them (recorded as the deciding API key); concurrent confirmations fire once;
an expired suggestion cannot be confirmed; nothing is lost when the service dies in between."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from serving.policy import DEFAULT_POLICY_FILE
from serving.schemas import EXAMPLE_ORDER, ErrorBody
from tests.serving.live import copy_serving_home, kill_hard, running_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEYS = {"oms": "key-oms-123", "cs-lead": "key-lead-456", "cs-deputy": "key-deputy-789"}
OMS, LEAD, DEPUTY = ({"X-API-Key": KEYS[name]} for name in ("oms", "cs-lead", "cs-deputy"))


def _policy(path: Path) -> Path:
    """The shipped policy plus two suggest rules every test order meets: expedite (24 h to
    decide) and, for orders of 5,000 or more, reroute (2 s to decide: it expires)."""
    policy = yaml.safe_load(DEFAULT_POLICY_FILE.read_text())
    policy["rules"] += [
        {
            "name": "review_expedite",
            "priority": 200,
            "window_hours": 24,
            "description": "Expedite? (risk {p_late:.0%})",
            "mode": "suggest",
            "suggestion_expires_hours": 24,
            "then": [{"action": "expedite"}],
        },
        {
            "name": "review_reroute",
            "priority": 199,
            "window_hours": 24,
            "when": {"order_value": {"gte": 5000}},
            "mode": "suggest",
            "suggestion_expires_hours": 2 / 3600,
            "then": [{"action": "reroute_warehouse"}],
        },
    ]
    path.write_text(yaml.safe_dump(policy))
    return path


@pytest.fixture(scope="module")
def home(serving_home, tmp_path_factory) -> Path:
    return copy_serving_home(serving_home.home, tmp_path_factory.mktemp("suggest") / "home")


def _env(home: Path) -> dict[str, str]:
    return {
        "ORDERLENS_SERVING__API_KEYS": json.dumps(KEYS),
        "ORDERLENS_SERVING__POLICY_FILE": str(_policy(home.parent / "policy.yaml")),
        "ORDERLENS_SERVING__FEATURE_TIMEOUT_MS": "1500",
    }


@pytest.fixture(scope="module")
def server(home):
    with running_server(home, home.parent / "server.log", **_env(home)) as running:
        yield running


def _suggest(server, **changes: Any) -> dict[str, Any]:
    """Score one fresh order; returns its expedite action."""
    order = {**EXAMPLE_ORDER, "order_id": f"S{uuid.uuid4().hex[:10]}", **changes}
    with server.client(headers=OMS) as http:
        response = http.post("/predict", json={"orders": [order]})
    assert response.status_code == 200, response.text
    (prediction,) = response.json()["predictions"]
    return {a["action"]: a for a in prediction["actions"]} | {"order": order}


def _decide(http, verb: str, ids: list[str], reason: str = "", **kw):
    return http.post(f"/suggestions/{verb}", json={"suggestion_ids": ids, "reason": reason}, **kw)


def test_a_suggest_rule_makes_a_pending_suggestion(server):
    actions = _suggest(server)
    expedite = actions["expedite"]
    assert expedite["status"] == "suggested" and not expedite["fired"]
    sid = expedite["suggestion_id"]
    with server.client(headers=LEAD) as http:
        listed = http.get("/suggestions", params={"action": "expedite"}).json()["suggestions"]
        (mine,) = [s for s in listed if s["suggestion_id"] == sid]
        assert mine["status"] == "pending" and mine["order_id"] == actions["order"]["order_id"]
        assert mine["reason"].startswith("Expedite?") and mine["tier"]
        # Scored again while it waits: the same suggestion, not a second one.
        again = http.post("/predict", json={"orders": [actions["order"]]}, headers=OMS).json()
        (same,) = [a for a in again["predictions"][0]["actions"] if a["action"] == "expedite"]
        assert (same["status"], same["suggestion_id"]) == ("pending", sid)
        young = http.get("/suggestions", params={"min_age_minutes": 60}).json()["suggestions"]
        assert sid not in {s["suggestion_id"] for s in young}


def test_concurrent_confirmations_fire_once_and_record_the_decider(server):
    sid = _suggest(server)["expedite"]["suggestion_id"]
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def confirm(headers: dict[str, str]) -> None:
        with server.client(headers=headers) as http:
            start.wait()
            response = _decide(http, "confirm", [sid], "customer is a VIP")
        with lock:
            results.append((response.status_code, response.json()))

    threads = [threading.Thread(target=confirm, args=((LEAD, DEPUTY)[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * 7, statuses
    (won,) = [body for status, body in results if status == 200]
    (decided,) = won["decided"]
    assert decided["fired"] is True
    assert decided["suggestion"]["status"] == "confirmed"
    assert decided["suggestion"]["decided_by"] in ("cs-lead", "cs-deputy")
    assert decided["suggestion"]["decision_reason"] == "customer is a VIP"
    lost = ErrorBody.model_validate(next(b for s, b in results if s == 409))
    assert lost.error.code == "already_decided"
    assert "already confirmed by cs-" in lost.error.fields[0].problem


def test_reject_then_confirm_is_a_409_and_unknown_ids_a_404(server):
    first = _suggest(server)["expedite"]["suggestion_id"]
    second = _suggest(server)["expedite"]["suggestion_id"]
    with server.client(headers=LEAD) as http:
        rejected = _decide(http, "reject", [first], "not worth it")
        assert rejected.status_code == 200
        assert rejected.json()["decided"][0]["suggestion"]["status"] == "rejected"
        assert rejected.json()["decided"][0]["fired"] is False
        late = _decide(http, "confirm", [first, second])
        assert late.status_code == 409  # all or nothing: the second one stays pending
        assert [f["field"] for f in late.json()["error"]["fields"]] == ["suggestion_ids[0]"]
        pending = {s["suggestion_id"] for s in http.get("/suggestions").json()["suggestions"]}
        assert second in pending
        unknown = _decide(http, "confirm", [second, "sg_0123456789abcdef0123"])
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "unknown_suggestion"
        assert _decide(http, "confirm", ["not-an-id"]).status_code == 400
        assert _decide(http, "confirm", []).status_code == 400


def test_an_expired_suggestion_cannot_be_confirmed(server):
    reroute = _suggest(server, order_value=6000.0)["reroute_warehouse"]
    assert reroute["status"] == "suggested"
    sid = reroute["suggestion_id"]
    with server.client(headers=LEAD) as http:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # it expires 2 s after it was suggested
            listed = http.get("/suggestions", params={"status": "expired"}).json()
            if sid in {s["suggestion_id"] for s in listed["suggestions"]}:
                break
            time.sleep(0.2)
        else:
            pytest.fail("never expired")
        answer = _decide(http, "confirm", [sid])
        assert answer.status_code == 410, answer.text
        assert answer.json()["error"]["code"] == "suggestion_expired"
        assert "expired at" in answer.json()["error"]["fields"][0]["problem"]


def test_a_suggestion_survives_the_service_dying_before_the_decision(server, home):
    """Last in the module: it kills the module's server."""
    sid = _suggest(server)["expedite"]["suggestion_id"]
    kill_hard(server)
    restarted = running_server(home, home.parent / "restarted.log", **_env(home))
    with restarted as again, again.client(headers=LEAD) as http:
        pending = {s["suggestion_id"] for s in http.get("/suggestions").json()["suggestions"]}
        assert sid in pending
        decided = _decide(http, "confirm", [sid], "after the restart")
        assert decided.status_code == 200, decided.text
        (one,) = decided.json()["decided"]
        assert one["fired"] and one["suggestion"]["decided_by"] == "cs-lead"
