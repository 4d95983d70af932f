"""Score any text: language, sentiment, the trained labels, urgency and the quantities found.

:func:`score_texts` is the one implementation behind ``orderlens nlp score`` and the ticket
signals of the feature store (:func:`nlp.extract.extract_signals`). Which model answers a text:

1. the trained pipeline of its language, when the current version has one;
2. else the version's language-agnostic pipeline ``xx`` (character n-grams);
3. else, in a home where nothing was trained, the rules: no labels, and sentiment from the
   language's lexicon (nlp/lexicon.py) where there is one.

Sentiment comes from the answering pipeline when it learnt a sentiment target, else from the
lexicon. Where both exist they are combined in log-odds: the learnt probability moved by
:data:`LEXICON_LOG_ODDS` × the lexicon's polarity. The lexicon knows negation ("不错", "not bad")
and words the training texts never used; the n-grams know the shop's own wording (ChnSentiCorp,
70/30 split: pipeline 0.948, lexicon 0.903, both 0.954 held-out AUC). Both are said per row:
``model`` and ``sentiment_model``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nlp.labels import NEGATIVE_CAT
from nlp.language import ticket_languages
from nlp.lexicon import Lexicon, load_lexicon
from nlp.patterns import TicketEntities, ticket_patterns
from nlp.quantities import parse_amount, parse_date, parse_duration
from nlp.store import current_version, load_pipeline_folder, load_pipelines, read_meta
from orderlens.settings import Settings

MAX_CHARS = 5_000
"""Text beyond this many characters is not read (``text_truncated`` says so): tickets are short,
and a pasted log must not stall the batch."""
TEXTCAT = "textcat_multilabel"
ZONE_TEXTS = 10_000
"""Texts per spaCy memory zone: the strings a zone adds to the vocabulary (every new word, order
number, typo) are freed when it closes, so a scorer's memory does not grow with what it read."""
WARM_TEXTS = 2_000
"""Texts a pipeline reads outside a memory zone, once per process: inside a zone every word's
lexeme is made anew and freed when the zone closes (and spaCy's rule tokenizer, which pipelines
saved before orderlens.WordTokenizer.v1 use, caches nothing), so the first texts put the common
words in the vocabulary for good (a real English review: ~45 µs to a Doc cold, ~23 µs warm); a
one-off, bounded addition to the vocabulary."""
RULES = "rules"
"""The ``model`` of rows answered without a trained pipeline."""
LEXICON = "lexicon"
LEXICON_LOG_ODDS = 1.0
"""How far a text's lexicon polarity (−1…1) moves a learnt sentiment, in log-odds: a prior of
fixed strength, not fitted. Held-out AUC on ChnSentiCorp for 0.75 / 1.5 / 3: 0.954 / 0.954 /
0.949 (bench/bench_nlp.py prints the English figure, which played no part in the choice)."""
TOP_LABEL_PRIOR_WEIGHT = 0.75
"""How far a text's most likely label is judged against the label's prior: the top label is the
one with the largest ``logit(p) − weight × logit(prior)``, ``prior`` being the label's mean
probability over the answering pipeline's training texts (``label_priors`` in ``meta.json``,
written by training). A wording the bag of n-grams never saw gives weak evidence, and the
priors then pick the frequent label; against its prior the label the words point to wins, as
macro-F1 (every label counts alike) asks. The prior is what the pipeline itself predicts, so an
under-trained pipeline that has not learnt the base rates is not pushed to the rare labels.
Demo world, English held-out templates, split seeds 4-7 (the tuning seeds), mean macro-F1 at
weight 0 / 0.5 / 0.75 / 1: 0.800 / 0.834 / 0.882 / 0.879 (0.75: 0.888 0.874 0.876 0.891);
bench/bench_nlp.py --part demo reports seeds 0-2, which played no part in the choice."""

SIGNAL_COLUMNS = (
    "language",
    "model",
    "sentiment_model",
    "p_negative",
    "sentiment",
    "labels",
    "urgency",
    "order_ref",
    "amount",
    "currency",
    "duration_hours",
    "duration_value",
    "duration_unit",
    "delay_hours",
    "date",
    "product",
    "text_truncated",
)
"""The columns of :func:`score_texts` besides one ``label_<name>`` per trained label (which
follow ``sentiment``)."""

