"""The prediction service over real HTTP: predictions, reasons, actions, the ledger, the one
error shape, metadata and the OpenAPI document."""

from __future__ import annotations

import copy
import threading
import time
from collections import Counter
from typing import Any

import orjson
import pytest

from orderlens.dimensions import DIMENSION_NAMES
from serving.policy import load_policy
from serving.schemas import EXAMPLE_INPUT, ErrorBody, PredictResponse
from tests.serving.live import order_payloads

VALUE_TIER_RULES = {
    rule.name
    for rule in load_policy().rules
    if not any(name in ("p_late", "expected_hours", "p90_hours") for name, _, _ in rule.screens)
}
"""Shipped rules with no condition on the delay risk (they act on the value tier alone)."""

pytestmark = [pytest.mark.integration, pytest.mark.slow]
JSON_BODY = {"content-type": "application/json"}


def _predict(client, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = client.post("/predict", json={"orders": orders})
    assert response.status_code == 200, response.text
    body = response.json()
    PredictResponse.model_validate(body)  # the documented response model
    return body["predictions"]


def _error(response, status: int) -> ErrorBody:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    return ErrorBody.model_validate(response.json())


@pytest.fixture(scope="module")
def batch(serving_home, server) -> tuple[list[dict], list[dict]]:
    """100 real orders scored 30 h after creation, and their predictions."""
    orders = order_payloads(serving_home.orders.iloc[2000:2100], suffix="-batch")
    with server.client() as http:
        return orders, _predict(http, orders)


def test_example_input_gets_a_full_prediction_with_reasons(client, serving_home):
    (prediction,) = _predict(client, EXAMPLE_INPUT["orders"])
    assert prediction["order_id"] == EXAMPLE_INPUT["orders"][0]["order_id"]
    delay = prediction["delay"]
    assert 0.0 <= delay["probability"] <= 1.0
    assert delay["p90_hours"] >= 0 and delay["expected_hours"] >= 0
    # A single order always explains itself: reasons with texts and contributions.
    assert delay["reasons"], prediction
    assert all(r["text"] and r["group"] for r in delay["reasons"])
    assert set(prediction["value"]["dimensions"]) == set(DIMENSION_NAMES)
    assert prediction["model_versions"]["model_set"] == serving_home.champion
    # The example order's day need not be in this world's online store: every view it could
    # not use is named with the reason (never left out silently), and the store itself answered.
    views = {d.split(":")[0] for d in prediction["degraded"]}
    assert views <= set(prediction["feature_freshness"]), prediction["degraded"]
    assert all(prediction["feature_freshness"][v] is None for v in views)


def test_an_order_with_only_the_contract_core_is_answered(client):
    """Optional order fields left out and categories the models never saw: a full answer
    (missing and unseen values are missing features), with no "None" in the reason texts."""
    core = ("order_id", "customer_id", "created_at", "promised_at", "order_value", "as_of")
    order = {k: EXAMPLE_INPUT["orders"][0][k] for k in core}
    bare = {**order, "order_id": "CORE-1", "dest_lat": -23.55, "dest_lon": -46.63}
    foreign = {**order, "order_id": "CORE-2", "dest_region": "SP", "channel": "Mercado Livre"}
    predictions = _predict(client, [bare, foreign])
    assert [p["order_id"] for p in predictions] == ["CORE-1", "CORE-2"]
    for prediction in predictions:
        assert 0.0 <= prediction["delay"]["probability"] <= 1.0
        assert all("None" not in r["text"] for r in prediction["delay"]["reasons"]), prediction


def test_batch_answers_every_order_in_order_with_reasons_where_actions_fire(batch):
    orders, predictions = batch
    assert [p["order_id"] for p in predictions] == [o["order_id"] for o in orders]
    with_actions = [p for p in predictions if p["actions"]]
    assert with_actions, "a 100-order batch of the smoke world triggers some action"
    for p in with_actions:
        # Every action says why it fired; risk-driven ones (every risk rule needs P(late) at
        # "high" or above) also carry the delay reasons. A low-risk order acting on its value
        # tier alone has nothing raising its risk to explain: its reason is the tier.
        assert all(a["reason"] for a in p["actions"]), p["actions"]
        if p["delay"]["risk_level"] in ("high", "critical"):
            assert p["delay"]["reasons"], f"{p['order_id']} acts on its risk without reasons"
        else:
            assert {a["rule"] for a in p["actions"]} <= VALUE_TIER_RULES, p["actions"]
        # First time these orders are scored: nothing is suppressed or already pending; the
        # actions of suggest rules wait for a person, the others fire.
        assert {a["status"] for a in p["actions"]} <= {"fired", "suggested"}, p["actions"]
        assert all(a["fired"] == (a["status"] == "fired") for a in p["actions"])
    # Online features were read: the views' freshness is reported for real orders.
    assert any(v is not None for p in predictions for v in p["feature_freshness"].values())


def test_value_reasons_only_when_asked(client, serving_home):
    (order,) = order_payloads(serving_home.orders.iloc[10:11], suffix="-value")
    (plain,) = _predict(client, [order])
    assert all(d.get("reasons") is None for d in plain["value"]["dimensions"].values())
    (explained,) = _predict(client, [{**order, "explain_value": True}])
    dims = explained["value"]["dimensions"]
    assert any(d.get("reasons") for d in dims.values())


def test_rescoring_does_not_fire_the_same_action_twice(client, batch):
    orders, predictions = batch
    acted_before = {p["order_id"]: p["actions"] for p in predictions if p["actions"]}
    again = _predict(client, [o for o in orders if o["order_id"] in acted_before])
    for p in again:
        before = {(a["action"], a["rule"]): a for a in acted_before[p["order_id"]]}
        for a in p["actions"]:
            first = before.get((a["action"], a["rule"]))
            if first is None:
                continue
            if first["status"] == "fired":
                assert a["status"] == "suppressed", f"{p['order_id']} {a} fired twice"
            else:  # still waiting for a person: the same suggestion, not a second one
                assert (a["status"], a["suggestion_id"]) == ("pending", first["suggestion_id"])


def test_concurrent_requests_fire_each_action_once(server, serving_home, batch):
    orders, predictions = batch
    acting = [o for o, p in zip(orders, predictions, strict=True) if p["actions"]][:3]
    fresh = [{**o, "order_id": o["order_id"] + "-concurrent"} for o in acting]
    seen: dict[tuple[str, str, str], list[tuple[str, str | None]]] = {}
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def hit() -> None:
        with server.client() as http:
            start.wait()
            response = http.post("/predict", json={"orders": fresh})
        if response.status_code != 200:
            errors.append(response.text)
            return
        with lock:
            for p in response.json()["predictions"]:
                for a in p["actions"]:
                    key = (p["order_id"], a["action"], a["rule"])
                    seen.setdefault(key, []).append((a["status"], a.get("suggestion_id")))

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert seen
    for key, answers in seen.items():
        statuses = Counter(status for status, _ in answers)
        # Fired exactly once (then suppressed), or suggested exactly once (then pending, the
        # same suggestion).
        assert statuses in (
            Counter({"fired": 1, "suppressed": 7}),
            Counter({"suggested": 1, "pending": 7}),
        ), (key, statuses)
        assert len({sid for _, sid in answers}) == 1, (key, answers)


# ---- one error shape --------------------------------------------------------------------------


def _with(**changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(EXAMPLE_INPUT)
    payload["orders"][0].update(changes)
    return payload


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (_with(promised_at="2025-06-15T00:00:00+08:00"), "orders[0].promised_at"),
        (_with(created_at="2025-06-16T09:30:00"), "orders[0].created_at"),  # no timezone
        (_with(order_value=-5), "orders[0].order_value"),
        (_with(discount=5000.0), "orders[0].discount"),
        (_with(channel=""), "orders[0].channel"),
        (_with(n_items="two"), "orders[0].n_items"),
        (_with(order_id=""), "orders[0].order_id"),
        (_with(surprise=1), "orders[0].surprise"),
        (_with(contact_preferences=["push", "push"]), "orders[0].contact_preferences"),
        ({"orders": []}, "orders"),
        ({"orders": "many"}, "orders"),
        ({"order": []}, "orders"),
        ([1, 2], "(request)"),
        ({"orders": [EXAMPLE_INPUT["orders"][0]] * 2}, "orders[1].order_id"),  # repeated id
    ],
)
def test_bad_input_is_a_400_naming_the_field(client, payload, field):
    body = _error(client.post("/predict", json=payload), 400)
    assert body.error.code == "invalid_request"
    assert field in {f.field for f in body.error.fields}, body


