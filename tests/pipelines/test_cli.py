"""``orderlens flow``: the sub-app is registered and refuses unknown flows before Prefect starts."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


def test_flow_commands_are_registered():
    result = runner.invoke(app, ["flow", "--help"])
    assert result.exit_code == 0
    assert "run" in result.output and "deploy" in result.output


def test_an_unknown_flow_is_refused():
    result = runner.invoke(app, ["flow", "run", "weekly"])
    assert result.exit_code == 2
    assert "unknown flow 'weekly'" in result.output


def test_deploy_needs_a_server(tmp_path, monkeypatch):
    from prefect.context import SettingsContext

    from orderlens.settings import load_settings
    from pipelines.runtime import prefect_variables

    context = SettingsContext.get()
    if context is not None and context.settings.api.url:
        pytest.skip("a Prefect test server is active in this session: deploy would use it")

    monkeypatch.setenv("ORDERLENS_HOME", str(tmp_path))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    for name in prefect_variables(load_settings(home=tmp_path)):
        monkeypatch.setenv(name, "")  # the command sets them; monkeypatch restores them
    result = runner.invoke(app, ["flow", "deploy"])
    assert result.exit_code == 2
    assert "no Prefect server configured" in result.output
    monkeypatch.undo()
    from prefect.context import refresh_global_settings_context

    refresh_global_settings_context()