_LETTER = re.compile(r"[^\W\d_]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
_ASCII_UPPER = re.compile(r"[A-Z]")
_REPEATED_PUNCT = re.compile(r"[!?！？]{2,}")
_WAITING_UNITS = frozenset({"minute", "hour", "day", "week"})
"""Durations that can be a wait for a parcel (months and years are not)."""


@dataclass
class TicketModels:
    """The pipelines of one trained version, its label set, or nothing (the rules)."""

    version: str | None = None
    pipelines: dict[str, Any] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    threshold: float = 0.5
    at_least_one: bool = False
    """Every text gets at least its most likely label (see nlp/training.py)."""
    label_priors: dict[str, np.ndarray] = field(default_factory=dict)
    """Per pipeline (by language): each label's mean probability on its training texts, in
    ``labels`` order (see :data:`TOP_LABEL_PRIOR_WEIGHT`); versions saved before have none."""
    warmed: dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    """Texts each pipeline (by id) has read outside a memory zone (see :data:`WARM_TEXTS`)."""

    @classmethod
    def load(cls, settings: Settings, version: str | None = None) -> TicketModels:
        """The named version, else the current one, else (nothing trained) the rules."""
        if version is None and current_version(settings) is None:
            return cls()
        name, pipelines = load_pipelines(settings, version)
        return cls._build(name, pipelines, read_meta(settings, name))

    @classmethod
    def from_folder(cls, path: Path) -> TicketModels:
        """The version saved in a folder (a training run's output, before it is current)."""
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        return cls._build(path.name, load_pipeline_folder(path), meta)

    @classmethod
    def _build(cls, name: str, pipelines: dict[str, Any], meta: dict[str, Any]) -> TicketModels:
        labels = meta.get("labels")
        if labels is None:  # versions trained before labels were stored: read the pipelines'
            labels = sorted(
                {cat for p in pipelines.values() if TEXTCAT in p.pipe_names
                 for cat in p.get_pipe(TEXTCAT).labels} - {NEGATIVE_CAT}
            )  # fmt: skip
        priors = {
            lang: np.array([about["label_priors"].get(label, 0.0) for label in labels])
            for lang, about in meta.get("languages", {}).items()
            if about.get("label_priors")
        }
        return cls(
            name,
            pipelines,
            tuple(labels),
            float(meta.get("threshold", 0.5)),
            bool(meta.get("at_least_one", False)),
            priors,
        )

    def answering(self, language: str) -> tuple[str, Any]:
        """``(model name, pipeline or None)`` for texts in ``language``."""
        lang = self._answering_language(language)
        return (RULES, None) if lang is None else (f"{self.version}/{lang}", self.pipelines[lang])

    def top_label_offsets(self, language: str) -> np.ndarray:
        """What :data:`TOP_LABEL_PRIOR_WEIGHT` subtracts from each label's log-odds for texts
        in ``language`` (zeros where the answering pipeline's priors are unknown)."""
        prior = self.label_priors.get(self._answering_language(language) or "")
        if prior is None or len(prior) != len(self.labels):
            return np.zeros(len(self.labels))
        prior = np.clip(prior, 1e-4, 1 - 1e-4)
        return TOP_LABEL_PRIOR_WEIGHT * np.log(prior / (1 - prior))

    def _answering_language(self, language: str) -> str | None:
        for lang in (language, "xx"):
            if lang in self.pipelines:
                return lang
        return None


def score_texts(
    texts: pd.Series,
    models: TicketModels,
    *,
    languages: pd.Series | None = None,
    times: pd.Series | None = None,
    batch_size: int = 512,
) -> pd.DataFrame:
    """Score texts; one row per text, in order (the index of ``texts``).

    Args:
        texts: the texts (None/NaN read as empty).
        models: :meth:`TicketModels.load`.
        languages: each text's language code where known (normalised; detected where missing).
        times: each text's time (the ticket's ``created_at``): the year of dates written
            without one. None: such dates come back as ``--MM-DD``.
        batch_size: texts per spaCy batch.

    Returns:
        :data:`SIGNAL_COLUMNS` with ``label_<name>`` (probability of each trained label) after
        ``sentiment``; ``labels`` joins the names above the threshold (and the most likely one
        when the version says every text has at least one). ``p_negative`` is the probability
        that the text is negative (NaN when no model or lexicon reads its language, or it has
        no letters); ``sentiment`` in [-1, 1] (0 when unknown). Empty or garbage text gets no labels, urgency 0, sentiment 0.
    """
    text = texts.fillna("").astype(str)
    truncated = (text.str.len() > MAX_CHARS).to_numpy()
    if truncated.any():
        text = text.where(~truncated, text.str.slice(0, MAX_CHARS))
    language = ticket_languages(text, languages)
    reference = None if times is None else pd.to_datetime(times, utc=True, errors="coerce")
    n = len(text)
    out: dict[str, Any] = {
        "language": language.to_numpy(dtype=object),
        "model": np.empty(n, dtype=object),
        "sentiment_model": np.empty(n, dtype=object),
        "p_negative": np.full(n, np.nan),
        "sentiment": np.zeros(n),
        "labels": np.full(n, "", dtype=object),
        "urgency": np.zeros(n),
        **{column: np.full(n, None, dtype=object) for column in _ENTITY_COLUMNS},
        **{column: np.full(n, np.nan) for column in _NUMBER_COLUMNS},
        "text_truncated": truncated,
    }
    probabilities = np.zeros((n, len(models.labels)), dtype=np.float32)
    offsets = np.zeros((n, len(models.labels)))
    all_texts = text.tolist()
    times_list = None if reference is None else list(reference)
    codes = out["language"]
    for lang in pd.unique(codes):
        positions = np.flatnonzero(codes == lang)
        group = [all_texts[i] for i in positions]
        name, pipeline = models.answering(lang)
        out["model"][positions] = name
        offsets[positions] = models.top_label_offsets(lang)
        negative = None
        if pipeline is not None and TEXTCAT in pipeline.pipe_names:
            cats = _predict(
                pipeline, group, (*models.labels, NEGATIVE_CAT), batch_size, models.warmed
            )
            probabilities[positions] = cats[:, : len(models.labels)]
            if NEGATIVE_CAT in pipeline.get_pipe(TEXTCAT).labels:
                negative = cats[:, -1].astype(float)
        lexicon = load_lexicon(lang) or (load_lexicon("en") if lang == "und" else None)
        lexicon_name = f"{LEXICON}:{lexicon.language}" if lexicon else None
        if negative is not None:
            out["sentiment_model"][positions] = f"{name}+{lexicon_name}" if lexicon else name
        else:
            out["sentiment_model"][positions] = lexicon_name
        times_of = None if times_list is None else [times_list[i] for i in positions]
        _read_group(out, probabilities, positions, group, lang, negative, lexicon, times_of)
    frame = pd.DataFrame({column: out[column] for column in SIGNAL_COLUMNS}, index=texts.index)
    labels = pd.DataFrame(
        probabilities.astype(float),
        index=texts.index,
        columns=[f"label_{name}" for name in models.labels],
    )
    present = probabilities >= models.threshold
    if models.at_least_one and models.labels:
        clipped = np.clip(probabilities.astype(float), 1e-6, 1 - 1e-6)
        top = (np.log(clipped / (1 - clipped)) - offsets).argmax(axis=1)
        readable = probabilities.max(axis=1) > 0  # texts with no letters keep no label
        present[np.flatnonzero(readable), top[readable]] = True
    frame["labels"] = _joined(present, models.labels)
    position = frame.columns.get_loc("sentiment") + 1
    return pd.concat([frame.iloc[:, :position], labels, frame.iloc[:, position:]], axis=1)


def _read_group(
    out: dict[str, Any],
    probabilities: np.ndarray,
    positions: np.ndarray,
    group: list[str],
    lang: str,
    negative: np.ndarray | None,
    lexicon: Lexicon | None,
    times: list[Any] | None,
) -> None:
    """Sentiment, urgency and quantities of one language's texts, written into ``out`` at
    ``positions``; ``negative`` is the learnt probability (None: the lexicon's alone)."""
    entities = _entities(lang)
    for k, i in enumerate(positions):
        raw = group[k]
        reference = None if times is None else times[k]
        if _LETTER.search(raw) is None:  # nothing to read: no labels, no sentiment
            probabilities[i] = 0.0
            _set_entities(out, i, raw, entities, reference)
            continue
        reading = None if lexicon is None else lexicon.read(raw)
        if negative is not None:
            p_negative = float(negative[k])
            if reading is not None:
                p_negative = _shift(p_negative, -LEXICON_LOG_ODDS * reading.polarity)
        elif reading is not None:
            p_negative = (1.0 - reading.polarity) / 2.0
        else:
            p_negative = math.nan
        out["p_negative"][i] = p_negative
        out["sentiment"][i] = 0.0 if math.isnan(p_negative) else 1.0 - 2.0 * p_negative
        waited = _set_entities(out, i, raw, entities, reference)
        urgent_terms = 0 if reading is None else reading.urgent_terms
        out["urgency"][i] = urgency_score(raw, urgent_terms, waited, p_negative)


def _shift(probability: float, log_odds: float) -> float:
    """``probability`` moved by ``log_odds`` (a logistic shift; 0 and 1 stay put)."""
    probability = min(max(probability, 1e-6), 1 - 1e-6)
    return 1.0 / (1.0 + math.exp(-(math.log(probability / (1 - probability)) + log_odds)))


def _predict(
    pipeline: Any, texts: list[str], cats: tuple[str, ...], batch_size: int, warmed: dict[str, int]
) -> np.ndarray:
    """Each text's probability of each of ``cats`` (0 for a cat the pipeline does not know).
    Texts are read inside spaCy memory zones of :data:`ZONE_TEXTS`, after at most
    :data:`WARM_TEXTS` per process outside one."""
    textcat = pipeline.get_pipe(TEXTCAT)
    known = {label: j for j, label in enumerate(textcat.labels)}
    columns = [known.get(cat, -1) for cat in cats]
    scores = np.zeros((len(texts), len(cats)), dtype=np.float32)

    def read(start: int, stop: int) -> None:
        for offset in range(start, stop, batch_size):
            docs = [pipeline.make_doc(t) for t in texts[offset : min(stop, offset + batch_size)]]
            predicted = np.asarray(textcat.predict(docs))
            for j, column in enumerate(columns):
                if column >= 0:
                    scores[offset : offset + len(docs), j] = predicted[:, column]

    key = str(id(pipeline))
    warm = min(len(texts), max(0, WARM_TEXTS - warmed.get(key, 0)))
    read(0, warm)
    warmed[key] = warmed.get(key, 0) + warm
    for start in range(warm, len(texts), ZONE_TEXTS):
        with pipeline.memory_zone():
            read(start, min(len(texts), start + ZONE_TEXTS))
    return scores


_ENTITY_COLUMNS = ("order_ref", "currency", "duration_unit", "date", "product")
_NUMBER_COLUMNS = ("amount", "duration_hours", "duration_value", "delay_hours")
_ENTITY_FINDERS: dict[str, TicketEntities] = {}


def _entities(lang: str) -> TicketEntities:
    table = "zh" if lang == "zh" else "en"
    finder = _ENTITY_FINDERS.get(table)
    if finder is None:
        finder = _ENTITY_FINDERS[table] = TicketEntities(
            ticket_patterns(table), spaced=table != "zh"
        )
    return finder


def _set_entities(
    out: dict[str, Any], i: int, raw: str, finder: TicketEntities, reference: Any
) -> float:
    """Write the first mention of each entity's value into row ``i``; returns the hours of a
    waiting-time duration (0 when none)."""
    seen: set[str] = set()
    waited = 0.0
    for label, match in finder.find(raw):
        if label in seen:
            continue
        seen.add(label)
        if label == "DURATION":
            duration = parse_duration(
                match, match.string, "zh" if "num_month" in match.re.groupindex else "en"
            )
            if duration is not None:
                out["duration_hours"][i] = duration.hours
                out["duration_value"][i] = duration.value
                out["duration_unit"][i] = duration.unit
                if duration.late:
                    out["delay_hours"][i] = duration.hours
                if duration.unit in _WAITING_UNITS:
                    waited = duration.hours
        elif label == "MONEY":
            amount = parse_amount(match)
            out["amount"][i], out["currency"][i] = amount.value, amount.currency
        elif label == "DATE":
            out["date"][i] = parse_date(match, reference)
        else:
            start, end = (
                match.span("ent")
                if "ent" in match.re.groupindex and match.start("ent") >= 0
                else match.span()
            )
            value = raw[start:end] if len(raw) == len(match.string) else match.group()
            out["order_ref" if label == "ORDER_REF" else "product"][i] = value
    return waited


def urgency_score(text: str, urgent_terms: int, waited_hours: float, p_negative: float) -> float:
    """Urgency in [0, 1]: 1 − Π(1 − evidence) over independent pieces of evidence.

    Evidence: urgency words (``urgent_terms``, the distinct ones the lexicon found: 0.35 each,
    at most two), repeated ``!!``/``？？`` (0.3), shouting in capitals (0.3), a waited duration
    (0.15 per day waited beyond one, at most 0.45) and how much more negative than neutral the
    text is (0.4 × (2·p_negative − 1)).
    """
    hits = urgent_terms
    # Shouting needs > 70% capitals among >= 8 letters, so at least 6 capitals: most texts have
    # fewer, and the letters are then not counted at all.
    upper = len(_ASCII_UPPER.findall(text))
    shouting = (
        upper >= 6 and (letters := len(_ASCII_LETTER.findall(text))) >= 8 and upper / letters > 0.7
    )
    days = waited_hours / 24
    evidence = (
        0.35 * min(hits, 2),
        0.3 if _REPEATED_PUNCT.search(text) else 0.0,
        0.3 if shouting else 0.0,
        min(0.45, 0.15 * max(0.0, days - 1)),
        0.0 if math.isnan(p_negative) else 0.4 * max(0.0, 2.0 * p_negative - 1.0),
    )
    calm = 1.0
    for value in evidence:
        calm *= 1.0 - min(value, 0.95)
    return round(1.0 - calm, 4)


def _joined(present: np.ndarray, names: tuple[str, ...]) -> list[str]:
    if not names:
        return [""] * len(present)
    counts = present.sum(axis=1)
    joined = np.full(len(present), "", dtype=object)
    one = counts == 1  # most texts: their one label by position, no join
    joined[one] = np.asarray(names, dtype=object)[present[one].argmax(axis=1)]
    for i in np.flatnonzero(counts > 1):
        joined[i] = "|".join(name for name, on in zip(names, present[i], strict=True) if on)
    return joined.tolist()
