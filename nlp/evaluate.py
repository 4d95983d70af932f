"""Held-out scores of a trained version: per-label precision / recall / F1 and macro-F1, and the
sentiment AUC, per language pipeline (and for ``xx`` on every held-out text)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nlp.labels import label_matrix


def classification_report(
    gold: np.ndarray, predicted: np.ndarray, *, names: tuple[str, ...]
) -> dict[str, Any]:
    """Precision/recall/F1 per label and their macro mean over labels present in ``gold``.

    Args:
        gold: (n, k) 0/1 matrix of true labels.
        predicted: (n, k) 0/1 matrix of predicted labels.
        names: the label of each column.

    Returns:
        ``{"macro_f1": float, "n": int, "labels": {name: {"precision","recall","f1","support"}}}``.
    """
    tp = (gold & predicted).sum(axis=0).astype(float)
    precision = np.divide(
        tp, predicted.sum(axis=0), out=np.zeros_like(tp), where=predicted.sum(0) > 0
    )
    support = gold.sum(axis=0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denominator = precision + recall
    f1 = np.divide(
        2 * precision * recall, denominator, out=np.zeros_like(tp), where=denominator > 0
    )
    labels = {
        name: {
            "precision": round(float(precision[j]), 4),
            "recall": round(float(recall[j]), 4),
            "f1": round(float(f1[j]), 4),
            "support": int(support[j]),
        }
        for j, name in enumerate(names)
    }
    present = support > 0
    macro = float(f1[present].mean()) if present.any() else 0.0
    return {"macro_f1": round(macro, 4), "n": int(len(gold)), "labels": labels}


def sentiment_auc(negative: pd.Series, p_negative: pd.Series) -> float | None:
    """ROC AUC of ``p_negative`` for the texts whose ``negative`` target is known (None when
    one class is missing)."""
    from sklearn.metrics import roc_auc_score

    known = negative.notna().to_numpy() & p_negative.notna().to_numpy()
    truth = negative.to_numpy()[known]
    if len(set(truth.tolist())) < 2:
        return None
    return round(float(roc_auc_score(truth, p_negative.to_numpy()[known])), 4)


def evaluate_texts(texts: pd.DataFrame, models: Any) -> dict[str, Any]:
    """Scores of ``models`` on prepared texts (``text``, ``language``, ``labels``, ``negative``
    as in :class:`nlp.training.TrainingData`): the label report on the labelled ones (when the
    models have labels), the sentiment AUC on those with a sentiment value, and which models
    answered."""
    from nlp.scoring import score_texts

    scored = score_texts(texts["text"], models, languages=texts["language"])
    report: dict[str, Any] = {"n": len(texts), "models": scored["model"].value_counts().to_dict()}
    labelled = texts["labels"].notna().to_numpy()
    if models.labels and labelled.any():
        predicted = label_matrix(scored.loc[labelled, "labels"], models.labels)
        gold = label_matrix(texts.loc[labelled, "labels"], models.labels)
        report |= classification_report(gold, predicted, names=models.labels)
        report["n"] = int(labelled.sum())
    if "negative" in texts and texts["negative"].notna().any():
        report["sentiment_auc"] = sentiment_auc(texts["negative"], scored["p_negative"])
        report["sentiment_from"] = scored["sentiment_model"].value_counts().to_dict()
        report["n_sentiment"] = int(texts["negative"].notna().sum())
    return report


def evaluate_version(version_dir: Path, heldout: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per pipeline of a version folder: its scores on the held-out texts of its language
    (``xx``: on every held-out text, as if no language had a pipeline of its own)."""
    from nlp.scoring import TicketModels

    models = TicketModels.from_folder(version_dir)
    metrics: dict[str, dict[str, Any]] = {}
    for lang, pipeline in models.pipelines.items():
        texts = heldout if lang == "xx" else heldout[heldout["language"] == lang]
        if texts.empty:
            continue
        # The pipeline alone, under its own language: it answers every text of ``texts`` (all
        # in its language, or any for ``xx``, the fallback) and is named as what answered.
        alone = TicketModels(
            models.version,
            {lang: pipeline},
            models.labels,
            models.threshold,
            models.at_least_one,
            {lang: models.label_priors[lang]} if lang in models.label_priors else {},
        )
        metrics[lang] = evaluate_texts(texts, alone)
    return metrics
