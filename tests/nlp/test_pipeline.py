"""A real smoke-size training run, both languages, awkward text, determinism and versioning."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from nlp.extract import SIGNAL_COLUMNS, extract_signals
from orderlens.intents import INTENT_NAMES

pytestmark = pytest.mark.slow


def _tickets(texts: list[str], language: str) -> pd.DataFrame:
    n = len(texts)
    return pd.DataFrame(
        {
            "ticket_id": [f"T{i}" for i in range(n)],
            "order_id": [f"O{i}" for i in range(n)],
            "customer_id": ["C1"] * n,
            "created_at": pd.Timestamp("2025-03-01", tz="UTC"),
            "text": texts,
            "language": language,
        }
    )


def test_training_writes_a_current_version(trained, smoke_settings):
    from nlp.store import current_version, read_meta

    assert current_version(smoke_settings) == trained.version
    meta = read_meta(smoke_settings)
    assert set(meta["metrics"]) == {"en", "zh"}
    assert meta["heldout"]["by_template"] is True
    assert meta["data"]["n_heldout"] > 0 and meta["code_version"]
    for lang in ("en", "zh"):
        assert (trained.path / lang / "config.cfg").is_file()
        assert set(meta["metrics"][lang]["labels"]) == set(INTENT_NAMES)


def test_both_languages_give_signals(pipelines):
    version, nlps = pipelines
    en = extract_signals(
        _tickets(["Where is my order OL00012345? I paid ¥299"], "en"), nlps, version=version
    )
    zh = extract_signals(
        _tickets(["订单OL00012345等了三天了，退款199元"], "zh"), nlps, version=version
    )
    assert list(en.columns[-len(SIGNAL_COLUMNS) :]) == list(SIGNAL_COLUMNS)
    assert en.loc[0, "order_ref"] == "OL00012345" and en.loc[0, "amount"] == 299
    assert zh.loc[0, "duration_hours"] == 72 and zh.loc[0, "amount"] == 199
    assert zh.loc[0, "pipeline_version"] == version
    probabilities = en[[f"intent_{n}" for n in INTENT_NAMES]].to_numpy()
    assert ((probabilities >= 0) & (probabilities <= 1)).all()


@pytest.mark.parametrize("text", ["", "   ", "@@@ ### !!!", "😡😡😡", "\x00\x01\x02"])
@pytest.mark.parametrize("language", ["en", "zh"])
def test_empty_and_garbage_text_give_no_intents(pipelines, text, language):
    version, nlps = pipelines
    row = extract_signals(_tickets([text], language), nlps, version=version).iloc[0]
    assert row["intents"] == ""
    assert row["urgency"] == 0.0 and row["sentiment"] == 0.0
    assert not row["order_ref_mentioned"] and np.isnan(row["amount"])


def test_huge_text_is_cut_and_flagged(pipelines):
    version, nlps = pipelines
    frame = _tickets(["where is my order " * 6000, "订单到哪了" * 20000], "en")
    frame.loc[1, "language"] = "zh"
    signals = extract_signals(frame, nlps, version=version)
    assert signals["text_truncated"].all()
    assert len(signals) == 2


def test_missing_or_unknown_language_is_routed(pipelines):
    version, nlps = pipelines
    frame = _tickets(["我的快递到哪了", "where is my parcel"], "en")
    frame["language"] = [None, "fr"]
    signals = extract_signals(frame, nlps, version=version)
    assert signals["language"].tolist() == ["zh", "en"]


def test_no_tickets_gives_an_empty_table(pipelines):
    version, nlps = pipelines
    signals = extract_signals(_tickets([], "en"), nlps, version=version)
    assert signals.empty and "urgency" in signals


def test_same_seed_same_predictions(smoke_tickets, tmp_path):
    from nlp.store import load_pipelines
    from nlp.training import train_pipelines
    from orderlens.settings import load_settings

    frames = []
    for run in ("a", "b"):
        settings = load_settings(home=tmp_path / run)
        result = train_pipelines(smoke_tickets, settings, smoke=True, stdout=io.StringIO())
        version, nlps = load_pipelines(settings, result.version)
        frames.append(extract_signals(smoke_tickets.head(80), nlps, version="x"))
    pd.testing.assert_frame_equal(frames[0], frames[1])


def test_evaluate_cli_prints_json(trained, smoke_settings, monkeypatch):
    from typer.testing import CliRunner

    from cli.main import app

    monkeypatch.setenv("ORDERLENS_HOME", str(smoke_settings.home))
    result = CliRunner().invoke(app, ["nlp", "evaluate", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) == {"en", "zh"}
    assert set(report["en"]["labels"]["praise"]) >= {"precision", "recall", "f1"}


def test_saved_model_is_trained(trained, pipelines, smoke_tickets):
    """The saved pipeline is the trained one, not an untrained (step-0) model: on tickets of the
    templates it trained on it must separate the intents."""
    from nlp.evaluate import evaluate_pipeline

    _, nlps = pipelines
    heldout = pd.read_parquet(trained.path / "heldout.parquet")
    seen = smoke_tickets[~smoke_tickets["ticket_id"].isin(heldout["ticket_id"])]
    for lang in ("en", "zh"):
        tickets = seen[seen["language"] == lang]
        assert len(tickets) > 50
        assert evaluate_pipeline(nlps[lang], tickets)["macro_f1"] >= 0.6, lang
