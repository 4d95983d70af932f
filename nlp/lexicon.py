"""Sentiment without labels: a lexicon and a few rules (negation, intensifiers, contrast).

The untrained default for any language that has a lexicon (``nlp/data/sentiment/<code>.json``;
English and Chinese ship with the package). Every term is found longest first, so "不错" (good)
is read before its "错" (wrong), "没问题" is the negator "没" before "问题", and "not bad" is
"not" before "bad". Languages written with spaces are read word by word: the text is split into
words and symbols and each word is looked up in a table of the terms that start with it (a real
English review: ~22 µs CPU, where one regular expression of every term, tried at every
character, cost ~40 µs; shared machine, load ~16). Languages written without spaces are read by
one trie-shaped regular expression. Walking the terms found in order:

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
from typing import NamedTuple

from nlp.patterns import trie_regex

LEXICON_DIR = Path(__file__).with_name("data") / "sentiment"
SMOOTHING = 1.0
"""Weight added to the denominator: one weak word is not a certainty."""
NEGATION_WEIGHT = 0.75
"""A negated term counts this much of its weight, with the opposite sign."""
CONTRAST_WEIGHT = 0.5
"""What came before a contrast word ("but") counts this much."""
REACH = {"spaced": 3, "unspaced": 4}
"""How far a negator or intensifier reaches forward to its sentiment term: three words (or
symbols) between them in a language written with spaces ("not at all the best"), four characters
in Chinese ("不是很好")."""

_SENTIMENT = {"positive": 1.0, "negative": -1.0}


_WORD_OR_SYMBOL = re.compile(r"[\w']+|[^\w\s]|\n")
"""How a language written with spaces is read: words (with their apostrophes: "don't"), and
every other character that is not a space alone (punctuation, emoji). The terms are split the
same way, so a term matches whole words, as a regular expression guarded by word edges would."""


class Reading(NamedTuple):
    """What a lexicon found in one text (a tuple: one is made per text scored)."""

    positive: float
    negative: float
    urgent_terms: int
    """Distinct urgency terms ("asap", "马上")."""

    @property
    def polarity(self) -> float:
        """``(P − N) / (P + N + 1)`` in [-1, 1] (0: no sentiment term found)."""
        return (self.positive - self.negative) / (self.positive + self.negative + SMOOTHING)


@dataclass(frozen=True)
class Lexicon:
    """A language's sentiment terms: a table of terms by first word (languages written with
    spaces) or one regular expression (languages written without)."""

    language: str
    terms: dict[str, tuple[str, float]]
    """term -> (kind, value): kind is positive/negative (value = weight), negator,
    intensifier/diminisher (value = multiplier), contrast, neutral, boundary or urgency."""
    regex: re.Pattern[str] | None
    """Every term, longest first (languages written without spaces; None for the others)."""
    reach: int
    urgency: re.Pattern[str] | None = None
    """Words that make a text urgent ("asap", "马上"): urgency, not sentiment (languages written
    without spaces; the others find them in ``by_first_word``)."""
    by_first_word: dict[str, tuple[tuple[tuple[str, ...], str], ...]] | None = None
    """Languages written with spaces: first word -> ``(words of the term, term)``, longest
    first."""
    urgent_terms: frozenset[str] = frozenset()
    """Languages written with spaces: the urgency terms (a term may also carry sentiment)."""

    def polarity(self, text: str) -> float:
        """Sentiment of ``text`` in [-1, 1] (0: no sentiment term found)."""
        return self.read(text).polarity

    def weights(self, text: str) -> tuple[float, float]:
        """The positive and the negative weight found in ``text`` (both ≥ 0)."""
        reading = self.read(text)
        return reading.positive, reading.negative

    def read(self, text: str) -> Reading:
        """The positive and negative weight and the urgency terms found in ``text``."""
        positive = negative = 0.0
        negated, multiplier, modifier_end = False, 1.0, -1
        terms, reach, urgent_terms = self.terms, self.reach, self.urgent_terms
        urgent: set[str] = set()
        for term, start, end in self._found(_normalise(text)):
            kind, value = terms[term]
            if kind in _SENTIMENT:
                weight, sign = value, _SENTIMENT[kind]
                if modifier_end >= 0 and start - modifier_end <= reach:
                    weight *= multiplier
                    if negated:
                        sign, weight = -sign, weight * NEGATION_WEIGHT
                if sign > 0:
                    positive += weight
                else:
                    negative += weight
                negated, multiplier, modifier_end = False, 1.0, -1
            elif kind == "negator":
                negated, modifier_end = not negated, end
            elif kind == "intensifier" or kind == "diminisher":
                multiplier, modifier_end = multiplier * value, end
            elif kind == "contrast":
                positive, negative = positive * CONTRAST_WEIGHT, negative * CONTRAST_WEIGHT
                negated, multiplier, modifier_end = False, 1.0, -1
            elif kind == "boundary":
                negated, multiplier, modifier_end = False, 1.0, -1
            # neutral terms only stop a longer-looking word being read as a shorter one
            if urgent_terms and term in urgent_terms:
                urgent.add(term)
        if self.urgency is not None:
            urgent.update(self.urgency.findall(text.lower()))
        return Reading(positive, negative, len(urgent))

    def _found(self, text: str) -> list[tuple[str, int, int]]:
        """The terms in normalised ``text`` in order, longest first, none overlapping:
        ``(term, start, end)`` in words (spaced) or characters (unspaced), ``end`` exclusive."""
        if self.regex is not None:
            return [(m[0], *m.span()) for m in self.regex.finditer(text)]
        words = _words(text)
        table = self.by_first_word
        found, after = [], 0
        for i in [i for i, word in enumerate(words) if word in table]:  # few words are terms
            if i < after:  # inside a longer term already found
                continue
            for parts, term in table[words[i]]:
                if len(parts) == 1 or tuple(words[i : i + len(parts)]) == parts:
                    after = i + len(parts)  # end: the word after the term's last
                    found.append((term, i, after))
                    break
        return found


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
    urgency = [_normalise(word) for word in raw.get("urgency", [])]
    if language in UNSPACED_LANGUAGES:
        return Lexicon(
            language=language,
            terms=terms,
            regex=re.compile(trie_regex(list(terms))),
            reach=REACH["unspaced"],
            urgency=re.compile(trie_regex(urgency)) if urgency else None,
        )
    for word in urgency:  # a word that is both keeps its sentiment (and is not urgent)
        terms.setdefault(word, ("urgency", 0.0))
    return Lexicon(
        language=language,
        terms=terms,
        regex=None,
        reach=REACH["spaced"],
        by_first_word=_by_first_word(terms),
        urgent_terms=frozenset(urgency),
    )


UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo"})
"""Languages written without spaces between words: terms match anywhere, not on word edges."""


def _words(text: str) -> list[str]:
    """``_WORD_OR_SYMBOL.findall(text)``, ~2x faster: the text split at spaces in C, each piece
    that is one word (``str.isalnum``) taken whole, the pattern only on the other pieces."""
    words: list[str] = []
    for piece in text.split(" "):
        if piece.isalnum():
            words.append(piece)
        elif piece:
            words.extend(_WORD_OR_SYMBOL.findall(piece))
    return words


def _by_first_word(
    terms: dict[str, tuple[str, float]],
) -> dict[str, tuple[tuple[tuple[str, ...], str], ...]]:
    table: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for term in terms:
        parts = tuple(_WORD_OR_SYMBOL.findall(term))
        if parts:
            table.setdefault(parts[0], []).append((parts, term))
    return {
        first: tuple(sorted(entries, key=lambda entry: -len(entry[0])))
        for first, entries in table.items()
    }


def _normalise(text: str) -> str:
    return text.lower().replace("\u2019", "'").replace("\uff07", "'")
