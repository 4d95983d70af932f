"""The model registry: the delay models (2 classifiers, calibrator, hours, P90) and the 19 value
models in BentoML's model store, tied by a model-set version, and an atomically replaced champion
pointer the service reloads from.

Layout under ``<home>``::

    bentoml/models/orderlens_delay_classifier/<version>/…   (BentoML's own store)
    models/sets/<version>/manifest.json                      (tags, metrics, window, versions)
    models/sets/<version>/test_delay.parquet, test_value.parquet   (the test window, with oracle)
    models/champion.json                                     ({"version": …})
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from orderlens.provenance import code_version
from orderlens.settings import Settings
from training.delay import DelayModels
from training.matrix import FeatureSpec, to_matrix
from training.value import ScaledBooster, ValueModels

PREFIX = "orderlens"
FEATURE_SERVICES = {"delay": "delay_v1", "value": "value_v1"}


def use_model_store(settings: Settings):
    """Point BentoML at ``<home>/bentoml`` (also when it was imported with another home) and
    return the ``bentoml`` module."""
    home = settings.home / "bentoml"
    os.environ["BENTOML_HOME"] = str(home)
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    import bentoml
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models.model import ModelStore

    (home / "models").mkdir(parents=True, exist_ok=True)
    BentoMLContainer.bentoml_home.set(str(home))
    BentoMLContainer.model_store.set(ModelStore(str(home / "models")))
    return bentoml


def sets_dir(settings: Settings) -> Path:
    """Where model-set manifests and test windows live."""
    return settings.models_dir / "sets"


def new_version(now: datetime | None = None) -> str:
    """A sortable model-set version such as ``v20250601t120000`` (BentoML tags are lowercase)."""
    return (now or datetime.now(UTC)).strftime("v%Y%m%dt%H%M%S%f")


def _model_names(value_dims: list[str]) -> dict[str, str]:
    names = {
        "delay_classifier": f"{PREFIX}_delay_classifier",
        "delay_classifier_at_creation": f"{PREFIX}_delay_classifier_at_creation",
        "delay_calibrator": f"{PREFIX}_delay_calibrator",
        "delay_hours": f"{PREFIX}_delay_hours",
        "delay_p90": f"{PREFIX}_delay_p90",
    }
    names.update({f"value_{d}": f"{PREFIX}_value_{d}" for d in value_dims})
    return names


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
    """Save all models of a trained set as a candidate and return its version.

    Every model carries metadata (its metrics, the data window, feature list, code, NLP and
    feature-service versions, the model-set version); the set's manifest and test window are
    written beside them.
    """
    bentoml = use_model_store(settings)
    version = new_version()
    common = {
        "model_set": version,
        "data_window": window,
        "code_version": code_version(),
        "nlp_version": nlp_version,
        "feature_services": FEATURE_SERVICES,
        "skipped_views": skipped_views,
    }
    names = _model_names(list(value.models))
    tags: dict[str, str] = {}

    def save_booster(key: str, booster: Any, spec: FeatureSpec, metrics: dict, extra: dict):
        model = bentoml.lightgbm.save_model(
            f"{names[key]}:{version}",
            booster,
            metadata=_metadata({**common, "features": list(spec.names), "metrics": metrics}),
            labels={"model_set": version, "kind": key},
            custom_objects={"spec": spec.as_dict(), **extra},
        )
        tags[key] = str(model.tag)

    delay_metrics = {k: v for k, v in report["delay"].items() if k != "by_stage"}
    base = {
        "base_probability": delay.base_probability,
        "params": delay.params,
        "creation_scoring": delay.creation_scoring(),
    }
    save_booster("delay_classifier", delay.classifier, delay.spec, delay_metrics, base)
    if delay.creation_classifier is not None:
        save_booster(
            "delay_classifier_at_creation",
            delay.creation_classifier,
            delay.spec,
            delay_metrics,
            {"base_probability": delay.creation_base_probability},
        )
    save_booster("delay_hours", delay.hours, delay.spec, delay_metrics, {})
    save_booster("delay_p90", delay.p90, delay.spec, delay_metrics, {})
    calibrator = bentoml.picklable_model.save_model(
        f"{names['delay_calibrator']}:{version}",
        delay.calibrator,
        metadata=_metadata({**common, "metrics": delay_metrics}),
        labels={"model_set": version, "kind": "delay_calibrator"},
    )
    tags["delay_calibrator"] = str(calibrator.tag)
    for dim, booster in value.models.items():
        scaled = isinstance(booster, ScaledBooster)
        save_booster(
            f"value_{dim}",
            booster.booster if scaled else booster,
            value.spec,
            report["value"].get(dim, {}),
            {"reference": value.reference[dim], **({"scale": booster.as_dict()} if scaled else {})},
        )

    folder = sets_dir(settings) / version
    folder.mkdir(parents=True, exist_ok=True)
    delay_test.to_parquet(folder / "test_delay.parquet", index=False)
    value_test.to_parquet(folder / "test_value.parquet", index=False)
    manifest = {
        **common,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(),
        "models": tags,
        "metrics": _jsonable(report),
        "served": {"delay": _jsonable(delay.served)},
        "value_dimensions": value_dimensions
        or {"available": list(value.models), "not_available": {}},
        "order_extras": order_extras or [],
        "features": {"delay": delay.spec.as_dict(), "value": value.spec.as_dict()},
        "value_scoring": {
            "weights": value.weights,
            "tier_cutoffs": value.tier_cutoffs,
            "index_reference": value.index_reference.tolist(),
        },
    }
    _write_atomic(folder / "manifest.json", json.dumps(manifest, indent=1))
    (settings.models_dir / "candidate.json").write_text(json.dumps({"version": version}))
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
    """Load every model of a set from the BentoML store."""
    bentoml = use_model_store(settings)
    manifest = json.loads((sets_dir(settings) / version / "manifest.json").read_text())
    tags = manifest["models"]

    def booster(key: str):
        return bentoml.lightgbm.load_model(tags[key])

    classifier_model = bentoml.models.get(tags["delay_classifier"])
    extra = classifier_model.custom_objects
    delay = DelayModels(
        spec=FeatureSpec.from_dict(extra["spec"]),
        classifier=bentoml.lightgbm.load_model(classifier_model),
        calibrator=bentoml.picklable_model.load_model(tags["delay_calibrator"]),
        hours=booster("delay_hours"),
        p90=booster("delay_p90"),
        base_probability=float(extra["base_probability"]),
        params=extra.get("params", {}),
    )
    if "delay_classifier_at_creation" in tags:  # sets trained with one classifier have none
        creation_model = bentoml.models.get(tags["delay_classifier_at_creation"])
        delay.creation_classifier = bentoml.lightgbm.load_model(creation_model)
        delay.creation_base_probability = float(creation_model.custom_objects["base_probability"])
    delay.restore_creation_scoring(extra.get("creation_scoring"))
    value_keys = [k for k in tags if k.startswith("value_")]
    models, reference = {}, {}
    for key in value_keys:
        model = bentoml.models.get(tags[key])
        booster = bentoml.lightgbm.load_model(model)
        scale = model.custom_objects.get("scale")
        models[key.removeprefix("value_")] = (
            booster if scale is None else ScaledBooster(booster, **scale)
        )
        reference[key.removeprefix("value_")] = np.asarray(model.custom_objects["reference"])
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
    path = settings.models_dir / "champion.json"
    return json.loads(path.read_text())["version"] if path.exists() else None


def candidate_version(settings: Settings) -> str | None:
    """The latest registered model set (the default candidate of ``promote``)."""
    path = settings.models_dir / "candidate.json"
    return json.loads(path.read_text())["version"] if path.exists() else None


def set_champion(settings: Settings, version: str, comparison: dict[str, Any]) -> None:
    """Point the champion at ``version`` atomically (temp file + rename): a service polling the
    pointer sees the old or the new version, never half a file."""
    record = {
        "version": version,
        "promoted_at": datetime.now(UTC).isoformat(),
        "comparison": _jsonable(comparison),
    }
    _write_atomic(settings.models_dir / "champion.json", json.dumps(record, indent=1))


def load_champion(settings: Settings) -> ModelSet:
    """The current champion model set (what the service serves).

    Raises:
        FileNotFoundError: before any model set was promoted.
    """
    version = champion_version(settings)
    if version is None:
        raise FileNotFoundError("no champion model set yet: run `orderlens train` and `promote`")
    return load_model_set(settings, version)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON (numpy scalars → floats) for manifests and records."""
    return json.loads(
        json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v))
    )


def _metadata(value: Any) -> Any:
    """JSON-ready and without ``None`` (BentoML metadata refuses it): missing entries are left
    out, so a metric the data could not give (no oracle) is simply absent."""
    value = _jsonable(value)
    if isinstance(value, dict):
        return {k: _metadata(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_metadata(v) for v in value if v is not None]
    return value
