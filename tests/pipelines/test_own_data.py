"""A real shipper's export (USAID SCMS, ``../shared/data``) end to end at smoke size: a sample of
the file through ``ingest --mapping`` inside the daily flow, evaluation without an oracle against
the baselines, and batch scoring with ``orderlens predict``'s code."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCMS_FILE = "SCMS_Delivery_History_Dataset.csv"
DATA_DIRS = (ROOT.parent / "shared" / "data", ROOT.parents[1] / "shared" / "data")
SAMPLE_ROWS = 2_000


@pytest.fixture(scope="module")
def scms_home(tmp_path_factory, prefect_harness):
    """The daily flow on a seeded sample of the SCMS file, in a fresh home with the export's
    own columns declared as extra features."""
    from pipelines.daily import daily_flow

    data = next((d for d in DATA_DIRS if (d / SCMS_FILE).exists()), None)
    if data is None:
        pytest.fail(f"{SCMS_FILE} not found in {', '.join(map(str, DATA_DIRS))}")
    export = tmp_path_factory.mktemp("scms_export")
    raw = pd.read_csv(data / SCMS_FILE, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    raw.sample(SAMPLE_ROWS, random_state=3).to_csv(export / SCMS_FILE, index=False)
    home = tmp_path_factory.mktemp("scms_home")
    shutil.copy(ROOT / "examples" / "scms" / "settings.yaml", home / "settings.yaml")
    mapping = ROOT / "examples" / "scms" / "mapping.yaml"
    # The settings file is found through the environment (a home passed as an argument does not
    # move it): point at the copy for this module only.
    saved = os.environ.get("ORDERLENS_SETTINGS")
    os.environ["ORDERLENS_SETTINGS"] = str(home / "settings.yaml")
    try:
        result = daily_flow(home=str(home), smoke=True, source=str(export), mapping=str(mapping))
        yield home, result
    finally:
        if saved is None:
            os.environ.pop("ORDERLENS_SETTINGS", None)
        else:
            os.environ["ORDERLENS_SETTINGS"] = saved


def test_the_export_is_ingested_trained_and_promoted(scms_home):
    from orderlens.settings import load_settings
    from training import registry

    home, result = scms_home
    train = result["steps"]["train"]
    assert train["promotion"]["promote"], train
    champion = registry.load_champion(load_settings(home=home))
    names = champion.delay.spec.names
    assert "extra_vendor" in names and "extra_line_item_quantity" in names  # declared extras
    # No carriers, weather or tracking in this export: their features are simply absent.
    assert not [n for n in names if n.startswith(("carrier_", "lane_", "obs_", "fc_", "trk_"))]
    served = champion.manifest["served"]["delay"]
    assert served["model"] and served["why"]


def test_evaluation_without_an_oracle_reports_every_baseline(scms_home):
    from orderlens.settings import load_settings
    from training import registry
    from training.train import evaluate_version

    home, _ = scms_home
    settings = load_settings(home=home)
    report = evaluate_version(settings, registry.champion_version(settings))
    text = json.dumps(report, allow_nan=False)  # strict JSON: no NaN anywhere
    assert "oracle" not in text
    delay = report["delay"]
    assert {"auc", "pr_auc", "brier", "ece", "base_rate", "n"} <= set(delay)
    assert set(delay["baselines"]) == {"promise_horizon", "logistic_all", "region_late_rate"}
    for figures in delay["baselines"].values():
        assert 0.0 <= figures["auc"] <= 1.0 and figures["brier"] is not None
    assert delay["auc"] > 0.6  # a real signal even from a 2,000-row sample
    assert "baseline_gate" in delay


def test_compiled_trees_predict_and_explain_the_export_as_its_boosters(scms_home):
    """The shop's own champion compiled for serving: predictions and TreeSHAP contributions
    (delay reasons, value reasons) equal the LightGBM boosters' on its test window (to 1e-9,
    relative for money dimensions in the millions)."""
    from orderlens.settings import load_settings
    from serving.compiled import compiled_model_set
    from training.matrix import to_matrix
    from training.registry import load_champion, sets_dir

    home, _ = scms_home
    settings = load_settings(home=home)
    models = load_champion(settings)
    fast = compiled_model_set(models)
    folder = sets_dir(settings) / models.version
    delay_x = to_matrix(pd.read_parquet(folder / "test_delay.parquet"), models.delay.spec)
    value_x = to_matrix(pd.read_parquet(folder / "test_value.parquet"), models.value.spec)
    np.testing.assert_allclose(
        fast.delay.predict(delay_x)["p_late"], models.delay.predict(delay_x)["p_late"], atol=1e-9
    )
    np.testing.assert_allclose(
        fast.delay.contributions(delay_x), models.delay.contributions(delay_x), atol=1e-9, rtol=0
    )
    for name, model in models.value.models.items():
        np.testing.assert_allclose(
            fast.value.models[name].predict(value_x, pred_contrib=True),
            model.predict(value_x, pred_contrib=True),
            atol=1e-9,
            rtol=1e-12,
            err_msg=name,
        )


def test_predict_scores_the_export_orders(scms_home, tmp_path):
    from features.lake import read_lake
    from orderlens.settings import load_settings
    from serving.batch import predict_file

    home, _ = scms_home
    settings = load_settings(home=home)
    orders = read_lake(settings, "orders").tail(200)
    orders_file = tmp_path / "orders.parquet"
    orders.to_parquet(orders_file, index=False)
    report = predict_file(settings, orders_file, tmp_path / "scores.csv")
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert report.scored == len(orders) == len(scores)
    assert scores["p_late"].between(0, 1).all()
    assert np.isfinite(scores["value_index"]).all()
    # The file's extra columns are read and used: without them the scores change.
    extras = [e.name for e in settings.features.order_extras]
    assert set(extras) <= set(orders.columns)
    bare_file = tmp_path / "bare.csv"
    orders.drop(columns=extras).to_csv(bare_file, index=False)
    predict_file(settings, bare_file, tmp_path / "bare_scores.csv")
    bare = pd.read_csv(tmp_path / "bare_scores.csv")
    assert not np.allclose(scores["p_late"], bare["p_late"])


def _payloads(orders: pd.DataFrame, extras) -> list[dict]:
    """Lake orders as /predict orders at creation, with the shop's declared extra columns."""
    from serving.examples import order_payloads

    payloads = order_payloads(orders, hours_after_creation=0.0)
    for payload, (_, row) in zip(payloads, orders.iterrows(), strict=True):
        for extra in extras:
            value = row.get(extra.name)
            if value is not None and not pd.isna(value):
                payload[extra.name] = value.item() if hasattr(value, "item") else value
        for name in [k for k, v in payload.items() if v is None or v != v]:  # null, NaN
            del payload[name]
    return payloads


