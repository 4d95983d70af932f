"""Quiet output: the service imports without a DeprecationWarning even when they are errors, and
the entry points hide third-party deprecations while ours stay visible."""

from __future__ import annotations

import subprocess
import sys
import warnings

from orderlens.console import quiet_third_party_warnings


def test_service_imports_with_deprecations_as_errors():
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", "import serving.service"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def _raise_from(module: str, category: type[Warning]) -> None:
    code = compile(f"import warnings\nwarnings.warn('x', {category.__name__})", module, "exec")
    exec(code, {"__name__": module})


def test_entry_point_filter_hides_libraries_and_shows_ours():
    with warnings.catch_warnings(record=True) as seen:
        warnings.resetwarnings()
        quiet_third_party_warnings()
        _raise_from("ibis.backends.duckdb", DeprecationWarning)
        _raise_from("evidently.legacy.tests.utils", FutureWarning)
        _raise_from("features.store", DeprecationWarning)
        _raise_from("training.delay", FutureWarning)
    assert [w.category for w in seen] == [DeprecationWarning, FutureWarning]