def test_too_many_orders_is_a_400_naming_the_orders(client):
    order = EXAMPLE_INPUT["orders"][0]
    orders = [{**order, "order_id": f"X{i}"} for i in range(501)]  # the test server allows 500
    body = _error(client.post("/predict", json={"orders": orders}), 400)
    assert body.error.code == "too_many_orders"
    assert [f.field for f in body.error.fields] == ["orders"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"promised_at": "9999-12-31T23:00:00-10:00"}, "orders[0].promised_at"),  # was a 500
        ({"created_at": "0001-01-01T00:00:00+08:00"}, "orders[0].created_at"),
        ({"order_value": 1e308}, "orders[0].order_value"),
        ({"is_presale": "yes"}, "orders[0].is_presale"),
        ({"created_at": 0}, "orders[0].created_at"),
        ({"as_of": "2025-06-16T09:00:00+08:00"}, "orders[0].as_of"),
        ({"promised_at": "2035-06-18T21:00:00+08:00"}, "orders[0].promised_at"),
        ({"dest_region": "Zheng\u0000zhou"}, "orders[0].dest_region"),
        ({"dest_region": "Zheng\u200bzhou"}, "orders[0].dest_region"),
    ],
)
def test_what_the_probes_found_is_refused(client, changes, field):
    """The issue's probes: each once answered 200 (or 500); now a 400 naming the field."""
    body = _error(client.post("/predict", json=_with(**changes)), 400)
    assert field in {f.field for f in body.error.fields}, body


