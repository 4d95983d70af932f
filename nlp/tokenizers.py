"""Tokenizers registered under versioned names for ``nlp/config.cfg``.

``orderlens.ZhCharTokenizer.v1`` splits Chinese text into single characters (digits too) and
keeps runs of Latin letters ("refund", "OL") as one token. Digits one by one: every order number
as one token would add a new lexeme to the vocabulary per ticket (a third of the tokenizer's time,
and a vocabulary that grows for as long as a service runs). With the bag-of-n-grams classifier
(``ngram_size`` 2–3) the features are character bigrams and trigrams, which is what Chinese text
classifiers usually use: a paraphrase the model never saw still shares most of its bigrams with the
training sentences ("退钱"/"退款", "延误"/"延迟"), while jieba's whole words change with the wording
and with its segmentation mistakes. It is also ~5x faster than jieba (plain ``re``, no dictionary)
and entity matches snap to exact character boundaries.

``orderlens.WordTokenizer.v1`` reads languages written with spaces: runs of letters and digits
(with inner apostrophes: "don't", "it's"), and every other non-space character alone. spaCy's
rule tokenizer splits prefixes, suffixes and infixes with a dozen regular expressions per chunk
and only caches the result outside a memory zone, so long real reviews cost ~400 µs each cold
and ~60 µs warm; this is one ``re.findall`` (~40 µs with the Doc), the same in or out of a zone,
and for a bag of n-grams with subwords the finer splits ("do" + "n't") add nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from spacy.tokens import Doc
from spacy.util import registry
from spacy.vocab import Vocab

_TOKEN = re.compile(r"[A-Za-z]+|[^\S ]+| +|.", re.DOTALL)
_WORD_TOKEN = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*|[^\S ]+| +|.", re.DOTALL)


class ZhCharTokenizer:
    """Callable ``text -> Doc``: one token per character (Chinese, digit, punctuation), one per
    run of Latin letters; single spaces become ``token.whitespace_``."""

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab

    pattern = _TOKEN
    spaced_pattern = re.compile(f"({_TOKEN.pattern})( ?)", re.DOTALL)
    """A token and the single space after it (which becomes its ``whitespace_``)."""

    def __call__(self, text: str) -> Doc:
        if " " not in text:  # most Chinese tickets: every piece is a token, none has a space
            words = self.pattern.findall(text)
            return Doc(self.vocab, words=words, spaces=[False] * len(words))
        words, spaces = zip(*self.spaced_pattern.findall(text), strict=True)
        return Doc(self.vocab, words=list(words), spaces=list(map(bool, spaces)))

    def pipe(self, texts: Iterable[str], batch_size: int = 1000) -> Iterable[Doc]:
        """Tokenize a stream of texts."""
        for text in texts:
            yield self(text)

    # Nothing to save: the tokenizer is its code (and its registered name in the config).
    def to_bytes(self, **kwargs: Any) -> bytes:
        return b""

    def from_bytes(self, data: bytes, **kwargs: Any) -> ZhCharTokenizer:
        return self

    def to_disk(self, path: str | Path, **kwargs: Any) -> None:
        return None

    def from_disk(self, path: str | Path, **kwargs: Any) -> ZhCharTokenizer:
        return self


class WordTokenizer(ZhCharTokenizer):
    """Callable ``text -> Doc`` for languages written with spaces: one token per run of letters
    and digits (apostrophes inside a word kept), one per other character; single spaces become
    ``token.whitespace_``, so ``doc.text`` is the text."""

    pattern = _WORD_TOKEN
    spaced_pattern = re.compile(f"({_WORD_TOKEN.pattern})( ?)", re.DOTALL)

    def __call__(self, text: str) -> Doc:
        # The same tokens as ``spaced_pattern.findall`` (a token, and the single space after
        # it as its whitespace), ~2x faster on real reviews: the text is split at spaces in C
        # and most pieces are one word (``str.isalnum`` is exactly ``[^\W_]+``); only pieces
        # with punctuation go through the pattern. Spaces that follow a space make one token.
        words: list[str] = []
        spaces: list[bool] = []
        pieces = text.split(" ")
        last = len(pieces) - 1
        run = 0  # empty pieces in a row: spaces that are not a token's whitespace
        for i, piece in enumerate(pieces):
            if not piece:
                if i < last:
                    run += 1
                continue
            if run:
                words.append(" " * run)
                spaces.append(False)
                run = 0
            if piece.isalnum():
                words.append(piece)
            else:
                tokens = self.pattern.findall(piece)
                words.extend(tokens)
                spaces.extend([False] * (len(tokens) - 1))
            spaces.append(i < last)
        if run:
            words.append(" " * run)
            spaces.append(False)
        return Doc(self.vocab, words=words, spaces=spaces)


@registry.tokenizers("orderlens.WordTokenizer.v1")
def create_word_tokenizer() -> Callable[[Any], WordTokenizer]:
    """Factory for ``[nlp.tokenizer] @tokenizers = "orderlens.WordTokenizer.v1"``: the tokenizer
    of languages written with spaces (``nlp/config.cfg``'s default)."""

    def make_tokenizer(nlp: Any) -> WordTokenizer:
        return WordTokenizer(nlp.vocab)

    return make_tokenizer


@registry.tokenizers("orderlens.CharTokenizer.v1")
@registry.tokenizers("orderlens.ZhCharTokenizer.v1")  # the name pipelines were saved with first
def create_zh_char_tokenizer() -> Callable[[Any], ZhCharTokenizer]:
    """Factory for ``[nlp.tokenizer] @tokenizers = "orderlens.CharTokenizer.v1"``: the
    tokenizer of Chinese, of other languages written without spaces and of the
    language-agnostic pipeline (character n-grams for any script)."""

    def make_tokenizer(nlp: Any) -> ZhCharTokenizer:
        return ZhCharTokenizer(nlp.vocab)

    return make_tokenizer
