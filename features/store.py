"""The feature store: build the views from the lake, apply them to Feast, materialize them to the
online store, and read training sets and online features through the feature services."""

from __future__ import annotations

import json
import string
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from feast import FeatureStore
from feast.repo_config import RepoConfig

from features import lake, transforms
from features.online import OnlineFeatures, OnlineReader, odfv_inputs
from features.repo.definitions import ENTITY_KEYS, VIEW_BY_NAME, VIEWS, definitions
from features.transforms.keys import day_keyed
from features.transforms.tickets import CUSTOMER_TICKET_WINDOW_DAYS, ticket_signals
from orderlens.settings import Settings

REPO_TEMPLATES = Path(__file__).parent / "repo"
# Rows per Feast request of one view group. 1 M snapshots of 10 views (load ~2): 250k took 97 s
# and peaked at 5.3 GB, 100k 160 s and 4.2 GB (fewer requests: each one's set-up runs serially).
TRAINING_CHUNK_ROWS = 250_000
Tables = dict[str, pd.DataFrame]

VIEW_BUILDERS: dict[str, Callable[..., pd.DataFrame]] = {
    "order_attributes": lambda t, s=None: transforms.order_attributes(
        t["orders"], t.get("promotions"), () if s is None else s.features.order_extras
    ),
    "customer_history": lambda t, _=None: transforms.customer_history(
        t["orders"], t.get("outcomes")
    ),
    "carrier_performance": lambda t, _=None: transforms.carrier_performance(
        t["orders"], t.get("outcomes"), t.get("tracking")
    ),
    "lane_performance": lambda t, _=None: transforms.lane_performance(t["orders"], t["outcomes"]),
    "warehouse_backlog": lambda t, _=None: transforms.warehouse_backlog(
        t["orders"], t.get("tracking")
    ),
    "weather_observed": lambda t, _=None: transforms.weather_observed(t["weather"]),
    "weather_forecast": lambda t, _=None: transforms.weather_forecast(t["forecasts"]),
    "weather_outlook": lambda t, _=None: transforms.destination_outlook(
        t["weather"], t["forecasts"]
    ),
    "origin_weather": lambda t, _=None: transforms.origin_outlook(
        t["orders"], t["weather"], t["forecasts"]
    ),
    "tracking_progress": lambda t, _=None: transforms.tracking_progress(t["orders"], t["tracking"]),
    "order_tickets": lambda t, _=None: ticket_signals(t["ticket_signals"], "order_id", "tkt_"),
    "customer_tickets": lambda t, _=None: ticket_signals(
        t["ticket_signals"], "customer_id", "cust_tkt_", window_days=CUSTOMER_TICKET_WINDOW_DAYS
    ),
}
"""How each view is computed from the source tables (and optionally the settings: a shop's
declared extra order columns): one transformation per view, ``builder(tables, settings=None)``."""


@dataclass
class BuildReport:
    """What ``features build`` produced."""

    views: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def as_text(self) -> str:
        lines = [f"{name:>20}: {rows:>10,} rows" for name, rows in self.views.items()]
        lines += [f"{name:>20}: skipped ({why})" for name, why in self.skipped.items()]
        lines.append(f"built {len(self.views)} feature views in {self.seconds:.1f} s")
        return "\n".join(lines)


def unavailable(spec: Any, tables: Tables) -> str | None:
    """Why view ``spec`` cannot be built from ``tables`` (None: it can).

    A view is left out when a source table it needs is absent or empty, when an order column it
    needs has no value at all (a shop without carriers or warehouses), or when it rolls up
    history per key and the orders have a single key: one carrier's 30-day on-time rate is a
    time trend, not a property of the order (a disguised clock the models would learn).
    """
    missing = [t for t in spec.needs if t not in tables or tables[t].empty]
    if missing:
        return f"no {', '.join(missing)} data"
    orders = tables.get("orders")
    if orders is None:
        return None
    empty = [c for c in spec.columns if c not in orders or orders[c].isna().all()]
    if empty:
        return f"no values in orders.{', orders.'.join(empty)}"
    if spec.per_key_history:
        key = spec.columns[0]
        if orders[key].nunique(dropna=True) < 2:
            return f"a single {key}: its rolling rates would be a clock, not a feature"
    return None