def test_a_body_that_is_not_json_is_a_415(client):
    response = client.post(
        "/predict", content=orjson.dumps(EXAMPLE_INPUT), headers={"content-type": "text/plain"}
    )
    assert _error(response, 415).error.code == "unsupported_media_type"


@pytest.mark.parametrize("raw", [b"{bad", b"", b"\xff\xfe", b'{"orders": [}'])
def test_bad_json_is_a_400(client, raw):
    body = _error(client.post("/predict", content=raw, headers=JSON_BODY), 400)
    assert body.error.code == "invalid_json"


def test_unknown_route_and_wrong_method_have_the_error_shape(client):
    assert _error(client.get("/no/such/route"), 404).error.code == "not_found"
    assert _error(client.post("/nope", json={}), 404).error.code == "not_found"
    assert _error(client.get("/predict"), 405).error.code == "method_not_allowed"
    # Debug endpoints are hidden unless enabled; here they are (fault tests), and still shaped.
    assert (
        _error(client.post("/admin/fault", content=b"[]", headers=JSON_BODY), 400).error.code
        == "invalid_request"
    )


# ---- health, metadata, documentation ----------------------------------------------------------


def test_health_metadata_and_log(client, serving_home):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    meta = client.get("/metadata").json()
    assert meta["model_set"] == serving_home.champion
    assert meta["metrics"]["delay"]["auc"] > 0.5
    assert "hours_to_promise" in meta["features"]["delay"]
    assert "ticket_text" in meta  # the label set of the ticket-text version (None: no tickets)
    # Predictions reach the prediction log (flushed every second on the test server).
    from orderlens.records import read_prediction_log

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        logged = read_prediction_log(serving_home.settings)
        if len(logged):
            break
        time.sleep(0.5)
    assert len(logged) and logged["p_late"].notna().all()


def test_openapi_states_the_limits_and_rules_the_service_enforces(client):
    doc = client.get("/docs.json").json()
    assert doc["openapi"].startswith("3.1")
    for route in ("/predict", "/metadata", "/healthz", "/readyz", "/admin/reload", "/suggestions"):
        assert route in doc["paths"], route
    predict = doc["paths"]["/predict"]["post"]
    body = predict["requestBody"]["content"]["application/json"]
    assert body["example"] == EXAMPLE_INPUT
    orders = body["schema"]["properties"]["orders"]
    assert orders["maxItems"] == 500  # the test server's limit, as enforced
    rules = {r["rule"] for r in orders["items"]["x-row-rules"]}
    assert "orders.promise_after_creation" in rules and "as_of" in rules
    assert {"200", "400", "401", "413", "415", "429"} <= set(predict["responses"])
    assert "422" not in predict["responses"]  # FastAPI's own validation answer is not ours
    for route, item in doc["paths"].items():
        if route not in ("/healthz", "/livez", "/readyz"):
            for op in item.values():
                assert {"401", "429"} <= set(op["responses"]), route
    assert {"PredictResponse", "ErrorBody", "SuggestionOut"} <= set(doc["components"]["schemas"])
