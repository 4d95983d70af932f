"""Sentiment without labels: a lexicon and a few rules (negation, intensifiers, contrast).

The untrained default for any language that has a lexicon (``nlp/data/sentiment/<code>.json``;
English and Chinese ship with the package). One pass of one regular expression finds every term
of the lexicon, longest first, so "不错" (good) is read before its "错" (wrong), "没问题" is the
negator "没" before "问题", and "not bad" is "not" before "bad". Walking the matches in order:

- a negator flips the next sentiment term of the same clause (and weakens it: "not bad" is
  less positive than "good");
- an intensifier or a diminisher multiplies the next sentiment term ("very", "有点");
- a contrast word ("but", "但是") halves what came before it: the part after "but" is what the
  writer means;
- punctuation closes a clause: a negator does not reach past it.

The score is the balance of the positive and negative weight found, ``(P − N) / (P + N + 1)``.
It depends on *what share* of the sentiment words lean one way, not on how many words the text
has, so a long text is not pushed towards either end (repeating a text moves it at most by the
smoothing term), and a text with no sentiment word scores 0.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from nlp.patterns import trie_regex

LEXICON_DIR = Path(__file__).with_name("data") / "sentiment"
SMOOTHING = 1.0
"""Weight added to the denominator: one weak word is not a certainty."""
NEGATION_WEIGHT = 0.75
"""A negated term counts this much of its weight, with the opposite sign."""
CONTRAST_WEIGHT = 0.5
"""What came before a contrast word ("but") counts this much."""
REACH = {"spaced": 20, "unspaced": 4}
"""How many characters a negator or intensifier reaches forward to its sentiment term: about
three words in English, three characters in Chinese ("不是很好")."""

_SENTIMENT = {"positive": 1.0, "negative": -1.0}


@dataclass(frozen=True)
class Lexicon:
    """A language's sentiment terms, compiled into one regular expression."""

    language: str
    terms: dict[str, tuple[str, float]]
    """term -> (kind, value): kind is positive/negative (value = weight), negator,
    intensifier/diminisher (value = multiplier), contrast, neutral or boundary."""
    regex: re.Pattern[str]
    reach: int
    urgency: re.Pattern[str] | None = None
    """Words that make a text urgent ("asap", "马上"): urgency, not sentiment."""

    def polarity(self, text: str) -> float:
        """Sentiment of ``text`` in [-1, 1] (0: no sentiment term found)."""
        positive, negative = self.weights(text)
        return (positive - negative) / (positive + negative + SMOOTHING)

    def weights(self, text: str) -> tuple[float, float]:
        """The positive and the negative weight found in ``text`` (both ≥ 0)."""
        positive = negative = 0.0
        negated, multiplier, modifier_end = False, 1.0, -1
        terms, reach = self.terms, self.reach
        for match in self.regex.finditer(_normalise(text)):
            kind, value = terms[match.group()]
            if kind in _SENTIMENT:
                weight, sign = value, _SENTIMENT[kind]
                if modifier_end >= 0 and match.start() - modifier_end <= reach:
                    weight *= multiplier
                    if negated:
                        sign, weight = -sign, weight * NEGATION_WEIGHT
                if sign > 0:
                    positive += weight
                else:
                    negative += weight
                negated, multiplier, modifier_end = False, 1.0, -1
            elif kind == "negator":
                negated, modifier_end = not negated, match.end()
            elif kind == "intensifier" or kind == "diminisher":
                multiplier, modifier_end = multiplier * value, match.end()
            elif kind == "contrast":
                positive, negative = positive * CONTRAST_WEIGHT, negative * CONTRAST_WEIGHT
                negated, multiplier, modifier_end = False, 1.0, -1
            elif kind == "boundary":
                negated, multiplier, modifier_end = False, 1.0, -1
            # neutral terms only stop a longer-looking word being read as a shorter one
        return positive, negative


def available_languages() -> tuple[str, ...]:
    """Language codes that have a lexicon."""
    return tuple(sorted(path.stem for path in LEXICON_DIR.glob("*.json")))


@functools.lru_cache(maxsize=64)  # bounded: language codes come from the data
def load_lexicon(language: str) -> Lexicon | None:
    """The lexicon of ``language`` (a primary code such as ``en``), or None when there is none."""
    path = LEXICON_DIR / f"{language}.json"
    if not path.is_file():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    terms: dict[str, tuple[str, float]] = {}
    # Later kinds do not overwrite earlier ones: a word listed twice keeps its first meaning.
    for kind in ("positive", "negative", "neutral", "intensifiers", "diminishers"):
        for term, value in raw.get(kind, {}).items():
            terms.setdefault(_normalise(term), (kind.rstrip("s"), float(value)))
    for kind in ("negators", "contrast", "boundaries"):
        for term in raw.get(kind, []):
            terms.setdefault(
                _normalise(term), (kind.rstrip("s").replace("boundarie", "boundary"), 0.0)
            )
    spaced = language not in UNSPACED_LANGUAGES
    urgency = [_normalise(word) for word in raw.get("urgency", [])]
    return Lexicon(
        language=language,
        terms=terms,
        regex=_compile(list(terms), spaced=spaced),
        reach=REACH["spaced" if spaced else "unspaced"],
        urgency=_compile(urgency, spaced=spaced) if urgency else None,
    )


UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo"})
"""Languages written without spaces between words: terms match anywhere, not on word edges."""


def _compile(terms: list[str], *, spaced: bool) -> re.Pattern[str]:
    if not spaced:
        return re.compile(trie_regex(terms))
    # A word or phrase matches whole: not preceded or followed by a letter or an apostrophe.
    # Terms without letters (punctuation boundaries, emoji) need no such guard.
    words = [term for term in terms if re.search(r"\w", term)]
    symbols = [term for term in terms if not re.search(r"\w", term)]
    pattern = rf"(?<![\w'])(?:{trie_regex(words)})(?![\w'])"
    if symbols:
        pattern += "|" + trie_regex(symbols)
    return re.compile(pattern)


def _normalise(text: str) -> str:
    return text.lower().replace("\u2019", "'").replace("\uff07", "'")