class FeatureRepo:
    """The Feast repository of one run-time root and profile."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.feature_repo_dir
        self.data_dir = self.root / "data"
        self._services: dict[str, Any] = {}

    # --- configuration -------------------------------------------------------------------
    def repo_config(self) -> RepoConfig:
        """The Feast configuration of the settings' profile, from its feature_store.yaml."""
        template = (REPO_TEMPLATES / f"feature_store.{self.settings.profile}.yaml").read_text()
        production = self.settings.production
        text = string.Template(template).substitute(
            FEATURE_REPO=str(self.root),
            REDIS_CONNECTION=redis_connection_string(production.redis_url),
            POSTGRES_SQLALCHEMY_URL=sqlalchemy_url(production.postgres_dsn),
        )
        return RepoConfig(repo_path=self.root, **yaml.safe_load(text))

    @cached_property
    def store(self) -> FeatureStore:
        self.root.mkdir(parents=True, exist_ok=True)
        return FeatureStore(config=self.repo_config())

    # --- build ---------------------------------------------------------------------------
    def build(self, tables: Tables | None = None) -> BuildReport:
        """Compute every view whose sources are present, write its parquet source and apply
        the definitions (entities, views, on-demand view, services) to the registry."""
        began = time.perf_counter()
        tables = load_sources(self.settings) if tables is None else tables
        report = BuildReport()
        schemas: dict[str, dict[str, Any]] = {}
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for spec in VIEWS:
            why_not = unavailable(spec, tables)
            if why_not:
                report.skipped[spec.name] = why_not
                continue
            frame = VIEW_BUILDERS[spec.name](tables, self.settings)
            if frame.empty:  # e.g. origin weather when the orders carry no origin
                report.skipped[spec.name] = "no rows from its sources"
                continue
            if spec.entity.join_key != spec.natural_key:
                frame = day_keyed(frame, spec.natural_key)
            frame.to_parquet(self.data_dir / f"{spec.name}.parquet", index=False)
            # Join keys (carrier_id, dest_region, …) travel in the entity rows, not as features.
            keys = {*ENTITY_KEYS, "event_timestamp"}
            schemas[spec.name] = {c: frame[c].dtype for c in frame.columns if c not in keys}
            report.views[spec.name] = len(frame)
        self.store.apply(definitions(self.data_dir, schemas))
        # The registry is cached in memory; reload it so this process sees what it applied.
        self.store.refresh_registry()
        self._services.clear()
        self.__dict__.pop("online_reader", None)  # its read plans follow the new views
        self._write_manifest(report)
        report.seconds = time.perf_counter() - began
        return report

    def manifest(self) -> dict[str, Any]:
        """Which views were built (and which skipped, and why) by the last build."""
        path = self.root / "manifest.json"
        if not path.exists():
            raise FileNotFoundError("no feature views built yet: run `orderlens features build`")
        return json.loads(path.read_text())

    def _write_manifest(self, report: BuildReport) -> None:
        manifest = {
            "views": report.views,
            "skipped": report.skipped,
            "features": {
                name: [f.name for f in self.store.get_feature_view(name).features]
                for name in report.views
            },
            "built_at": pd.Timestamp.now(tz="UTC").isoformat(),
        }
        (self.root / "manifest.json").write_text(json.dumps(manifest, indent=2))

    # --- materialize ---------------------------------------------------------------------
    def materialize(self, end: datetime | None = None) -> dict[str, Any]:
        """Load the latest feature values into the online store, incrementally.

        The first run of a view loads only the last TTL window of its own rows (older values
        would be blanked at read time anyway: a year of hourly carrier rows is 2 days' worth
        online); later runs continue from where the last one ended (Feast keeps the intervals).
        ``end`` defaults to just after the newest row of any view; a view with nothing before
        ``end`` is left out.
        """
        began = time.perf_counter()
        views = list(self.manifest()["views"])
        stamps = self._view_timestamps(views)
        end = end or stamps.loc["max"].max().to_pydatetime() + pd.Timedelta(seconds=1)
        fresh = [v for v in views if not self.store.get_feature_view(v).materialization_intervals]
        for view in fresh:
            # Each view's window ends at its own newest row: weather runs weeks past the last
            # order, and a window anchored there would leave carrier and warehouse views empty.
            oldest, newest = (stamps.loc[k, view].to_pydatetime() for k in ("min", "max"))
            servable_from = min(end, newest + pd.Timedelta(seconds=1)) - VIEW_BY_NAME[view].ttl
            start = max(oldest, servable_from)
            if start < end:
                self.store.materialize(start_date=start, end_date=end, feature_views=[view])
        stale = [v for v in views if v not in fresh]
        if stale:
            self.store.materialize_incremental(end_date=end, feature_views=stale)
        return {"views": views, "end": str(end), "seconds": time.perf_counter() - began}

    def _view_timestamps(self, views: list[str]) -> pd.DataFrame:
        """Oldest and newest ``event_timestamp`` (rows ``min``/``max``) of each view (columns)."""
        stamps = {
            v: pd.read_parquet(self.data_dir / f"{v}.parquet", columns=["event_timestamp"])[
                "event_timestamp"
            ].agg(["min", "max"])
            for v in views
        }
        return pd.DataFrame(stamps)

    # --- read ----------------------------------------------------------------------------
    def feature_service(self, name: str) -> Any:
        """The feature service object, fetched from the registry once per repo object (each
        fetch rebuilds it from protobuf, which costs milliseconds on the serving path)."""
        if name not in self._services:
            self._services[name] = self.store.get_feature_service(name)
        return self._services[name]

    def training_set(
        self, service: str, entity_df: pd.DataFrame, *, chunk_rows: int = TRAINING_CHUNK_ROWS
    ) -> pd.DataFrame:
        """Point-in-time features of ``service`` for each entity row (extra columns are carried).

        The views that share a join key are asked for together, apart from the others
        (:meth:`keyed_training_features`): Feast joins every view on a string id built from
        *all* the keys of a request and carries every entity column through every candidate
        pair, so one request for the whole service makes each view pay for every key
        (measured on 100k snapshots of 8 views: 34 s in one request, 23 s view by view). The
        service's on-demand views are applied afterwards to their own input columns (Feast's
        offline path would first turn the *whole* joined table into Python lists).

        Args:
            service: a feature service name.
            entity_df: entity keys (natural and day keys), ``event_timestamp`` and any extra
                columns (labels, ``as_of``, ``created_at``, ``promised_at``).
            chunk_rows: entity rows per Feast request.

        Returns:
            The entity rows sorted by ``event_timestamp`` (stable), then every feature of the
            service in the service's order.
        """
        feature_service = self.store.get_feature_service(service)
        on_demand = {v.name: v for v in self.store.list_on_demand_feature_views()}
        by_key: dict[str, list[Any]] = {}
        for projection in feature_service.feature_view_projections:
            if projection.name not in on_demand:
                join_key = VIEW_BY_NAME[projection.name].entity.join_key
                by_key.setdefault(join_key, []).append(projection)
        ordered = entity_df.sort_values("event_timestamp", kind="stable").reset_index(drop=True)
        groups = [
            self.keyed_training_features(projections, ordered, chunk_rows=chunk_rows)
            for projections in by_key.values()
        ]
        by_name = {name: group[name] for group in groups for name in group.columns}
        features = pd.DataFrame(
            {
                feature.name: by_name[feature.name]
                for projection in feature_service.feature_view_projections
                if projection.name not in on_demand
                for feature in projection.features
            }
        )
        computed = [
            on_demand_features(on_demand[projection.name], ordered)
            for projection in feature_service.feature_view_projections
            if projection.name in on_demand
        ]
        # One assembly without copying the entity columns again: a 1 M-row frame of ~80
        # columns took seconds per copy (concatenated, then copied again per on-demand view).
        return pd.concat([ordered, features, *computed], axis=1, copy=False)

    def keyed_training_features(
        self,
        projections: Sequence[Any],
        entity_df: pd.DataFrame,
        *,
        chunk_rows: int = TRAINING_CHUNK_ROWS,
    ) -> pd.DataFrame:
        """Point-in-time features, through ``get_historical_features``, of views that share one
        join key, for each entity row.

        Only the join key and the moment go to Feast, each distinct (key, moment) pair once
        (Feast identifies an entity row by its values, so a repeated pair would be joined
        twice), in time-ordered chunks: the join compares every entity row with every feature
        row of its key, and chunking bounds the memory of those candidate pairs.

        Args:
            projections: the views' projections in a feature service (their features).
            entity_df: rows with the views' join key and ``event_timestamp``.
            chunk_rows: distinct (key, moment) pairs per Feast request.

        Returns:
            The views' features, one row per entity row, on ``entity_df``'s index.

        Raises:
            RuntimeError: when Feast returned a different number of rows than it was given.
        """
        (join_key,) = {VIEW_BY_NAME[p.name].entity.join_key for p in projections}
        keys = entity_df[[join_key, "event_timestamp"]]
        repeated = keys.duplicated().to_numpy()
        if repeated.any():
            pair_of_row = keys.groupby(list(keys), sort=False, dropna=False).ngroup().to_numpy()
        else:
            pair_of_row = np.arange(len(keys))
        pairs = keys[~repeated].assign(_pair=np.arange(int((~repeated).sum())))
        refs = [f"{p.name}:{feature.name}" for p in projections for feature in p.features]
        parts = [
            self.store.get_historical_features(
                entity_df=pairs.iloc[start : start + chunk_rows], features=refs
            ).to_arrow()
            for start in range(0, len(pairs), chunk_rows)
        ]
        names = [ref.split(":")[1] for ref in refs]
        if not parts:
            return pd.DataFrame({name: [] for name in names}, index=entity_df.index)
        joined = pa.concat_tables(parts)
        found = joined["_pair"].to_numpy()
        if len(found) != len(pairs) or len(np.unique(found)) != len(pairs):
            raise RuntimeError(
                f"{join_key}: {len(found)} rows for {len(pairs)} entity rows: "
                "the offline store dropped or duplicated rows"
            )
        # Arrow to pandas once for all chunks, in entity-row order.
        by_pair = joined.select(names).take(pa.array(np.argsort(found))).to_pandas()
        return by_pair.take(pair_of_row).set_axis(entity_df.index)

    def online_features(
        self, service: str, rows: pd.DataFrame, as_of: datetime | None = None
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Latest feature values of ``service`` for each entity row, and their age, as frames.

        A convenience over :meth:`online_feature_values` (which serving uses).

        Args:
            service: a feature service name.
            rows: entity keys plus ``as_of``, ``created_at`` and ``promised_at``.
            as_of: the moment freshness is measured against (default: each row's ``as_of``).

        Returns:
            The features (one row per entity row) and, per row and view, the age in seconds of
            the values served (NaN where nothing was served: none held, stale, or newer than
            ``as_of``).
        """
        columns = {name: rows[name] for name in rows.columns}
        online = self.online_feature_values(service, columns, as_of)
        return pd.DataFrame(online.values), pd.DataFrame(online.ages, dtype="float64")

    def online_feature_values(
        self,
        service: str,
        rows: Mapping[str, Any],
        as_of: datetime | None = None,
        skip_views: Collection[str] = (),
    ) -> OnlineFeatures:
        """The online features of ``service`` for a batch of entity rows given as columns, as of
        each row's ``as_of`` (see :mod:`features.online`: nothing newer than ``as_of`` or older
        than a view's TTL is served, and every view not used is said so).

        Args:
            service: a feature service name.
            rows: ``{column: values}`` with the entity keys (natural ones: the day keys are
                derived), ``as_of``, ``created_at`` and ``promised_at``.
            as_of: one moment for every row instead of each row's ``as_of``.
            skip_views: views not to read (e.g. ``order_attributes`` when the request carries
                the order itself: request fields win).
        """
        return self.online_reader.read(service, rows, as_of=as_of, skip_views=skip_views)

    @cached_property
    def online_reader(self) -> OnlineReader:
        """Batch reads of this store's online features (through its online-store plug-in)."""
        return OnlineReader(self.store)


def on_demand_features(view: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """The features of a python-mode on-demand view for each row of ``frame``, computed by the
    view's own function from its request inputs only (columns of ``frame``), on its index."""
    inputs = {name: _python_values(frame[name]) for name in odfv_inputs(view)}
    outputs = view.feature_transformation.udf(inputs)
    return pd.DataFrame(
        {feature.name: outputs[feature.name] for feature in view.features}, index=frame.index
    )


def _python_values(column: pd.Series) -> list[Any]:
    # Timestamps as datetime objects, as the serving path sends them: a pandas Timestamp per
    # value (what .tolist() makes) was a tenth of a 1 M-row training set.
    if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(column):
        return list(column.array.to_pydatetime())
    return column.tolist()


def load_sources(settings: Settings) -> Tables:
    """Every source table the lake holds, plus ``ticket_signals`` when the NLP stage has
    extracted them (``<home>/nlp/signals.parquet``)."""
    tables = {
        name: lake.read_lake(settings, name)
        for name in ("orders", "weather", "forecasts", "tracking", "tickets", "outcomes")
        if lake.has_table(settings, name)
    }
    if settings.signals_path.exists():
        tables["ticket_signals"] = pd.read_parquet(settings.signals_path)
    # The business's promotion calendar, as a table (order_attributes counts days to its peaks).
    calendar = [p.model_dump() for p in settings.business.promotions]
    tables["promotions"] = pd.DataFrame(calendar, columns=["name", "month", "day"])
    return tables


def signals_version(settings: Settings) -> str | None:
    """The NLP pipeline version that extracted the ticket signals (None: no signals)."""
    if not settings.signals_path.exists():
        return None
    versions = pq.read_table(settings.signals_path, columns=["pipeline_version"]).column(0)
    return versions[0].as_py() if len(versions) else None


def redis_connection_string(url: str) -> str:
    """``redis://host:port/db`` → Feast's ``host:port,db=N`` connection string."""
    parsed = urlparse(url)
    db = (parsed.path or "/0").lstrip("/") or "0"
    parts = [f"{parsed.hostname or '127.0.0.1'}:{parsed.port or 6379}", f"db={db}"]
    if parsed.password:
        parts.append(f"password={parsed.password}")
    if parsed.scheme == "rediss":
        parts.append("ssl=true")
    return ",".join(parts)


def sqlalchemy_url(dsn: str) -> str:
    """``postgresql://…`` → the SQLAlchemy URL with the installed psycopg 3 driver."""
    return (
        dsn.replace("postgresql://", "postgresql+psycopg://", 1)
        if "+" not in dsn.split(":")[0]
        else dsn
    )
