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
    request_model,
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
    payload = _request_with(dest_region=_DROP, dest_lat=_DROP, dest_lon=_DROP)
    ((path, problem),) = _problem_fields(payload).items()
    assert path == "orders[0].dest_region" and "destination" in problem
    unpaired = _problem_fields(_request_with(dest_lat=_DROP))
    assert list(unpaired) == ["orders[0].dest_lon"]


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
        ("payment_method", "  ", "pattern"),
        ("dest_lat", 91.0, "less than or equal to 90"),
        ("dest_lon", -181.0, "greater than or equal to -180"),
        ("n_items", 0, "greater than or equal to 1"),
        ("order_value", 0.0, "greater than or equal to 0.01"),
        ("order_value", math.nan, "finite"),
        ("freight_cost", -1.0, "greater than or equal to 0"),
        ("created_at", "2025-06-16T09:30:00", "RFC 3339 timestamp with an offset"),
        ("created_at", "yesterday", "RFC 3339"),
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
    problems = _problem_fields(_request_with(channel="", n_items=0, discount=-1.0))
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
    assert "repeats orders[0]" in problems["orders[1].order_id"]


def test_too_many_orders_is_a_400_with_its_own_code():
    payload = {"orders": [{**EXAMPLE_ORDER, "order_id": f"OL{i}"} for i in range(3)]}
    with pytest.raises(RequestError) as info:
        parse_request(payload, max_orders=2)
    assert info.value.status == 400
    assert info.value.body.error.code == "too_many_orders"
    assert [f.field for f in info.value.body.error.fields] == ["orders"]
    assert parse_request(payload, max_orders=3).orders[2].order_id == "OL2"


def test_the_model_states_and_applies_the_limit():
    limited = request_model(Order, max_orders=2)
    assert limited.model_json_schema()["properties"]["orders"]["maxItems"] == 2
    payload = {"orders": [{**EXAMPLE_ORDER, "order_id": f"OL{i}"} for i in range(3)]}
    with pytest.raises(ValidationError):
        limited.model_validate(payload)


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


# ---- strict input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("is_presale", "yes"),  # no coercion: "yes" is not a boolean ...
        ("is_presale", 1),
        ("explain_value", "true"),
        ("created_at", 0),  # ... 0 is not a timestamp ...
        ("created_at", 1718500000.0),
        ("n_items", "2"),  # ... "2" is not a number ...
        ("n_items", 2.5),
        ("n_items", True),
        ("order_value", "1899"),
        ("dest_region", 7),  # ... and 7 is not a name
        ("push_dismissals", 1.5),
    ],
)
def test_no_type_coercion(field: str, value: Any):
    assert list(_problem_fields(_request_with(**{field: value}))) == [f"orders[0].{field}"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("promised_at", "9999-12-31T23:00:00-10:00"),  # once a 500 in scoring (OverflowError)
        ("created_at", "0001-01-01T00:00:00+08:00"),
        ("created_at", "1999-12-31T23:59:59Z"),
        ("promised_at", "2100-01-01T00:00:00Z"),
        ("created_at", "2025-02-30T10:00:00Z"),  # no such day
        ("created_at", "2025-06-16T24:00:00Z"),
        ("created_at", "2025-06-16T09:30:00+24:00"),
        ("created_at", "2025-06-16 09:30:00+08:00"),  # RFC 3339 wants the T
        ("created_at", "2025-06-16T09:30+08:00"),  # ... and seconds
        ("created_at", "２０２５-06-16T09:30:00+08:00"),  # digits of another script
    ],
)
def test_timestamps_within_the_window_and_well_formed(field: str, value: Any):
    assert list(_problem_fields(_request_with(**{field: value}))) == [f"orders[0].{field}"]


def test_a_whole_number_is_an_integer_as_json_says():
    assert parse_request(_request_with(n_items=3.0)).orders[0].n_items == 3


