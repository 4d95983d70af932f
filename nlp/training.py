"""Train the ticket pipelines on anyone's labels with spaCy's own training loop.

One pipeline per language that has enough training text, plus the language-agnostic pipeline
``xx`` (character n-grams of every script) trained on all of it: it reads the languages that have
no pipeline of their own. Every pipeline learns the user's labels and, when a sentiment column is
given, ``sentiment:negative`` (:data:`nlp.labels.NEGATIVE_CAT`) as one more category; a text
without a value for a target is a *missing* value for it, not a negative example.

``nlp/config.cfg`` is the single config; :func:`language_overrides` derives each pipeline from
it. Corpora are written as DocBin files under the version's run folder, then
``spacy.training.initialize.init_nlp`` + ``spacy.training.loop.train`` do the rest.
"""

from __future__ import annotations

import io
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from nlp.labels import NEGATIVE_CAT, label_names, sentiment_target, split_labels
from nlp.language import UNDETERMINED, ticket_languages
from nlp.split import TicketSplit, split_tickets
from nlp.store import (
    PIPELINE_NAME,
    code_version,
    new_version_name,
    nlp_root,
    register_components,
    set_current,
    write_meta,
)
from orderlens.settings import Settings

CONFIG_PATH = Path(__file__).with_name("config.cfg")
LANGUAGE_AGNOSTIC = "xx"
"""The pipeline that reads any language: spaCy's multi-language class over character n-grams."""
MIN_LANGUAGE_TEXTS = 30
"""A language with fewer training texts gets no pipeline of its own (``xx`` reads it)."""
UNSPACED = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo"})
"""Languages written without spaces: read character by character (nlp/tokenizers.py)."""
EVAL_FREQUENCY = 200
"""Steps between dev-set evaluations (a progress log: the saved model is the last one)."""
DEV_TEXTS = 300
"""spaCy's dev set is a sample of the training texts: it only feeds the progress log."""
SMALL_TABLE, LARGE_TABLE, LARGE_CORPUS_CHARS = 2**16, 2**18, 500_000
"""Hashed weight-table rows: Adam updates every row on every step, so a small corpus (the demo's
tickets: ~60k characters) trains ~4x faster on 2^16 rows at the same held-out macro-F1; a large
one (real reviews: millions of characters, hundreds of thousands of distinct n-grams) needs 2^18
to keep hash collisions rare."""
MIN_EPOCHS, MAX_EPOCHS, MIN_STEPS, BATCH_TOKENS = 20, 150, 300, 1500
"""Epochs: at least 20, and enough for ~300 updates of ~1,500 tokens (the config's batches): the
demo's 289 English tickets are 2-3 batches, so 20 epochs left the model under-trained (held-out
macro-F1 0.831 -> 0.844 at 120 epochs)."""
AT_LEAST_ONE_SHARE = 0.9
"""When this share of the labelled training texts carries at least one label, every text gets at
least its most likely label: a support team's tickets are nearly always about something, and on
wordings the model never saw the right label is often the most likely one without reaching 0.5
(demo world, held-out templates: en macro-F1 0.68 -> 0.83, zh 0.83 -> 0.91). Which label is the
most likely one is read against each label's prior (:data:`nlp.scoring.TOP_LABEL_PRIOR_WEIGHT`):
``label_priors`` in ``meta.json``, per pipeline."""
WORD_TOKENIZER = {"@tokenizers": "orderlens.WordTokenizer.v1"}
"""Languages written with spaces: words and single characters (nlp/tokenizers.py; the config's
default tokenizer)."""
CHAR_TOKENIZER = {"@tokenizers": "orderlens.CharTokenizer.v1"}
"""Chinese is read character by character (nlp/tokenizers.py): measured better and faster than
jieba's words on held-out wordings."""


@dataclass(frozen=True)
class TrainingData:
    """Tickets ready for training: ``text``, ``language``, ``labels`` (the user's ``|``-joined
    names, None where not labelled) and ``negative`` (1/0, NaN where no sentiment), plus how
    the columns were read."""

    frame: pd.DataFrame
    labels: tuple[str, ...]
    sentiment: dict[str, str] | None
    columns: dict[str, str | None]

    @property
    def cats(self) -> tuple[str, ...]:
        """The categories the pipelines learn: the labels, then the sentiment target."""
        return (*self.labels, *((NEGATIVE_CAT,) if self.sentiment else ()))


