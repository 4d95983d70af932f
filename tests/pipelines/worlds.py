"""A served world for the monitor tests: a champion trained on the first weeks of a simulated
world, then the following days arriving one at a time as served traffic.

Time passes the way it does for a shop: the history up to the cut is ingested and the champion
trained on it; then the whole world is ingested (the later orders, scans, outcomes and weather
arrive), the feature store is rebuilt, and each later day is replayed through the service's
scoring (:mod:`pipelines.replay`) before the monitor judges it. Two worlds with the same seed
share everything before a carrier failure (the knob adds no random draws), so a control world
and a failing one start from the same champion.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

WORLD = {"n_orders": 20_000, "seed": 11, "start": "2025-03-10", "days": 30}
"""≈670 orders a day in spring (≈120 per carrier): no promotion or typhoon season inside."""
CUT_DAY = 20
"""The champion learns from the first 20 days; the days after are served."""
TIME_COLUMNS = {
    "orders": "created_at",
    "tracking": "event_time",
    "outcomes": "delivered_at",
    "weather": "observed_at",
    "forecasts": "issued_at",
}


@dataclass(frozen=True)
class ServedWorld:
    """A home whose champion was trained before ``cut`` and whose lake holds the whole world."""

    home: Path
    cut: pd.Timestamp

    def day(self, k: int) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The ``k``-th served day (0: the day of the cut) as ``[start, end)``."""
        start = self.cut + pd.Timedelta(days=k)
        return start, start + pd.Timedelta(days=1)


def simulate(carrier_failure: tuple[str, str, float] | None = None) -> dict[str, pd.DataFrame]:
    """The test world (no tickets: the monitor does not need the NLP stage)."""
    from simulator.world import WorldConfig, simulate_world

    world = simulate_world(WorldConfig(**WORLD, carrier_failure=carrier_failure))
    world.pop("tickets", None)
    return world


def history(world: dict[str, pd.DataFrame], cut: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """What was known before ``cut``: rows whose time is earlier (orders' oracle with them)."""
    known = {
        name: frame[frame[TIME_COLUMNS[name]] < cut]
        for name, frame in world.items()
        if name in TIME_COLUMNS
    }
    known["oracle"] = world["oracle"][world["oracle"]["order_id"].isin(known["orders"]["order_id"])]
    return known


def train_champion(home: Path, world: dict[str, pd.DataFrame]) -> ServedWorld:
    """Ingest the history before the cut, build the features, train at smoke size and promote,
    keeping the reference the monitor needs (what the train flow does, without the engine)."""
    from features.ingest import ingest_sources
    from features.store import FeatureRepo
    from orderlens.settings import load_settings
    from pipelines.train import save_reference_task
    from simulator.world import write_world
    from training.data import load_training_data
    from training.train import promote, train_model_set

    cut = pd.Timestamp(WORLD["start"], tz="UTC") + pd.Timedelta(days=CUT_DAY)
    settings = load_settings(home=home)
    write_world(history(world, cut), settings.sources_dir)
    ingest_sources(settings.sources_dir, settings)
    FeatureRepo(settings).build()
    data = load_training_data(settings)
    result = train_model_set(settings, data, smoke=True, log=lambda _: None)
    assert promote(settings, result.version)["promote"]
    save_reference_task.fn(settings, data.delay, result.version, settings.monitoring.reference_rows)
    return ServedWorld(home, cut)


def serve_world(trained: ServedWorld, world: dict[str, pd.DataFrame], home: Path) -> ServedWorld:
    """A copy of the trained home into which the whole ``world`` has arrived."""
    from features.ingest import ingest_sources
    from features.store import FeatureRepo
    from orderlens.settings import load_settings
    from simulator.world import write_world

    shutil.copytree(trained.home, home)
    settings = load_settings(home=home)
    shutil.rmtree(settings.sources_dir)
    write_world(world, settings.sources_dir)
    ingest_sources(settings.sources_dir, settings)
    FeatureRepo(settings).build()
    return ServedWorld(home, trained.cut)


def replay_day(world: ServedWorld, k: int) -> pd.Timestamp:
    """Serve day ``k`` and return its end (the moment the daily monitor judges)."""
    from orderlens.settings import load_settings
    from pipelines.replay import replay

    start, end = world.day(k)
    replay(load_settings(home=world.home), start.to_pydatetime(), end.to_pydatetime())
    return end


def share_history(control: ServedWorld, other: ServedWorld, days: int) -> None:
    """Give ``other`` the control world's served history of its first ``days`` days (prediction
    log and the monitor's records of those days): identical in both worlds, since they differ
    only from a later day on, and replaying it twice would only cost time. (The action ledger is
    not copied: it only decides which repeated actions are suppressed.)"""
    from orderlens.settings import load_settings

    source, target = load_settings(home=control.home), load_settings(home=other.home)
    end = control.cut + pd.Timedelta(days=days)
    for part in sorted(source.prediction_log_dir.glob("date=*")):
        if pd.Timestamp(part.name.removeprefix("date="), tz="UTC") < end:
            shutil.copytree(part, target.prediction_log_dir / part.name, dirs_exist_ok=True)
    target.monitoring_dir.mkdir(parents=True, exist_ok=True)
    for record in sorted(source.monitoring_dir.glob("monitor-*.json")):
        if pd.Timestamp(record.stem.removeprefix("monitor-"), tz="UTC") <= end:
            shutil.copy2(record, target.monitoring_dir / record.name)
