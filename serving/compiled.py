"""Compiled trees for prediction: the LightGBM boosters of a model set flattened into arrays and
walked by one machine-code kernel (numba), the boosters kept beside them for explanations
(TreeSHAP) and as the reference.

Why not lleaves or treelite/tl2cgen (measured here, December 2026 lock):

- lleaves 1.3.0 does not compile with the llvmlite this lock has (0.45, which numba 0.62 needs):
  ``llvmlite.binding`` no longer has ``PassManagerBuilder``.
- tl2cgen 1.0 (built against treelite 4.1) compiled the demo's delay classifier in 7 s with gcc
  and was 6.5x faster than ``Booster.predict`` on 1,000 rows, but its predictions differed from
  LightGBM's by up to 0.11 in probability on real test rows (treelite 4.1.2 and 4.8.1 alike),
  and one row cost 125 µs (its DMatrix) against the booster's 63 µs.

This kernel reproduces LightGBM's decision rules exactly (numerical splits with their missing-value
type and default direction, categorical splits as 64-bit masks or bitsets) and is checked against
``Booster.predict`` to 1e-9 in ``tests/serving/test_compiled.py``. The value dimensions are
one :class:`Forest` for all of them (:class:`ValueForest`), walked tree by tree over blocks of
rows that stay in cache; the kernel releases the GIL, so the service's threads score in
parallel. Flattening a model set takes well under a second, and the kernel is compiled once per
machine (numba's on-disk cache): nothing is cached per model version.

QuickScorer (leaf bitmasks per tree, nodes sorted by threshold per feature) was measured as an
alternative on the demo champion and was 1.3x *slower* than this walk: a quarter of its split
nodes are categorical, which QuickScorer must test one by one.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np

from training.registry import ModelSet
from training.value import ScaledBooster

BLOCK_BYTES = 1 << 20
"""Matrix rows walked together, tree by tree: a block of this many bytes stays in the second-level
cache (2 MB per core here) while every tree passes over it. 1,000 demo rows in one block instead
of four blocks of 256: 18.7 -> 16.9 us per row (delay), 35.1 -> 31.0 (value), load ~17."""
PARALLEL_ROWS = 5_000
"""Rows per thread below which a prediction is not split between threads."""
_MISSING = {"None": 0, "Zero": 1, "NaN": 2}
_LINKS = {
    "binary": "logistic",
    "cross_entropy": "logistic",
    "tweedie": "exp",
    "poisson": "exp",
    "gamma": "exp",
}


# Node flags (the top byte of a split node's first word).
_NAN_LEFT = 1  # a missing (NaN) value goes left
_ZERO_IS_MISSING = 2  # missing type "Zero": 0 goes the default way
_DEFAULT_LEFT = 4
_CATEGORICAL = 8  # categories 0-63: the ones going left are a 64-bit mask in ``threshold``
_WIDE_CATEGORICAL = 16  # a category of 64 or more goes left: a bitset in ``bits``
_FEATURE_BITS = 0xFFFFFF


@dataclasses.dataclass(frozen=True)
class Forest:
    """The trees of one or more boosters as flat arrays, and per model its link function.

    Split node ``k`` is three words of ``nodes``: ``nodes[3k]`` its feature (low 24 bits) and
    flags (top byte), ``nodes[3k+1]`` its left child and ``nodes[3k+2]`` its right child; a
    child ``c < 0`` is the leaf ``~c`` of ``leaf_value``. ``threshold[k]`` is the split value,
    or for a categorical split on categories below 64 the mask of the categories that go left
    (its 64 bits); wider categorical splits keep that set as a bitset (``bits_start[k]``,
    ``bits_len[k]`` words of ``bits``). One node's words share a cache line: the walk reads
    two places per node, not five. Build it with :func:`compile_boosters`; :meth:`raw` and
    :meth:`predict` score a matrix.
    """

    names: tuple[str, ...]
    roots: np.ndarray  # int32 per tree: its first split node, or ~leaf for a one-leaf tree
    tree_model: np.ndarray  # int32 per tree: the model it belongs to
    nodes: np.ndarray  # int32, three per split node: feature | flags << 24, left, right
    threshold: np.ndarray  # float64 (a categorical split's 64-bit mask, for the walk as such)
    bits_start: np.ndarray  # int32
    bits_len: np.ndarray  # int32
    bits: np.ndarray  # uint32
    leaf_value: np.ndarray  # float64
    links: tuple[str, ...]  # per model: identity, logistic (slope in ``slopes``) or exp
    slopes: np.ndarray  # float64 per model
    num_features: int

    def raw(self, matrix: np.ndarray, threads: int = 1) -> np.ndarray:
        """Raw scores (sum of leaf values), shape ``(rows, models)``; ``threads`` > 1 splits
        large matrices between threads (the kernel releases the GIL)."""
        x = np.ascontiguousarray(matrix, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(f"expected a (rows, {self.num_features}) matrix, got {x.shape}")
        out = np.zeros((len(x), len(self.names)))
        if threads > 1 and len(x) >= 4 * PARALLEL_ROWS:
            bounds = np.linspace(0, len(x), threads + 1).astype(int)
            with ThreadPoolExecutor(threads) as pool:
                list(
                    pool.map(
                        lambda k: self._walk_rows(
                            x[bounds[k] : bounds[k + 1]], out[bounds[k] : bounds[k + 1]]
                        ),
                        range(threads),
                    )
                )
            return out
        self._walk_rows(x, out)
        return out

    def _walk_rows(self, x: np.ndarray, out: np.ndarray) -> None:
        _walk(
            x,
            self.roots,
            self.tree_model,
            self.nodes,
            self.threshold,
            self.threshold.view(np.uint64),
            self.bits_start,
            self.bits_len,
            self.bits,
            self.leaf_value,
            out,
            max(256, BLOCK_BYTES // (8 * max(x.shape[1], 1))),
        )

    def predict(self, matrix: np.ndarray, threads: int = 1) -> np.ndarray:
        """Predictions as ``Booster.predict`` gives them (probabilities for binary models),
        shape ``(rows, models)``."""
        out = self.raw(matrix, threads)
        for j, link in enumerate(self.links):
            if link == "logistic":
                out[:, j] = 1.0 / (1.0 + np.exp(-self.slopes[j] * out[:, j]))
            elif link == "exp":
                out[:, j] = np.exp(out[:, j])
        return out


class CompiledBooster:
    """A booster compiled alone: ``predict(matrix)`` like ``Booster.predict`` (predictions only).

    Args:
        booster: the LightGBM booster.
    """

    def __init__(self, booster: Any, threads: int = 1) -> None:
        self.forest = compile_boosters({"model": booster}, booster.num_feature())
        self.threads = threads

    def predict(self, matrix: np.ndarray, **kwargs: Any) -> np.ndarray:
        if kwargs:
            raise TypeError(f"compiled trees only predict; asked for {sorted(kwargs)}")
        return self.forest.predict(matrix, self.threads)[:, 0]


def compile_boosters(
    boosters: dict[str, Any],
    num_features: int,
    keep: Callable[[dict], bool] | None = None,
) -> Forest:
    """Flatten LightGBM boosters that read the same matrix into one :class:`Forest`.

    Args:
        boosters: name → ``lightgbm.Booster``.
        num_features: the matrix's width (every booster's ``num_feature()``).
        keep: which trees to take (called with each tree's ``tree_structure`` as
            ``Booster.dump_model`` gives it); default every tree.
    """
    nodes: list[int] = []
    threshold: list[float] = []
    bits_start: list[int] = []
    bits_len: list[int] = []
    bits: list[int] = []
    leaf_value: list[float] = []
    roots: list[int] = []
    tree_model: list[int] = []
    links: list[str] = []
    slopes: list[float] = []
    masks: dict[int, int] = {}  # node -> its categories going left, as 64 bits

    def add(node: dict) -> int:
        if "split_index" not in node:  # a leaf
            leaf_value.append(float(node["leaf_value"]))
            return ~(len(leaf_value) - 1)
        k = len(threshold)
        nodes.extend((0, 0, 0))
        missing = node["missing_type"]
        flag = _DEFAULT_LEFT if node["default_left"] else 0
        if node["decision_type"] == "==":
            # LightGBM: a missing or negative category goes right.
            words = _bitset(int(c) for c in str(node["threshold"]).split("||"))
            if len(words) <= 2:  # categories 0-63: one 64-bit mask, read in place
                flag |= _CATEGORICAL
                masks[k] = words[0] | (words[1] << 32 if len(words) == 2 else 0)
                threshold.append(0.0)  # the mask's bits, written into the array below
            else:
                flag |= _WIDE_CATEGORICAL
                threshold.append(0.0)
            bits_start.append(len(bits))
            bits_len.append(len(words))
            bits.extend(words)
        else:
            value = float(node["threshold"])
            threshold.append(value)
            bits_start.append(0)
            bits_len.append(0)
            # LightGBM: NaN is the default way under missing type NaN or Zero (NaN counts as 0,
            # and 0 is missing), else NaN counts as 0 and is compared.
            nan_left = flag & _DEFAULT_LEFT if missing in ("NaN", "Zero") else value >= 0.0
            flag |= _NAN_LEFT if nan_left else 0
            flag |= _ZERO_IS_MISSING if missing == "Zero" else 0
        feature = int(node["split_feature"])
        if feature > _FEATURE_BITS:
            raise ValueError(f"feature {feature}: at most {_FEATURE_BITS + 1} features")
        nodes[3 * k] = feature | flag << 24
        nodes[3 * k + 1] = add(node["left_child"])
        nodes[3 * k + 2] = add(node["right_child"])
        return k

    for m, (name, booster) in enumerate(boosters.items()):
        if booster.num_feature() != num_features:
            raise ValueError(f"{name}: {booster.num_feature()} features, expected {num_features}")
        dump = booster.dump_model()
        objective = str(dump.get("objective", "regression")).split()
        slope = 1.0
        for part in objective[1:]:
            if part.startswith("sigmoid:"):
                slope = float(part.split(":", 1)[1])
        links.append(_LINKS.get(objective[0], "identity"))
        slopes.append(slope)
        for tree in dump["tree_info"]:
            if keep is not None and not keep(tree["tree_structure"]):
                continue
            roots.append(add(tree["tree_structure"]))
            tree_model.append(m)
    thresholds = np.array(threshold or [0.0], dtype=np.float64)
    if masks:  # bit for bit (a mask may read as a NaN, whose bits a float could change)
        thresholds.view(np.uint64)[list(masks)] = np.array(list(masks.values()), np.uint64)
    return Forest(
        names=tuple(boosters),
        roots=np.array(roots, dtype=np.int32),
        tree_model=np.array(tree_model, dtype=np.int32),
        nodes=np.array(nodes or [0, 0, 0], dtype=np.int32),
        threshold=thresholds,
        bits_start=np.array(bits_start or [0], dtype=np.int32),
        bits_len=np.array(bits_len or [0], dtype=np.int32),
        bits=np.array(bits or [0], dtype=np.uint32),
        leaf_value=np.array(leaf_value or [0.0], dtype=np.float64),
        links=tuple(links),
        slopes=np.array(slopes, dtype=np.float64),
        num_features=num_features,
    )


def _bitset(categories: Sequence[int] | Any) -> list[int]:
    values = sorted(set(categories))
    words = [0] * (values[-1] // 32 + 1) if values else [0]
    for c in values:
        words[c // 32] |= 1 << (c % 32)
    return words


@numba.njit(cache=True, nogil=True)
def _walk(
    x,
    roots,
    tree_model,
    nodes,
    threshold,
    category_mask,
    bits_start,
    bits_len,
    bits,
    leaf,
    out,
    block,
):  # pragma: no cover - compiled
    # Blocks of rows, tree by tree within a block: one tree's nodes stay in the first-level
    # cache while the block's rows stream past, and the block (BLOCK_BYTES of matrix) stays in
    # the second level for every tree. Row by row over every tree missed the node cache
    # (1.5-3x slower); tree by tree over all rows streamed the whole matrix once per tree (2x
    # slower at 30k).
    for start in range(0, x.shape[0], block):
        stop = min(start + block, x.shape[0])
        for t in range(roots.shape[0]):
            model = tree_model[t]
            root = roots[t]
            for i in range(start, stop):
                node = root
                while node >= 0:
                    word = nodes[3 * node]
                    f = x[i, word & 0xFFFFFF]
                    flag = word >> 24
                    if (flag & 26) == 0:
                        # A plain numerical split, most nodes: one comparison, no branch on the
                        # value (NaN fails every comparison and goes where its flag says): 1.4x
                        # faster than testing NaN first, on the demo's value models.
                        right = (f > threshold[node]) or (f != f and (flag & 1) == 0)
                    elif flag & 8:  # categories 0-63: listed ones go left, NaN and others right
                        right = True
                        if f >= 0.0 and f < 64.0:
                            code = np.uint64(np.int64(f))
                            right = ((category_mask[node] >> code) & np.uint64(1)) == 0
                    elif flag & 16:  # wider categories: the bitset
                        right = True
                        if f >= 0.0 and f < 2147483647.0:
                            code = np.int64(f)
                            w = code >> 5
                            if w < bits_len[node]:
                                right = ((bits[bits_start[node] + w] >> (code & 31)) & 1) == 0
                    elif f != f:  # missing type Zero: NaN and 0 go the default way
                        right = (flag & 1) == 0
                    elif f >= -1.0000000180025095e-35 and f <= 1.0000000180025095e-35:
                        right = (flag & 4) == 0
                    else:
                        right = f > threshold[node]
                    node = nodes[3 * node + 1 + np.int64(right)]
                out[i, model] += leaf[~node]


@functools.cache
def ready_kernel() -> None:
    """Load the tree kernel's machine code (numba's on-disk cache, compiled on a machine's first
    run) by walking a one-node forest once: the load cost 0.4-0.5 s of CPU, which the first
    prediction of a process (a batch scoring run, a worker's first request) paid before."""
    leaf = np.zeros(1, dtype=np.int32)
    _walk(
        np.zeros((1, 1)),
        np.array([-1], dtype=np.int32),  # ~0: a one-leaf tree
        leaf,
        np.zeros(3, dtype=np.int32),
        np.zeros(1),
        np.zeros(1, dtype=np.uint64),
        leaf,
        leaf,
        np.zeros(1, dtype=np.uint32),
        np.zeros(1),
        np.zeros((1, 1)),
        256,
    )


# ---- a model set with compiled trees ------------------------------------------------------------


def compiled_model_set(models: ModelSet, threads: int = 1) -> ModelSet:
    """A copy of ``models`` whose delay and value models predict with compiled trees.

    The kernel is made ready here (:func:`ready_kernel`), so no first prediction pays for it.

    The delay and value wrappers (calibration, creation classifier, scaled dimensions) keep their
    own logic with the boosters swapped, so every prediction goes through one code path;
    explanations keep using ``models`` (the boosters). ``threads``: per large prediction (batch
    scoring uses every core; the service's workers one each).
    """
    ready_kernel()
    delay = models.delay
    fast_delay = dataclasses.replace(
        delay,
        classifier=CompiledBooster(delay.classifier, threads),
        hours=CompiledBooster(delay.hours, threads),
        p90=CompiledBooster(delay.p90, threads),
        creation_classifier=None
        if delay.creation_classifier is None
        else CompiledBooster(delay.creation_classifier, threads),
    )
    fast_value = dataclasses.replace(
        models.value,
        models={
            name: ScaledBooster(CompiledBooster(m.booster, threads), **m.as_dict())
            if isinstance(m, ScaledBooster)
            else CompiledBooster(m, threads)
            for name, m in models.value.models.items()
        },
    )
    return dataclasses.replace(models, delay=fast_delay, value=fast_value)


class ValueForest:
    """Several value dimensions predicted in one walk over the matrix (each row's features stay
    in cache for all the trees), in the dimensions' own units (scaled dimensions multiplied
    back and known parts added by :meth:`~training.value.ScaledBooster.finish`).

    Args:
        models: dimension → booster or :class:`~training.value.ScaledBooster`.
        num_features: the value matrix's width.
    """

    def __init__(self, models: dict[str, Any], num_features: int, threads: int = 1) -> None:
        self.names = tuple(models)
        self.threads = threads
        boosters = {
            name: m.booster if isinstance(m, ScaledBooster) else m for name, m in models.items()
        }
        self.forest = compile_boosters(boosters, num_features) if boosters else None
        self.scaled = [
            (j, m) for j, m in enumerate(models.values()) if isinstance(m, ScaledBooster)
        ]

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """Predictions, shape ``(rows, dimensions)``."""
        if self.forest is None:
            return np.zeros((len(matrix), 0))
        out = self.forest.predict(matrix, self.threads)
        for j, model in self.scaled:
            out[:, j] = model.finish(matrix, out[:, j])
        return out


# ---- P(late) at creation beside P(late) now ---------------------------------------------------


def split_features(tree: dict) -> set[int]:
    """The features a dumped tree (``tree_structure``) splits on."""
    found, stack = set(), [tree]
    while stack:
        node = stack.pop()
        if "split_index" in node:
            found.add(int(node["split_feature"]))
            stack.extend((node["left_child"], node["right_child"]))
    return found


class SharedTrees:
    """One booster's trees split in two: those that never read ``columns`` and the rest, so that
    two views of the same orders differing only in ``columns`` (an order now and at its
    creation) walk the first part once.

    The service scores every order twice with the creation classifier (P(late) now for orders
    without a scan, and at creation for ``on_time_delivery``); on the demo champion only 33 of
    its 364 trees read the columns the two views differ in. The raw score is the shared part
    plus the rest (a sum in another order than LightGBM's: equal to ~1e-15).

    Args:
        booster: the LightGBM booster.
        columns: matrix columns that differ between the views.
        threads: threads per large prediction (see :meth:`Forest.raw`).
    """

    def __init__(self, booster: Any, columns: Sequence[int], threads: int = 1) -> None:
        self.threads = threads
        differ = set(columns)
        width = booster.num_feature()
        self.shared = compile_boosters(
            {"model": booster}, width, keep=lambda t: not split_features(t) & differ
        )
        self.rest = compile_boosters(
            {"model": booster}, width, keep=lambda t: bool(split_features(t) & differ)
        )
        self.share = len(self.shared.roots) / max(len(self.shared.roots) + len(self.rest.roots), 1)

    def given(self, shared_raw: np.ndarray) -> _KnownShare:
        """A booster-like object for rows whose shared raw scores are ``shared_raw`` (in the
        order its ``predict`` will be called with them)."""
        return _KnownShare(self, shared_raw)


class _KnownShare:
    """``predict(matrix)`` like ``Booster.predict``, for rows whose shared part is known."""

    def __init__(self, trees: SharedTrees, shared_raw: np.ndarray) -> None:
        self.trees, self.shared_raw = trees, shared_raw

    def predict(self, matrix: np.ndarray, **kwargs: Any) -> np.ndarray:
        if kwargs:
            raise TypeError(f"compiled trees only predict; asked for {sorted(kwargs)}")
        if len(matrix) != len(self.shared_raw):
            raise ValueError(f"{len(matrix)} rows, {len(self.shared_raw)} known")
        rest = self.trees.rest
        raw = self.shared_raw + rest.raw(matrix, self.trees.threads)[:, 0]
        if rest.links[0] == "logistic":
            return 1.0 / (1.0 + np.exp(-rest.slopes[0] * raw))
        if rest.links[0] == "exp":
            return np.exp(raw)
        return raw