def prepare_training_data(
    tickets: pd.DataFrame,
    *,
    text_column: str = "text",
    label_column: str | None = "labels",
    sentiment_column: str | None = None,
    language: str | None = None,
    language_column: str = "language",
) -> TrainingData:
    """Read the text, labels, sentiment and language of labelled tickets.

    Args:
        tickets: any frame with a text column.
        text_column: the text.
        label_column: ``|``-joined label names (any names); None: no labels. A missing value
            means "not labelled"; an empty string means "labelled: none of the labels".
        sentiment_column: 0/1 (1 positive), −1/0/1, a 1–5 rating or words; None: none.
        language: one language code for every text; else ``language_column`` where present,
            detected where missing.
        language_column: the column holding each text's language code, when there is one.

    Raises:
        ValueError: a named column is missing, or there is nothing to learn.
    """
    for role, column in (("text", text_column), ("label", label_column),
                         ("sentiment", sentiment_column)):  # fmt: skip
        if column is not None and column not in tickets.columns:
            raise ValueError(f"{role} column {column!r} is not in the tickets: {list(tickets)}")
    if label_column is None and sentiment_column is None:
        raise ValueError("nothing to learn: give a label column, a sentiment column or both")
    text = tickets[text_column].astype("string").fillna("").str.strip()
    frame = pd.DataFrame({"text": text.astype(object)}, index=tickets.index)
    given = pd.Series(language, index=tickets.index, dtype=object) if language else None
    if given is None and language_column in tickets.columns:
        given = tickets[language_column]
    frame["language"] = ticket_languages(frame["text"], given)
    frame["labels"] = tickets[label_column].astype(object) if label_column else None
    frame["labels"] = frame["labels"].where(frame["labels"].notna(), None)
    sentiment = None
    frame["negative"] = float("nan")
    if sentiment_column:
        target = sentiment_target(tickets[sentiment_column], column=sentiment_column)
        frame["negative"] = target.negative.astype(float)
        sentiment = {"column": sentiment_column, "kind": target.kind, "reading": target.describe()}
    for column in ("ticket_id", "created_at", "template_id"):
        if column in tickets.columns:
            frame[column] = tickets[column]
    labelled = frame["labels"].notna() | frame["negative"].notna()
    frame = frame[labelled & (frame["text"] != "")]
    names = label_names(frame["labels"]) if label_column else ()
    if frame.empty or (not names and sentiment is None):
        raise ValueError("no labelled text: every row lacks a label and a sentiment value")
    columns = {"text": text_column, "labels": label_column, "sentiment": sentiment_column}
    return TrainingData(frame.reset_index(drop=True), names, sentiment, columns)


def spacy_language(lang: str) -> str:
    """The spaCy language class a pipeline for ``lang`` is built on: ``lang`` itself where spaCy
    has it with no extra package, else ``xx`` (multi-language)."""
    import spacy

    if lang in UNSPACED and lang != "zh":
        return LANGUAGE_AGNOSTIC
    try:
        spacy.blank(lang)
    except Exception:  # noqa: BLE001  (ImportError, or spaCy's own error for unknown codes)
        return LANGUAGE_AGNOSTIC
    return lang


def language_overrides(lang: str, cats: tuple[str, ...]) -> dict[str, Any]:
    """Config overrides that turn ``config.cfg`` into the pipeline for one language.

    Spaced languages keep spaCy's tokenizer (words, word bigrams and subwords); languages
    written without spaces and the language-agnostic ``xx`` read characters and character
    bigrams (``xx`` also the subwords of Latin-script runs).
    """
    overrides: dict[str, Any] = {
        "nlp.lang": spacy_language(lang),
        "initialize.components.textcat_multilabel.labels": list(cats),
    }
    if lang in UNSPACED or lang == LANGUAGE_AGNOSTIC:
        overrides["nlp.tokenizer"] = dict(CHAR_TOKENIZER)
    if lang in UNSPACED:
        overrides["components.textcat_multilabel.model.subword_max"] = 0
    return overrides


def write_docbin(frame: pd.DataFrame, lang: str, cats: tuple[str, ...], path: Path) -> int:
    """Write training texts as a spaCy DocBin; ``doc.cats`` holds the targets each text has
    (a label-less text has no label cats; a text without sentiment has no sentiment cat).
    Returns the number of tokens written."""
    from spacy.tokens import DocBin

    make_doc = blank_pipeline(lang).make_doc
    labels = [cat for cat in cats if cat != NEGATIVE_CAT]
    doc_bin = DocBin(attrs=["ORTH"], store_user_data=False)
    tokens = 0
    for text, value, negative in zip(frame["text"], frame["labels"], frame["negative"],
                                     strict=True):  # fmt: skip
        doc = make_doc(text)
        gold: dict[str, float] = {}
        if value is not None and labels:
            names = set(split_labels(value))
            gold = {name: float(name in names) for name in labels}
        if NEGATIVE_CAT in cats and negative == negative:  # not NaN
            gold[NEGATIVE_CAT] = float(negative)
        doc.cats = gold
        doc_bin.add(doc)
        tokens += len(doc)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc_bin.to_disk(path)
    return tokens


