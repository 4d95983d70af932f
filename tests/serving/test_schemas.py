"""Request/response schemas: the example passes, every bad field is refused by its path."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from pydantic import ValidationError

from orderlens.contracts import ORDERS
from orderlens.dimensions import DIMENSION_NAMES
from serving.schemas import (
    EXAMPLE_INPUT,
    EXAMPLE_ORDER,
    Order,
    PredictRequest,
    PredictResponse,
    RequestError,
    ValuePrediction,
    field_path,
    parse_request,
    validation_error_body,
)


def _request_with(**changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(EXAMPLE_INPUT)
    for name, value in changes.items():
        if value is _DROP:
            del payload["orders"][0][name]
        else:
            payload["orders"][0][name] = value
    return payload


_DROP = object()


def _problem_fields(payload: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(RequestError) as info:
        parse_request(payload, **kwargs)
    body = info.value.body
    assert info.value.status == 400
    assert body.error.code == "invalid_request"
    return {f.field: f.problem for f in body.error.fields}


def test_example_input_is_valid():
    request = parse_request(EXAMPLE_INPUT)
    order = request.orders[0]
    assert order.order_id == EXAMPLE_ORDER["order_id"]
    assert order.dest_region == "Zhengzhou"
    assert order.contact_preferences == ("push", "sms")
    assert order.explain_value is False


def test_order_carries_every_orders_contract_column():
    assert set(ORDERS.column_names) <= set(Order.model_fields)


def test_as_of_defaults_to_now_and_optional_fields_to_unknown():
    payload = _request_with(as_of=_DROP, is_presale=_DROP, stage=_DROP)
    order = parse_request(payload).orders[0]
    assert order.as_of.tzinfo is not None
    assert order.is_presale is None
    assert order.stage is None


def test_only_the_contract_core_is_required():
    """The orders contract's core and a destination; every other order field may be left out."""
    core = ("order_id", "customer_id", "created_at", "promised_at", "order_value", "dest_region")
    order = parse_request({"orders": [{k: EXAMPLE_ORDER[k] for k in core}]}).orders[0]
    assert order.carrier_id is None and order.cogs is None and order.channel is None
    by_coordinates = {k: EXAMPLE_ORDER[k] for k in (*core[:-1], "dest_lat", "dest_lon")}
    assert parse_request({"orders": [by_coordinates]}).orders[0].dest_region is None


def test_a_destination_is_required():
    payload = _request_with(dest_region=_DROP, dest_lat=_DROP)
    ((path, problem),) = _problem_fields(payload).items()
    assert path == "orders[0]" and "destination" in problem


def test_any_category_name_is_accepted_trimmed():
    payload = _request_with(channel=" Mercado Livre ", payment_method="boleto", category="pets")
    order = parse_request(payload).orders[0]
    assert (order.channel, order.payment_method) == ("Mercado Livre", "boleto")


@pytest.mark.parametrize(
    ("field", "value", "expected_in_problem"),
    [
        ("promised_at", "2025-06-16T09:00:00+08:00", "after created_at"),
        ("discount", 5000.0, "must not exceed order_value"),
        ("channel", "", "at least 1 character"),
        ("service_level", "x" * 65, "at most 64 characters"),
        ("category", 7, "valid string"),
        ("payment_method", "  ", "at least 1 character"),
        ("dest_lat", 91.0, "less than or equal to 90"),
        ("dest_lon", -181.0, "greater than or equal to -180"),
        ("n_items", 0, "greater than or equal to 1"),
        ("order_value", 0.0, "greater than or equal to 0.01"),
        ("order_value", math.nan, "finite"),
        ("freight_cost", -1.0, "greater than or equal to 0"),
        ("created_at", "2025-06-16T09:30:00", "timezone"),
        ("created_at", "yesterday", "datetime"),
        ("order_id", "", "at least 1 character"),
        ("customer_id", "C 1; DROP TABLE", "pattern"),
        ("as_of", "2025-06-15T00:00:00+08:00", "before created_at"),
        ("stage", "lost", "Input should be"),
        ("push_dismissals", -1, "greater than or equal to 0"),
        ("contact_preferences", ["push", "push"], "twice"),
        ("contact_preferences", ["carrier_pigeon"], "Input should be"),
        ("explain_value", "perhaps", "boolean"),
        ("surprise", 1, "Extra inputs are not permitted"),
        ("order_value", _DROP, "Field required"),
    ],
)
def test_bad_field_is_named(field: str, value: Any, expected_in_problem: str):
    problems = _problem_fields(_request_with(**{field: value}))
    assert len(problems) == 1
    ((path, problem),) = problems.items()
    assert path.startswith(f"orders[0].{field}")  # list items add their index: ...[0]
    assert expected_in_problem in problem