def test_timestamps_in_any_offset_and_precision_are_read():
    order = parse_request(
        _request_with(
            created_at="2025-06-16T01:30:00Z",
            promised_at="2025-06-18T21:00:00.123456789-03:00",
            as_of="2025-06-17T08:00:00.5+08:00",
        )
    ).orders[0]
    assert order.promised_at.utcoffset().total_seconds() == -3 * 3600
    assert order.promised_at.microsecond == 123456
    assert order.as_of.microsecond == 500000


def test_times_a_batch_shares_are_read_alike_and_remembered_within_bounds():
    """A time written again (a batch's shared ``as_of``) is read from memory: the same moment,
    and a bad one still refused wherever it appears, beyond the memo's bound too."""
    orders = []
    for k in range(4_100):  # more distinct times than the memo keeps
        order = copy.deepcopy(EXAMPLE_ORDER)
        order["order_id"] = f"OL{k:09d}"
        order["as_of"] = f"2025-06-17T{k // 3600:02d}:{k // 60 % 60:02d}:{k % 60:02d}+08:00"
        orders.append(order)
    orders.append({**orders[0], "order_id": "OL999999999"})  # its time again, after the clear
    parsed = parse_request({"orders": orders}, max_orders=5_000).orders
    assert [o.as_of.isoformat() for o in parsed] == [o["as_of"] for o in orders]
    assert parsed[-1].as_of == parsed[0].as_of
    bad = [{**orders[0], "order_id": f"OL{k}", "as_of": "2025-02-30T08:00:00Z"} for k in range(3)]
    assert list(_problem_fields({"orders": [orders[0], *bad]})) == [
        f"orders[{k}].as_of" for k in (1, 2, 3)
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("order_value", 1e308),
        ("cogs", 1e10),
        ("freight_cost", -0.01),
        ("discount", 1e308),
        ("push_dismissals", 10_001),
    ],
)
def test_numbers_are_bounded(field: str, value: Any):
    assert f"orders[0].{field}" in _problem_fields(_request_with(**{field: value}))


@pytest.mark.parametrize(
    "name",
    [
        "Zheng\x00zhou",
        "Zheng\u200bzhou",
        "\u202eevil",
        "line\nbreak",
        "tab\there",
        "\ufeffBOM",
        " ",
    ],
)
def test_no_control_or_zero_width_characters_in_names(name: str):
    assert list(_problem_fields(_request_with(dest_region=name))) == ["orders[0].dest_region"]


def test_names_in_any_script_are_welcome():
    order = parse_request(
        _request_with(dest_region="郑州市 金水区", channel="Mercado Livre")
    ).orders[0]
    assert order.dest_region == "郑州市 金水区"


def test_rules_between_fields():
    problems = _problem_fields(
        _request_with(
            created_at="2025-06-16T09:30:00+08:00", promised_at="2035-06-16T09:30:00+08:00"
        )
    )
    assert "366 days" in problems["orders[0].promised_at"]
    assert (
        "before created_at"
        in _problem_fields(_request_with(as_of="2025-06-16T09:29:59+08:00"))["orders[0].as_of"]
    )
    pair = _problem_fields(_request_with(origin_lat=30.5))
    assert list(pair) == ["orders[0].origin_lon"]


def test_the_schema_states_the_rules():
    schema = PredictRequest.model_json_schema()
    order = schema["$defs"]["Order"]
    stated = {r["rule"] for r in order["x-row-rules"]}
    assert {f"orders.{r.name}" for r in ORDERS.rules} <= stated
    assert {"promise_horizon", "as_of"} <= stated
    created = order["properties"]["created_at"]
    assert created["format"] == "date-time" and created["pattern"].startswith("^(?:20[0-9]{2})-")
    assert order["properties"]["order_value"]["maximum"] == 1e9
    assert order["properties"]["contact_preferences"]["anyOf"][0]["uniqueItems"] is True
    assert set(order["required"]) == set(ORDERS.required_columns)
    assert order["additionalProperties"] is False
    n_items = order["properties"]["n_items"]["anyOf"][0]
    assert (n_items["minimum"], n_items["maximum"]) == (1, 10_000)
    assert '"ge"' not in str(schema).replace("'", '"')  # bounds in JSON Schema's own words