def test_predict_requests_carry_the_declared_extra_columns(scms_home):
    """The shop's own columns are optional /predict fields, change the scores and are named in
    the order-profile reasons by their labels (in process: the service's parse → score path)."""
    from features.lake import read_lake
    from orderlens.settings import load_settings
    from serving.policy import load_policy
    from serving.schemas import RequestError, order_model, parse_request, request_model
    from serving.scoring import Scorer, request_columns
    from training import registry

    home, _ = scms_home
    settings = load_settings(home=home)
    extras = settings.features.order_extras
    model = request_model(order_model(settings.serving, settings.contract, extras))
    scorer = Scorer(registry.load_champion(settings), load_policy(settings.serving.policy_file))
    orders = read_lake(settings, "orders").tail(10)
    payload = {"orders": _payloads(orders, extras)}
    assert any("vendor" in o for o in payload["orders"])

    with_extras = scorer.score(request_columns(parse_request(payload, model=model).orders), None)
    bare = {"orders": [{k: v for k, v in o.items() if k not in {e.name for e in extras}}
                       for o in payload["orders"]]}  # fmt: skip
    without = scorer.score(request_columns(parse_request(bare, model=model).orders), None)
    p_with = [p["delay"]["probability"] for p in with_extras.predictions]
    p_without = [p["delay"]["probability"] for p in without.predictions]
    assert not np.allclose(p_with, p_without)  # the extras are features, not decoration

    labels = [e.display for e in extras]
    texts = [r["text"] for p in with_extras.predictions for r in p["delay"]["reasons"]]
    assert any(label in text for text in texts for label in labels), texts

    bad = {"orders": [{**payload["orders"][0], "pack_price": "cheap"}]}
    with pytest.raises(RequestError) as refused:
        parse_request(bad, model=model)
    assert refused.value.body.error.fields[0].field == "orders[0].pack_price"
    unknown = {"orders": [{**payload["orders"][0], "not_declared": 1}]}
    with pytest.raises(RequestError):
        parse_request(unknown, model=model)


def test_the_service_serves_the_shop_with_its_extras(scms_home, tmp_path):
    """Over HTTP: an order with the export's own columns is scored; /metadata says which delay
    model is served, its baselines, the value dimensions and the extras; the OpenAPI document
    lists the extras as optional order fields."""
    from features.lake import read_lake
    from orderlens.settings import load_settings
    from tests.serving.live import running_server

    home, _ = scms_home
    settings = load_settings(home=home)  # reads <home>/settings.yaml, as the server will
    orders = read_lake(settings, "orders").tail(3)
    payload = {"orders": _payloads(orders, settings.features.order_extras)}
    env = {"ORDERLENS_SERVING__RATE_LIMIT_PER_SECOND": "0"}
    with running_server(home, tmp_path / "server.log", **env) as server, server.client() as http:
        answer = http.post("/predict", json=payload)
        metadata = http.get("/metadata").json()
        document = http.get("/docs.json").json()
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 3
    assert metadata["delay_model"]["model"] in {
        "lightgbm",
        "lightgbm+logistic_regression",
        "logistic_regression",
    }
    assert metadata["delay_model"]["why"]
    assert set(metadata["baselines"]) == {"promise_horizon", "logistic_all", "region_late_rate"}
    dimensions = metadata["value_dimensions"]
    assert len(dimensions["available"]) + len(dimensions["not_available"]) == 19
    assert {e["name"] for e in metadata["order_extras"]} >= {"vendor", "pack_price"}
    body = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    order_schema = body["schema"]["properties"]["orders"]["items"]["properties"]
    assert {"vendor", "pack_price"} <= set(order_schema)
