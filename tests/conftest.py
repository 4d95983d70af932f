"""Shared, seeded and cached test data."""

from __future__ import annotations

import pandas as pd
import pytest

WORLD_ORDERS = 30_000
WORLD_SEED = 11


@pytest.fixture(scope="session")
def world() -> dict[str, pd.DataFrame]:
    """One synthetic world for the whole session (≈3 s); tests must not mutate it."""
    from simulator.world import WorldConfig, simulate_world

    return simulate_world(WorldConfig(n_orders=WORLD_ORDERS, seed=WORLD_SEED))
