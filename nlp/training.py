"""Train the ticket pipelines with spaCy's own training loop, one per language.

``nlp/config.cfg`` is the single config; :func:`language_overrides` derives the English and Chinese
pipelines from it. Corpora are written as DocBin files under the version's run folder, then
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

import pandas as pd

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
from orderlens.intents import INTENT_NAMES, split_labels
from orderlens.settings import Settings

CONFIG_PATH = Path(__file__).with_name("config.cfg")
LANGUAGES = ("en", "zh")
EVAL_FREQUENCY = 100
"""Steps between dev-set evaluations (a progress log: the saved model is the last one)."""
ZH_TOKENIZER = {"@tokenizers": "orderlens.ZhCharTokenizer.v1"}
"""Chinese is read character by character (nlp/tokenizers.py): measured better and faster than
jieba's words on held-out wordings."""


def language_overrides(lang: str) -> dict[str, Any]:
    """Config overrides that turn ``config.cfg`` into the pipeline for one language."""
    overrides: dict[str, Any] = {
        "nlp.lang": lang,
        "initialize.components.textcat_multilabel.labels": list(INTENT_NAMES),
    }
    if lang == "zh":
        # Characters and character bigrams; no subwords (a character has none).
        overrides["nlp.tokenizer"] = dict(ZH_TOKENIZER)
        overrides["components.textcat_multilabel.model.subword_max"] = 0
    return overrides


def write_docbin(tickets: pd.DataFrame, lang: str, path: Path) -> Path:
    """Write labelled tickets as a spaCy DocBin (``doc.cats`` = 0/1 per intent)."""
    from spacy.tokens import DocBin

    make_doc = _blank(lang).make_doc
    doc_bin = DocBin(attrs=["ORTH"], store_user_data=False)
    for text, labels in zip(tickets["text"].astype(str), tickets["labels"].fillna(""), strict=True):
        doc = make_doc(text)
        gold = set(split_labels(labels))
        doc.cats = {name: float(name in gold) for name in INTENT_NAMES}
        doc_bin.add(doc)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc_bin.to_disk(path)
    return path


def train_language(
    lang: str,
    train: pd.DataFrame,
    dev: pd.DataFrame,
    run_dir: Path,
    *,
    seed: int = 0,
    max_epochs: int | None = None,
    extra_overrides: dict[str, Any] | None = None,
    stdout: IO[str] | None = None,
) -> Path:
    """Train one language's pipeline with spaCy's loop; returns the ``model-last`` folder.

    Args:
        lang: ``en`` or ``zh``.
        train, dev: labelled tickets of that language.
        run_dir: where the corpora (``corpus/*.spacy``) and spaCy's output go.
        seed: ``system.seed``.
        max_epochs: overrides ``training.max_epochs`` (smoke runs use 1–2).
        extra_overrides: further config overrides (e.g. another textcat architecture).
        stdout: where spaCy's training log goes (default: this process's stdout).
    """
    from spacy.training.initialize import init_nlp
    from spacy.training.loop import train as spacy_train
    from spacy.util import load_config

    register_components()
    overrides = language_overrides(lang) | {
        "paths.train": str(write_docbin(train, lang, run_dir / "corpus" / "train.spacy")),
        "paths.dev": str(write_docbin(dev, lang, run_dir / "corpus" / "dev.spacy")),
        "system.seed": seed,
    }
    # The saved model is model-last (after max_epochs), not model-best: the dev set shares the
    # training templates, so "best on dev" says nothing about new wordings, and on a small
    # corpus spaCy's few evaluations could even crown the untrained step-0 model.
    overrides["training.eval_frequency"] = EVAL_FREQUENCY
    if max_epochs is not None:
        overrides["training.max_epochs"] = max_epochs
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


def train_pipelines(
    tickets: pd.DataFrame,
    settings: Settings,
    *,
    seed: int = 0,
    smoke: bool = False,
    version: str | None = None,
    make_current: bool = True,
    max_epochs: int | None = None,
    data_source: str = "tickets",
    stdout: IO[str] | None = None,
) -> TrainResult:
    """Split, train one pipeline per language, score it on the held-out set and save a version.

    The version folder gets ``{en,zh}/`` (spaCy pipelines), ``heldout.parquet`` (the held-out
    tickets, for ``orderlens nlp evaluate``), ``runs/`` (corpora and spaCy's output) and
    ``meta.json`` (metrics, data window, created time, code version). ``current`` then points at
    it unless ``make_current`` is False. ``max_epochs`` overrides the config (smoke: 2).
    """
    from nlp.evaluate import evaluate_pipeline

    version = version or new_version_name()
    version_dir = nlp_root(settings) / version
    version_dir.mkdir(parents=True, exist_ok=False)
    labelled = tickets[tickets["labels"].notna()]
    split = split_tickets(labelled, seed=seed)
    languages = [lang for lang in LANGUAGES if (split.train["language"] == lang).any()]
    epochs = 2 if smoke else max_epochs
    for lang in languages:
        train, dev = (frame[frame["language"] == lang] for frame in (split.train, split.dev))
        run_dir = version_dir / "runs" / lang
        last = train_language(
            lang, train, dev, run_dir, seed=seed, max_epochs=epochs, stdout=stdout
        )
        shutil.copytree(last, version_dir / lang)
    split.heldout.to_parquet(version_dir / "heldout.parquet", index=False)
    pipelines = _load(version_dir)
    metrics = {
        lang: evaluate_pipeline(pipelines[lang], split.heldout[split.heldout["language"] == lang])
        for lang in languages
    }
    write_meta(version_dir, _meta(version, labelled, split, metrics, seed, smoke, data_source))
    if make_current:
        set_current(settings, version)
    return TrainResult(version=version, path=version_dir, metrics=metrics)


def _load(version_dir: Path) -> dict[str, Any]:
    import spacy

    register_components()

    return {
        child.name: spacy.load(child) for child in version_dir.iterdir() if child.name in LANGUAGES
    }


def _meta(
    version: str,
    tickets: pd.DataFrame,
    split: TicketSplit,
    metrics: dict[str, Any],
    seed: int,
    smoke: bool,
    data_source: str,
) -> dict[str, Any]:
    created = pd.to_datetime(tickets["created_at"], utc=True) if "created_at" in tickets else None
    return {
        "name": PIPELINE_NAME,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(),
        "code_version": code_version(),
        "config": str(CONFIG_PATH.name),
        "seed": seed,
        "smoke": smoke,
        "data": {
            "source": data_source,
            "n_tickets": len(tickets),
            "window_start": None if created is None else created.min().isoformat(),
            "window_end": None if created is None else created.max().isoformat(),
            "n_train": len(split.train),
            "n_dev": len(split.dev),
            "n_heldout": len(split.heldout),
        },
        "heldout": {
            "by_template": split.by_template,
            "templates": list(split.heldout_templates),
            "product_words": list(split.heldout_words),
        },
        "metrics": metrics,
    }


def _blank(lang: str):
    import spacy

    register_components()
    if lang == "zh":
        return spacy.blank("zh", config={"nlp": {"tokenizer": dict(ZH_TOKENIZER)}})
    return spacy.blank(lang)
