"""The registry: round trip through BentoML, the promotion gate, the CLI's evaluation JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from orderlens.dimensions import DIMENSION_NAMES
from orderlens.registry import store_home, versions
from training import registry
from training.train import evaluate_version, promote, train_model_set

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_model_set_round_trip(trained):
    settings = trained.settings
    assert registry.champion_version(settings) == trained.result.version
    champion = registry.load_champion(settings)
    # 4 delay models (classifier, calibrator, hours, P90), a classifier at creation when it
    # was kept (settings.training.creation_model), 19 value.
    at_creation = champion.delay.creation_classifier is not None
    assert ("delay_classifier_at_creation" in champion.manifest["models"]) == at_creation
    assert len(champion.manifest["models"]) == 4 + at_creation + 19
    # One artefact per set in BentoML's store, under the one version format.
    bentoml = registry.use_model_store(settings)
    stored = bentoml.models.get(f"orderlens_model_set:{trained.result.version}")
    assert str(stored.path).startswith(str(store_home()))
    assert stored.tag.version == trained.result.version
    assert trained.result.version in versions(settings, "orderlens_model_set")
    meta = stored.info.metadata
    assert meta["model_set"] == trained.result.version
    assert meta["features"] == list(champion.features["delay"].names)
    assert {"data_window", "code_version", "feature_services", "metrics"} <= set(meta)
    # Re-evaluating the loaded set on the stored test window reproduces the training report.
    again = evaluate_version(settings, trained.result.version)
    assert again["delay"]["auc"] == pytest.approx(trained.result.report["delay"]["auc"])
    value = champion.predict_value(champion.value_matrix(trained.data.value.head(50)))
    assert set(value["scores"].columns) == set(DIMENSION_NAMES)
    assert value["scores"].to_numpy().min() >= 0 and value["scores"].to_numpy().max() <= 100
    assert set(value["tier"]) <= {"platinum", "gold", "silver", "standard"}
    assert value["quadrants"].shape == (50, 4)
    assert champion.versions["model_set"] == trained.result.version


def test_promotion_refuses_a_worse_candidate(trained):
    settings = trained.settings
    weak = settings.model_copy(
        update={
            "training": settings.training.model_copy(
                update={"smoke_rounds": 2, "num_leaves": 2, "learning_rate": 0.01}
            )
        }
    )
    worse = train_model_set(weak, trained.data, smoke=True, log=lambda _: None)
    comparison = promote(settings, worse.version)
    assert comparison["promote"] is False
    assert comparison["delay_auc"]["candidate"] < comparison["delay_auc"]["champion"]
    assert registry.champion_version(settings) == trained.result.version


def test_evaluate_json_shape(trained, monkeypatch):
    from cli.main import app

    monkeypatch.setenv("ORDERLENS_HOME", str(trained.home))
    result = CliRunner().invoke(app, ["evaluate", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    delay = report["delay"]
    for key in ("auc", "oracle_auc", "pr_auc", "brier", "ece", "hours_mae", "hours_p90_coverage"):
        assert isinstance(delay[key], float), key
    assert {"auc", "n"} <= set(delay["by_stage"]["created"])
    assert set(report["value"]) == set(DIMENSION_NAMES)
    for row in report["value"].values():
        assert row["metric"] in {"r2", "auc"} and {"score", "oracle"} <= set(row)
    assert np.isfinite(report["summary"]["delay_auc_ratio"])
