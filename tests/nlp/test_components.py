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


def _bag(keys: np.ndarray, vals: np.ndarray) -> dict[int, float]:
    bag: dict[int, float] = {}
    for key, val in zip(keys.tolist(), vals.tolist(), strict=True):
        bag[key] = bag.get(key, 0.0) + val
    return bag


def test_batched_ngrams_equal_per_doc_unique():
    # Same bag (key -> summed value) per doc as spaCy's per-doc unique: what the linear layer sees.
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
            got = _bag(keys[offset : offset + length], vals[offset : offset + length])
            assert got == dict(zip(expected.tolist(), counts.astype(float).tolist(), strict=True))
            offset += length
        assert offset == len(keys)


def test_subword_ngrams_are_grouped_per_doc():
    pipeline = spacy.blank("en")
    docs = list(pipeline.pipe(["refund", "", "refund refund", "late"]))
    keys, vals, lengths = extract_ngrams(1, subwords=(2, 3)).predict(docs)
    bags, offset = [], 0
    for length in lengths.tolist():
        bags.append(_bag(keys[offset : offset + length], vals[offset : offset + length]))
        offset += length
    assert bags[1] == {}
    assert bags[2] == {key: 2 * val for key, val in bags[0].items()}  # twice the same word
    assert not set(bags[3]) & set(bags[0])  # "late" and "refund" share no 2-3-gram
    assert len(bags[0]) == 1 + 7 + 6  # the word, "<r".."d>" (7 bigrams), 6 trigrams


def test_trie_regex_matches_like_a_longest_first_alternation():
    words = ["toy", "toy car", "toys", "tea", "t", "teapot"]
    trie = re.compile(rf"\b{trie_regex(words)}\b")
    flat = re.compile(r"\b(?:" + "|".join(sorted(words, key=len, reverse=True)) + r")\b")
    for text in ["a toy car and toys", "teapot tea t", "toyota", "my toy"]:
        assert [m.span() for m in trie.finditer(text)] == [m.span() for m in flat.finditer(text)]


@pytest.mark.parametrize("text", ["订单OL00012345等了3天，退款199元!!", "\n\t退款😡", "", "退 款"])
def test_char_tokenizer_fast_path_matches_the_spaced_path(zh_blank, text):
    # Texts without a space take a shortcut; the same text with a trailing space must not differ
    # in its tokens (the space only attaches to the last token).
    plain = [(t.text, t.whitespace_) for t in zh_blank(text)]
    spaced = [(t.text, t.whitespace_) for t in zh_blank(text + " ")]
    if plain:
        assert spaced[:-1] == plain[:-1]
        assert spaced[-1] == (plain[-1][0], " ")
    assert zh_blank(text).text == text


def test_char_tokenizer_shortcuts_split_like_the_token_regex(zh_blank):
    from nlp.tokenizers import _TOKEN
    from simulator.ticket_text import synthetic_tickets

    texts = synthetic_tickets(400, seed=2)["text"].tolist()
    texts += ["退款\n\t199元refund😡", "OL123退款abc", "\r\n", "纯中文没有字母", "a\u00a0b"]
    for text in texts:
        text = text.replace(" ", "")
        assert [t.text for t in zh_blank(text)] == _TOKEN.findall(text), text


@pytest.fixture(scope="module")
def en_blank():
    register_components()
    return spacy.blank(
        "en", config={"nlp": {"tokenizer": {"@tokenizers": "orderlens.WordTokenizer.v1"}}}
    )


@pytest.mark.parametrize(
    "text", ["", " ", "  a", "Where's OL00012345?  Late by 3 days!! ", "\n\tx 😡", "a b", "a\n b"]
)
def test_word_tokenizer_keeps_the_text(en_blank, text):
    assert en_blank(text).text == text


def test_word_tokenizer_splits_words_and_single_characters(en_blank):
    words = [t.text for t in en_blank("I don't want it, refund $19.99 now!!")]
    assert words == ["I", "don't", "want", "it", ",", "refund", "$", "19", ".", "99", "now",
                     "!", "!"]  # fmt: skip


@pytest.mark.parametrize(
    "text",
    ["", " ", "a ", "a  ", "  a  b   ", "a\n b", "don't  stop!!", "x_y z", "\u00a0a", "é😊 1.5"],
)
def test_word_tokenizer_splits_as_its_pattern_does(text):
    # The fast path (split at spaces, whole words by isalnum) gives the pattern's own tokens.
    from nlp.tokenizers import WordTokenizer, ZhCharTokenizer

    tokenizer = WordTokenizer(spacy.blank("en").vocab)
    doc, reference = tokenizer(text), ZhCharTokenizer.__call__(tokenizer, text)
    assert [(t.text, t.whitespace_) for t in doc] == [(t.text, t.whitespace_) for t in reference]
    assert doc.text == text
