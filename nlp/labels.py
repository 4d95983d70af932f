"""The user's labels and sentiment target: read from their columns, whatever they are called.

Labels are any names, one per text or several joined by ``|`` ("late|refund"). Sentiment is a
target of its own: a 0/1 column (1 = positive, as in most review exports), a −1/0/1 column, a
1–5 rating (1–2 negative, 4–5 positive, 3 not used) or words (positive/negative/neutral). The
label set and how sentiment was read are stored with the trained pipeline, not in code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from orderlens.intents import LABEL_SEPARATOR

NEGATIVE_CAT = "sentiment:negative"
"""The category the pipelines learn for "this text is negative" (beside the user's labels)."""
_WORDS = {"positive": 0.0, "pos": 0.0, "negative": 1.0, "neg": 1.0, "neutral": np.nan}


def split_labels(value: object) -> list[str]:
    """``"a|b"`` → ``["a", "b"]`` (trimmed, empty parts dropped); None/NaN → ``[]``."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [part.strip() for part in str(value).split(LABEL_SEPARATOR) if part.strip()]


def label_names(labels: pd.Series) -> tuple[str, ...]:
    """The distinct label names in a label column, sorted."""
    names = {name for value in labels.dropna().tolist() for name in split_labels(value)}
    if NEGATIVE_CAT in names:
        raise ValueError(f"label name {NEGATIVE_CAT!r} is reserved for the sentiment target")
    return tuple(sorted(names))


def label_matrix(labels: pd.Series, names: tuple[str, ...]) -> np.ndarray:
    """A label column → an (n_texts, n_labels) 0/1 matrix in ``names`` order (unknown names
    are ignored)."""
    index = {name: j for j, name in enumerate(names)}
    matrix = np.zeros((len(labels), len(names)), dtype=np.int8)
    for i, value in enumerate(labels.tolist()):
        for name in split_labels(value):
            if name in index:
                matrix[i, index[name]] = 1
    return matrix


@dataclass(frozen=True)
class SentimentTarget:
    """A sentiment column read as "is this text negative": 1.0, 0.0 or NaN (not used)."""

    negative: pd.Series
    kind: str
    """``binary`` (0/1, 1 positive), ``signed`` (−1/0/1), ``rating`` (1–5) or ``words``."""

    def describe(self) -> str:
        """How the column was read, in words (stored in the pipeline's meta)."""
        return {
            "binary": "0/1, 1 = positive",
            "signed": "-1 negative, 0 neutral (not used), 1 positive",
            "rating": "1-5 rating: 1-2 negative, 4-5 positive, 3 not used",
            "words": "positive / negative / neutral (not used)",
        }[self.kind]


def sentiment_target(values: pd.Series, *, column: str = "sentiment") -> SentimentTarget:
    """Read a sentiment column; raises ValueError naming the column when it is none of the
    kinds above."""
    present = values.dropna()
    if present.empty:
        raise ValueError(f"sentiment column {column!r} is empty")
    if present.dtype == object and not _numeric(present):
        lowered = present.astype(str).str.strip().str.lower()
        unknown = sorted(set(lowered) - set(_WORDS))
        if unknown:
            raise ValueError(
                f"sentiment column {column!r}: values {unknown[:5]} are not 0/1, -1/0/1, a 1-5 "
                "rating or positive/negative/neutral"
            )
        negative = values.astype("string").str.strip().str.lower().map(_WORDS).astype(float)
        return SentimentTarget(negative, "words")
    numbers = pd.to_numeric(values, errors="coerce")
    seen = set(numbers.dropna().unique().tolist())
    if seen <= {0, 1}:
        return SentimentTarget(1.0 - numbers, "binary")
    if seen <= {-1, 0, 1}:
        return SentimentTarget(numbers.map({-1: 1.0, 0: np.nan, 1: 0.0}), "signed")
    if seen <= {1, 2, 3, 4, 5}:
        return SentimentTarget(numbers.map({1: 1.0, 2: 1.0, 3: np.nan, 4: 0.0, 5: 0.0}), "rating")
    raise ValueError(
        f"sentiment column {column!r}: values {sorted(seen)[:5]} are not 0/1, -1/0/1 or a 1-5 "
        "rating"
    )


def _numeric(values: pd.Series) -> bool:
    return bool(values.astype(str).str.fullmatch(r"\s*-?\d+(?:\.0+)?\s*").all())


def slug(name: str) -> str:
    """A label name as part of a column name: lower case, runs of anything but letters and
    digits become ``_`` ("Late delivery!" → ``late_delivery``)."""
    return re.sub(r"[^\w]+", "_", name.strip().lower(), flags=re.UNICODE).strip("_") or "label"
