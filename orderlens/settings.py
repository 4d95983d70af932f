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

from orderlens.dimensions import DIMENSION_NAMES

PROJECT_ROOT = Path(__file__).resolve().parents[1]
"""The checkout (or install) root; the default run-time root ``var/`` lives under it."""

Profile = Literal["local", "production"]


class SimulationSettings(BaseModel):
    """Defaults for the synthetic world."""

    model_config = ConfigDict(frozen=True)

    # 12k orders keep a fresh clone's main job (bootstrap, daily flow, service) within 5
    # minutes on 2 cores; `orderlens flow run daily --orders N` or this setting for more.
    orders: int = Field(12_000, ge=1, description="orders the main job simulates on an empty home")
    seed: int = Field(7, description="random seed: the same seed simulates the same world")
    start: str = Field("2025-01-01", description="first order day (UTC)")
    days: int = Field(365, ge=7, description="length of the simulated period in days")
    replay_days: int = Field(
        42,
        ge=0,
        description="the demo replays this many last days of a world it simulated as served"
        " traffic (predictions through the service's scoring, outcomes arriving after); 0: none",
    )


class ProductionSettings(BaseModel):
    """Connections used by the ``production`` profile. No credentials live in code: set them in
    the settings file or as ``ORDERLENS_PRODUCTION__REDIS_URL`` and friends."""

    model_config = ConfigDict(frozen=True)

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="online feature store and action ledger"
    )
    postgres_dsn: str = Field(
        "postgresql://orderlens@127.0.0.1:5432/orderlens",
        description="Feast registry and offline store (a password belongs in the environment)",
    )
    prefect_api_url: str | None = Field(
        None, description="the Prefect server's API, e.g. http://127.0.0.1:4200/api"
    )


