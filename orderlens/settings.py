"""One typed, frozen settings object: defaults, then a settings file, then ``ORDERLENS_*`` variables.

Build it once at an entry point (CLI command, flow, service ``__init__``) with :func:`load_settings`
and pass it down; nothing in the code base reads the environment on its own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
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

    # 12k orders keep a fresh clone's main job (bootstrap, daily flow, service) within 5
    # minutes on 2 cores; `orderlens flow run daily --orders N` or this setting for more.
    orders: int = Field(12_000, ge=1, description="orders the main job simulates on an empty home")
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
    ledger_sync: Literal["NORMAL", "FULL"] = Field(
        "NORMAL",
        description="SQLite ledger: NORMAL survives a crash of the service; FULL also a power cut"
        " (an fsync per request)",
    )
    api_keys: dict[str, SecretStr] | tuple[SecretStr, ...] = Field(
        (),
        description="accepted API keys, by name ({name: key}; the name is recorded as the decider"
        " of suggestions) or as a list; none: open",
    )
    open_docs: bool = Field(
        False, description="with API keys set, let /docs.json and the docs page be read without one"
    )
    trusted_proxies: tuple[str, ...] = Field(
        (),
        description="addresses or networks of reverse proxies whose X-Forwarded-For names the"
        " client; none: the connecting address is the client",
    )
    limiter: Literal["auto", "sqlite", "redis"] = Field(
        "auto", description="shared rate-limit buckets; auto: sqlite (local), redis (production)"
    )
    # Tokens are orders: one 1,000-order request costs what 1,000 one-order requests cost. The
    # default is above what the service can serve (bench_serving), so one upstream system is
    # never throttled by it; it caps a client's share when several share the service.
    rate_limit_per_second: float = Field(
        20_000.0, ge=0, description="orders per second per client (API key); 0 turns it off"
    )
    rate_limit_burst: int = Field(
        40_000, ge=1, description="orders a client may send at once after a quiet spell"
    )
    explain_value_cost: float = Field(
        20.0, ge=1, description="an order with explain_value counts as this many orders"
    )
    auth_failures_per_minute: float = Field(
        30.0, gt=0, description="failed API-key checks per client address and minute, then 429"
    )
    auth_failures_burst: int = Field(10, ge=1)
    timestamp_years: tuple[int, int] = Field(
        (2000, 2099),
        description="first and last year a request's timestamps may carry (as written, in their"
        " own offset)",
    )
    max_promise_days: float = Field(
        366.0, gt=0, description="promised_at at most this many days after created_at"
    )

    # 80 ms tripped on CPU contention alone (16 clients on 2 cores: 84-94 % of answers degraded);
    # with admission control (max_concurrent_scoring) a read waits for no one, and 250 ms still
    # catches a store that is really slow or locked.
    feature_timeout_ms: float = Field(250.0, gt=0, description="online-store call budget")
    feature_timeout_ms_per_order: float = Field(
        2.0, ge=0, description="added to the budget per order of a batch (reads grow with it)"
    )
    breaker_failures: int = Field(5, ge=1, description="failures in the window that open it")
    breaker_window_seconds: float = Field(30.0, gt=0)
    breaker_cooldown_seconds: float = Field(10.0, gt=0)
    log_flush_seconds: float = Field(
        5.0,
        gt=0,
        description="how often the prediction journal is drained into the parquet log (and the"
        " suggestions snapshot rewritten); each prediction is durable before its answer anyway",
    )
    reload_seconds: float = Field(5.0, gt=0, description="how often the champion is checked")
    max_concurrent_scoring: int = Field(
        2, ge=1, description="requests a worker scores at once (more only share its core)"
    )
    max_queued_orders: int = Field(
        2_000,
        ge=0,
        description="orders that may wait per worker; beyond, requests are shed (503 + Retry-After)",
    )
    explain_all_up_to: int = Field(
        10, ge=0, description="batches of at most this many orders get reasons for every order"
    )
    debug_faults: bool = Field(
        False, description="debug only: POST /admin/fault may slow the online store (fault tests)"
    )

    @field_validator("timestamp_years")
    @classmethod
    def _years_in_order(cls, years: tuple[int, int]) -> tuple[int, int]:
        first, last = years
        if not 1900 <= first <= last <= 2999:
            raise ValueError("give (first, last) years with 1900 <= first <= last <= 2999")
        return years


class TrainingSettings(BaseModel):
    """Model training: LightGBM hyper-parameters, time splits, value scoring and optional tuning."""

    model_config = ConfigDict(frozen=True)

    learning_rate: float = Field(0.08, gt=0)
    num_leaves: int = Field(
        15, ge=2, description="leaves per tree; 15: TreeSHAP 2x faster than 31 for -0.004 AUC"
    )
    min_child_samples: int = Field(50, ge=1)
    feature_fraction: float = Field(0.8, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    lambda_l2: float = Field(1.0, ge=0)
    max_rounds: int = Field(1_000, ge=1, description="boosting rounds before early stopping")
    early_stopping_rounds: int = Field(30, ge=1)
    smoke_rounds: int = Field(30, ge=1, description="rounds with --smoke (tests)")
    # Budgets that only bind at scale (the 12k-order demo has ≈75k delay snapshots). At 1 M
    # orders these defaults took 430 CPU-s from training sets to registration (bench_train; 913 s
    # wall at load 3-6). More orders still pay (200k world: creation AUC ratio 0.954 → 0.963 from
    # 100k to 200k orders, ECE 0.028 → 0.019); all 1.24M snapshots instead of 400k did not
    # (ratio 0.958, ECE 0.025, delay fitting 4x longer).
    max_orders: int | None = Field(
        250_000,
        ge=1,
        description="training sets from at most this many orders (a seeded sample, every split"
        " alike); None: all",
    )
    delay_max_rows: int | None = Field(
        500_000,
        ge=1,
        description="delay snapshots at most: every creation snapshot, a seeded share of the"
        " later ones (sampled before the point-in-time join); None: all",
    )
    train_share: float = Field(0.7, gt=0, lt=1, description="oldest orders: training")
    validation_share: float = Field(0.1, gt=0, lt=1, description="next: early stop + calibration")
    monotone: bool = Field(True, description="risk never falls with alerts, backlog, exceptions")
    creation_model: bool = Field(
        True,
        description="a delay classifier of its own for orders with no scan yet (creation AUC"
        " 0.759 -> 0.797 at 20k orders), kept only when it beats the shared one on validation;"
        " False: one classifier for every stage",
    )
    tune_seconds: float = Field(0.0, ge=0, description="random-search budget; 0: no tuning")
    threads: int = Field(
        1,
        ge=1,
        description="LightGBM threads; >1 only on an idle machine (oversubscribed: 4x slower)",
    )
    value_weights: dict[str, float] = Field(
        default_factory=lambda: {"gross_margin": 2.0, "ltv_uplift": 2.0, "satisfaction": 1.5},
        description="value-index weight per dimension; dimensions not named weigh 1",
    )
    tier_cutoffs: dict[str, float] = Field(
        default_factory=lambda: {"platinum": 0.95, "gold": 0.8, "silver": 0.5},
        description="lowest value-index percentile (0-1) of each tier; below all: standard",
    )


class MonitoringSettings(BaseModel):
    """Drift monitoring: what is compared with the training reference, and when to retrain."""

    model_config = ConfigDict(frozen=True)

    drift_share_threshold: float = Field(
        0.5, gt=0, le=1, description="retrain when at least this share of feature columns drifted"
    )
    window_days: int = Field(7, ge=1, description="days of the prediction log compared")
    min_log_rows: int = Field(
        200, ge=1, description="fewer logged predictions than this: use recent orders instead"
    )
    recent_orders: int = Field(
        2_000, ge=10, description="latest orders scored from the feature store when the log is thin"
    )
    reference_rows: int = Field(
        5_000, ge=10, description="reference rows sampled (Evidently reports embed their data)"
    )
    retrain_on_drift: bool = True


class PipelineSettings(BaseModel):
    """Prefect deployments: schedules and the work pool that runs them."""

    model_config = ConfigDict(frozen=True)

    daily_cron: str = Field("0 3 * * *", description="when the daily job runs")
    monitor_cron: str = Field("0 * * * *", description="when the drift monitor runs")
    timezone: str = "UTC"
    work_pool: str = Field("orderlens", description="process work pool of `orderlens flow deploy`")
    task_runner: Literal["thread", "dask"] = Field(
        "thread",
        description="dask: the train flow runs on Prefect's DaskTaskRunner and LightGBM on the "
        "cluster (lightgbm.dask)",
    )
    dask_address: str | None = Field(
        None, description="scheduler of an existing Dask cluster; None: a local cluster per run"
    )
    dask_workers: int = Field(2, ge=1, description="workers of the local cluster (no address)")


class ContractSettings(BaseModel):
    """The business-specific parts of the source contract (docs/data-contract.md)."""

    model_config = ConfigDict(frozen=True)

    allowed_values: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="'table.column' -> the only values accepted there (a strict vocabulary, "
        "compared after trimming); a categorical column not named takes any string",
    )

    @field_validator("allowed_values")
    @classmethod
    def _known_columns(cls, allowed: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        from orderlens.contracts import CONTRACTS  # kernel to kernel; contracts need no settings

        for key in allowed:
            table, _, column = key.partition(".")
            contract = CONTRACTS.get(table)
            if contract is None or column not in contract.categorical_columns:
                raise ValueError(
                    f"allowed_values: {key!r} is not 'table.column' of a categorical column"
                )
        return {key: tuple(str(v).strip() for v in values) for key, values in allowed.items()}


class Promotion(BaseModel):
    """A sales event that recurs every year on the same date (its peak day)."""

    model_config = ConfigDict(frozen=True)

    name: str
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)


class BusinessSettings(BaseModel):
    """What depends on the business rather than the code: its promotion calendar. The defaults
    are the demo world's (a Chinese marketplace); a shop sets its own. (Amounts carry no
    currency symbol anywhere; the action policy's coupons name their currency in the policy
    file. Units are fixed by the contract: mm, km/h, °C, km.)"""

    model_config = ConfigDict(frozen=True)

    promotions: tuple[Promotion, ...] = Field(
        (
            Promotion(name="618", month=6, day=18),
            Promotion(name="Double 11", month=11, day=11),
            Promotion(name="Double 12", month=12, day=12),
        ),
        description="yearly sales peaks: the feature days_to_promotion_peak counts to the "
        "nearest; empty: no such feature",
    )


class IngestSettings(BaseModel):
    """Where the daily flow and its deployment read a shop's export, and how it maps."""

    model_config = ConfigDict(frozen=True)

    source: Path | None = Field(
        None, description="folder of source files; None: <home>/sources (the demo's world)"
    )
    mapping: Path | None = Field(
        None, description="mapping YAML for an export not in the contract (docs/data-contract.md)"
    )
    debug_kill_at_step: int | None = Field(
        None,
        ge=1,
        description="tests only: the ingest kills itself (SIGKILL) at this step of its lake write",
    )


