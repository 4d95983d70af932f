"""Model architectures registered under versioned names for ``nlp/config.cfg``.

``orderlens.TextCatLowerBOW.v1`` is spaCy's ``TextCatBOW.v3`` reading lower-cased words instead
of the verbatim text, so "Thanks", "thanks" and "THANKS" are one feature (customers shout).
Its n-gram extraction also accepts empty documents: spaCy's own ``extract_ngrams`` raises
``IndexError: Out of bounds on buffer access`` on a doc with no tokens when ``ngram_size >= 2``
(thinc's ``ops.ngrams`` on an empty array), which takes the whole batch down.
"""

from __future__ import annotations

from functools import partial

from spacy.attrs import LOWER
from spacy.ml.models.textcat import resize_and_set_ref
from spacy.util import registry
from thinc.api import Logistic, Model, SparseLinear_v2, chain, resizable, with_cpu
from thinc.layers.resizable import resize_linear_weighted

_NEG_VALUE = -5000.0


@registry.architectures("orderlens.TextCatLowerBOW.v1")
def build_lower_bow_text_classifier(
    ngram_size: int, length: int = 262144, nO: int | None = None
) -> Model:
    """Multi-label bag-of-ngrams classifier over lower-cased tokens (hashed sparse linear +
    logistic), the same design as ``spacy.TextCatBOW.v3`` with ``exclusive_classes = false``."""
    length = 2 ** (length - 1).bit_length()
    sparse_linear = SparseLinear_v2(nO=nO, length=length)
    resizable_layer = resizable(
        sparse_linear,
        resize_layer=partial(resize_linear_weighted, fill_defaults={"b": _NEG_VALUE, "W": 0}),
    )
    model = chain(extract_ngrams(ngram_size, attr=LOWER), resizable_layer)
    model = with_cpu(model, model.ops)
    model = chain(model, with_cpu(Logistic(), model.ops))
    if nO is not None:
        model.set_dim("nO", nO)
    model.set_ref("output_layer", sparse_linear)
    model.attrs["multi_label"] = True
    model.attrs["resize_output"] = partial(resize_and_set_ref, resizable_layer=resizable_layer)
    return model


def extract_ngrams(ngram_size: int, attr: int = LOWER) -> Model:
    """Hash keys and counts of the 1..n-grams of each doc (spaCy's layer, safe on empty docs)."""
    return Model(
        "extract_ngrams", _extract_ngrams_forward, attrs={"ngram_size": ngram_size, "attr": attr}
    )


def _extract_ngrams_forward(model: Model, docs, is_train: bool):
    ops = model.ops
    batch_keys, batch_vals = [], []
    for doc in docs:
        unigrams = ops.asarray(doc.to_array([model.attrs["attr"]]))
        ngrams = [unigrams]
        for n in range(2, model.attrs["ngram_size"] + 1):
            if unigrams.shape[0] >= n:
                ngrams.append(ops.ngrams(n, unigrams))
        keys, vals = ops.xp.unique(ops.xp.concatenate(ngrams), return_counts=True)
        batch_keys.append(keys)
        batch_vals.append(vals)
    lengths = ops.asarray([keys.shape[0] for keys in batch_keys], dtype="int32")
    keys = ops.xp.concatenate(batch_keys)
    vals = ops.asarray(ops.xp.concatenate(batch_vals), dtype="f")
    return (keys, vals, lengths), lambda d_output: []
