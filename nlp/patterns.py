"""Entity patterns for tickets (ORDER_REF, MONEY, DURATION, DATE, PRODUCT) and the component
that applies them.

The patterns are regular expressions over the text, not token patterns: jieba's word boundaries
do not follow entity boundaries ("12日买" is one token, "RMB299" is one English token), so a
token-level ``entity_ruler`` misses half of the Chinese entities. Matches are snapped to tokens with
``Doc.char_span(alignment_mode="expand")``. The pattern table is a registered function with a
versioned name (``orderlens.ticket_patterns.v2``) so a saved pipeline says which table it used.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans, registry

from nlp.quantities import EN_DATES, EN_DURATION, MONEY, ZH_DATES, ZH_DURATION

ENTITY_LABELS = ("MONEY", "DATE", "DURATION", "ORDER_REF", "PRODUCT")
"""Entity labels in priority order: an earlier label wins a character range."""

_ORDER_REF = (
    r"(?<![A-Za-z0-9])(?:#[A-Za-z]{0,4}[-_]?|(?!(?:rmb|cny|usd|eur|gbp))[A-Za-z]{1,4}[-_]?)\d{5,}(?!\d)"
    # A bare number is an order reference only right after the word for it.
    r"|(?:订单号?|单号|order\s*(?:no\.?|number|id)?)\s*[:：#]?\s*(?P<ent>\d{6,})(?!\d)"
)
# Gates: what a text must contain for a pattern to have any chance (a cheap search that spares
# most texts the full pattern). Each is implied by its pattern, so matches do not change.
_MONEY_GATE = r"[¥￥元块$€£]|rmb|cny|yuan|usd|eur|gbp|dollar|pound|美元|欧元|英镑"
_EN_MONTH_GATE = r"jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
_ORDER_REF_GATE = r"\d{5}"
_ZH_DURATION_GATE = r"小时|钟头|分钟|天|周|星期|礼拜|月|年"
_EN_DURATION_GATE = r"\d\s?h|min|hour|day|week|wk|month|year|yr"


@registry.misc("orderlens.ticket_patterns.v2")
@registry.misc("orderlens.ticket_patterns.v1")  # pipelines saved before v2 read the same table
def ticket_patterns(lang: str) -> list[dict[str, str]]:
    """The pattern table for one language: ``[{"label": ..., "pattern": regex}, ...]``.

    Args:
        lang: a language code; ``zh`` gets the Chinese table (with English durations, which
            Chinese tickets mix in), every other language the English one (digits, currency
            signs and order numbers read the same in any language).

    Returns:
        Patterns in priority order (see :data:`ENTITY_LABELS`): ``{"label", "pattern"}`` for a
        regex (matched on the lower-cased text) or ``{"label", "phrase"}`` for a catalogue word.
        A regex may come with a ``gate``: a regex that every text the pattern matches contains
        (only a speed-up: texts without it are not searched with the pattern). Money, duration
        and date patterns are :mod:`nlp.quantities`' (their groups give the values).
    """
    if lang == "zh":
        dates = list(zip(ZH_DATES, ("月", "-|/"), strict=True))
        durations = [(ZH_DURATION, _ZH_DURATION_GATE), (EN_DURATION, _EN_DURATION_GATE)]
    else:
        dates = list(zip(EN_DATES, (_EN_MONTH_GATE, _EN_MONTH_GATE, "-|/", "/"), strict=True))
        durations = [(EN_DURATION, _EN_DURATION_GATE)]
    patterns = [{"label": "MONEY", "pattern": MONEY, "gate": _MONEY_GATE}]
    patterns += [{"label": "DATE", "pattern": p, "gate": g} for p, g in dates]
    patterns += [{"label": "DURATION", "pattern": p, "gate": g} for p, g in durations]
    patterns.append({"label": "ORDER_REF", "pattern": _ORDER_REF, "gate": _ORDER_REF_GATE})
    patterns += [{"label": "PRODUCT", "phrase": word} for word in _product_words(lang)]
    return patterns


ticket_patterns_v1 = ticket_patterns  # the name tests and older callers use


def _product_words(lang: str) -> list[str]:
    # The catalogue's product words, shipped as data with the package (the demo's catalogue); a
    # shop replaces nlp/data/product_words.json with its own.
    words = sorted({w for per_lang in product_words().values() for w in per_lang.get(lang, ())})
    if lang == "en":
        words += [w + suffix for w in words for suffix in ("s", "es")]
    return words


@dataclass(frozen=True)
class _Gate:
    """A gate regex ``a|b|[xy]|...`` read as the plain words among its alternatives, looked for
    with ``in`` (a C substring search: ~0.2 µs a word on a review, where Python's regex engine
    tries every alternative at every character, ~6 µs), and one regex of the rest. Passes
    exactly when the gate regex would find something."""

    words: tuple[str, ...]
    rest: re.Pattern[str] | None

    @classmethod
    def compile(cls, gate: str) -> _Gate:
        if "(" in gate or "\\|" in gate:  # not a flat alternation: the regex as it is
            return cls((), re.compile(gate))
        alternatives = gate.split("|")
        words = tuple(a for a in alternatives if a and re.escape(a) == a)
        others = [a for a in alternatives if a not in words]
        return cls(words, re.compile("|".join(others)) if others else None)

    def passes(self, text: str) -> bool:
        """Whether ``text`` contains one of the gate's alternatives."""
        for word in self.words:
            if word in text:
                return True
        return self.rest is not None and self.rest.search(text) is not None


