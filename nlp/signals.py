"""One function turns a processed ticket ``Doc`` into signals: intents, entities, urgency,
sentiment. Lexicons are small and per language; scores are documented formulas, not models."""

from __future__ import annotations

import functools
import math
import re
from typing import Any

from spacy.tokens import Doc

from nlp.patterns import trie_regex
from orderlens.intents import INTENT_NAMES

COMPLAINT_INTENTS = ("delay_complaint", "damaged_item", "wrong_or_missing_item", "refund_request")
URGENCY_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("urgent", "asap", "immediately", "right now", "today", "hurry", "emergency",
           "unacceptable", "still", "again", "now"),
    "zh": ("急", "马上", "立刻", "立即", "尽快", "赶紧", "今天", "到底", "还没", "又", "快点"),
}  # fmt: skip
POSITIVE_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("thank", "thanks", "great", "excellent", "love", "happy", "awesome", "satisfied",
           "friendly", "perfect", "quick", "well done", "best"),
    "zh": ("谢谢", "感谢", "满意", "很好", "好评", "点赞", "很棒", "热情", "超快", "五星", "完好"),
}  # fmt: skip
NEGATIVE_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("unacceptable", "disappointed", "terrible", "broken", "damaged", "wrong", "missing",
           "late", "delay", "frustrating", "annoying", "worst", "slow", "ruined", "cracked"),
    "zh": ("太差", "失望", "不满", "坏", "破损", "错", "少了", "延误", "太慢", "不像话", "投诉",
           "什么服务", "碎", "漏"),
}  # fmt: skip
NEGATIVE_EMOJI = ("😡", "😤", "😭")
POSITIVE_EMOJI = ("😊", "👍", "🙂")
_LETTER = re.compile(r"[^\W\d_]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
_ASCII_UPPER = re.compile(r"[A-Z]")
_REPEATED_PUNCT = re.compile(r"[!?！？]{2,}")
_EMOJI = re.compile("|".join(map(re.escape, POSITIVE_EMOJI + NEGATIVE_EMOJI)))
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
                 "seven": 7, "eight": 8, "nine": 9, "ten": 10, "few": 3, "several": 3,
                 "一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
                 "九": 9, "十": 10, "半": 0.5, "几": 3}  # fmt: skip
_UNIT_HOURS = (("小时", 1), ("钟头", 1), ("hour", 1), ("hr", 1), ("个月", 720), ("month", 720),
               ("周", 168), ("星期", 168), ("礼拜", 168), ("week", 168), ("天", 24), ("day", 24))  # fmt: skip
_NUMBER = re.compile(r"\d+(?:\.\d+)?|[a-z]+|[一二两三四五六七八九十半几]+", re.I)
_DIGITS = re.compile(r"\d(?:[\d,]*\d)?(?:\.\d+)?")
_INTENT_COLUMNS = tuple(f"intent_{name}" for name in INTENT_NAMES)


def doc_to_signals(doc: Doc, *, threshold: float = 0.5, text: str | None = None) -> dict[str, Any]:
    """Signals of one processed ticket.

    Args:
        doc: a Doc that went through the ticket pipeline (``doc.cats``, ``doc.ents``).
        threshold: probability above which an intent counts as present.
        text: the doc's text when the caller has it (``Doc.text`` rebuilds it token by token).

    Returns:
        ``intent_<name>`` probabilities (0 for text with no words), ``intents`` (``|``-joined
        names above threshold), ``order_ref``, ``amount`` (yuan), ``duration_hours``, ``date``,
        ``product`` (first mention each, None/NaN when absent), ``urgency`` in [0, 1] and
        ``sentiment`` in [-1, 1].
    """
    text = doc.text if text is None else text
    has_words = _LETTER.search(text) is not None
    scores, lang = doc.cats, doc.lang_  # read once: both are Python-level lookups on the Doc
    if has_words:
        cats = {name: float(scores.get(name, 0.0)) for name in INTENT_NAMES}
    else:
        cats = dict.fromkeys(INTENT_NAMES, 0.0)
    entities: dict[str, str] = {}
    for ent in doc.ents:
        if ent.label_ not in entities:  # the first mention; sliced from the raw text
            entities[ent.label_] = text[ent.start_char : ent.end_char]
    duration_hours = parse_duration_hours(entities.get("DURATION"))
    signals: dict[str, Any] = dict(zip(_INTENT_COLUMNS, cats.values(), strict=True))
    signals["intents"] = "|".join(name for name, p in cats.items() if p >= threshold)
    signals["order_ref"] = entities.get("ORDER_REF")
    signals["amount"] = parse_amount(entities.get("MONEY"))
    signals["duration_hours"] = duration_hours
    signals["date"] = entities.get("DATE")
    signals["product"] = entities.get("PRODUCT")
    if has_words:
        lowered = text.lower()  # once for both scores
        signals["urgency"] = urgency_score(text, lang, cats, duration_hours, lowered=lowered)
        signals["sentiment"] = sentiment_score(text, lang, cats, lowered=lowered)
    else:
        signals["urgency"] = signals["sentiment"] = 0.0
    return signals


