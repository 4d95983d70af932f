"""The untrained sentiment: negation, intensifiers, contrast and length in English and Chinese."""

from __future__ import annotations

import pytest

from nlp.lexicon import available_languages, load_lexicon

# text, language, sign of the polarity (+1 positive, -1 negative)
NEGATION_TABLE = [
    ("不错", "zh", 1),
    ("房间不错，服务也挺好", "zh", 1),
    ("没问题", "zh", 1),
    ("没有任何问题", "zh", 1),
    ("不太好", "zh", -1),
    ("不干净", "zh", -1),
    ("不满意", "zh", -1),
    ("不是很好", "zh", -1),
    ("错了", "zh", -1),
    ("很差", "zh", -1),
    ("差不多就这样", "zh", 0),
    ("位置不错，但是房间很旧很脏", "zh", -1),
    ("虽然有点贵，但是服务很好", "zh", 1),
    ("not bad", "en", 1),
    ("not bad at all", "en", 1),
    ("never arrived", "en", -1),
    ("not good", "en", -1),
    ("I don't love it", "en", -1),
    ("no problems at all", "en", 1),
    ("very good", "en", 1),
    ("not very good", "en", -1),
    ("love the color but it fell apart after one wash", "en", -1),
    ("a bit small but really comfortable", "en", 1),
    ("the parcel is 3 days late", "en", -1),
    ("it looks like a box", "en", 0),
]


@pytest.mark.parametrize(("text", "lang", "sign"), NEGATION_TABLE)
def test_negation_table(text, lang, sign):
    polarity = load_lexicon(lang).polarity(text)
    if sign == 0:
        assert polarity == 0, text
    else:
        assert polarity * sign > 0, (text, polarity)


@pytest.mark.parametrize(("plain", "strong", "lang"), [("good", "very good", "en"),
                                                        ("好", "非常好", "zh")])  # fmt: skip
def test_intensifiers_strengthen(plain, strong, lang):
    lexicon = load_lexicon(lang)
    assert lexicon.polarity(strong) > lexicon.polarity(plain) > 0


@pytest.mark.parametrize(
    ("text", "lang"),
    [("Lovely dress, but the zip broke.", "en"), ("房间干净，早餐一般，服务态度差。", "zh")],
)
def test_score_does_not_drift_with_length(text, lang):
    # The same text said five times is not five times more sure of itself.
    lexicon = load_lexicon(lang)
    once, five = lexicon.polarity(text), lexicon.polarity(" ".join([text] * 5))
    assert once * five > 0 and abs(five - once) < 0.15


def test_lexicons_ship_with_the_package():
    assert {"en", "zh"} <= set(available_languages())
    assert load_lexicon("xx-none") is None


def test_no_sentiment_word_scores_zero():
    assert load_lexicon("en").polarity("order OL123456 shipped on Tuesday") == 0


@pytest.mark.parametrize(
    ("text", "sign"),
    [
        ("I didn't find it flattering", -1),  # a negator reaches three words ahead
        ("not that I would ever say anything bad", -1),  # ... and no further
        ("so-so quality", -1),  # a hyphenated term is read whole, not as "so" + "so"
        ("it's not bad 👍", 1),
        ("Not\ngood", 1),  # a line break ends the negator's clause
    ],
)
def test_english_is_read_word_by_word(text, sign):
    polarity = load_lexicon("en").polarity(text)
    assert (polarity > 0) - (polarity < 0) == sign, (text, polarity)


def test_urgency_terms_are_counted_once_each():
    lexicon = load_lexicon("en")
    assert lexicon.read("URGENT please, urgent!! asap").urgent_terms == 2
    assert lexicon.read("Unacceptable delay").urgent_terms == 1  # also a sentiment term
    assert load_lexicon("zh").read("马上退款，马上").urgent_terms == 1
