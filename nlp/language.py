"""Language codes: normalised from whatever a shop writes, detected when missing.

Detection is by writing system first (Han → ``zh``, kana → ``ja``, Hangul → ``ko``, Cyrillic,
Arabic, Hebrew, Greek, Thai, Devanagari), then, for Latin script, by the commonest function
words of eight European languages. It is a router, not a linguist: its answer only chooses which
pipeline reads the text, and a language with no pipeline of its own is read by the
language-agnostic one. Measured in ``bench/bench_nlp.py`` (accuracy on the real reviews).
"""

from __future__ import annotations

import re

import pandas as pd

UNDETERMINED = "und"
"""ISO 639 "undetermined": no letters, or Latin script with no clue which language."""

_ALIASES = {"chinese": "zh", "english": "en", "cn": "zh", "cmn": "zh", "eng": "en", "zho": "zh"}
_SCRIPTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ja", re.compile(r"[\u3040-\u30ff]")),  # kana before Han: Japanese mixes both
    ("zh", re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")),
    ("ko", re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")),
    ("uk", re.compile(r"[їєґі]", re.IGNORECASE)),  # Ukrainian letters before plain Cyrillic
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("fa", re.compile(r"[پچژگ]")),  # Persian letters before plain Arabic script
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
)
_FUNCTION_WORDS = {
    "en": tuple(
        [
            "the",
            "and",
            "is",
            "it",
            "to",
            "my",
            "of",
            "was",
            "for",
            "not",
            "this",
            "you",
            "with",
            "have",
            "but",
            "are",
            "i",
        ]
    ),
    "fr": tuple(
        [
            "le",
            "la",
            "les",
            "et",
            "est",
            "un",
            "une",
            "des",
            "pas",
            "je",
            "mon",
            "ma",
            "pour",
            "avec",
            "que",
            "il",
            "ne",
            "du",
        ]
    ),
    "de": tuple(
        [
            "der",
            "die",
            "das",
            "und",
            "ist",
            "nicht",
            "ich",
            "mein",
            "ein",
            "eine",
            "mit",
            "zu",
            "den",
            "es",
            "sie",
            "auf",
        ]
    ),
    "es": tuple(
        [
            "el",
            "la",
            "los",
            "las",
            "y",
            "es",
            "un",
            "una",
            "no",
            "mi",
            "por",
            "para",
            "con",
            "que",
            "de",
            "se",
            "muy",
        ]
    ),
    "pt": tuple(
        [
            "o",
            "a",
            "os",
            "as",
            "e",
            "é",
            "um",
            "uma",
            "não",
            "meu",
            "minha",
            "para",
            "com",
            "que",
            "de",
            "do",
            "da",
            "muito",
        ]
    ),
    "it": tuple(
        [
            "il",
            "la",
            "gli",
            "le",
            "e",
            "è",
            "un",
            "una",
            "non",
            "mio",
            "mia",
            "per",
            "con",
            "che",
            "di",
            "del",
            "molto",
        ]
    ),
    "nl": tuple(
        [
            "de",
            "het",
            "een",
            "en",
            "is",
            "niet",
            "ik",
            "mijn",
            "van",
            "met",
            "voor",
            "dat",
            "op",
            "zijn",
            "te",
        ]
    ),
    "id": tuple(
        [
            "yang",
            "dan",
            "di",
            "ini",
            "itu",
            "tidak",
            "saya",
            "dengan",
            "untuk",
            "ke",
            "dari",
            "ada",
            "sudah",
        ]
    ),
}
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_WORD_LANGUAGES: dict[str, list[str]] = {}
for _lang, _words in _FUNCTION_WORDS.items():
    for _word in _words:
        _WORD_LANGUAGES.setdefault(_word, []).append(_lang)


def normalise_language(code: object) -> str | None:
    """A shop's language code → its primary subtag in lower case (``zh-CN`` → ``zh``,
    ``pt_BR`` → ``pt``, ``English`` → ``en``); None for missing or empty."""
    if code is None or (isinstance(code, float) and code != code):
        return None
    text = str(code).strip().lower()
    if not text or text in {"none", "nan", "null"}:
        return None
    primary = re.split(r"[-_\s]", text, maxsplit=1)[0]
    return _ALIASES.get(primary, primary)


DETECT_CHARS = 300
"""Characters read to detect a language: the opening of a text says as much as all of it."""


def detect_language(text: str) -> str:
    """The language a text is most likely written in (``und`` when there is no clue)."""
    text = text[:DETECT_CHARS]
    if not text.isascii():  # every script in the table is outside ASCII: one C check, not 11
        for code, script in _SCRIPTS:
            if script.search(text):
                return code
    if not _LATIN.search(text):
        return UNDETERMINED
    votes: dict[str, int] = {}
    known = _WORD_LANGUAGES
    for word in _words(text.lower()):
        languages = known.get(word)
        if languages:
            for lang in languages:
                votes[lang] = votes.get(lang, 0) + 1
    if votes:
        # Ties go to English, then to the order of the table: a shop's short tickets are more
        # often English than anything else that shares its function words.
        return max(votes, key=lambda lang: (votes[lang], lang == "en"))
    return "en" if text.isascii() else UNDETERMINED


def _words(text: str) -> list[str]:
    """``_WORD.findall(text)`` (runs of letters), ~2x faster on reviews: a piece between spaces
    that is all letters (``str.isalpha``) is one run; only the other pieces go through the
    pattern."""
    words: list[str] = []
    for piece in text.split():
        if piece.isalpha():
            words.append(piece)
        else:
            words.extend(_WORD.findall(piece))
    return words


def ticket_languages(texts: pd.Series, given: pd.Series | None = None) -> pd.Series:
    """Each text's language: the given code (normalised) where there is one, else detected."""
    if given is None:
        given = pd.Series(None, index=texts.index, dtype=object)
    codes = given.map(normalise_language)
    missing = codes.isna()
    if missing.any():
        codes[missing] = texts[missing].fillna("").astype(str).map(detect_language)
    return codes.astype(object)