def train_language(
    lang: str,
    train: pd.DataFrame,
    run_dir: Path,
    cats: tuple[str, ...],
    *,
    seed: int = 0,
    max_epochs: int | None = None,
    extra_overrides: dict[str, Any] | None = None,
    stdout: IO[str] | None = None,
) -> Path:
    """Train one language's pipeline with spaCy's loop; returns the ``model-last`` folder.

    Args:
        lang: a language code, or ``xx`` for the language-agnostic pipeline.
        train: prepared training texts (:class:`TrainingData` ``frame`` rows).
        run_dir: where the corpora (``corpus/*.spacy``) and spaCy's output go.
        cats: the categories to learn (:attr:`TrainingData.cats`).
        seed: ``system.seed``; also draws the dev sample.
        max_epochs: overrides ``training.max_epochs`` (smoke runs use 1–2).
        extra_overrides: further config overrides (e.g. another textcat architecture).
        stdout: where spaCy's training log goes (default: this process's stdout).
    """
    from spacy.training.initialize import init_nlp
    from spacy.training.loop import train as spacy_train
    from spacy.util import load_config

    register_components()
    dev = train.sample(min(DEV_TEXTS, len(train)), random_state=seed)
    corpus = run_dir / "corpus"
    tokens = write_docbin(train, lang, cats, corpus / "train.spacy")
    write_docbin(dev, lang, cats, corpus / "dev.spacy")
    overrides = language_overrides(lang, cats) | {
        "paths.train": str(corpus / "train.spacy"),
        "paths.dev": str(corpus / "dev.spacy"),
        "system.seed": seed,
    }
    # The saved model is model-last (after max_epochs), not model-best: the dev set is a sample
    # of the training texts (a progress log), so "best on dev" says nothing about new wordings.
    overrides["training.eval_frequency"] = EVAL_FREQUENCY
    chars = int(train["text"].str.len().sum())
    overrides["components.textcat_multilabel.model.length"] = (
        LARGE_TABLE if chars > LARGE_CORPUS_CHARS else SMALL_TABLE
    )
    if max_epochs is not None:
        overrides["training.max_epochs"] = max_epochs
    else:  # a small corpus is a few batches an epoch: give it enough updates
        steps_per_epoch = max(1.0, tokens / BATCH_TOKENS)
        overrides["training.max_epochs"] = int(
            min(MAX_EPOCHS, max(MIN_EPOCHS, -(-MIN_STEPS // steps_per_epoch)))
        )
    overrides |= extra_overrides or {}
    config = load_config(CONFIG_PATH, overrides=overrides, interpolate=False)
    pipeline = init_nlp(config)
    output = run_dir / "output"
    output.mkdir(parents=True, exist_ok=True)
    spacy_train(pipeline, output, stdout=stdout or sys.stdout, stderr=io.StringIO())
    return output / "model-last"


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    version: str
    path: Path
    metrics: dict[str, dict[str, Any]]
    labels: tuple[str, ...]


def pipeline_languages(train: pd.DataFrame) -> list[str]:
    """The languages that get a pipeline of their own (enough training texts), then ``xx``."""
    counts = train["language"].value_counts()
    own = sorted(
        lang for lang, n in counts.items() if n >= MIN_LANGUAGE_TEXTS and lang != UNDETERMINED
    )
    return [*own, LANGUAGE_AGNOSTIC]


def train_pipelines(
    tickets: pd.DataFrame | TrainingData,
    settings: Settings,
    *,
    seed: int = 0,
    smoke: bool = False,
    version: str | None = None,
    make_current: bool = True,
    max_epochs: int | None = None,
    data_source: str = "tickets",
    heldout: pd.DataFrame | TrainingData | None = None,
    stdout: IO[str] | None = None,
) -> TrainResult:
    """Split, train one pipeline per language plus ``xx``, score them on the held-out texts and
    save a version.

    Args:
        tickets: labelled tickets in the tickets contract (``text``, ``labels``, ``language``),
            or data from :func:`prepare_training_data` for other columns.
        settings: where the version goes (``<home>/nlp/``).
        seed: the split and spaCy's seed.
        smoke: two epochs.
        version: the version name (default: a timestamp).
        make_current: point ``current`` at the new version.
        max_epochs: overrides the config's ``training.max_epochs``.
        data_source: where the tickets came from (recorded in ``meta.json``).
        heldout: the texts to score the pipelines on; default: a held-out part of ``tickets``
            (whole paraphrase templates when they have a ``template_id``, else a random 20%).
        stdout: where spaCy's training log goes.

    The version folder gets one spaCy pipeline folder per language and ``xx``,
    ``heldout.parquet`` (for ``orderlens nlp evaluate``), ``runs/`` (corpora and spaCy's
    output) and ``meta.json`` (labels, sentiment reading, metrics, data window, code version).
    """
    from nlp.evaluate import evaluate_version

    data = tickets if isinstance(tickets, TrainingData) else prepare_training_data(tickets)
    if heldout is None:
        split = split_tickets(data.frame, seed=seed)
    else:
        held = heldout.frame if isinstance(heldout, TrainingData) else heldout
        split = TicketSplit(data.frame, held, (), (), by_template=False)
    version = version or new_version_name()
    version_dir = nlp_root(settings) / version
    version_dir.mkdir(parents=True, exist_ok=False)
    epochs = 2 if smoke else max_epochs
    languages = pipeline_languages(split.train)
    for lang in languages:
        train = split.train if lang == LANGUAGE_AGNOSTIC else split.train[
            split.train["language"] == lang]  # fmt: skip
        last = train_language(
            lang, train, version_dir / "runs" / lang, data.cats, seed=seed, max_epochs=epochs,
            stdout=stdout,
        )  # fmt: skip
        shutil.copytree(last, version_dir / lang)
    split.heldout.to_parquet(version_dir / "heldout.parquet", index=False)
    meta = _meta(version, data, split, seed, smoke, data_source, languages)
    for lang in languages:
        train = split.train if lang == LANGUAGE_AGNOSTIC else split.train[
            split.train["language"] == lang]  # fmt: skip
        meta["languages"][lang]["label_priors"] = label_priors(version_dir / lang, train, data)
    write_meta(version_dir, meta)
    meta["metrics"] = evaluate_version(version_dir, split.heldout)
    write_meta(version_dir, meta)
    if make_current:
        set_current(settings, version)
    return TrainResult(version, version_dir, meta["metrics"], data.labels)


def _meta(
    version: str,
    data: TrainingData,
    split: TicketSplit,
    seed: int,
    smoke: bool,
    data_source: str,
    languages: list[str],
) -> dict[str, Any]:
    frame = data.frame
    created = pd.to_datetime(frame["created_at"], utc=True) if "created_at" in frame else None
    train_counts = split.train["language"].value_counts()
    return {
        "name": PIPELINE_NAME,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(),
        "code_version": code_version(),
        "config": str(CONFIG_PATH.name),
        "seed": seed,
        "smoke": smoke,
        "labels": list(data.labels),
        "sentiment": data.sentiment,
        "columns": data.columns,
        "languages": {
            lang: {
                "spacy_lang": spacy_language(lang),
                "n_train": int(
                    len(split.train) if lang == LANGUAGE_AGNOSTIC else train_counts.get(lang, 0)
                ),  # fmt: skip
            }
            for lang in languages
        },
        "threshold": 0.5,
        "at_least_one": _at_least_one(split.train),
        "data": {
            "source": data_source,
            "n_tickets": len(frame),
            "window_start": None if created is None else created.min().isoformat(),
            "window_end": None if created is None else created.max().isoformat(),
            "n_train": len(split.train),
            "n_heldout": len(split.heldout),
        },
        "heldout": {
            "by_template": split.by_template,
            "templates": list(split.heldout_templates),
            "product_words": list(split.heldout_words),
        },
        "metrics": {},
    }


def label_priors(path: Path, train: pd.DataFrame, data: TrainingData) -> dict[str, float]:
    """Each label's mean probability over a pipeline's labelled training texts, as the saved
    pipeline at ``path`` predicts it (see :data:`nlp.scoring.TOP_LABEL_PRIOR_WEIGHT`)."""
    import spacy

    from nlp.scoring import TEXTCAT

    texts = train.loc[train["labels"].notna(), "text"].tolist()
    if not texts or not data.labels:
        return {}
    register_components()
    pipeline = spacy.load(path)
    textcat = pipeline.get_pipe(TEXTCAT)
    with pipeline.memory_zone():
        sums = sum(
            np.asarray(textcat.predict([pipeline.make_doc(t) for t in texts[k : k + 512]])).sum(0)
            for k in range(0, len(texts), 512)
        )
    column = {label: j for j, label in enumerate(textcat.labels)}
    return {
        label: round(float(sums[column[label]]) / len(texts), 6)
        for label in data.labels
        if label in column
    }


def _at_least_one(train: pd.DataFrame) -> bool:
    labelled = train["labels"].dropna()
    if labelled.empty:
        return False
    return bool(labelled.map(lambda value: bool(split_labels(value))).mean() >= AT_LEAST_ONE_SHARE)


def blank_pipeline(lang: str):
    """A blank pipeline with the tokenizer a pipeline for ``lang`` is trained with."""
    import spacy

    register_components()
    if lang in UNSPACED or lang == LANGUAGE_AGNOSTIC:
        return spacy.blank(spacy_language(lang), config={"nlp": {"tokenizer": CHAR_TOKENIZER}})
    return spacy.blank(spacy_language(lang), config={"nlp": {"tokenizer": WORD_TOKENIZER}})