def test_error_in_a_later_order_names_its_index():
    payload = copy.deepcopy(EXAMPLE_INPUT)
    for i in range(1, 5):
        payload["orders"].append({**EXAMPLE_ORDER, "order_id": f"OL{i}"})
    payload["orders"][3]["order_value"] = -5
    assert list(_problem_fields(payload)) == ["orders[3].order_value"]


def test_every_problem_is_reported_not_just_the_first():
    problems = _problem_fields(_request_with(channel="", n_items=0, discount=1e9))
    assert set(problems) == {"orders[0].channel", "orders[0].n_items", "orders[0].discount"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"orders": []}, "orders"),
        ({}, "orders"),
        ({"orders": "OL1"}, "orders"),
        ({**EXAMPLE_INPUT, "surprise": True}, "surprise"),
        ([], "(request)"),
    ],
)
def test_bad_envelope_is_named(payload: Any, field: str):
    assert field in _problem_fields(payload)


def test_duplicate_order_ids_are_refused():
    payload = {"orders": [EXAMPLE_ORDER, EXAMPLE_ORDER]}
    problems = _problem_fields(payload)
    assert "orders[1].order_id" in problems["orders"]


def test_too_many_orders_is_413_with_its_own_code():
    payload = {"orders": [{**EXAMPLE_ORDER, "order_id": f"OL{i}"} for i in range(3)]}
    with pytest.raises(RequestError) as info:
        parse_request(payload, max_orders=2)
    assert info.value.status == 413
    assert info.value.body.error.code == "too_many_orders"
    assert parse_request(payload, max_orders=3).orders[2].order_id == "OL2"


def test_model_validation_also_applies_the_limit_from_context():
    payload = {"orders": [{**EXAMPLE_ORDER, "order_id": f"OL{i}"} for i in range(3)]}
    with pytest.raises(ValidationError):
        PredictRequest.model_validate(payload, context={"max_orders": 2})


def test_error_body_shape_is_the_documented_one():
    with pytest.raises(ValidationError) as info:
        PredictRequest.model_validate(_request_with(discount=1e9))
    body = validation_error_body(info.value).model_dump()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["fields"][0]["field"] == "orders[0].discount"
    assert "orders[0].discount" in body["error"]["message"]


def test_field_path():
    assert field_path(("orders", 3, "order_value")) == "orders[3].order_value"
    assert field_path(("orders", 0, "contact_preferences", 1)) == (
        "orders[0].contact_preferences[1]"
    )
    assert field_path(()) == "(request)"


def test_response_round_trips(prediction_factory):
    response = PredictResponse(predictions=[prediction_factory("OL1")])
    again = PredictResponse.model_validate_json(response.model_dump_json())
    assert again == response
    assert set(again.predictions[0].value.dimensions.model_dump()) == set(DIMENSION_NAMES)


def test_value_needs_all_19_dimensions(prediction_factory):
    value = prediction_factory("OL1").value.model_dump()
    del value["dimensions"]["carbon_kg"]
    with pytest.raises(ValidationError, match="carbon_kg"):
        ValuePrediction.model_validate(value)
