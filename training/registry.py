"""The model sets in the one model registry (:mod:`orderlens.registry`): the delay models (two
classifiers, calibrator, hours, P90) and the 19 value models of a training run, registered
together as one BentoML model ``orderlens_model_set:<version>``, with a ``champion`` and a
``candidate`` pointer the service and the promotion gate follow.

One model set, one folder in BentoML's store (``bentoml models get orderlens_model_set:<v>``)::

    manifest.json                 versions, window, metrics, feature specs, value scoring
    delay_classifier.txt, delay_classifier_at_creation.txt, delay_hours.txt, delay_p90.txt,
    value_<dimension>.txt         LightGBM boosters (LightGBM's own text format)
    delay_calibrator.pkl          the per-stage isotonic calibrator (scikit-learn, pickled)
    extras.json                   per model: base probability, parameters, value references
    test_delay.parquet, test_value.parquet, evaluation.json   the test window and its report

Pointers live in the home: ``<home>/registry/orderlens_model_set/{champion,candidate}.json``.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from orderlens import registry as store
from orderlens.provenance import code_version
from orderlens.settings import Settings
from training.delay import DelayModels
from training.matrix import FeatureSpec, to_matrix
from training.value import ScaledBooster, ValueModels

MODEL_SET = store.MODEL_SET
FEATURE_SERVICES = {"delay": "delay_v1", "value": "value_v1"}
CALIBRATOR_FILE = "delay_calibrator.pkl"
EXTRAS_FILE = "extras.json"


def new_version(now: datetime | None = None) -> str:
    """A sortable model-set version such as ``v20250601t120000123456`` (the registry's one
    version format, :func:`orderlens.registry.new_version`)."""
    return store.new_version(now)


def use_model_store(settings: Settings):
    """The ``bentoml`` module with this process's model store chosen
    (:func:`orderlens.registry.model_store`)."""
    store.model_store(settings)
    import bentoml

    return bentoml


def model_set_dir(settings: Settings, version: str) -> Path:
    """The registered folder of model set ``version`` (manifest, boosters, test window)."""
    return store.path(settings, MODEL_SET, version)


def sets_dir(settings: Settings) -> Path:
    """The folder whose children are the registered model-set versions (``<version>/``).

    Prefer :func:`model_set_dir`, which also checks that the version is registered.
    """
    store.model_store(settings)
    return Path(store.store_home()) / "models" / MODEL_SET


def _booster_file(key: str) -> str:
    return f"{key}.txt"


def register(
    settings: Settings,
    delay: DelayModels,
    value: ValueModels,
    report: dict[str, Any],
    *,
    delay_test: pd.DataFrame,
    value_test: pd.DataFrame,
    window: dict[str, str],
    skipped_views: dict[str, str],
    nlp_version: str | None = None,
    value_dimensions: dict[str, Any] | None = None,
    order_extras: list[dict[str, Any]] | None = None,
) -> str:
    """Register every model of a trained set as one artefact, point ``candidate`` at it and
    return its version.

    The manifest records the set's metrics, data window, feature specs, code, NLP and
    feature-service versions; the test window and its evaluation are stored beside the models,
    so a set can be re-evaluated and carded from the registry alone.
    """
    version = new_version()
    common = {
        "model_set": version,
        "data_window": window,
        "code_version": code_version(),
        "nlp_version": nlp_version,
        "feature_services": FEATURE_SERVICES,
        "skipped_views": skipped_views,
    }
    boosters: dict[str, Any] = {
        "delay_classifier": delay.classifier,
        "delay_hours": delay.hours,
        "delay_p90": delay.p90,
    }
    extras: dict[str, dict[str, Any]] = {
        "delay_classifier": {
            "base_probability": delay.base_probability,
            "params": delay.params,
            # The blend / logistic companion and what is served at creation (and why).
            "creation_scoring": delay.creation_scoring(),
        }
    }
    if delay.creation_classifier is not None:
        boosters["delay_classifier_at_creation"] = delay.creation_classifier
        extras["delay_classifier_at_creation"] = {
            "base_probability": delay.creation_base_probability
        }
    for dim, booster in value.models.items():
        scaled = isinstance(booster, ScaledBooster)
        boosters[f"value_{dim}"] = booster.booster if scaled else booster
        extras[f"value_{dim}"] = {
            "reference": np.asarray(value.reference[dim]).tolist(),
            **({"scale": booster.as_dict()} if scaled else {}),
        }
    files = {key: _booster_file(key) for key in boosters} | {"delay_calibrator": CALIBRATOR_FILE}
    manifest = {
        **common,
        "version": version,
        "created_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "models": {key: f"{store.tag(MODEL_SET, version)}/{name}" for key, name in files.items()},
        "files": files,
        "metrics": _jsonable(report),
        "served": {"delay": _jsonable(delay.served)},
        "value_dimensions": value_dimensions
        or {"available": list(value.models), "not_available": {}},
        "order_extras": order_extras or [],
        "features": {"delay": delay.spec.as_dict(), "value": value.spec.as_dict()},
        "value_scoring": {
            "weights": value.weights,
            "tier_cutoffs": value.tier_cutoffs,
            "index_reference": np.asarray(value.index_reference).tolist(),
        },
    }

    def write(folder: Path) -> None:
        for key, booster in boosters.items():
            booster.save_model(str(folder / files[key]))
        with (folder / CALIBRATOR_FILE).open("wb") as out:
            pickle.dump(delay.calibrator, out, protocol=pickle.HIGHEST_PROTOCOL)
        (folder / EXTRAS_FILE).write_text(json.dumps(_jsonable(extras)))
        delay_test.to_parquet(folder / "test_delay.parquet", index=False)
        value_test.to_parquet(folder / "test_value.parquet", index=False)
        (folder / "evaluation.json").write_text(json.dumps(report, indent=1, default=float))
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))

    delay_metrics = {k: v for k, v in report["delay"].items() if k != "by_stage"}
    store.save(
        settings,
        MODEL_SET,
        version,
        write,
        metadata={**common, "features": list(delay.spec.names), "metrics": delay_metrics},
        labels={"kind": "model_set"},
    )
    store.set_pointer(settings, MODEL_SET, "candidate", version)
    return version


@dataclass
class ModelSet:
    """A loaded model set: what the service calls.

    Attributes:
        version: the model-set version.
        delay: the delay models (classifiers, calibrator, hours, P90).
        value: the 19 (or fewer, without their outcomes) value models and scoring references.
        manifest: the set's manifest (metrics, window, versions).
    """

    version: str
    delay: DelayModels
    value: ValueModels
    manifest: dict[str, Any]

    @property
    def features(self) -> dict[str, FeatureSpec]:
        """The feature specs: ``{"delay": …, "value": …}`` (names, categories, skipped views)."""
        return {"delay": self.delay.spec, "value": self.value.spec}

    @property
    def versions(self) -> dict[str, Any]:
        """Model-set, per-model tags, code, NLP and feature-service versions."""
        keys = ("code_version", "nlp_version", "feature_services")
        return {
            "model_set": self.version,
            "models": self.manifest["models"],
            **{k: self.manifest.get(k) for k in keys},
        }

    def delay_matrix(self, frame: pd.DataFrame | dict) -> np.ndarray:
        """The delay model matrix of a serving frame (see :func:`training.matrix.to_matrix`)."""
        return to_matrix(frame, self.delay.spec)

    def value_matrix(self, frame: pd.DataFrame | dict) -> np.ndarray:
        """The value model matrix of a serving frame."""
        return to_matrix(frame, self.value.spec)

    def predict_delay(self, matrix: np.ndarray) -> dict[str, np.ndarray]:
        """``p_late``, ``hours``, ``hours_p90`` per row of a delay matrix."""
        return self.delay.predict(matrix)

    def predict_value(self, matrix: np.ndarray) -> dict[str, Any]:
        """``raw``, ``scores``, ``quadrants``, ``index``, ``tier`` per row of a value matrix."""
        return self.value.predict(matrix)

    def explain_delay(self, matrix: np.ndarray) -> np.ndarray:
        """Points of P(late) per reason group, shape ``(rows, len(REASON_GROUPS))``."""
        return self.delay.explain(matrix)


def load_model_set(settings: Settings, version: str) -> ModelSet:
    """Load every model of a registered set."""
    folder = model_set_dir(settings, version)
    manifest = json.loads((folder / "manifest.json").read_text())
    files = manifest["files"]
    extras = json.loads((folder / EXTRAS_FILE).read_text())

    def booster(key: str) -> lgb.Booster:
        return lgb.Booster(model_file=str(folder / files[key]))

    with (folder / CALIBRATOR_FILE).open("rb") as source:
        calibrator = pickle.load(source)  # noqa: S301  (our own registry's artefact)
    delay = DelayModels(
        spec=FeatureSpec.from_dict(manifest["features"]["delay"]),
        classifier=booster("delay_classifier"),
        calibrator=calibrator,
        hours=booster("delay_hours"),
        p90=booster("delay_p90"),
        base_probability=float(extras["delay_classifier"]["base_probability"]),
        params=extras["delay_classifier"].get("params", {}),
    )
    if "delay_classifier_at_creation" in files:  # sets trained with one classifier have none
        delay.creation_classifier = booster("delay_classifier_at_creation")
        delay.creation_base_probability = float(
            extras["delay_classifier_at_creation"]["base_probability"]
        )
    delay.restore_creation_scoring(extras["delay_classifier"].get("creation_scoring"))
    models, reference = {}, {}
    for key in (k for k in files if k.startswith("value_")):
        dim = key.removeprefix("value_")
        scale = extras[key].get("scale")
        models[dim] = booster(key) if scale is None else ScaledBooster(booster(key), **scale)
        reference[dim] = np.asarray(extras[key]["reference"])
    scoring = manifest["value_scoring"]
    value = ValueModels(
        spec=FeatureSpec.from_dict(manifest["features"]["value"]),
        models=models,
        reference=reference,
        index_reference=np.asarray(scoring["index_reference"]),
        weights=scoring["weights"],
        tier_cutoffs=scoring["tier_cutoffs"],
    )
    return ModelSet(version, delay, value, manifest)


def champion_version(settings: Settings) -> str | None:
    """The champion's model-set version, or None before the first promotion."""
    return store.pointed_version(settings, MODEL_SET, "champion")


def candidate_version(settings: Settings) -> str | None:
    """The latest registered model set (the default candidate of ``promote``)."""
    return store.pointed_version(settings, MODEL_SET, "candidate")


def set_champion(settings: Settings, version: str, comparison: dict[str, Any]) -> None:
    """Point the champion at ``version`` atomically (temp file + rename): a service polling the
    pointer sees the old or the new version, never half a file."""
    store.set_pointer(settings, MODEL_SET, "champion", version, comparison=_jsonable(comparison))


def load_champion(settings: Settings) -> ModelSet:
    """The current champion model set (what the service serves).

    Raises:
        FileNotFoundError: before any model set was promoted.
    """
    version = champion_version(settings)
    if version is None:
        raise FileNotFoundError("no champion model set yet: run `orderlens train` and `promote`")
    return load_model_set(settings, version)


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON (numpy scalars → floats) for manifests and records."""
    return json.loads(
        json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v))
    )
