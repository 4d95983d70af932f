"""Batch scoring (``orderlens predict``) through the service's own code, on a real smoke home:
one row per good order, bad rows reported with their rules, answers equal to the scorer's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from serving.batch import OUTPUT_COLUMNS, champion_scorer, predict_file

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def scorer(serving_home):
    return champion_scorer(serving_home.settings)


def _orders(serving_home, n: int = 200) -> pd.DataFrame:
    return serving_home.orders.sort_values("created_at").tail(n).reset_index(drop=True)


def test_predict_file_scores_every_good_order_and_reports_bad_rows(serving_home, scorer, tmp_path):
    orders = _orders(serving_home)
    raw = orders.astype({"order_value": object, "created_at": object})
    raw.loc[3, "order_value"] = "lots"  # not a number
    raw.loc[7, "created_at"] = None  # a required field missing
    raw["scored_at"] = (orders["created_at"] + pd.Timedelta(hours=30)).astype(object)
    raw.loc[11, "scored_at"] = orders.loc[11, "created_at"] - pd.Timedelta(hours=1)
    source = tmp_path / "orders.csv"
    raw.to_csv(source, index=False)
    out = tmp_path / "scores.parquet"

    report = predict_file(
        serving_home.settings, source, out, as_of_column="scored_at", scorer=scorer
    )

    assert (report.orders_in, report.scored, report.rejected) == (200, 197, 3)
    scores = pd.read_parquet(out)
    assert tuple(scores.columns) == OUTPUT_COLUMNS
    assert scores["order_id"].tolist() == orders.drop(index=[3, 7, 11])["order_id"].tolist()
    assert scores["p_late"].between(0, 1).all() and (scores["p90_hours"] >= 0).all()
    assert set(scores["tier"]) <= {"platinum", "gold", "silver", "standard"}
    assert scores["value_index"].between(0, 100).all()
    rejected = pd.read_csv(report.rejected_file)
    by_row = dict(zip(rejected["row"], rejected["rules"], strict=True))
    assert by_row[3] == "type:order_value"
    assert "missing:created_at" in by_row[7]
    assert by_row[11] == "scored_at_before_created_at"


def test_predict_file_answers_as_the_scorer_does(serving_home, scorer, tmp_path):
    """The same numbers as the service's scorer on the same orders and moments."""
    from features.store import FeatureRepo
    from serving.scoring import frame_columns

    orders = _orders(serving_home, 50).assign(as_of=lambda f: f["created_at"])
    source = tmp_path / "orders.parquet"
    orders.drop(columns=["as_of"]).to_parquet(source)
    out = tmp_path / "scores.csv"
    predict_file(serving_home.settings, source, out, scorer=scorer)
    scores = pd.read_csv(out)

    columns = frame_columns(orders)
    online = FeatureRepo(serving_home.settings).online_feature_values(
        "delay_v1", columns, skip_views=("order_attributes",)
    )
    direct = scorer.predict(columns, online.values)
    np.testing.assert_allclose(scores["p_late"], direct.p_late, atol=1e-12)
    np.testing.assert_allclose(scores["value_index"], direct.value["index"], atol=1e-9)


