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


def test_entry_point_hides_library_noise_even_after_a_library_resets_the_filters(tmp_path):
    """Feast calls ``warnings.simplefilter("once", DeprecationWarning)`` when imported."""
    shown: list[str] = []
    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.showwarning = lambda message, *args, **kwargs: shown.append(str(message))
        quiet_third_party_warnings()
        warnings.simplefilter("once", DeprecationWarning)  # what feast does at import
        warnings.simplefilter("once", RuntimeWarning)
        library = str(tmp_path / "site-packages" / "feast" / "feature_store.py")
        warnings.warn_explicit("library deprecation", DeprecationWarning, library, 1)
        warnings.warn_explicit(
            "On demand feature view is an experimental feature", RuntimeWarning, library, 2
        )
        warnings.warn_explicit("ours", DeprecationWarning, __file__, 3)
    assert shown == ["ours"]
