"""Prefect's environment comes from the settings, at the entry point."""

from __future__ import annotations

import os

from orderlens.settings import load_settings
from pipelines.runtime import (
    EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    prefect_environment,
    prefect_variables,
)


def test_local_profile_uses_an_ephemeral_server_under_home(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", raising=False)
    variables = prefect_variables(load_settings(home=tmp_path))
    assert variables["PREFECT_HOME"] == str(tmp_path / "prefect")
    assert variables["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] == str(
        EPHEMERAL_STARTUP_TIMEOUT_SECONDS
    )
    assert variables["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert variables["BENTOML_DO_NOT_TRACK"] == "true"
    assert "PREFECT_API_URL" not in variables


def test_an_operators_startup_timeout_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")
    variables = prefect_variables(load_settings(home=tmp_path))
    assert variables["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] == "300"


def test_production_profile_points_at_the_configured_server(tmp_path):
    settings = load_settings(
        home=tmp_path,
        profile="production",
        production={"prefect_api_url": "http://prefect.internal:4200/api"},
    )
    assert prefect_variables(settings)["PREFECT_API_URL"] == "http://prefect.internal:4200/api"


def test_prefect_environment_sets_the_variables(tmp_path, monkeypatch):
    for name in prefect_variables(load_settings(home=tmp_path)):
        monkeypatch.setenv(name, "before")  # restored by monkeypatch afterwards
    monkeypatch.delenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS")  # kept when set
    variables = prefect_environment(load_settings(home=tmp_path), throwaway=True)
    assert variables["PREFECT_HOME"] != str(tmp_path / "prefect")  # a throwaway one
    assert all(os.environ[name] == value for name, value in variables.items())
    import prefect.context

    # The global context was refreshed (a test harness, if active, overrides it in its scope).
    assert str(prefect.context.GLOBAL_SETTINGS_CONTEXT.settings.home) == variables["PREFECT_HOME"]
    monkeypatch.undo()  # then let Prefect see the restored environment again
    from prefect.context import refresh_global_settings_context

    refresh_global_settings_context()
