"""The model card of the champion model set: metrics against the simulator's oracle, a calibration
plot, importance by reason group (exact TreeSHAP), the global SHAP summary of the delay
classifier (the ``shap`` package's beeswarm plot), the data window and every version.

Everything comes from the model registry (``training.registry``): the set's manifest (metrics,
window, versions) and its saved test window, re-scored here by the champion itself. Before a
champion exists (or before ``training/`` is installed) there is no card: :func:`build` raises
:class:`~reports.evidently_pages.NotBuilt` and the index says why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from orderlens.settings import Settings
from reports import html
from reports.evidently_pages import NotBuilt

SUMMARY_FEATURES = 15
"""Features shown in the SHAP summary plot (the most important first)."""
EXPLAIN_ROWS = 1_000
"""Test rows explained with TreeSHAP (≈300–2,000 rows/s per model here)."""
CALIBRATION_BINS = 10
DELAY_METRICS = (
    ("auc", "oracle_auc", "ROC AUC"),
    ("pr_auc", "oracle_pr_auc", "PR AUC"),
    ("brier", "oracle_brier", "Brier score (lower is better)"),
    ("ece", "oracle_ece", "calibration error (lower is better)"),
    ("hours_mae", "oracle_hours_mae", "hours-late MAE (lower is better)"),
)


@dataclass
class CardData:
    """What the card shows; ``why_not`` is set (and the rest empty) when there is no champion."""

    why_not: str | None = None
    version: str = ""
    manifest: dict[str, Any] | None = None
    calibration: pd.DataFrame | None = None
    delay_importance: pd.Series | None = None
    value_drivers: pd.DataFrame | None = None
    shap_summary_png: bytes | None = None


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Per equal-width probability bin: rows, mean predicted probability, observed late rate."""
    which = np.clip((p * bins).astype(int), 0, bins - 1)
    frame = pd.DataFrame({"bin": which, "p": p, "y": y})
    grouped = frame.groupby("bin")
    return pd.DataFrame(
        {"n": grouped.size(), "predicted": grouped["p"].mean(), "observed": grouped["y"].mean()}
    )


