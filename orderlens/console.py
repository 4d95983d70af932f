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

OUR_MODULES = r"(orderlens|cli|simulator|features|nlp|training|serving|reports|pipelines)(\.|$)"
"""The project's packages, as a regular expression over a warning's module."""

THIRD_PARTY_NOISE = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
"""Categories that are the libraries' business when a library raises them."""

KNOWN_MESSAGES = ("On demand feature view is an experimental feature",)
"""Third-party warnings of other categories that say nothing actionable (Feast, every call)."""


def quiet_third_party_warnings() -> None:
    """Hide third-party deprecation and future warnings (and the known noise above) for this
    process; ours stay shown. Idempotent; nothing else changes.

    Filters alone do not hold: Feast resets them when imported (``warnings.simplefilter("once",
    DeprecationWarning)`` in several modules). So the display hook decides as well: a warning of
    a noisy category is shown only when it points into this project's code.
    """
    for category in THIRD_PARTY_NOISE:
        warnings.filterwarnings("ignore", category=category)
    for message in KNOWN_MESSAGES:
        warnings.filterwarnings("ignore", message=message)
    # Inserted last, so first in the list: our own modules' warnings are always shown.
    for category in THIRD_PARTY_NOISE:
        warnings.filterwarnings("default", category=category, module=OUR_MODULES)
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
