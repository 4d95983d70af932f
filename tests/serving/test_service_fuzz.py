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
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orderlens.settings import PROJECT_ROOT
from tests.serving.live import copy_serving_home, running_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SUMMARY = re.compile(r"(\d+) generated, (\d+) passed")


def schemathesis(
    url: str, workdir: Path, *args: str, timeout: float = 1_200
) -> tuple[int, int, str]:
    """Run ``schemathesis run <url>/docs.json --checks all --mode all ...`` in ``workdir`` (where
    it keeps its caches); returns the cases generated, the cases passed and the output."""
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{url}/docs.json",
        "--checks",
        "all",
        "--mode",
        "all",
        "--no-color",
        "--workers",
        "2",
        "--request-timeout",
        "120",
        *args,
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "SCHEMATHESIS_HOOKS": "tests.serving.fuzz_hooks",
    }
    done = subprocess.run(
        command, env=env, cwd=workdir, capture_output=True, text=True, timeout=timeout
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    found = SUMMARY.search(output)
    assert found, output[-3000:]
    return int(found.group(1)), int(found.group(2)), output


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
