"""One typed, frozen settings object: defaults, then a settings file, then ``ORDERLENS_*`` variables.

Build it once at an entry point (CLI command, flow, service ``__init__``) with :func:`load_settings`
and pass it down; nothing in the code base reads the environment on its own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
"""The checkout (or install) root; the default run-time root ``var/`` lives under it."""

Profile = Literal["local", "production"]


class SimulationSettings(BaseModel):
    """Defaults for the synthetic world."""

    model_config = ConfigDict(frozen=True)

    orders: int = Field(20_000, ge=1, description="orders the main job simulates on an empty home")
    seed: int = 7
    start: str = Field("2025-01-01", description="first order day (UTC)")
    days: int = Field(365, ge=7, description="length of the simulated period in days")


class ProductionSettings(BaseModel):
    """Connections used by the ``production`` profile. No credentials live in code: set them in
    the settings file or as ``ORDERLENS_PRODUCTION__REDIS_URL`` and friends."""

    model_config = ConfigDict(frozen=True)

    redis_url: str = "redis://127.0.0.1:6379/0"
    postgres_dsn: str = "postgresql://orderlens@127.0.0.1:5432/orderlens"
    prefect_api_url: str | None = None


class ServingSettings(BaseModel):
    """The prediction service: request limits, access, resilience, action ledger, prediction log."""

    model_config = ConfigDict(frozen=True)

    max_orders_per_request: int = Field(5_000, ge=1, le=10_000)
    policy_file: Path | None = Field(None, description="action policy YAML; None: the shipped one")
    ledger: Literal["auto", "sqlite", "redis"] = Field(
        "auto", description="action ledger backend; auto: sqlite (local), redis (production)"
    )
    api_keys: tuple[SecretStr, ...] = Field((), description="accepted API keys; none: open")
    rate_limit_per_second: float = Field(50.0, ge=0, description="per client; 0 turns it off")
    rate_limit_burst: int = Field(100, ge=1)
    feature_timeout_ms: float = Field(80.0, gt=0, description="online-store call budget")
    breaker_failures: int = Field(5, ge=1, description="failures in the window that open it")
    breaker_window_seconds: float = Field(30.0, gt=0)
    breaker_cooldown_seconds: float = Field(10.0, gt=0)
    log_flush_rows: int = Field(2_000, ge=1, description="prediction-log rows per part file")
    log_flush_seconds: float = Field(5.0, gt=0)


class Settings(BaseSettings):
    """Everything configurable about orderlens. Paths derive from ``home``."""

    model_config = SettingsConfigDict(
        env_prefix="ORDERLENS_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    home: Path = Field(PROJECT_ROOT / "var", description="run-time root (ORDERLENS_HOME)")
    profile: Profile = "local"
    simulation: SimulationSettings = SimulationSettings()
    production: ProductionSettings = ProductionSettings()
    serving: ServingSettings = ServingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence, highest first: explicit arguments, environment, settings file, defaults.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        settings_file = _settings_file()
        if settings_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=settings_file))
        return tuple(sources)

    # Derived locations: one run-time root, everything under it.
    @property
    def sources_dir(self) -> Path:
        """Where ``simulate`` writes the synthetic world by default."""
        return self.home / "sources"

    @property
    def lake_dir(self) -> Path:
        """The partitioned parquet lake written by ``ingest``."""
        return self.home / "lake"

    @property
    def quarantine_dir(self) -> Path:
        """Rows that broke the source contract, with the rule they broke."""
        return self.home / "quarantine"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def feature_repo_dir(self) -> Path:
        return self.home / "feature_repo"

    @property
    def prediction_log_dir(self) -> Path:
        """Every served prediction, as parquet parts under ``date=YYYY-MM-DD/``."""
        return self.home / "prediction_log"

    @property
    def action_ledger_path(self) -> Path:
        """The SQLite action ledger (local profile)."""
        return self.home / "serving" / "action_ledger.sqlite3"


def _settings_file() -> Path | None:
    """The settings file: ``ORDERLENS_SETTINGS`` if set, else ``<home>/settings.yaml`` if present."""
    explicit = os.environ.get("ORDERLENS_SETTINGS")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"ORDERLENS_SETTINGS points to a missing file: {path}")
        return path
    home = Path(os.environ.get("ORDERLENS_HOME", PROJECT_ROOT / "var")).expanduser()
    candidate = home / "settings.yaml"
    return candidate if candidate.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Build the settings object; keyword overrides win over every other source."""
    return Settings(**overrides)
