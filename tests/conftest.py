"""Shared, seeded and cached test data, and what keeps parallel test workers apart.

Tiers: tests marked ``integration`` run real components (Feast stores, the BentoML server,
Prefect, Redis, PostgreSQL, a browser); the rest are the unit tier. ``make test-unit`` runs the
unit tier on every core (pytest-xdist), ``make test-integration`` the integration tier, also
spread over the cores but with the tests that share an expensive fixture (a trained home, a
running server, a Prefect test server, a module's production home) kept on one worker
(``--dist loadscope`` with the scheduler below), so each such fixture is built once.

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

SESSION_HOMES = {
    "integration": ("serving", "training", "pipelines", "reports"),
    "unit": ("nlp",),
}
"""Test packages whose modules share an expensive session fixture (a trained home, a running
service, a Prefect test server, a report build; the nlp package's smoke-trained pipelines), per
tier: their tests run on one worker so the fixture is built once."""


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadscope`` with scopes that keep shared fixtures together: a package of
    :data:`SESSION_HOMES`, else a module (its module-scoped homes and servers). pytest-xdist's
    ``xdist_group`` marks do not work with pytest 9 (it rewrites a node id pytest no longer
    reads), hence a scheduler."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    tier = "unit" if "not integration" in (config.getoption("markexpr") or "") else "integration"
    packages = SESSION_HOMES[tier]

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::")[0]
            parts = module.split("/")
            if len(parts) > 2 and parts[0] == "tests" and parts[1] in packages:
                return "/".join(parts[:2])
            return module

    return SharedFixtureScheduling(config, log)


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
