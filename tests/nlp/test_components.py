"""Units of the pipeline's own parts: character tokenizer, batched n-grams, thresholds, trie."""

from __future__ import annotations

import re

import numpy as np
import pytest
import spacy
from spacy.attrs import LOWER
from thinc.api import NumpyOps

from nlp.architectures import extract_ngrams
from nlp.patterns import trie_regex
from nlp.store import register_components


@pytest.fixture(scope="module")
def zh_blank():
    register_components()
    return spacy.blank(
        "zh", config={"nlp": {"tokenizer": {"@tokenizers": "orderlens.ZhCharTokenizer.v1"}}}
    )


@pytest.mark.parametrize(
    "text", ["", " ", "  a", "订单OL00012345  等了3天，refund 199元!! ", "\n\tx 😡", "a b"]
)
def test_char_tokenizer_keeps_the_text(zh_blank, text):
    assert zh_blank(text).text == text


def test_char_tokenizer_splits_characters_and_keeps_latin_runs(zh_blank):
    words = [t.text for t in zh_blank("退款19元refund")]
    assert words == ["退", "款", "1", "9", "元", "refund"]


def test_batched_ngrams_equal_per_doc_unique():
    pipeline = spacy.blank("en")
    texts = ["", "a", "a a b a b", "Where is my order?", "", "x y z x y z"]
    docs = list(pipeline.pipe(texts))
    ops = NumpyOps()
    for size in (1, 2, 3):
        keys, vals, lengths = extract_ngrams(size).predict(docs)
        offset = 0
        for doc, length in zip(docs, lengths, strict=True):
            unigrams = doc.to_array(LOWER)
            grams = [unigrams] + [
                ops.ngrams(n, unigrams) for n in range(2, size + 1) if len(unigrams) >= n
            ]
            expected, counts = np.unique(np.concatenate(grams), return_counts=True)
            assert (keys[offset : offset + length] == expected).all()
            assert (vals[offset : offset + length] == counts).all()
            offset += length
        assert offset == len(keys)


def test_trie_regex_matches_like_a_longest_first_alternation():
    words = ["toy", "toy car", "toys", "tea", "t", "teapot"]
    trie = re.compile(rf"\b{trie_regex(words)}\b")
    flat = re.compile(r"\b(?:" + "|".join(sorted(words, key=len, reverse=True)) + r")\b")
    for text in ["a toy car and toys", "teapot tea t", "toyota", "my toy"]:
        assert [m.span() for m in trie.finditer(text)] == [m.span() for m in flat.finditer(text)]