def urgency_score(
    text: str,
    lang: str,
    cats: dict[str, float],
    duration_hours: float,
    *,
    lowered: str | None = None,
) -> float:
    """Urgency in [0, 1]: 1 − Π(1 − evidence) over independent pieces of evidence.

    Evidence: urgency words (0.35 each, at most two), repeated ``!!``/``？？`` (0.3), shouting in
    capitals (0.3), a waited duration (0.15 per day waited beyond one, at most 0.45) and the
    strongest complaint intent (× 0.4). ``lowered`` is ``text.lower()`` when the caller has it.
    """
    lowered = text.lower() if lowered is None else lowered
    hits = len(set(_lexicon(lang, "urgency").findall(lowered)))
    # Shouting needs > 70% capitals among >= 8 letters, so at least 6 capitals: most texts have
    # fewer, and the letters are then not counted at all.
    upper = len(_ASCII_UPPER.findall(text))
    if upper >= 6:
        letters = len(_ASCII_LETTER.findall(text))
        shouting = letters >= 8 and upper / letters > 0.7
    else:
        shouting = False
    days = 0.0 if math.isnan(duration_hours) else duration_hours / 24
    evidence = [
        0.35 * min(hits, 2),
        0.3 if _REPEATED_PUNCT.search(text) else 0.0,
        0.3 if shouting else 0.0,
        min(0.45, 0.15 * max(0.0, days - 1)),
        0.4 * max(cats[name] for name in COMPLAINT_INTENTS),
    ]
    calm = 1.0
    for value in evidence:
        calm *= 1.0 - min(value, 0.95)
    return round(1.0 - calm, 4)


def sentiment_score(
    text: str, lang: str, cats: dict[str, float], *, lowered: str | None = None
) -> float:
    """Sentiment in [-1, 1]: lexicon balance (positive − negative words and emoji over their
    total + 1) blended half-and-half with the praise vs strongest complaint probability.
    ``lowered`` is ``text.lower()`` when the caller has it."""
    text = text.lower() if lowered is None else lowered
    positive = len(_lexicon(lang, "positive").findall(text))
    negative = len(_lexicon(lang, "negative").findall(text))
    if not text.isascii():  # emoji: one scan for all of them, and none in plain ASCII text
        for emoji in _EMOJI.findall(text):
            if emoji in POSITIVE_EMOJI:
                positive += 1
            else:
                negative += 1
    lexicon = (positive - negative) / (positive + negative + 1)
    intents = cats["praise"] - max(cats[name] for name in COMPLAINT_INTENTS)
    return round(max(-1.0, min(1.0, 0.5 * lexicon + 0.5 * intents)), 4)


@functools.cache
def _lexicon(lang: str, kind: str) -> re.Pattern[str]:
    """One compiled alternation per lexicon; English words match on word boundaries."""
    table = {"urgency": URGENCY_WORDS, "positive": POSITIVE_WORDS, "negative": NEGATIVE_WORDS}[kind]
    words = table.get(lang, table["en"])
    if lang == "en":
        alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        return re.compile(rf"\b(?:{alternatives})")
    # Chinese has no word boundary to anchor on: a trie-shaped alternation rejects most
    # positions after one character (3 -> 0.6 us a lexicon on a ticket; no faster for English).
    return re.compile(trie_regex(list(words)))


def parse_amount(text: str | None) -> float:
    """The number in a MONEY mention (``¥1,299`` → 1299.0); NaN when absent."""
    if not text:
        return math.nan
    match = _DIGITS.search(text)
    return float(match.group().replace(",", "")) if match else math.nan


def parse_duration_hours(text: str | None) -> float:
    """A DURATION mention in hours (``3 days`` → 72, ``两周`` → 336, ``72小时`` → 72); NaN when
    absent or unreadable."""
    if not text:
        return math.nan
    lowered = text.lower()
    unit = next((hours for name, hours in _UNIT_HOURS if name in lowered), None)
    match = _NUMBER.search(lowered)
    if unit is None or match is None:
        return math.nan
    token = match.group()
    if token[0].isdigit():
        count = float(token)
    elif token in _NUMBER_WORDS:
        count = float(_NUMBER_WORDS[token])
    else:
        count = _zh_number(token)
    return count * unit


def _zh_number(token: str) -> float:
    # 十二 → 12, 二十 → 20, 两 → 2; anything else unreadable → NaN.
    if "十" in token:
        tens, _, ones = token.partition("十")
        return float(_NUMBER_WORDS.get(tens, 1) * 10 + _NUMBER_WORDS.get(ones, 0))
    value = _NUMBER_WORDS.get(token)
    return math.nan if value is None else float(value)
