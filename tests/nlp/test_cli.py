"""``orderlens nlp train / score`` on a shop's own file: its column names, its label names, a
sentiment column, CSV and Parquet, and a home where nothing was trained."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app


def _run(args: list[str], home) -> str:
    result = CliRunner().invoke(app, args, env={"ORDERLENS_HOME": str(home)})
    assert result.exit_code == 0, result.output
    return result.output


def test_score_works_where_nothing_was_trained(tmp_path):
    texts = pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "body": ["房间不错，没问题", "等了2个半小时，太差了", "Not bad at all, thanks!", "@@@"],
        }
    )
    texts.to_csv(tmp_path / "in.csv", index=False)
    output = _run(
        ["nlp", "score", "--input", str(tmp_path / "in.csv"), "--text-column", "body",
         "--out", str(tmp_path / "out.parquet"), "--keep", "id"],
        tmp_path / "home",
    )  # fmt: skip
    assert "4 texts" in output
    scored = pd.read_parquet(tmp_path / "out.parquet")
    assert scored["id"].tolist() == [1, 2, 3, 4]  # one row per input row, in order
    assert scored["language"].tolist() == ["zh", "zh", "en", "und"]
    assert set(scored["model"]) == {"rules"}
    assert scored["sentiment_model"].tolist()[:3] == ["lexicon:zh", "lexicon:zh", "lexicon:en"]
    assert scored.loc[0, "sentiment"] > 0 > scored.loc[1, "sentiment"]
    assert scored.loc[2, "sentiment"] > 0
    assert scored.loc[1, "duration_hours"] == 2.5
    assert not any(c.startswith("label_") for c in scored.columns)


@pytest.mark.slow
def test_train_on_own_columns_labels_and_sentiment_then_score(tmp_path):
    from nlp.store import describe_version
    from orderlens.settings import load_settings
    from simulator.ticket_text import synthetic_tickets

    # A shop's export: its own column names and label names, a 1-5 rating for sentiment.
    tickets = synthetic_tickets(500, seed=4)
    names = {"delay_complaint": "Late!", "refund_request": "money back", "praise": "kudos"}
    own = (
        tickets["labels"]
        .str.split("|")
        .map(lambda ls: "|".join(sorted({names.get(x, "other") for x in ls})))
    )
    rating = tickets["labels"].map(lambda ls: 5 if "praise" in ls else 1 if "delay" in ls else 3)
    export = pd.DataFrame({"message": tickets["text"], "topic": own, "stars": rating})
    export.to_parquet(tmp_path / "export.parquet")
    home = tmp_path / "home"
    output = _run(
        ["nlp", "train", "--tickets", str(tmp_path / "export.parquet"), "--text-column",
         "message", "--label-column", "topic", "--sentiment-column", "stars", "--smoke"],
        home,
    )  # fmt: skip
    assert "4 labels, sentiment" in output and "sentiment AUC" in output
    settings = load_settings(home=home)
    described = describe_version(settings, output.split("trained ")[1].split()[0])
    assert described["labels"] == ["Late!", "kudos", "money back", "other"]
    assert described["sentiment"]["kind"] == "rating"
    assert {"en", "zh", "xx"} <= set(described["languages"])

    export.head(20).to_csv(tmp_path / "some.csv", index=False)
    _run(
        ["nlp", "score", "--input", str(tmp_path / "some.csv"), "--text-column", "message",
         "--out", str(tmp_path / "scored.csv")],
        home,
    )  # fmt: skip
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert len(scored) == 20
    assert {"label_Late!", "label_kudos", "label_money back", "label_other"} <= set(scored)
    # Learnt, and combined with the lexicon of the text's language.
    assert scored["sentiment_model"].str.contains(r"/(?:en|zh)\+lexicon:").all()


def test_train_names_a_missing_column(tmp_path):
    pd.DataFrame({"text": ["a"], "labels": ["x"]}).to_csv(tmp_path / "t.csv", index=False)
    result = CliRunner().invoke(
        app,
        ["nlp", "train", "--tickets", str(tmp_path / "t.csv"), "--label-column", "topic"],
        env={"ORDERLENS_HOME": str(tmp_path / "home")},
    )
    assert result.exit_code == 2 and "'topic'" in result.output
