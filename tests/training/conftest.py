"""One smoke-size run of the whole chain for the training tests: simulate → ingest → features
build → train (few rounds) → promote, in a temporary home, once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

SMOKE_ORDERS = 3_000
SMOKE_SEED = 5


@dataclass
class Trained:
    settings: object
    data: object
    result: object
    home: Path


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Trained:
    """A promoted smoke model set in its own home (≈1 min)."""
    from features.ingest import ingest_sources
    from features.store import FeatureRepo
    from orderlens.settings import load_settings
    from simulator.world import WorldConfig, simulate_world, write_world
    from training.data import load_training_data
    from training.train import promote, train_model_set

    home = tmp_path_factory.mktemp("training_home")
    settings = load_settings(home=home)
    world = simulate_world(WorldConfig(n_orders=SMOKE_ORDERS, seed=SMOKE_SEED, days=120))
    write_world(world, settings.sources_dir)
    ingest_sources(settings.sources_dir, settings)
    FeatureRepo(settings).build()
    data = load_training_data(settings)
    result = train_model_set(settings, data, smoke=True, log=lambda _: None)
    assert promote(settings, result.version)["promote"]
    return Trained(settings, data, result, home)
