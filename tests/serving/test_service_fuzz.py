"""API fuzzing from the service's own OpenAPI document (schemathesis): whatever the generated
input, the service never answers 5xx, and what it answers matches the documented schemas.

Operations are loaded from the running server's ``/docs.json`` inside the test (schemathesis 4's
``pytest.from_fixture`` fails on pytest 9 here: ``'Function' object has no attribute '_nodeid'``),
and each one is driven by Hypothesis with a bounded number of examples (< 1 min in all).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CHECKS = [not_a_server_error, response_schema_conformance]
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same examples every run: a failure reproduces
    database=None,
)


@pytest.fixture(scope="module")
def api(server):
    return schemathesis.openapi.from_url(f"{server.url}/docs.json")


def test_schema_lists_every_route(api):
    routes = {f"{op.method.upper()} {op.path}" for op in _operations(api)}
    assert {"POST /predict", "GET /metadata", "GET /healthz", "GET /readyz"} <= routes


def test_valid_inputs_never_get_a_server_error(api, server):
    """Schema-conforming requests to every operation: 2xx/4xx with documented bodies."""
    for operation in _operations(api):

        @given(case=operation.as_strategy())
        @FUZZ
        def run(case) -> None:
            case.call_and_validate(base_url=server.url, checks=CHECKS)

        run()


def test_invalid_predict_requests_get_the_error_shape(api, server):
    """Requests that break the schema (wrong types, missing fields, out-of-range values):
    every answer is a 4xx whose body is the documented error shape."""
    statuses: set[int] = set()

    @given(
        case=api["/predict"]["POST"].as_strategy(
            generation_mode=schemathesis.GenerationMode.NEGATIVE
        )
    )
    @settings(FUZZ, max_examples=60)
    def run(case) -> None:
        response = case.call_and_validate(base_url=server.url, checks=CHECKS)
        statuses.add(response.status_code)

    run()
    assert statuses and all(400 <= s < 500 for s in statuses), statuses


def _operations(api) -> list:
    return [result.ok() for result in api.get_all_operations()]
