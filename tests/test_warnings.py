"""Quiet output: the service imports without a DeprecationWarning even when they are errors, and
the entry points hide third-party deprecations while ours stay visible."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

from orderlens.console import quiet_third_party_warnings


def test_service_imports_with_deprecations_as_errors():
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", "import serving.service"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_entry_point_hides_libraries_and_shows_ours():
    library = str(Path(warnings.__file__).parent / "site-packages" / "ibis" / "duckdb.py")
    ours = str(Path(__file__).resolve().parents[1] / "features" / "store.py")
    with warnings.catch_warnings(record=True) as seen:
        warnings.resetwarnings()
        quiet_third_party_warnings()
        warnings.warn_explicit("theirs", DeprecationWarning, library, 1)
        warnings.warn_explicit("theirs", FutureWarning, library, 2)
        warnings.warn_explicit("ours", DeprecationWarning, ours, 3)
        warnings.warn_explicit("ours", FutureWarning, ours, 4)
        warnings.warn_explicit("a library's own news", UserWarning, library, 5)
    assert [(str(w.message), w.category) for w in seen] == [
        ("ours", DeprecationWarning),
        ("ours", FutureWarning),
        ("a library's own news", UserWarning),
    ]


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
