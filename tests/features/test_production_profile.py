"""The production profile: the same definitions on a real Redis online store and a real
PostgreSQL registry (servers started from the installed binaries)."""

from __future__ import annotations

import pytest

from features.snapshots import entity_rows, labelled_snapshots
from features.store import FeatureRepo
from orderlens.settings import ProductionSettings, load_settings
from tests.features.sources import good_sources, hours
from tests.servers import postgres_server, redis_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def production_repo(tmp_path_factory):
    with redis_server() as redis_url, postgres_server() as postgres_dsn:
        settings = load_settings(
            home=tmp_path_factory.mktemp("home"),
            profile="production",
            production=ProductionSettings(redis_url=redis_url, postgres_dsn=postgres_dsn),
        )
        repo = FeatureRepo(settings)
        repo.build(good_sources())
        yield repo


def test_production_profile_uses_redis_and_postgres(production_repo):
    config = production_repo.repo_config()
    assert config.online_store.type == "redis"
    assert config.registry.registry_type == "sql"
    assert config.registry.path.startswith("postgresql+psycopg://")


def test_training_set_and_online_features_in_production(production_repo):
    tables = good_sources()
    entities = labelled_snapshots(
        "delay_v1", tables["orders"], tables["outcomes"], tables["tracking"]
    )
    frame = production_repo.training_set("delay_v1", entities)
    assert len(frame) == len(entities)
    production_repo.materialize()
    rows = entity_rows(tables["orders"]).assign(as_of=hours(100))
    features, ages = production_repo.online_features("delay_v1", rows)
    assert features.loc[0, "trk_stage"] == 6
    assert features.loc[0, "cust_orders_365d"] == 1
    assert ages.loc[0, "tracking_progress"] == pytest.approx((100 - 66) * 3600, abs=1)