def load_card_data(settings: Settings, explain_rows: int = EXPLAIN_ROWS) -> CardData:
    """Read the champion's manifest and re-score a sample of its test window."""
    try:
        from training import registry
        from training.evaluate import ORACLE_PREFIX, matrix_for
        from training.explain import group_matrix
    except ImportError as missing:
        return CardData(why_not=f"the training stage is not installed ({missing})")
    from orderlens.reasons import REASON_GROUPS

    version = registry.champion_version(settings)
    if version is None:
        return CardData(why_not="no champion model set yet (train and promote one first)")
    folder = registry.model_set_dir(settings, version)
    manifest = json.loads((folder / "manifest.json").read_text())
    champion = registry.load_champion(settings)

    delay_test = pd.read_parquet(folder / "test_delay.parquet")
    if "snapshot_stage" in delay_test:  # headline metrics are on creation snapshots
        delay_test = delay_test[delay_test["snapshot_stage"] == "created"]
    delay_test = delay_test.sample(min(explain_rows, len(delay_test)), random_state=0)
    matrix = matrix_for(delay_test, champion.delay.spec)
    p = champion.predict_delay(matrix)["p_late"]
    y = delay_test["is_late"].to_numpy(np.float64)
    calibration = calibration_table(y, p).add_prefix("model_")
    oracle = ORACLE_PREFIX + "p_late"
    if oracle in delay_test and delay_test[oracle].notna().all():
        calibration = calibration.join(
            calibration_table(y, delay_test[oracle].to_numpy(np.float64)).add_prefix("oracle_"),
            how="outer",
        )
    points = champion.explain_delay(matrix)
    summary_png = shap_summary_png(
        champion.delay.contributions(matrix)[:, :-1], matrix, list(champion.delay.spec.names)
    )
    importance = pd.Series(np.abs(points).mean(axis=0), index=list(REASON_GROUPS))

    value_test = pd.read_parquet(folder / "test_value.parquet")
    value_test = value_test.sample(min(explain_rows // 2, len(value_test)), random_state=0)
    value_matrix = matrix_for(value_test, champion.value.spec)
    groups = group_matrix(champion.value.spec.names)
    drivers = {}
    for name, booster in champion.value.models.items():
        contributions = booster.predict(value_matrix, pred_contrib=True)[:, :-1]
        by_group = np.abs(contributions @ groups).mean(axis=0)
        drivers[name] = 100 * by_group / by_group.sum() if by_group.sum() > 0 else by_group
    value_drivers = pd.DataFrame(drivers, index=list(REASON_GROUPS)).T
    value_drivers = value_drivers.loc[:, value_drivers.sum() > 0]
    return CardData(
        None,
        version,
        manifest,
        calibration,
        importance.sort_values(ascending=False),
        value_drivers,
        summary_png,
    )


def shap_summary_png(
    contributions: np.ndarray, matrix: np.ndarray, names: list[str], dpi: int = 90
) -> bytes:
    """The ``shap`` package's global summary (beeswarm) of per-feature contributions, as PNG.

    Args:
        contributions: exact TreeSHAP values, shape ``(rows, features)`` (no bias column).
        matrix: the feature values of the same rows (colour: low to high).
        names: the feature names, one per column.
    """
    import io

    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    import matplotlib.pyplot as plt
    import shap

    shap.summary_plot(
        contributions,
        matrix,
        feature_names=names,
        max_display=SUMMARY_FEATURES,
        show=False,
        plot_size=(8.0, 6.0),
        rng=np.random.default_rng(0),  # the dots' vertical jitter, reproducible
    )
    figure = plt.gcf()
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=dpi)
    plt.close(figure)
    return out.getvalue()


def _png(data: bytes | None, alt: str) -> str:
    """An embedded PNG (the page stays one self-contained file)."""
    if not data:
        return "<p>not drawn</p>"
    import base64

    encoded = base64.b64encode(data).decode("ascii")
    return f"<img alt='{alt}' style='max-width:100%' src='data:image/png;base64,{encoded}'>"


def _metric_rows(delay: dict[str, Any]) -> list[list[str]]:
    rows = []
    for key, oracle_key, label in DELAY_METRICS:
        model, oracle = delay.get(key), delay.get(oracle_key)
        ratio = model / oracle if model is not None and oracle else None
        rows.append([label, html.num(model, 4), html.num(oracle, 4), html.num(ratio, 3)])
    return rows


def _served_section(manifest: dict[str, Any], delay: dict[str, Any]) -> str:
    """Which delay model is served at creation and why, beside the baselines fitted on the same
    training rows; which value dimensions the data allowed."""
    served = manifest.get("served", {}).get("delay") or delay.get("served") or {}
    gate = delay.get("baseline_gate", {})
    rows = [["served: " + str(served.get("model", "lightgbm"))]]
    rows[0] += [html.num(delay.get(k), 4) for k in ("auc", "pr_auc", "brier", "ece")]
    for name, m in delay.get("baselines", {}).items():
        rows.append([f"baseline {name}", *(html.num(m.get(k), 4) for k in ("auc", "pr_auc", "brier", "ece"))])  # fmt: skip
    dimensions = manifest.get("value_dimensions") or {}
    missing = dimensions.get("not_available") or {}
    verdict = (
        f"beats the best baseline on AUC ({gate.get('best_auc_baseline')}) and Brier "
        f"({gate.get('best_brier_baseline')})"
        if gate.get("passed")
        else "does not beat every baseline"
        if gate
        else "no baseline could be fitted"
    )
    return html.section(
        "Served delay model and baselines",
        html.table(["model (orders at creation)", "AUC", "PR AUC", "Brier", "ECE"], rows),
        html.table(
            ["value dimensions", "which"],
            [
                ["available", ", ".join(dimensions.get("available", [])) or "none"],
                *([d, why] for d, why in missing.items()),
            ],
        ),
        note=f"{served.get('why', 'the trees alone')}. The served model {verdict}; baselines are "
        "fitted on the same training rows and scored on the same test orders.",
    )


def build(card: CardData, settings: Settings, path: Path) -> str:
    """Write the model card; returns its one-line description."""
    if card.why_not:
        raise NotBuilt(card.why_not)
    manifest = card.manifest or {}
    metrics = manifest.get("metrics", {})
    delay, value = metrics.get("delay", {}), metrics.get("value", {})
    summary = metrics.get("summary", {})
    calib = card.calibration
    series = {"model": list(zip(calib["model_predicted"], calib["model_observed"], strict=True))}
    if "oracle_predicted" in calib:
        oracle = calib.dropna(subset=["oracle_predicted"])
        series["oracle"] = list(
            zip(oracle["oracle_predicted"], oracle["oracle_observed"], strict=True)
        )
    importance = card.delay_importance
    sections = [
        html.tiles(
            {
                "model set": card.version,
                "AUC / oracle": html.num(delay.get("auc_ratio"), 3),
                "calibration error": html.num(delay.get("ece"), 4),
                "value mean ratio to oracle": html.num(summary.get("value_mean_ratio"), 3),
                "test orders (creation)": f"{delay.get('n', 0):,}",
            }
        ),
        _served_section(manifest, delay),
        html.section(
            "Delay model against the oracle",
            html.table(["metric", "model", "oracle", "model / oracle"], _metric_rows(delay)),
            html.table(
                [
                    "stage",
                    "orders",
                    "AUC",
                    "oracle AUC at creation",
                    "calibration error",
                    "late rate",
                ],
                [
                    [
                        s,
                        f"{m.get('n', 0):,}",
                        html.num(m.get("auc"), 4),
                        html.num(m.get("oracle_auc_at_creation"), 4),
                        html.num(m.get("ece"), 4),
                        html.pct(m.get("late_rate")),
                    ]
                    for s, m in delay.get("by_stage", {}).items()
                ],  # fmt: skip
            ),
            note="The oracle is the simulator's true late probability at creation: the best any model can do.",
        ),
        html.section(
            "Calibration and importance",
            "<div class='charts'>"
            + html.xy_chart(
                series,
                title="Calibration (test window)",
                x_label="predicted P(late)",
                y_label="observed late rate",
                diagonal=True,
            )  # fmt: skip
            + html.bar_chart(
                list(importance.index),
                {"mean |SHAP| points": importance.tolist()},
                title="Delay: importance by reason group",
                percent=False,
            )  # fmt: skip
            + "</div>",
        ),
        html.section(
            "Delay classifier: SHAP summary",
            _png(card.shap_summary_png, "SHAP summary of the delay classifier"),
            note="Each dot is one test order: its feature's push on the log-odds of being late "
            "(right: later), coloured by the feature's value (red high, blue low).",
        ),
        html.section(
            "Value models against the oracle",
            html.table(
                ["dimension", "metric", "model", "oracle", "ratio"],
                [
                    [
                        d,
                        m.get("metric", ""),
                        html.num(m.get("score"), 4),
                        html.num(m.get("oracle"), 4),
                        html.num(m.get("ratio"), 3),
                    ]
                    for d, m in value.items()
                ],  # fmt: skip
            ),
            note="Ratios: AUC above chance over the oracle's, R² over the oracle's.",
        ),
        html.section(
            "Value drivers (share of mean |SHAP| by reason group, %)",
            html.table(
                ["dimension", *card.value_drivers.columns],
                [[d, *(html.num(v, 1) for v in r)] for d, r in card.value_drivers.iterrows()],
            ),
        ),
        html.section(
            "Data window and versions",
            html.table(
                ["item", "value"],
                [
                    [k, json.dumps(manifest.get(k), default=str)]
                    for k in (
                        "data_window",
                        "created_at",
                        "code_version",
                        "nlp_version",
                        "feature_services",
                        "skipped_views",
                    )
                ]
                + [[f"model {k}", v] for k, v in manifest.get("models", {}).items()],  # fmt: skip
            ),
        ),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        html.page("Model card", f"Champion model set {card.version}", sections), encoding="utf-8"
    )
    return (
        f"Model card of champion {card.version}: AUC {html.num(delay.get('auc'), 3)} vs oracle "
        f"{html.num(delay.get('oracle_auc'), 3)}, calibration, reason-group importance, window, versions."
    )
