"""Real labelled reviews (``../shared/data``, read in place): the untrained defaults and a
smoke-size trained sentiment pipeline must rank negative reviews first."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from nlp.scoring import TicketModels, score_texts


def _chinese(shared_data) -> pd.DataFrame:
    frame = pd.read_csv(shared_data / "ChnSentiCorp_htl_all.csv").dropna(subset=["review"])
    return frame.sample(1500, random_state=0).reset_index(drop=True)


def _english(shared_data) -> pd.DataFrame:
    frame = pd.read_csv(shared_data / "womens_ecommerce_clothing_reviews_first5000.csv")
    return frame.dropna(subset=["Review Text"]).sample(1500, random_state=0).reset_index(drop=True)


def test_untrained_defaults_rank_real_reviews(shared_data):
    zh, en = _chinese(shared_data), _english(shared_data)
    for texts, negative, bar in (
        (zh["review"], zh["label"] == 0, 0.85),
        (en["Review Text"], en["Recommended IND"] == 0, 0.80),
    ):
        scored = score_texts(texts, TicketModels())
        assert roc_auc_score(negative, scored["p_negative"].fillna(0.5)) >= bar


@pytest.mark.slow
def test_trained_sentiment_on_real_reviews(shared_data, tmp_path):
    from nlp.training import prepare_training_data, train_pipelines
    from orderlens.settings import load_settings

    reviews = _chinese(shared_data)
    data = prepare_training_data(
        reviews, text_column="review", label_column=None, sentiment_column="label", language="zh"
    )
    assert data.sentiment["kind"] == "binary" and not data.labels
    settings = load_settings(home=tmp_path)
    result = train_pipelines(data, settings, max_epochs=3, stdout=io.StringIO())
    assert result.metrics["zh"]["sentiment_auc"] >= 0.85
    # Longer reviews are not pushed to either end: the score hardly follows length.
    heldout = pd.read_parquet(result.path / "heldout.parquet")
    scored = score_texts(
        heldout["text"], TicketModels.load(settings), languages=heldout["language"]
    )
    positive = heldout["negative"].to_numpy() == 0
    lengths = heldout["text"].str.len().to_numpy()
    rho = pd.Series(scored["p_negative"].to_numpy()[positive]).corr(
        pd.Series(lengths[positive]), method="spearman"
    )
    assert abs(rho) < 0.3
    assert np.isfinite(scored["p_negative"]).all()
