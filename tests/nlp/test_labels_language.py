"""The user's labels and sentiment column, and language codes."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from nlp.labels import NEGATIVE_CAT, label_matrix, label_names, sentiment_target, split_labels
from nlp.language import detect_language, normalise_language, ticket_languages


def test_labels_are_any_names_single_or_joined():
    labels = pd.Series(["Late delivery", "refund|Late delivery", None, "", " wrong size "])
    assert label_names(labels) == ("Late delivery", "refund", "wrong size")
    assert split_labels(" a | b |") == ["a", "b"]
    matrix = label_matrix(labels, label_names(labels))
    assert matrix.tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0], [0, 0, 1]]


def test_the_sentiment_category_name_is_reserved():
    with pytest.raises(ValueError, match="reserved"):
        label_names(pd.Series([NEGATIVE_CAT]))


@pytest.mark.parametrize(
    ("values", "kind", "negative"),
    [
        ([1, 0, 1], "binary", [0, 1, 0]),
        ([-1, 0, 1], "signed", [1, None, 0]),
        ([1, 2, 3, 4, 5], "rating", [1, 1, None, 0, 0]),
        (["positive", "Negative", "neutral"], "words", [0, 1, None]),
        (["1", "0", None], "binary", [0, 1, None]),
    ],
)
def test_sentiment_targets(values, kind, negative):
    target = sentiment_target(pd.Series(values, dtype=object))
    assert target.kind == kind
    got = [None if math.isnan(v) else v for v in target.negative.astype(float)]
    assert got == negative


def test_an_unreadable_sentiment_column_is_named():
    with pytest.raises(ValueError, match="'stars'"):
        sentiment_target(pd.Series([7, 8, 9]), column="stars")


@pytest.mark.parametrize(
    ("code", "normal"),
    [("zh-CN", "zh"), ("pt_BR", "pt"), ("EN", "en"), ("English", "en"), ("", None), (None, None)],
)
def test_language_codes_are_normalised(code, normal):
    assert normalise_language(code) == normal


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("我的快递到哪了", "zh"),
        ("where is my parcel", "en"),
        ("Le colis n'est pas arrivé", "fr"),
        ("注文した商品がまだ届いていません", "ja"),
        ("Заказ не пришёл", "ru"),
        ("@@@ 123", "und"),
    ],
)
def test_language_detection(text, lang):
    assert detect_language(text) == lang


def test_given_codes_win_and_missing_ones_are_detected():
    texts = pd.Series(["我的快递到哪了", "where is my parcel", "hola"])
    assert ticket_languages(texts, pd.Series([None, "sw", "es-MX"])).tolist() == ["zh", "sw", "es"]
