"""What the console shows: the project's own lines and progress, not the libraries' warnings.

The stack warns about itself on every run (deprecations between its own releases, Feast calling
its on-demand views experimental, evidently touching ``numpy.core``): news for the libraries'
authors, noise between the main job's lines. :func:`quiet_third_party_warnings` is called at the
entry points (the ``orderlens`` command, before any command runs). Warnings raised by this
project's own modules stay visible, and the tests turn our deprecations into failures
(``filterwarnings`` in ``pyproject.toml``). Where a warning's cause was ours (a library version
we chose), the fix is a constraint in ``pyproject.toml`` (``[tool.uv] constraint-dependencies``),
not a filter here.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from orderlens.settings import PROJECT_ROOT

THIRD_PARTY_NOISE = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
"""Categories that are the libraries' business when a library raises them."""

KNOWN_MESSAGES = ("On demand feature view is an experimental feature",)
"""Third-party warnings of other categories that say nothing actionable (Feast, every call)."""


def quiet_third_party_warnings() -> None:
    """Hide third-party deprecation and future warnings (and the known noise above) on this
    process's console; ours stay shown. Idempotent.

    The display hook decides, not the warning filters: Feast resets the filters when imported
    (``warnings.simplefilter("once", DeprecationWarning)`` in several modules), and filters set
    here would also override a test's ``error`` filters for our modules when a flow is called
    inside a test. A warning of a noisy category is shown only when it points into this
    project's code; what the filters decide (``error`` included) is left as it is.
    """
    if not getattr(warnings.showwarning, "_orderlens_quiet", False):
        warnings.showwarning = _quiet_display(warnings.showwarning)


def is_ours(filename: str) -> bool:
    """Whether a warning's file is this project's code (not an installed library)."""
    path = Path(filename).resolve()
    return path.is_relative_to(PROJECT_ROOT) and not any(
        part in {"site-packages", ".venv", ".tools"} for part in path.parts
    )


def _quiet_display(show: Callable[..., None]) -> Callable[..., None]:
    def display(message, category, filename, lineno, file=None, line=None) -> None:
        text = str(message)
        noise = issubclass(category, THIRD_PARTY_NOISE) or any(m in text for m in KNOWN_MESSAGES)
        if noise and not is_ours(filename):
            return
        show(message, category, filename, lineno, file, line)

    display._orderlens_quiet = True  # type: ignore[attr-defined]
    return display


def ignore_known_library_deprecations() -> None:
    """Ignore deprecations a library raises about its own dependencies at import, whatever the
    process's other filters (even ``-W error::DeprecationWarning``): BentoML 1.4's SDK calling a
    pydantic 2.11-deprecated schema hook. Narrow by category and module."""
    try:
        from pydantic.warnings import PydanticDeprecatedSince211
    except ImportError:  # an older pydantic: nothing to ignore
        return
    warnings.filterwarnings(
        "ignore", category=PydanticDeprecatedSince211, module=r"_bentoml_sdk(\.|$)"
    )
