"""Settings: defaults, then the settings file, then ORDERLENS_* variables, then arguments."""

from __future__ import annotations

import pydantic
import pytest

from orderlens.settings import PROJECT_ROOT, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("ORDERLENS_HOME", "ORDERLENS_PROFILE", "ORDERLENS_SETTINGS"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_put_runtime_state_under_var():
    settings = load_settings()
    assert settings.home == PROJECT_ROOT / "var"
    assert settings.profile == "local"
    assert settings.lake_dir == settings.home / "lake"


def test_home_moves_everything(monkeypatch, tmp_path):
    monkeypatch.setenv("ORDERLENS_HOME", str(tmp_path))
    settings = load_settings()
    assert settings.lake_dir == tmp_path / "lake"
    assert settings.quarantine_dir == tmp_path / "quarantine"


def test_file_then_environment_then_arguments(monkeypatch, tmp_path):
    (tmp_path / "settings.yaml").write_text(
        "profile: production\nsimulation:\n  orders: 111\n  seed: 3\n"
    )
    monkeypatch.setenv("ORDERLENS_HOME", str(tmp_path))
    from_file = load_settings()
    assert (from_file.profile, from_file.simulation.orders) == ("production", 111)

    monkeypatch.setenv("ORDERLENS_SIMULATION__ORDERS", "222")
    from_env = load_settings()
    assert from_env.simulation.orders == 222, "environment beats the file"
    assert from_env.simulation.seed == 3, "the file still supplies what the environment lacks"
    assert load_settings(profile="local").profile == "local", "arguments beat everything"


def test_explicit_settings_file(monkeypatch, tmp_path):
    path = tmp_path / "elsewhere.yaml"
    path.write_text("profile: production\n")
    monkeypatch.setenv("ORDERLENS_SETTINGS", str(path))
    assert load_settings().profile == "production"
    monkeypatch.setenv("ORDERLENS_SETTINGS", str(tmp_path / "missing.yaml"))
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_settings()


def test_bad_values_are_refused_and_settings_are_frozen(monkeypatch):
    monkeypatch.setenv("ORDERLENS_PROFILE", "staging")
    with pytest.raises(pydantic.ValidationError, match="profile"):
        load_settings()
    monkeypatch.delenv("ORDERLENS_PROFILE")
    with pytest.raises(pydantic.ValidationError):
        load_settings(unknown_setting=1)
    settings = load_settings()
    with pytest.raises(pydantic.ValidationError):
        settings.profile = "production"
