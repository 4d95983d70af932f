"""A second world: the synthetic export passed through a foreign adapter — renamed columns, other
category/payment/channel names, another country's coordinates, no weather, tracking, tickets,
COGS, warehouses or carriers — ingested through a mapping, trained, served over HTTP; the delay
model beats every baseline on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.integration

ORDERS = 4_000
MAPPING = """
tables:
  orders:
    files: bestellungen.csv
    columns:
      order_id: Bestellnummer
      customer_id: Kundennummer
      created_at: Bestellt
      promised_at: Zugesagt
      order_value: {column: Warenwert, number: eu}
      dest_region: Zielort
      dest_lat: Breite
      dest_lon: Laenge
      channel: Kanal
      category: Warengruppe
      payment_method: Zahlart
      service_level: Versandart
      n_items: Artikel
      discount: {column: Rabatt, number: eu}
      freight_cost: {column: Fracht, number: eu}
  outcomes:
    files: zustellungen.csv
    columns:
      order_id: Bestellnummer
      delivered_at: Zugestellt
      review_score: Bewertung
"""
FOREIGN_NAMES = {
    "channel": "Kanal-",
    "category": "Warengruppe-",
    "payment_method": "Zahlart-",
    "service_level": "Versand-",
}


def _eu(values: pd.Series) -> pd.Series:
    """Numbers as a German export writes them: 1.234,50."""
    return values.map(lambda v: f"{v:,.2f}".replace(",", "_").replace(".", ",").replace("_", "."))


def foreign_export(world: dict[str, pd.DataFrame], folder: Path) -> None:
    """The world's orders and outcomes as a foreign shop would export them (CSV)."""
    orders = world["orders"]
    lat, lon = orders["dest_lat"], orders["dest_lon"]
    # Another country: the Chinese cities' coordinates squeezed onto Germany's box.
    german_lat = 47.5 + (lat - lat.min()) / (lat.max() - lat.min()) * 7.0
    german_lon = 6.0 + (lon - lon.min()) / (lon.max() - lon.min()) * 9.0
    cities = {c: f"Stadt {i:02d}" for i, c in enumerate(sorted(orders["dest_region"].unique()))}
    exported = pd.DataFrame(
        {
            "Bestellnummer": orders["order_id"],
            "Kundennummer": orders["customer_id"],
            "Bestellt": orders["created_at"].dt.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "Zugesagt": orders["promised_at"].dt.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "Warenwert": _eu(orders["order_value"]),
            "Zielort": orders["dest_region"].map(cities),
            "Breite": german_lat.round(4),
            "Laenge": german_lon.round(4),
            "Artikel": orders["n_items"],
            "Rabatt": _eu(orders["discount"]),
            "Fracht": _eu(orders["freight_cost"]),
            **{
                {
                    "channel": "Kanal",
                    "category": "Warengruppe",
                    "payment_method": "Zahlart",
                    "service_level": "Versandart",
                }[column]: orders[column].map(
                    {v: f"{prefix}{i}" for i, v in enumerate(sorted(orders[column].unique()))}
                )
                for column, prefix in FOREIGN_NAMES.items()
            },
        }
    )
    exported.to_csv(folder / "bestellungen.csv", index=False)
    outcomes = world["outcomes"]
    pd.DataFrame(
        {
            "Bestellnummer": outcomes["order_id"],
            "Zugestellt": outcomes["delivered_at"].dt.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "Bewertung": outcomes["review_score"],
        }
    ).to_csv(folder / "zustellungen.csv", index=False)


@pytest.fixture(scope="module")
def foreign_home(tmp_path_factory):
    """The foreign export ingested through its mapping, features built and materialized, a model
    set trained (100 rounds) and promoted."""
    from features.ingest import ingest_sources
    from features.store import FeatureRepo
    from orderlens.settings import load_settings
    from simulator.world import WorldConfig, simulate_world
    from training.data import load_training_data
    from training.train import promote, train_model_set

    home = tmp_path_factory.mktemp("foreign_home")
    export = tmp_path_factory.mktemp("foreign_export")
    world = simulate_world(WorldConfig(n_orders=ORDERS, seed=23, days=240))
    foreign_export(world, export)
    mapping = export / "mapping.yaml"
    mapping.write_text(MAPPING)
    settings = load_settings(home=home)
    summary = ingest_sources(export, settings, mapping=mapping)
    repo = FeatureRepo(settings)
    built = repo.build()
    repo.materialize()
    data = load_training_data(settings)
    training = settings.training.model_copy(update={"smoke_rounds": 100})
    settings = settings.model_copy(update={"training": training})
    result = train_model_set(settings, data, smoke=True, log=lambda _: None)
    assert promote(settings, result.version)["promote"]
    return {"settings": settings, "summary": summary, "built": built, "result": result}


def test_features_adapt_to_what_the_export_has(foreign_home):
    built = foreign_home["built"]
    assert {"order_attributes", "customer_history"} <= set(built.views)
    for view in ("carrier_performance", "lane_performance", "warehouse_backlog"):
        assert "no values in orders" in built.skipped[view]
    for view in ("weather_observed", "tracking_progress", "origin_weather"):
        assert view in built.skipped
    spec = foreign_home["result"].report  # the features the models use
    assert spec["delay"]["n"] > 500


def test_delay_model_beats_every_baseline(foreign_home):
    delay = foreign_home["result"].report["delay"]
    assert set(delay["baselines"]) == {"promise_horizon", "logistic_all", "region_late_rate"}
    for name, baseline in delay["baselines"].items():
        if delay["served"]["model"] == "logistic_regression" and name == "logistic_all":
            continue  # serving the baseline itself
        assert delay["auc"] > baseline["auc"], name
        assert delay["brier"] < baseline["brier"], name
    assert delay["baseline_gate"]["passed"]
    assert not any(key.startswith("oracle") for key in delay)  # no oracle on a shop's data


def test_value_dimensions_are_available_or_say_why_not(foreign_home):
    from training import registry

    settings = foreign_home["settings"]
    manifest = registry.load_champion(settings).manifest
    dimensions = manifest["value_dimensions"]
    for name in ("net_revenue", "satisfaction", "on_time_delivery", "repeat_purchase_90d"):
        assert name in dimensions["available"], name
    assert "cogs" in dimensions["not_available"]["gross_margin"]
    assert len(dimensions["available"]) + len(dimensions["not_available"]) == 19
    assert manifest["served"]["delay"]["model"]


def test_the_service_answers_a_foreign_order(foreign_home, tmp_path):
    from tests.serving.live import running_server

    settings = foreign_home["settings"]
    order = {
        "order_id": "NEU-1",
        "customer_id": "K-1",
        "created_at": "2025-09-01T10:00:00+02:00",
        "promised_at": "2025-09-04T10:00:00+02:00",
        "order_value": 129.5,
        "dest_region": "Stadt 03",
        "dest_lat": 52.5,
        "dest_lon": 13.4,
        "channel": "Kanal-1",
        "category": "eine ganz neue Warengruppe",  # unseen at training: handled, not refused
    }
    env = {"ORDERLENS_SERVING__RATE_LIMIT_PER_SECOND": "0"}
    log = tmp_path / "server.log"
    with running_server(settings.home, log, **env) as server, server.client() as http:
        answer = http.post("/predict", json={"orders": [order]})
        metadata = http.get("/metadata").json()
    assert answer.status_code == 200, answer.text
    prediction = answer.json()["predictions"][0]
    assert 0.0 <= prediction["delay"]["probability"] <= 1.0
    assert np.isfinite(prediction["value"]["index"])
    assert "served" in str(metadata) or metadata["metrics"]["delay"]["served"]