def test_predict_command(serving_home, tmp_path, monkeypatch):
    from cli.main import app

    source = tmp_path / "orders.parquet"
    _orders(serving_home, 20).to_parquet(source)
    monkeypatch.setenv("ORDERLENS_HOME", str(serving_home.home))
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(
        app, ["predict", "--orders", str(source), "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert '"scored": 20' in result.output
    assert len(pd.read_csv(out)) == 20
    missing = CliRunner().invoke(
        app, ["predict", "--orders", str(source), "--out", str(out), "--as-of", "nope"]
    )
    assert missing.exit_code == 2
    assert "nope" in missing.output


def test_on_time_delivery_is_the_delay_models_answer(serving_home, scorer):
    """One truth: on_time_delivery is 1 - P(late at creation) from the delay model (no second
    model that could disagree); scored at creation it is 1 - P(late) itself, and its score only
    falls as the late risk rises."""
    from features.store import FeatureRepo
    from serving.scoring import frame_columns

    orders = _orders(serving_home, 300)
    later = orders.assign(as_of=orders["created_at"] + pd.Timedelta(hours=30))
    at_creation = orders.assign(as_of=orders["created_at"])
    repo = FeatureRepo(serving_home.settings)
    for frame in (at_creation, later):
        columns = frame_columns(frame)
        online = repo.online_feature_values("delay_v1", columns, skip_views=("order_attributes",))
        scores = scorer.predict(columns, online.values)
        names = scores.value["names"]
        on_time = names.index("on_time_delivery")
        np.testing.assert_allclose(
            scores.value["raw"][:, on_time], 1.0 - scores.p_late_at_creation, atol=1e-12
        )
        rank = np.argsort(scores.p_late_at_creation, kind="stable")
        assert (np.diff(scores.value["scores"][rank, on_time]) <= 1e-9).all()
    np.testing.assert_allclose(
        scorer.predict(
            frame_columns(at_creation),
            repo.online_feature_values(
                "delay_v1", frame_columns(at_creation), skip_views=("order_attributes",)
            ).values,
        ).p_late_at_creation,
        scorer.predict(
            frame_columns(at_creation),
            repo.online_feature_values(
                "delay_v1", frame_columns(at_creation), skip_views=("order_attributes",)
            ).values,
        ).p_late,
    )


def test_predict_file_in_worker_processes_gives_the_same_scores(
    serving_home, scorer, tmp_path, monkeypatch
):
    import serving.batch

    source = tmp_path / "orders.parquet"
    _orders(serving_home, 120).to_parquet(source)
    here, there = tmp_path / "here.parquet", tmp_path / "there.parquet"
    predict_file(serving_home.settings, source, here, scorer=scorer)
    monkeypatch.setattr(serving.batch, "PARALLEL_FROM", 10)
    report = predict_file(serving_home.settings, source, there, workers=2)
    assert report.scored == 120 and report.load_seconds > 0
    pd.testing.assert_frame_equal(pd.read_parquet(here), pd.read_parquet(there))


def test_predict_file_agrees_with_the_service_over_http(serving_home, server, scorer, tmp_path):
    """The same orders at the same moments get the same answers from ``orderlens predict`` (a
    file) and ``POST /predict`` (the running service): one scorer, one online read."""
    from tests.serving.live import order_payloads

    orders = order_payloads(serving_home.orders.iloc[1500:1560], suffix="-file")
    with server.client() as http:
        response = http.post("/predict", json={"orders": orders})
    assert response.status_code == 200, response.text
    served = {p["order_id"]: p for p in response.json()["predictions"]}
    frame = pd.DataFrame(orders)
    for name in ("created_at", "promised_at", "as_of"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    source, out = tmp_path / "orders.parquet", tmp_path / "scores.parquet"
    frame.to_parquet(source)

    predict_file(serving_home.settings, source, out, as_of_column="as_of", scorer=scorer)

    scores = pd.read_parquet(out)
    assert scores["order_id"].tolist() == [o["order_id"] for o in orders]
    for row in scores.itertuples():
        answer = served[row.order_id]
        assert answer["delay"]["probability"] == pytest.approx(round(row.p_late, 4), abs=1e-9)
        assert answer["delay"]["expected_hours"] == pytest.approx(
            round(row.expected_hours, 2), abs=1e-9
        )
        assert answer["delay"]["risk_level"] == row.risk_level
        assert answer["value"]["index"] == pytest.approx(round(row.value_index, 2), abs=1e-9)
        assert answer["value"]["tier"] == row.tier
        assert "|".join(answer["degraded"]) == row.degraded


@pytest.mark.parametrize("n", [1, 200])
def test_value_matrix_taken_from_the_delay_matrix_is_the_models_own(serving_home, scorer, n):
    from features.store import FeatureRepo
    from serving.scoring import frame_columns

    columns = frame_columns(_orders(serving_home, n).assign(as_of=lambda f: f["created_at"]))
    online = FeatureRepo(serving_home.settings).online_feature_values(
        "delay_v1", columns, skip_views=("order_attributes",)
    )
    scores = scorer.predict(columns, online.values)
    np.testing.assert_array_equal(scores.value_x, scorer.models.value_matrix(scores.features))
    np.testing.assert_array_equal(scores.delay_x, scorer.models.delay_matrix(scores.features))


def test_scorer_predicts_what_the_lightgbm_boosters_predict(serving_home):
    """The served numbers (compiled trees; the creation classifier's trees shared between P(late)
    now and at creation; no trees walked for dimensions without signal) equal the boosters'
    own: delay now and at creation, hours, P90 and every dimension with signal, to 1e-6."""
    import copy
    import dataclasses

    from features.store import FeatureRepo
    from serving.compiled import SharedTrees, compiled_model_set
    from serving.policy import load_policy
    from serving.scoring import Scorer, frame_columns
    from training.registry import load_champion

    settings = serving_home.settings
    models = load_champion(settings)
    # The creation trees scored (the smoke champion may serve the logistic regression alone).
    models = dataclasses.replace(models, delay=dataclasses.replace(models.delay, blend=1.0))
    served = Scorer(
        models, load_policy(settings.serving.policy_file), fast=compiled_model_set(models)
    )
    if served._creation_trees is None:  # fewer than half its trees shared: share them anyway
        blank, promised, since, hour, _ = served._creation_view
        changed = [*blank, *(j for j in (promised, since, hour) if j is not None)]
        served._creation_trees = SharedTrees(models.delay.creation_classifier, changed)
    assert len(served._creation_trees.shared.roots) > 0
    reference = copy.copy(served)  # LightGBM's own predict for every delay model, nothing shared
    reference.fast, reference._creation_trees = models, None

    orders = _orders(serving_home, 300)
    frame = orders.assign(as_of=orders["created_at"] + pd.Timedelta(hours=30))
    columns = frame_columns(frame)
    online = FeatureRepo(settings).online_feature_values(
        "delay_v1", columns, skip_views=("order_attributes",)
    )
    scores, expected = (
        served.predict(columns, online.values),
        reference.predict(columns, online.values),
    )
    for name in ("p_late", "expected_hours", "p90_hours", "p_late_at_creation"):
        np.testing.assert_allclose(
            getattr(scores, name), getattr(expected, name), atol=1e-6, rtol=0, err_msg=name
        )
    assert np.abs(scores.p_late_at_creation - scores.p_late).max() > 1e-3  # two views indeed
    for j, name in enumerate(scores.value["names"]):
        if name == "on_time_delivery":
            continue
        if models.value.has_signal(name):
            booster = models.value.models[name]
            np.testing.assert_allclose(
                scores.value["raw"][:, j], booster.predict(scores.value_x), atol=1e-6, rtol=1e-9
            )
        else:
            assert np.isnan(scores.value["raw"][:, j]).all(), name


def test_point_in_time_scores_a_back_dated_file_from_the_offline_store(serving_home, scorer):
    """A back-dated file: the online store holds only the latest values, so scored from it the
    orders lose views (after_as_of, missing); with --point-in-time those orders get the offline
    store's values as of their as_of, exactly the point-in-time join training sets use."""
    from features.snapshots import entity_rows, with_day_keys
    from features.store import FeatureRepo
    from serving.batch import SERVICE, score_orders
    from serving.scoring import frame_columns

    orders = serving_home.orders.sort_values("created_at").reset_index(drop=True)
    picked = orders.iloc[len(orders) // 2 : len(orders) // 2 + 60].reset_index(drop=True)
    picked = picked.assign(as_of=picked["created_at"] + pd.Timedelta(hours=20))
    repo = FeatureRepo(serving_home.settings)

    plain = score_orders(scorer, repo, picked)
    joined = score_orders(scorer, repo, picked, point_in_time=True)

    assert plain["degraded"].str.contains("after_as_of|missing").mean() > 0.5
    assert not joined["degraded"].str.contains("after_as_of").any()
    # The features used are the point-in-time join's (nothing newer than as_of by construction).
    entity = entity_rows(picked).assign(as_of=picked["as_of"].astype("datetime64[us, UTC]"))
    entity = with_day_keys(entity.assign(event_timestamp=entity["as_of"], _row=range(60)))
    features = repo.training_set(SERVICE, entity).sort_values("_row").reset_index(drop=True)
    columns = frame_columns(picked)
    online = repo.online_feature_values(SERVICE, columns, skip_views=("order_attributes",))
    values = dict(online.values)
    for view, names, text, _ in repo.online_reader.views(SERVICE):
        if view == "order_attributes":
            continue
        for name in names:
            column = features[name]
            values[name] = (
                column.astype(object).where(column.notna(), None).to_numpy()
                if name in text
                else pd.to_numeric(column, errors="coerce").to_numpy(np.float64)
            )
    expected = scorer.predict(columns, values)
    np.testing.assert_allclose(joined["p_late"], expected.p_late, atol=1e-12)
    np.testing.assert_allclose(joined["value_index"], expected.value["index"], atol=1e-9)
