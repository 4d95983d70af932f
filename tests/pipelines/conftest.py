"""One Prefect test server for the session, and small synthetic worlds for the flows."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

SMOKE_ORDERS = 300
SMOKE_DAYS = 60


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """A temporary Prefect server and database for every flow of the session (≈15–35 s once).

    Prefect's variables point at a throwaway home for the session and are restored afterwards,
    so other test packages see the environment they started with.
    """
    from orderlens.settings import load_settings
    from pipelines.runtime import prefect_environment

    saved = dict(os.environ)
    prefect_environment(load_settings(home=tmp_path_factory.mktemp("prefect-session")))
    from prefect.testing.utilities import prefect_test_harness

    try:
        with prefect_test_harness(server_startup_timeout=90):
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def smoke_world(
    *,
    seed: int,
    start: str,
    prefix: str = "",
    n_orders: int = SMOKE_ORDERS,
    carrier_failure: tuple[str, str, float] | None = None,
) -> dict[str, pd.DataFrame]:
    """A synthetic world at smoke size. ``prefix`` re-keys its orders, customers and tickets so a
    second world can be ingested into the same lake (the simulator numbers them from 1);
    ``carrier_failure`` makes one carrier fail from a day (see ``WorldConfig``)."""
    from simulator.world import WorldConfig, simulate_world

    config = WorldConfig(
        n_orders=n_orders, seed=seed, start=start, days=SMOKE_DAYS, carrier_failure=carrier_failure
    )
    world = simulate_world(config)
    if prefix:
        for frame in world.values():
            for column in ("order_id", "customer_id", "ticket_id"):
                if column in frame:
                    frame[column] = prefix + frame[column].astype(str)
    return world


def write_world_to(world: dict[str, pd.DataFrame], folder: Path) -> Path:
    from simulator.world import write_world

    write_world(world, folder)
    return folder