@dataclass(frozen=True)
class _Pattern:
    label: str
    regex: re.Pattern[str]
    gate: _Gate | None = None
    group: str | int = 0  # the group that is the entity ("ent" when the pattern names one)


_DIGIT = re.compile(r"\d")
_NEEDS_DIGIT = {"MONEY", "DATE", "ORDER_REF"}  # durations may be words ("half an hour")


class TicketEntities:
    """Pipeline component: finds pattern matches in ``doc.text`` and sets them as ``doc.ents``.

    Speed (≈10 µs a ticket): the text is lower-cased once; patterns that need a digit are
    skipped for text without one; catalogue words become one trie-shaped alternation (a flat
    alternation of ~400 words is tried word by word at every character and cost ~4x more).
    """

    def __init__(self, patterns: list[dict[str, str]], *, spaced: bool = True) -> None:
        order = {label: i for i, label in enumerate(ENTITY_LABELS)}
        ranked = sorted(patterns, key=lambda p: order.get(p["label"], len(order)))
        self.patterns: list[_Pattern] = []
        phrases: dict[str, list[str]] = {}
        gates: dict[str, _Gate] = {}  # patterns share gates (the month names): one object each
        for p in ranked:
            if "phrase" in p:
                phrases.setdefault(p["label"], []).append(p["phrase"].lower())
            else:
                regex = re.compile(p["pattern"])
                gate = (
                    gates.setdefault(p["gate"], _Gate.compile(p["gate"])) if p.get("gate") else None
                )
                group = "ent" if "ent" in regex.groupindex else 0
                self.patterns.append(_Pattern(p["label"], regex, gate, group))
        for label, words in phrases.items():
            alternatives = trie_regex(words)
            regex = rf"\b{alternatives}\b" if spaced else alternatives
            self.patterns.append(_Pattern(label, re.compile(regex)))

    def __call__(self, doc: Doc) -> Doc:
        # Doc.text joins every token in Python: callers that hold the raw text use set_entities.
        return self.set_entities(doc, doc.text)

    def find(self, raw: str) -> list[tuple[str, re.Match[str]]]:
        """Every entity in ``raw`` as ``(label, match)``, in priority order, none overlapping a
        higher-priority one. Matches are on the lower-cased text (``match.string``); the
        entity is ``match.span("ent")`` when the pattern names it, else the whole match."""
        text = raw.lower()
        if len(text) != len(raw):  # a few characters change length when lower-cased
            text = raw
        has_digit = _DIGIT.search(text) is not None
        taken = bytearray(len(text))  # characters claimed by a higher-priority label
        found: list[tuple[str, re.Match[str]]] = []
        gates: dict[int, bool] = {}  # patterns share gates (the month names)
        for pattern in self.patterns:
            if not has_digit and pattern.label in _NEEDS_DIGIT:
                continue
            if pattern.gate is not None:
                passed = gates.get(id(pattern.gate))
                if passed is None:
                    passed = gates[id(pattern.gate)] = pattern.gate.passes(text)
                if not passed:
                    continue
            for match in pattern.regex.finditer(text):
                start, end = _span(match, pattern.group)
                if start == end or any(taken[start:end]):
                    continue
                taken[start:end] = b"\x01" * (end - start)
                found.append((pattern.label, match))
        return found

    def set_entities(self, doc: Doc, raw: str) -> Doc:
        """Set ``doc.ents`` from the pattern matches in ``raw``, the text ``doc`` was made from."""
        spans: list[Span] = []
        for label, match in self.find(raw):
            start, end = _span(match, "ent" if "ent" in match.re.groupindex else 0)
            span = doc.char_span(start, end, label=label, alignment_mode="expand")
            if span is not None:
                spans.append(span)
        if spans:
            # What the ``doc.ents`` setter does, minus rebuilding every span it is handed.
            doc.set_ents(filter_spans(spans), default="outside")
        return doc


def _span(match: re.Match[str], group: str | int) -> tuple[int, int]:
    start, end = match.span(group)
    return match.span() if start < 0 else (start, end)


def trie_regex(words: list[str]) -> str:
    """One non-capturing group matching any of ``words``, longest match first, factored as a
    prefix trie so the regex engine rejects most positions after one character."""
    trie: dict = {}
    for word in set(words):
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _trie_to_regex(trie)


def _trie_to_regex(node: dict) -> str:
    ends_here = "" in node
    branches = [re.escape(c) + _trie_to_regex(child) for c, child in sorted(node.items()) if c]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    # Greedy "?" keeps the longest match first, as a longest-first alternation did.
    if ends_here:
        return f"(?:{body})?" if len(branches) > 1 or len(body) > 1 else f"{body}?"
    return body


@Language.factory(
    "orderlens_ticket_entities",
    default_config={"patterns": {"@misc": "orderlens.ticket_patterns.v2", "lang": "en"}},
)
def make_ticket_entities(
    nlp: Language, name: str, patterns: list[dict[str, str]]
) -> TicketEntities:
    """Factory for :class:`TicketEntities` (``factory = "orderlens_ticket_entities"`` in config)."""
    return TicketEntities(patterns, spaced=nlp.lang != "zh")


@functools.cache
def product_words() -> dict[str, dict[str, tuple[str, ...]]]:
    """The product catalogue's words per category and language (``nlp/data/product_words.json``)."""
    raw = json.loads((Path(__file__).with_name("data") / "product_words.json").read_text("utf-8"))
    return {cat: {lang: tuple(ws) for lang, ws in per.items()} for cat, per in raw.items()}