class DisplaySettings(BaseModel):
    """How values are shown to people (reason texts)."""

    model_config = ConfigDict(frozen=True)

    names: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="column -> {code: display name}, e.g. {'category': {'home_appliances': "
        "'Home appliances'}}; codes not listed are shown readable (underscores to spaces)",
    )


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
    training: TrainingSettings = TrainingSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    pipelines: PipelineSettings = PipelineSettings()
    contract: ContractSettings = ContractSettings()
    ingest: IngestSettings = IngestSettings()
    display: DisplaySettings = DisplaySettings()
    business: BusinessSettings = BusinessSettings()

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, home: Path) -> Path:
        # Feast resolves its SQLite path against the repo folder: a relative home would be
        # joined twice (var/x/feature_repo/var/x/feature_repo) and `feast apply` would fail.
        return home.expanduser().absolute()

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
    def monitoring_dir(self) -> Path:
        """Drift reports and the JSON record of every monitor run (and why it retrained)."""
        return self.home / "monitoring"

    @property
    def signals_path(self) -> Path:
        """The ticket signals the NLP stage extracts and the feature store reads."""
        return self.home / "nlp" / "signals.parquet"

    @property
    def drift_reference_path(self) -> Path:
        """The training reference the monitor compares served traffic with (written by training)."""
        return self.monitoring_dir / "reference.parquet"

    @property
    def prefect_home(self) -> Path:
        """Prefect's own state for this home (profiles, local database, cached task results)."""
        return self.home / "prefect"

    @property
    def action_ledger_path(self) -> Path:
        """The SQLite action ledger, suggestions and prediction journal (local profile)."""
        return self.home / "serving" / "action_ledger.sqlite3"

    @property
    def rate_limit_path(self) -> Path:
        """The rate-limit buckets every worker process shares (local profile)."""
        return self.home / "serving" / "rate_limits.sqlite3"

    @property
    def suggestions_path(self) -> Path:
        """The snapshot of suggested actions the service writes for the reports."""
        return self.home / "serving" / "suggestions.parquet"


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
