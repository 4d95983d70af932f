"""Prefect's run-time environment, set once at the entry point from the orderlens settings.

Prefect reads its configuration from ``PREFECT_*`` environment variables; this module is the one
place that sets them, so a flow run started from the CLI, a test or a worker behaves the same.
Nothing here runs at import: call :func:`prefect_environment` first thing in an entry point.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from orderlens.settings import Settings, load_settings

EPHEMERAL_STARTUP_TIMEOUT_SECONDS = 90
"""The embedded server takes ≈12–19 s to start here (2 shared cores), against Prefect's 20 s
default: a busy machine would fail the first flow run for no reason."""


def prefect_variables(settings: Settings, *, prefect_home: Path | None = None) -> dict[str, str]:
    """The ``PREFECT_*`` (and BentoML) variables the settings imply.

    Args:
        settings: the orderlens settings; ``production`` adds ``PREFECT_API_URL``.
        prefect_home: Prefect's state folder (default ``<home>/prefect``).

    Returns:
        Variable name → value.
    """
    home = prefect_home or settings.prefect_home
    variables = {
        "PREFECT_HOME": str(home),
        # An operator's own value wins (a machine busier than ours needs longer).
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": (
            os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS")
            or str(EPHEMERAL_STARTUP_TIMEOUT_SECONDS)
        ),
        # Telemetry posts outside (there is no network) and, failing, fills the logs with
        # "database is locked" from the embedded server.
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "BENTOML_DO_NOT_TRACK": "true",
        # Cached task results live with the run-time root they describe, not in ~/.prefect.
        "PREFECT_LOCAL_STORAGE_PATH": str(home / "storage"),
    }
    api_url = settings.production.prefect_api_url
    if settings.profile == "production" and api_url:
        variables["PREFECT_API_URL"] = api_url
    return variables


def prefect_environment(settings: Settings, *, throwaway: bool = False) -> dict[str, str]:
    """Point Prefect at this run-time root (or a throwaway folder) and set its safe defaults.

    Sets the variables of :func:`prefect_variables` in ``os.environ``. If Prefect was already
    imported, its global settings context is refreshed so the new values take effect (Prefect
    captures the environment when ``prefect.context`` is first imported).

    Args:
        settings: the orderlens settings.
        throwaway: use a fresh temporary ``PREFECT_HOME`` (independent runs, e.g. tests).

    Returns:
        The variables that were set.
    """
    prefect_home = Path(tempfile.mkdtemp(prefix="orderlens-prefect-")) if throwaway else None
    variables = prefect_variables(settings, prefect_home=prefect_home)
    Path(variables["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    os.environ.update(variables)
    if "prefect.context" in sys.modules:
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()
    return variables


def flow_settings(home: str | None = None) -> Settings:
    """The settings of a flow run: a flow is an entry point, so it builds them itself.

    Flow parameters must be JSON (deployments store them), hence a ``home`` path rather than a
    settings object; everything else comes from the settings file and ``ORDERLENS_*``.
    """
    from orderlens.console import quiet_third_party_warnings

    quiet_third_party_warnings()  # a flow run by a worker has no other entry point of ours
    return load_settings(home=Path(home)) if home else load_settings()


def run_name(flow: str) -> Callable[[], str]:
    """A ``flow_run_name`` for Prefect: ``<flow>-<UTC time>-<home folder>[-<n> orders]``.

    A callable rather than a template because ``home`` and ``orders`` are often left at their
    defaults (None), which a template would print as "None".
    """

    def name() -> str:
        from prefect.runtime import flow_run

        parameters = flow_run.parameters or {}
        home = Path(parameters.get("home") or load_settings().home).name
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M")
        orders = parameters.get("orders")
        return f"{flow}-{stamp}-{home}" + (f"-{orders}-orders" if orders else "")

    return name


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """Prefect's run logger inside a flow or task run (the logs land in Prefect), else this
    package's logger — so task logic also runs through ``task.fn()``, without the engine."""
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("pipelines")