class ServingSettings(BaseModel):
    """The prediction service: request limits, access, resilience, action ledger, prediction log."""

    model_config = ConfigDict(frozen=True)

    max_orders_per_request: int = Field(
        5_000, ge=1, le=10_000, description="more orders in one request: 413 too_many_orders"
    )
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
    auth_failures_burst: int = Field(
        10, ge=1, description="failed API-key checks a client address may make at once"
    )
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
    breaker_window_seconds: float = Field(
        30.0, gt=0, description="failures older than this no longer count"
    )
    breaker_cooldown_seconds: float = Field(
        10.0, gt=0, description="open breaker: seconds before one probe tries the store again"
    )
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
    max_queue_wait_ms: float = Field(
        200.0,
        gt=0,
        description="requests are also shed when what waits would take longer than this to score",
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

    learning_rate: float = Field(0.08, gt=0, description="LightGBM shrinkage per round")
    num_leaves: int = Field(
        15, ge=2, description="leaves per tree; 15: TreeSHAP 2x faster than 31 for -0.004 AUC"
    )
    min_child_samples: int = Field(50, ge=1, description="fewest training rows in a leaf")
    feature_fraction: float = Field(0.8, gt=0, le=1, description="features sampled per tree")
    bagging_fraction: float = Field(0.8, gt=0, le=1, description="rows sampled per tree")
    lambda_l2: float = Field(1.0, ge=0, description="L2 regularisation of leaf values")
    max_rounds: int = Field(1_000, ge=1, description="boosting rounds before early stopping")
    early_stopping_rounds: int = Field(
        30, ge=1, description="stop when validation loss has not improved for this many rounds"
    )
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
    calibration_folds: int = Field(
        4,
        ge=0,
        description="time blocks the creation-time delay model is cross-fitted over: the"
        " out-of-fold scores choose the blend with the logistic regression and calibrate it"
        " (demo ECE 0.066 -> <0.02); 0 or 1: the validation slice alone",
    )
    small_data_rows: int = Field(
        30_000,
        ge=0,
        description="a classifier trained on fewer rows is regularised harder (7 leaves, L2 10,"
        " learning rate 0.05, smoother categories): trees overfit a few thousand orders",
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
        description="lowest percentile (0-1) of the expected contribution in money among "
        "training orders of each tier; below all: standard",
    )
    seed: int = Field(17, description="LightGBM's seed (bagging, feature fraction)")


def _money_per_unit() -> dict[str, float]:
    return {
        "gross_margin": 1.0,
        "reverse_logistics_cost": -1.0,
        "service_effort_minutes": -1.2,
        "carbon_kg": -0.1,
        "repeat_purchase_90d": 60.0,
        "cross_category_pull": 20.0,
        "referral_leads": 20.0,
        "service_attach": 0.4,
    }


class ValueSettings(BaseModel):
    """What an order's value is worth in money: the conversion factors behind its expected
    contribution (``/predict``'s ``value.contribution``, the tiers, the value page).

    Dimensions with a natural money value count at ``money_per_unit`` (negative for costs); the
    cash cycle costs capital; the others count at a manager's ``shadow_prices`` per unit above or
    below a typical order. Dimensions named in neither are left out of the figure because their
    money is already in another one: net revenue and fulfilment cost are parts of gross margin;
    returns, exchanges and failed attempts cost reverse logistics; lateness costs compensation
    (in gross margin), satisfaction and repeat purchases; ``ltv_uplift`` overlaps repeat
    purchases; ``promotion_efficiency`` is a ratio of margin already counted; ``partner_share``
    is revenue passed on to partners.
    """

    model_config = ConfigDict(frozen=True)

    money_per_unit: dict[str, float] = Field(
        default_factory=_money_per_unit,
        description="money per unit of a dimension's realised value: gross_margin 1 (already "
        "money), reverse_logistics_cost -1, service_effort_minutes -(cost per service minute), "
        "carbon_kg -(carbon price per kg CO2e), repeat_purchase_90d (margin of a repeat order), "
        "cross_category_pull (margin of an order in another category), referral_leads (value of "
        "a lead), service_attach (margin share of attached service revenue)",
    )
    capital_cost_per_year: float = Field(
        0.06,
        ge=0,
        description="cost of capital per year, charged on net revenue for cash_conversion_days",
    )
    shadow_prices: dict[str, float] = Field(
        default_factory=lambda: {"satisfaction": 10.0, "profile_enrichment": 2.0},
        description="money per unit above (or below) the typical order for dimensions without "
        "a market price: satisfaction per review star, profile_enrichment per tag gained",
    )

    @field_validator("money_per_unit", "shadow_prices")
    @classmethod
    def _known_dimensions(cls, rates: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(rates) - set(DIMENSION_NAMES))
        if unknown:
            raise ValueError(f"unknown value dimension(s) {unknown}")
        return rates


class MonitoringSettings(BaseModel):
    """Monitoring: which served predictions a pass judges, what counts as evidence that the model
    no longer does its job, and when that evidence asks for a retrain (see
    ``reports/monitoring/verdict.py``)."""

    model_config = ConfigDict(frozen=True)

    window_days: int = Field(
        1, ge=1, description="days of served predictions a verdict judges (the latest)"
    )
    min_window_predictions: int = Field(
        300,
        ge=1,
        description="a thinner window reaches further back, up to max_window_days; still fewer:"
        " no verdict",
    )
    max_window_days: int = Field(14, ge=1)
    history_days: int = Field(28, ge=1, description="days of daily figures on the drift page")
    calibration_days: int = Field(
        28,
        ge=1,
        description="labelled served predictions of these days calibrate the performance estimate",
    )
    outcome_grace_hours: float = Field(
        24,
        ge=0,
        description="an order's label counts this long after its promise (a lagging outcomes feed"
        " catches up; no outcome row by then: late)",
    )
    min_labelled: int = Field(
        200, ge=1, description="delivered orders a window needs for realised figures in a verdict"
    )
    auc_tolerance: float = Field(
        0.05,
        gt=0,
        le=1,
        description="alarm when the estimated or realised AUC is this far below the champion's"
        " held-out AUC (and the gap is beyond sampling)",
    )
    brier_tolerance: float = Field(
        0.03, gt=0, description="... or the realised Brier this far above"
    )
    late_rate_tolerance: float = Field(
        0.08,
        gt=0,
        le=1,
        description="... or the realised late rate this far from the predicted one",
    )
    drift_watch: float = Field(
        0.15, gt=0, description="importance-weighted drift score reported as worth watching"
    )
    drift_severe: float = Field(
        0.5,
        gt=0,
        description="importance-weighted drift score (of all predictions or of one segment) that"
        " raises an alarm",
    )
    segment_min_predictions: int = Field(
        150, ge=1, description="predictions a carrier/region/channel needs for its own drift"
    )
    segment_min_orders: int = Field(
        60, ge=1, description="orders due a carrier/region/channel needs for its own late rate"
    )
    in_flight_days: float = Field(
        2,
        gt=0,
        description="orders first served this many days before a pass, not yet due, are its"
        " in-flight orders: their deliveries so far are compared with what was expected",
    )
    flow_ratio_alarm: float = Field(
        0.5,
        gt=0,
        le=1,
        description="alarm when a carrier delivers less than this share of the in-flight orders"
        " expected delivered by now, even at the top of its 95% interval; the estimate then"
        " raises that carrier's P(late) to what its deliveries say",
    )
    flow_min_expected: float = Field(
        20,
        gt=0,
        description="deliveries a carrier's in-flight orders must be expected to have made for"
        " its flow ratio to be judged",
    )
    retrain_on_evidence: bool = Field(
        True, description="an alarm asks for a retrain (then the promotion gate decides)"
    )
    retrain_cooldown_days: float = Field(
        7, ge=0, description="no second retrain within this many days of the last one asked for"
    )
    reference_rows: int = Field(
        5_000, ge=10, description="reference rows kept and sampled (Evidently pages embed them)"
    )
    current_rows: int = Field(
        5_000, ge=10, description="served predictions compared at most (a sample of whole orders)"
    )
    action_costs: dict[str, float] = Field(
        default_factory=lambda: {
            "notify": 0.1,
            "qr_self_service": 0.0,
            "compensation_coupon": 30.0,
            "reprioritise_packing": 2.0,
            "reroute_warehouse": 15.0,
            "expedite": 12.0,
            "upgrade_carrier": 8.0,
            "gold_agent": 5.0,
            "priority_carrier": 6.0,
        },
        description="cost of one fired action in the shop's currency (the order-health page's"
        " action effects); actions not named cost 0",
    )
    complaint_labels: list[str] = Field(
        default_factory=lambda: ["delay_complaint", "where_is_my_order"],
        description="ticket labels that mean the customer had to chase or complain (the"
        " order-health page's complaint outcome of actions); a shop names its own",
    )


class PipelineSettings(BaseModel):
    """Prefect deployments: schedules and the work pool that runs them."""

    model_config = ConfigDict(frozen=True)

    daily_cron: str = Field("0 3 * * *", description="when the daily job runs")
    # Daily, after the daily job: outcomes arrive by the day, and one day of predictions is the
    # smallest window whose drift and performance say more than sampling noise.
    monitor_cron: str = Field("0 6 * * *", description="when the monitor runs (daily)")
    timezone: str = Field("UTC", description="time zone of the cron schedules")
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
    """What depends on the business rather than the code: its currency and promotion calendar.
    The defaults are the demo world's (a Chinese marketplace); a shop sets its own. (Amounts
    carry no currency symbol in the data: ``currency`` names it once; the action policy's coupons
    name their currency in the policy file. Units are fixed by the contract: mm, km/h, °C, km.)"""

    model_config = ConfigDict(frozen=True)

    currency: str = Field(
        "CNY",
        description="ISO 4217 code of the shop's currency: order values and costs are in it, "
        "and so is the expected contribution of an order (value section)",
    )
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


class OrderExtra(BaseModel):
    """A shop's own order column used as a feature (it arrives in the orders table, e.g. through
    a mapping, and may be sent with a prediction request)."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="the orders column (e.g. seller_region)"
    )
    kind: Literal["numeric", "categorical", "moment"] = Field(
        description="a number, a category, or a moment known when the order is placed (the"
        " feature is the hours from it to the promise: relative, never a calendar date)"
    )
    label: str | None = Field(None, description="how reports and reasons name it")

    @property
    def feature(self) -> str:
        """The model feature's name (``extra_<name>``)."""
        return EXTRA_PREFIX + self.name

    @property
    def display(self) -> str:
        """The label, or the column name made readable."""
        return self.label or self.name.replace("_", " ")


EXTRA_PREFIX = "extra_"
"""Model features made from a shop's declared order columns are named ``extra_<column>``."""


class FeatureSettings(BaseModel):
    """What the feature store builds beyond the contract's own columns."""

    model_config = ConfigDict(frozen=True)

    order_extras: tuple[OrderExtra, ...] = Field(
        (),
        description="the shop's own order columns used as features, each {name, kind: numeric"
        " or categorical, label}; they flow into the order attributes view, the models, the"
        " reasons (group order_profile) and /predict as optional fields",
    )

    @field_validator("order_extras")
    @classmethod
    def _extras_are_new_columns(cls, extras: tuple[OrderExtra, ...]) -> tuple[OrderExtra, ...]:
        # An extra named like a contract column or a request field would shadow it in /predict.
        from orderlens.contracts import ORDERS

        taken = {c.name for c in ORDERS.columns} | set(REQUEST_FIELDS)
        names = [e.name for e in extras]
        clashes = sorted({n for n in names if n in taken})
        if clashes:
            raise ValueError(f"extra columns named like contract or request fields: {clashes}")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"extra columns declared twice: {repeated}")
        return extras


REQUEST_FIELDS = ("as_of", "stage", "push_dismissals", "contact_preferences", "explain_value")
"""The /predict order fields beyond the contract (an extra column may not take these names)."""


class Settings(BaseSettings):
    """Everything configurable about orderlens. Paths derive from ``home``."""

    model_config = SettingsConfigDict(
        env_prefix="ORDERLENS_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    home: Path = Field(PROJECT_ROOT / "var", description="run-time root (ORDERLENS_HOME)")
    profile: Profile = Field(
        "local",
        description="local: embedded stores (SQLite, DuckDB files, ephemeral Prefect); production:"
        " Redis, PostgreSQL, a Prefect server (the production section)",
    )
    simulation: SimulationSettings = SimulationSettings()
    production: ProductionSettings = ProductionSettings()
    serving: ServingSettings = ServingSettings()
    training: TrainingSettings = TrainingSettings()
    value: ValueSettings = ValueSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    pipelines: PipelineSettings = PipelineSettings()
    contract: ContractSettings = ContractSettings()
    ingest: IngestSettings = IngestSettings()
    display: DisplaySettings = DisplaySettings()
    features: FeatureSettings = FeatureSettings()
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
