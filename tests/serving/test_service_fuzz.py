"""API fuzzing from the service's own OpenAPI document: Schemathesis with **all** its checks
(server errors, status codes, content types, response schemas and headers, schema-valid data
accepted, schema-violating data refused, undeclared methods, ignored auth, ...) over its
examples, coverage and fuzzing phases, positive and negative data.

It runs the ``schemathesis`` command line against a live server, as an operator would, with
:mod:`tests.serving.fuzz_hooks` keeping the rules between fields that JSON Schema cannot state.
Seeds are fixed: a failure reproduces.
"""

from __future__ import annotations

import json

import pytest

from tests.serving.live import copy_serving_home, running_server, schemathesis

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_every_check_holds_on_1000_generated_cases(server, tmp_path):
    """The open service (no keys): at least 1,000 cases, 0 server errors, 0 failed checks."""
    generated, passed, output = schemathesis(
        server.url, tmp_path, "--max-examples", "150", "--seed", "7"
    )
    assert generated >= 1_000, output[-2000:]
    assert passed == generated, output[-3000:]


def test_every_check_holds_with_api_keys(serving_home, tmp_path):
    """With keys the document declares them (``ignored_auth`` checks that a request without one
    is refused); the wrong-key limit is raised so the probes do not block the fuzzer."""
    home = copy_serving_home(serving_home.home, tmp_path / "home")
    env = {
        "ORDERLENS_SERVING__API_KEYS": json.dumps({"fuzzer": "k-fuzz-1"}),
        "ORDERLENS_SERVING__AUTH_FAILURES_PER_MINUTE": "1000000",
        "ORDERLENS_SERVING__AUTH_FAILURES_BURST": "100000",
        "ORDERLENS_SERVING__MAX_ORDERS_PER_REQUEST": "500",
        "ORDERLENS_SERVING__FEATURE_TIMEOUT_MS": "1500",
    }
    with running_server(home, tmp_path / "server.log", **env) as keyed:
        generated, passed, output = schemathesis(
            keyed.url,
            tmp_path,
            "-H",
            "X-API-Key: k-fuzz-1",
            "--max-examples",
            "20",
            "--seed",
            "11",
        )
    assert generated >= 200 and passed == generated, output[-3000:]
