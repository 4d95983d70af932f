"""Model architectures registered under versioned names for ``nlp/config.cfg``.

``orderlens.TextCatLowerBOW.v1`` is spaCy's ``TextCatBOW.v3`` reading lower-cased words instead
of the verbatim text, so "Thanks", "thanks" and "THANKS" are one feature (customers shout).
Its n-gram extraction also accepts empty documents: spaCy's own ``extract_ngrams`` raises
``IndexError: Out of bounds on buffer access`` on a doc with no tokens when ``ngram_size >= 2``
(thinc's ``ops.ngrams`` on an empty array), which takes the whole batch down.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from spacy.attrs import LOWER
from spacy.ml.models.textcat import resize_and_set_ref
from spacy.strings import hash_string
from spacy.util import registry
from thinc.api import Logistic, Model, SparseLinear_v2, chain, resizable, with_cpu
from thinc.layers.resizable import resize_linear_weighted

_NEG_VALUE = -5000.0


@registry.architectures("orderlens.TextCatLowerBOW.v1")
def build_lower_bow_text_classifier(
    ngram_size: int,
    length: int = 262144,
    nO: int | None = None,
    subword_min: int = 0,
    subword_max: int = 0,
) -> Model:
    """Pipelines saved before v2: no length normalisation."""
    return build_lower_bow_text_classifier_v2(
        ngram_size, length, nO, subword_min, subword_max, normalize=False
    )


@registry.architectures("orderlens.TextCatLowerBOW.v2")
def build_lower_bow_text_classifier_v2(
    ngram_size: int,
    length: int = 262144,
    nO: int | None = None,
    subword_min: int = 0,
    subword_max: int = 0,
    normalize: bool = True,
) -> Model:
    """Multi-label bag-of-ngrams classifier over lower-cased tokens (hashed sparse linear +
    logistic), the same design as ``spacy.TextCatBOW.v3`` with ``exclusive_classes = false``.

    With ``subword_max > 0`` every token also contributes the character n-grams
    (``subword_min``..``subword_max``) of ``<word>`` (fastText's subwords, sklearn's
    ``char_wb``): "delayed"/"delay", "refunded"/"refund" and typos such as "invioce" share most
    of their features, which is what carries the model over to wordings it never saw (English
    held-out macro-F1 +0.07 over words alone in a logistic-regression check).

    With ``normalize`` each doc's feature values are divided by the square root of its number
    of entries (the bag's L2 norm when no key repeats, as TF-IDF's ``norm="l2"``): a text's
    score then depends on what it says, not on how long it is. Without it a long review sums
    hundreds of weights and every score drifts with length."""
    length = 2 ** (length - 1).bit_length()
    sparse_linear = SparseLinear_v2(nO=nO, length=length)
    resizable_layer = resizable(
        sparse_linear,
        resize_layer=partial(resize_linear_weighted, fill_defaults={"b": _NEG_VALUE, "W": 0}),
    )
    features = extract_ngrams(
        ngram_size, attr=LOWER, subwords=(subword_min, subword_max), normalize=normalize
    )
    model = chain(features, resizable_layer)
    model = with_cpu(model, model.ops)
    model = chain(model, with_cpu(Logistic(), model.ops))
    if nO is not None:
        model.set_dim("nO", nO)
    model.set_ref("output_layer", sparse_linear)
    model.attrs["multi_label"] = True
    model.attrs["resize_output"] = partial(resize_and_set_ref, resizable_layer=resizable_layer)
    return model


def extract_ngrams(
    ngram_size: int,
    attr: int = LOWER,
    subwords: tuple[int, int] = (0, 0),
    *,
    normalize: bool = False,
) -> Model:
    """Hash keys and counts of the 1..n-grams of each doc (spaCy's layer, safe on empty docs),
    plus the character n-gram sizes ``subwords`` (min, max; (0, 0) = none) of each token;
    with ``normalize`` each doc's values sum to a unit L2 norm (see the architecture).

    A key that occurs k times in a doc comes out k times with value 1 (spaCy's layer: once with
    value k): the sparse linear layer sums ``weight × value`` over a doc's entries, so its output
    and gradients are the same, and skipping the per-doc de-duplication (a sort of every key of
    the batch) makes the layer ~4x faster on English subwords."""
    cache = SubwordCache()

    def forward(model: Model, docs, is_train: bool):
        return _extract_ngrams_forward(model, docs, is_train, cache)

    return Model(
        "extract_ngrams",
        forward,
        attrs={
            "ngram_size": ngram_size,
            "attr": attr,
            "subwords": list(subwords),
            "normalize": normalize,
        },
    )


class SubwordCache(dict):
    """Word hash -> the word's entries: its own hash, then the hashes of its subwords, computed
    once per word. Bounded: a long-running
    scorer meets new words (order numbers, names, typos) forever, so past ``MAX_WORDS`` entries
    the cache starts again (a cleared cache only costs recomputing)."""

    MAX_WORDS = 200_000

    def get_or_compute(self, key: int, strings, low: int, high: int) -> np.ndarray:
        grams = self.get(key)
        if grams is None:
            if len(self) >= self.MAX_WORDS:
                self.clear()
            grams = self[key] = _subword_keys(strings[key], low, high, key)
        return grams


def _subword_keys(word: str, low: int, high: int, key: int) -> np.ndarray:
    padded = f"<{word}>"
    grams = {padded[i : i + n] for n in range(low, high + 1) for i in range(len(padded) - n + 1)}
    # A prefix keeps subword hashes apart from the word hashes of the same strings.
    subwords = sorted(hash_string("\x1f" + gram) for gram in grams)
    return np.asarray([key, *subwords], dtype="uint64")


def _extract_ngrams_forward(model: Model, docs, is_train: bool, cache: SubwordCache):
    # The whole batch at once, laid out token after token (so each doc's entries are together,
    # docs in order, as the sparse linear layer reads them): a token's word, its subwords, then
    # the n-grams that start at it. Each distinct word's entries are computed once per process
    # (the cache) and looked up once per batch; the layout is index arithmetic, not a sort.
    attr, ngram_size = model.attrs["attr"], model.attrs["ngram_size"]
    unigrams = [doc.to_array(attr) for doc in docs]
    tokens = np.asarray([len(u) for u in unigrams], dtype="int64")
    flat = np.ascontiguousarray(np.concatenate(unigrams) if unigrams else np.zeros(0), "uint64")
    owner = np.repeat(np.arange(len(unigrams)), tokens)
    low, high = model.attrs["subwords"]
    with_subwords = high > 0 and len(flat) > 0
    if with_subwords:
        table, row_start, row_len = _word_rows(flat, docs[0].vocab.strings, cache, low, high)
    else:  # each token's row is its word alone
        row_len = np.ones(len(flat), dtype="int64")
    ngrams = []  # (keys, starts at token i and stays within its doc)
    for n in range(2, ngram_size + 1):
        if len(flat) < n:
            break
        grams = model.ops.ngrams(n, flat)
        within_doc = np.zeros(len(flat), dtype=bool)
        within_doc[: len(grams)] = owner[: len(grams)] == owner[n - 1 :]
        ngrams.append((grams, within_doc))
    per_token = row_len + sum(within.astype("int64") for _, within in ngrams)
    start = np.cumsum(per_token) - per_token
    keys = np.empty(int(per_token.sum()), dtype="uint64")
    if with_subwords:
        # Entry k of the rows (token t's i-th) goes to start[t] + i and comes from
        # row_start[t] + i, with i = k - (rows before t): two repeats over the entries.
        rows_before = np.cumsum(row_len) - row_len
        entry = np.arange(int(row_len.sum()))
        keys[np.repeat(start - rows_before, row_len) + entry] = table[
            np.repeat(row_start - rows_before, row_len) + entry
        ]
    else:
        keys[start] = flat
    slot = start + row_len
    for grams, within in ngrams:
        at = np.flatnonzero(within)
        keys[slot[at]] = grams[at]
        slot[at] += 1
    lengths = np.bincount(owner, weights=per_token, minlength=len(unigrams)).astype("int32")
    if model.attrs.get("normalize"):
        scale = 1.0 / np.sqrt(np.maximum(lengths, 1).astype("float32"))
        vals = np.repeat(scale, lengths).astype("float32")
    else:
        vals = model.ops.alloc1f(len(keys)) + 1
    return (keys, vals, lengths), lambda d_output: []


def _word_rows(
    flat: np.ndarray, strings, cache: SubwordCache, low: int, high: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every distinct word's entries (its hash, its subwords) in one table, and for each token
    where its row starts and how long it is. A batch of reviews repeats its words ~5x: each is
    looked up once."""
    words, inverse = np.unique(flat, return_inverse=True)
    get, rows = cache.get, []
    for key in words.tolist():
        row = get(key)  # the common case inline: a method call per word costs ~10%
        rows.append(row if row is not None else cache.get_or_compute(key, strings, low, high))
    counts = np.fromiter(map(len, rows), dtype="int64", count=len(rows))
    starts = np.cumsum(counts) - counts
    return np.concatenate(rows), starts[inverse], counts[inverse]
