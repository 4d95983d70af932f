"""A small served world for the report tests: lake, prediction log (real writer) and one build."""

from __future__ import annotations

import pytest

REPORT_ORDERS = 800
REPORT_DAYS = 90
REPORT_ROWS = 400
"""Rows sampled into each Evidently page: small, the tests check rendering, not statistics."""


@pytest.fixture(scope="session")
def served_home(tmp_path_factory):
    """``(settings, world)``: a world of 800 orders ingested into a fresh lake, its newest
    quarter served and logged through :class:`serving.prediction_log.PredictionLog`."""
    from orderlens.settings import load_settings
    from simulator.world import WorldConfig, simulate_world
    from tests.reports.factory import ingest_world, write_prediction_log

    root = tmp_path_factory.mktemp("reports")
    settings = load_settings(home=root / "home")
    world = simulate_world(WorldConfig(n_orders=REPORT_ORDERS, seed=5, days=REPORT_DAYS))
    ingest_world(world, settings, root / "sources")
    write_prediction_log(world, settings)
    return settings, world


@pytest.fixture(scope="session")
def built(served_home):
    """One full report build on the served world (≈1 min: a dozen Evidently pages)."""
    from reports.build import build_all

    settings, _ = served_home
    return build_all(settings, rows=REPORT_ROWS)
