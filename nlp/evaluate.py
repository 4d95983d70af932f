"""Per-label precision / recall / F1 and macro-F1 of a ticket pipeline on labelled tickets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from spacy.language import Language

from orderlens.intents import INTENT_NAMES, split_labels


def label_matrix(labels: pd.Series) -> np.ndarray:
    """``|``-joined labels → a (n_tickets, n_intents) 0/1 matrix in :data:`INTENT_NAMES` order."""
    index = {name: j for j, name in enumerate(INTENT_NAMES)}
    matrix = np.zeros((len(labels), len(INTENT_NAMES)), dtype=np.int8)
    for i, value in enumerate(labels.fillna("").tolist()):
        for label in split_labels(value):
            matrix[i, index[label]] = 1
    return matrix


def predict_cats(nlp: Language, texts: list[str], *, batch_size: int = 512) -> np.ndarray:
    """Intent probabilities for texts: a (n_texts, n_intents) float matrix."""
    probabilities = np.zeros((len(texts), len(INTENT_NAMES)), dtype=np.float32)
    for i, doc in enumerate(nlp.pipe(texts, batch_size=batch_size)):
        probabilities[i] = [doc.cats.get(name, 0.0) for name in INTENT_NAMES]
    return probabilities


def classification_report(
    gold: np.ndarray, predicted: np.ndarray, *, names: tuple[str, ...] = INTENT_NAMES
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


def evaluate_pipeline(nlp: Language, tickets: pd.DataFrame, *, threshold: float = 0.5) -> dict:
    """Score a pipeline on labelled tickets (``text``, ``labels``); see :func:`classification_report`."""
    texts = tickets["text"].fillna("").astype(str).tolist()
    predicted = (predict_cats(nlp, texts) >= threshold).astype(np.int8)
    return classification_report(label_matrix(tickets["labels"]), predicted)
