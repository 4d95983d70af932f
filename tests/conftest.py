"""Shared, seeded and cached test data, and what keeps parallel test workers apart.

Tiers: tests marked ``integration`` run real components (Feast stores, the BentoML server,
Prefect, Redis, PostgreSQL, a browser); the rest are the unit tier. ``make test-unit`` runs the
unit tier on every core (pytest-xdist), ``make test-integration`` the integration tier, also
spread over the cores but with the tests that share an expensive fixture (a trained home, a
running server, a Prefect test server, a module's production home) kept on one worker
(``--dist loadgroup``), so each such fixture is built once.

Each xdist worker is its own process with its own temporary root (``tmp_path_factory``), its own
BentoML model store (``BENTOML_HOME`` below) and its own free loopback ports
(:func:`tests.servers.free_port`): workers share no home, store or port.
"""

from __future__ import annotations

import os

import pandas as pd
import pytest

WORLD_ORDERS = 30_000
WORLD_SEED = 11

SHARED_SESSION_FIXTURES = frozenset(
    {
        "world",  # this file: a 30k-order world
        "trained",  # tests/training (a promoted smoke model set), tests/nlp (smoke pipelines)
        "pipelines",  # tests/nlp
        "serving_home",  # tests/serving: a home with a champion and a candidate
        "server",  # tests/serving: the service over HTTP
        "prefect_harness",  # tests/pipelines: a Prefect test server
        "daily_home",  # tests/pipelines: a home after the daily flow
        "served_home",  # tests/reports
        "built",  # tests/reports: one report build
    }
)
"""Session fixtures that take seconds to minutes to build: tests using one of them are grouped
per test package, so one worker builds each once."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep tests that share an expensive fixture on one xdist worker: per package for the
    session fixtures above, per module for the other integration tests (their module-scoped
    homes and servers). Unit tests without such a fixture spread freely."""
    for item in items:
        if SHARED_SESSION_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group(item.path.parent.name))
        elif item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


@pytest.fixture(scope="session", autouse=True)
def _private_model_store(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One BentoML model store per test process (BentoML fixes its store for a process at first
    use, :mod:`orderlens.registry`); servers started by the tests inherit it."""
    os.environ["BENTOML_HOME"] = str(tmp_path_factory.mktemp("bentoml"))
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")


@pytest.fixture(scope="session")
def world() -> dict[str, pd.DataFrame]:
    """One synthetic world for the whole session (≈3 s); tests must not mutate it."""
    from simulator.world import WorldConfig, simulate_world

    return simulate_world(WorldConfig(n_orders=WORLD_ORDERS, seed=WORLD_SEED))