def test_allowed_values_in_settings_restrict_a_column():
    from orderlens.settings import load_settings
    from serving.schemas import order_model

    settings = load_settings(contract={"allowed_values": {"orders.channel": ["app", "web"]}})
    model = request_model(order_model(settings.serving, settings.contract))
    channel = model.model_json_schema()["$defs"]["Order"]["properties"]["channel"]["anyOf"][0]
    assert channel["enum"] == ["app", "web"]
    with pytest.raises(RequestError):
        parse_request(_request_with(channel="fax"), model=model)
    assert parse_request(_request_with(channel="web"), model=model).orders[0].channel == "web"


def test_row_rules_agree_with_ingest():
    """One set of row rules: each order-level check gives the verdict of the ingest's frame rule
    of the same name on the same rows (random orders, some breaking each rule)."""
    import random

    import pandas as pd

    from features.validation import ROW_RULES
    from serving.schemas import ROW_CHECKS

    rng = random.Random(5)
    rows = []
    for i in range(300):
        row = dict(EXAMPLE_ORDER, order_id=f"OL{i}")
        for name in ("discount", "dest_region", "dest_lat", "dest_lon", "origin_lat", "origin_lon"):
            if rng.random() < 0.3:
                row[name] = None
        if rng.random() < 0.2:
            row["discount"] = row["order_value"] + 1
        if rng.random() < 0.2:
            row["origin_lat"], row["origin_lon"] = 30.0, rng.choice([None, 114.0])
        if rng.random() < 0.2:
            row["promised_at"] = row["created_at"]
        rows.append(row)
    frame = pd.DataFrame(rows)
    for name in ("created_at", "promised_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    for name in ("discount", "dest_lat", "dest_lon", "origin_lat", "origin_lon"):
        frame[name] = pd.to_numeric(frame[name])
    orders = [
        Order.model_construct(**{**r, "created_at": c, "promised_at": p})
        for r, c, p in zip(rows, frame["created_at"], frame["promised_at"], strict=True)
    ]
    for rule in ORDERS.rules:
        _, broken = ROW_CHECKS[rule.name]
        served = [broken(o) for o in orders]
        ingested = ROW_RULES[rule.name](frame).fillna(False).astype(bool).tolist()
        assert served == ingested, rule.name
        assert any(served), f"no row breaks {rule.name}: the test cannot tell"


def test_a_shops_extra_columns_are_strict_optional_fields():
    """Declared extras (features.order_extras) are optional order fields under the same rules:
    no coercion, bounded numbers, offset-aware timestamps; undeclared fields are still refused."""
    from orderlens.settings import load_settings
    from serving.schemas import order_model

    extras = [
        {"name": "pack_price", "kind": "numeric"},
        {"name": "vendor", "kind": "categorical", "label": "Vendor"},
        {"name": "po_sent_at", "kind": "moment"},
    ]
    settings = load_settings(features={"order_extras": extras})
    model = request_model(
        order_model(settings.serving, settings.contract, settings.features.order_extras)
    )
    fine = {"pack_price": 12.5, "vendor": 7, "po_sent_at": "2025-06-10T08:00:00+08:00"}
    order = parse_request(_request_with(**fine), model=model).orders[0]
    assert (order.pack_price, order.vendor, order.po_sent_at.utcoffset().seconds) == (
        12.5,
        7,
        28800,
    )
    assert parse_request(_request_with(vendor="ACME"), model=model).orders[0].vendor == "ACME"
    assert parse_request(_request_with(), model=model).orders[0].vendor is None
    for field, bad in [
        ("pack_price", "cheap"),
        ("pack_price", "12"),
        ("pack_price", 1e308),
        ("vendor", "\u200b"),
        ("vendor", 2.5),
        ("po_sent_at", "2025-06-10T08:00:00"),
        ("po_sent_at", 0),
        ("not_declared", 1),
    ]:
        with pytest.raises(RequestError) as refused:
            parse_request(_request_with(**{field: bad}), model=model)
        assert refused.value.body.error.fields[0].field == f"orders[0].{field}", (field, bad)
