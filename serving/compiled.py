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
    cover: np.ndarray  # float64 per split node: its training rows (TreeSHAP's weights)
    leaf_cover: np.ndarray  # float64 per leaf: its training rows
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
    """A booster compiled alone: ``predict(matrix)`` like ``Booster.predict``, and with
    ``pred_contrib=True`` its exact TreeSHAP values (:class:`TreeShap`, built on first use; the
    booster's own for trees too large for its tables).

    Args:
        booster: the LightGBM booster.
    """

    def __init__(self, booster: Any, threads: int = 1) -> None:
        self.booster = booster  # explains when the trees are too large for TreeSHAP tables
        self.forest = compile_boosters({"model": booster}, booster.num_feature())
        self.threads = threads

    @functools.cached_property
    def shap(self) -> TreeShap | None:
        """The trees' TreeSHAP tables (a fraction of a second to build), or None when they
        would not fit (:meth:`TreeShap.of`)."""
        return TreeShap.of(self.forest)

    def predict(
        self, matrix: np.ndarray, *, pred_contrib: bool = False, **kwargs: Any
    ) -> np.ndarray:
        if kwargs:
            raise TypeError(f"compiled trees predict or explain; asked for {sorted(kwargs)}")
        if pred_contrib:
            if self.shap is None:
                return self.booster.predict(matrix, pred_contrib=True)
            return self.shap.contributions(matrix)
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
    cover: list[float] = []
    leaf_cover: list[float] = []
    roots: list[int] = []
    tree_model: list[int] = []
    links: list[str] = []
    slopes: list[float] = []
    masks: dict[int, int] = {}  # node -> its categories going left, as 64 bits

    def add(node: dict) -> int:
        if "split_index" not in node:  # a leaf
            leaf_value.append(float(node["leaf_value"]))
            leaf_cover.append(float(node.get("leaf_count", 0)))
            return ~(len(leaf_value) - 1)
        k = len(threshold)
        nodes.extend((0, 0, 0))
        cover.append(float(node.get("internal_count", 0)))
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
        cover=np.array(cover or [0.0], dtype=np.float64),
        leaf_cover=np.array(leaf_cover or [0.0], dtype=np.float64),
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


@numba.njit(cache=True, nogil=True, inline="always")
def _goes_right(
    f, word, node, threshold, category_mask, bits_start, bits_len, bits
):  # pragma: no cover - compiled
    """Whether value ``f`` goes right at split node ``node`` (``word``: its first word), as
    LightGBM decides: the one decision rule of the walk and of TreeSHAP."""
    flag = word >> 24
    if (flag & 26) == 0:
        # A plain numerical split, most nodes: one comparison, no branch on the value (NaN
        # fails every comparison and goes where its flag says): 1.4x faster than testing NaN
        # first, on the demo's value models.
        return (f > threshold[node]) or (f != f and (flag & 1) == 0)
    if flag & 8:  # categories 0-63: listed ones go left, NaN and others right
        if f >= 0.0 and f < 64.0:
            code = np.uint64(np.int64(f))
            return ((category_mask[node] >> code) & np.uint64(1)) == 0
        return True
    if flag & 16:  # wider categories: the bitset
        if f >= 0.0 and f < 2147483647.0:
            code = np.int64(f)
            w = code >> 5
            if w < bits_len[node]:
                return ((bits[bits_start[node] + w] >> (code & 31)) & 1) == 0
        return True
    if f != f:  # missing type Zero: NaN and 0 go the default way
        return (flag & 1) == 0
    if f >= -1.0000000180025095e-35 and f <= 1.0000000180025095e-35:
        return (flag & 4) == 0
    return f > threshold[node]


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
                    # Both children read before the decision, then one chosen: their loads
                    # overlap the feature's instead of waiting for the comparison (one load
                    # less on each level's chain: 21.7 -> 17.3 us a row for the demo's value
                    # forest, 4.7 -> 3.9 for its delay classifier).
                    left = nodes[3 * node + 1]
                    right_child = nodes[3 * node + 2]
                    right = _goes_right(
                        x[i, word & _FEATURE_BITS],
                        word,
                        node,
                        threshold,
                        category_mask,
                        bits_start,
                        bits_len,
                        bits,
                    )
                    node = right_child if right else left
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


# ---- exact TreeSHAP on the compiled trees -----------------------------------------------------

TABLE_FEATURES = 12
"""TreeSHAP tables are kept when no leaf's path splits on more than this many features (a leaf
keeps 2^d·d numbers: 49k at 12)..."""
TABLE_BYTES = 32 << 20
"""... and the tables of one model take at most this much memory (the demo's delay classifier:
10.8 MB). Beyond either, LightGBM explains: on 200 trees of 31 or 63 leaves it was as fast or
faster than working deep leaves out per row (``bench/bench_explain.py``)."""


class TreeShap:
    """Exact path-dependent TreeSHAP of one model's trees, the numbers LightGBM's
    ``pred_contrib`` gives (to ~1e-15), precomputed per leaf.

    TreeSHAP credits each leaf's value to the features on its path. What a row changes is only,
    per feature on the path, whether the row follows the path at every split on that feature
    (Lundberg et al. 2020, Algorithm 2: the "one fractions" are 0 or 1). So each leaf keeps its
    credits for each of those 2^d patterns (Fast TreeSHAP v2, Yang 2021), and a row costs one
    decision per split node and, per leaf, its pattern and d additions. LightGBM's recursion
    redoes the O(d²) path arithmetic of every leaf for every row: on the demo's delay
    classifiers 536 and 210 µs an order, against 150 and 68 here. Build it with
    :meth:`of`, which declines trees whose tables would not fit.

    Args:
        forest: one model's trees (:func:`compile_boosters` with one booster).
        paths: its leaves' paths (:func:`_leaf_paths`).
        sizes: each leaf's table length (2^d·d for a leaf on d features).
    """

    def __init__(self, forest: Forest, paths: dict[str, Any], sizes: np.ndarray) -> None:
        self.forest = forest
        self.leaf_items = paths["leaf_items"]
        self.item_node = paths["item_node"]
        self.item_right = paths["item_right"]
        self.item_slot = paths["item_slot"]
        self.leaf_features = paths["leaf_features"]
        self.feature_index = paths["feature_index"]
        self.bias = paths["bias"]
        self.leaf_table = (np.cumsum(sizes) - sizes).astype(np.int64)
        self.table = np.zeros(int(sizes.sum()))
        width = int(np.diff(self.leaf_features).max(initial=0))
        _fill_tables(
            self.leaf_features,
            paths["feature_zero"],  # only the tables need the zero fractions
            forest.leaf_value,
            self.leaf_table,
            self.table,
            *_path_ratios(width),
            np.empty(width + 2),  # work space: a one fraction per feature...
            np.empty(width + 3),  # ... and a weight per path element
        )

    @classmethod
    def of(cls, forest: Forest) -> TreeShap | None:
        """The tables of one model's trees, or None when they would not fit
        (:data:`TABLE_FEATURES`, :data:`TABLE_BYTES`)."""
        if len(forest.names) != 1:
            raise ValueError(f"TreeSHAP explains one model, got {len(forest.names)}")
        paths = _leaf_paths(forest)
        features = np.diff(paths["leaf_features"])
        if features.max(initial=0) > TABLE_FEATURES:
            return None
        sizes = (1 << features) * features
        if sizes.sum() * 8 > TABLE_BYTES:
            return None
        return cls(forest, paths, sizes)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """SHAP values in the raw score's units, ``pred_contrib``'s layout: shape ``(rows,
        features + 1)``, the last column the expected raw score."""
        f = self.forest
        x = np.ascontiguousarray(matrix, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != f.num_features:
            raise ValueError(f"expected a (rows, {f.num_features}) matrix, got {x.shape}")
        # The kernels allocate nothing: a numba function that allocates or returns an array
        # paid ~20 ns of reference counting per decision here (6x slower).
        right = np.empty((len(x), len(f.threshold)), dtype=np.bool_)
        _decide(
            x,
            f.nodes,
            f.threshold,
            f.threshold.view(np.uint64),
            f.bits_start,
            f.bits_len,
            f.bits,
            right,
        )
        out = np.zeros((len(x), f.num_features + 1))
        _credit_leaves(
            right,
            self.leaf_items,
            self.item_node,
            self.item_right,
            self.item_slot,
            self.leaf_features,
            self.feature_index,
            self.leaf_table,
            self.table,
            out,
        )
        out[:, -1] = self.bias
        return out


def _leaf_paths(forest: Forest) -> dict[str, Any]:
    """Each leaf's path from its tree's root: the split nodes passed and the way taken
    (``leaf_items`` offsets into ``item_*``), the distinct features split on in order of first
    split (``leaf_features`` offsets into ``feature_index``) with the share of the node's
    training rows that go the path's way at all of that feature's splits (``feature_zero``,
    TreeSHAP's zero fractions), and the sum of the trees' expected values (``bias``)."""
    nodes, cover, leaf_cover = forest.nodes, forest.cover, forest.leaf_cover
    paths: list[list[tuple[int, int]]] = [[] for _ in range(len(forest.leaf_value))]
    bias = 0.0
    for root in forest.roots.tolist():
        if root < 0:  # a one-leaf tree: its value is all bias
            bias += float(forest.leaf_value[~root])
            continue
        stack: list[tuple[int, list[tuple[int, int]]]] = [(root, [])]
        expected = 0.0
        while stack:
            node, path = stack.pop()
            if node < 0:
                paths[~node] = path
                expected += leaf_cover[~node] / cover[root] * forest.leaf_value[~node]
                continue
            stack.append((int(nodes[3 * node + 2]), [*path, (node, 1)]))
            stack.append((int(nodes[3 * node + 1]), [*path, (node, 0)]))
        bias += expected
    leaf_items, item_node, item_right, item_slot = [0], [], [], []
    leaf_features, feature_index, feature_zero = [0], [], []
    for path in paths:
        slots: dict[int, int] = {}
        for node, right in path:
            feature = int(nodes[3 * node]) & _FEATURE_BITS
            child = int(nodes[3 * node + 1 + right])
            share = (cover[child] if child >= 0 else leaf_cover[~child]) / cover[node]
            if feature not in slots:
                slots[feature] = len(slots)
                feature_index.append(feature)
                feature_zero.append(share)
            else:
                feature_zero[len(feature_zero) - len(slots) + slots[feature]] *= share
            item_node.append(node)
            item_right.append(right)
            item_slot.append(slots[feature])
        leaf_items.append(len(item_node))
        leaf_features.append(len(feature_index))
    return {
        "leaf_items": np.array(leaf_items, dtype=np.int64),
        "item_node": np.array(item_node or [0], dtype=np.int32),
        "item_right": np.array(item_right or [0], dtype=np.bool_),
        "item_slot": np.array(item_slot or [0], dtype=np.int32),
        "leaf_features": np.array(leaf_features, dtype=np.int64),
        "feature_index": np.array(feature_index or [0], dtype=np.int32),
        "feature_zero": np.array(feature_zero or [1.0], dtype=np.float64),
        "bias": bias,
    }


def _path_ratios(depth: int) -> tuple[np.ndarray, ...]:
    """TreeSHAP's path-weight ratios at each unique depth ``d`` and position ``i`` (so that its
    inner loops multiply instead of divide): (i+1)/(d+1), (d−i)/(d+1) and their inverses."""
    d = np.arange(depth + 2, dtype=np.float64)[:, None]
    i = np.arange(depth + 2, dtype=np.float64)[None, :]
    with np.errstate(divide="ignore"):
        return (
            (i + 1) / (d + 1),
            (d - i) / (d + 1),
            (d + 1) / (i + 1),
            np.where(d > i, (d + 1) / np.where(d > i, d - i, 1.0), 0.0),
        )


@numba.njit(cache=True, nogil=True)
def _path_weights(zero, one, d, up, down, inv_up, inv_down, pweight, out):  # pragma: no cover
    """TreeSHAP's weight of each of a leaf path's ``d`` features (times its one minus zero
    fraction; times the leaf value it is the feature's credit): the path extended feature by
    feature (EXTEND), then each feature's unwound sum (UNWOUND-SUM), as LightGBM computes them."""
    pweight[0] = 1.0  # the root's element (no feature, fractions 1)
    for k in range(1, d + 1):
        z, o = zero[k - 1], one[k - 1]
        pweight[k] = 0.0
        for i in range(k - 1, -1, -1):
            pweight[i + 1] += o * pweight[i] * up[k, i]
            pweight[i] = z * pweight[i] * down[k, i]
    for j in range(d):
        z, o = zero[j], one[j]
        total = 0.0
        if o != 0.0:
            after = pweight[d]
            for i in range(d - 1, -1, -1):
                part = after * inv_up[d, i]
                total += part
                after = pweight[i] - part * z * down[d, i]
        else:
            for i in range(d - 1, -1, -1):
                total += pweight[i] * inv_down[d, i]
            total /= z
        out[j] = total * (o - z)


@numba.njit(cache=True, nogil=True)
def _fill_tables(
    leaf_features,
    feature_zero,
    leaf_value,
    leaf_table,
    table,
    up,
    down,
    inv_up,
    inv_down,
    one,
    pweight,
):  # pragma: no cover - compiled
    for leaf in range(leaf_table.shape[0]):
        start = leaf_table[leaf]
        first = leaf_features[leaf]
        d = leaf_features[leaf + 1] - first
        zero = feature_zero[first : first + d]
        for pattern in range(1 << d):
            for j in range(d):
                one[j] = (pattern >> j) & 1
            at = start + pattern * d
            _path_weights(zero, one, d, up, down, inv_up, inv_down, pweight, table[at : at + d])
            for j in range(d):
                table[at + j] *= leaf_value[leaf]


@numba.njit(cache=True, nogil=True)
def _decide(
    x, nodes, threshold, category_mask, bits_start, bits_len, bits, right
):  # pragma: no cover - compiled
    """The way each row goes at every split node (``right``: rows × split nodes)."""
    for r in range(x.shape[0]):
        for node in range(threshold.shape[0]):
            word = nodes[3 * node]
            right[r, node] = _goes_right(
                x[r, word & _FEATURE_BITS],
                word,
                node,
                threshold,
                category_mask,
                bits_start,
                bits_len,
                bits,
            )


@numba.njit(cache=True, nogil=True)
def _credit_leaves(
    right,
    leaf_items,
    item_node,
    item_right,
    item_slot,
    leaf_features,
    feature_index,
    leaf_table,
    table,
    out,
):  # pragma: no cover - compiled
    """Each leaf's credits to its path's features, by the way each row went (``right``)."""
    for r in range(right.shape[0]):
        for leaf in range(leaf_table.shape[0]):
            first = leaf_features[leaf]
            d = leaf_features[leaf + 1] - first
            if d == 0:  # a one-leaf tree
                continue
            # A feature's bit stays set while the row follows the path at its every split.
            pattern = (1 << d) - 1
            for k in range(leaf_items[leaf], leaf_items[leaf + 1]):
                if right[r, item_node[k]] != item_right[k]:
                    pattern &= ~(1 << item_slot[k])
            at = leaf_table[leaf] + pattern * d
            for j in range(d):
                out[r, feature_index[first + j]] += table[at + j]


# ---- a model set with compiled trees ------------------------------------------------------------


def compiled_model_set(models: ModelSet, threads: int = 1) -> ModelSet:
    """A copy of ``models`` whose delay and value models predict with compiled trees.

    The kernel is made ready here (:func:`ready_kernel`), and the delay classifiers' TreeSHAP
    tables built (:class:`TreeShap`), so no first prediction or explanation pays for them.

    The delay and value wrappers (calibration, creation classifier, scaled dimensions) keep their
    own logic with the boosters swapped, so every prediction and explanation goes through one
    code path (``pred_contrib=True``: :class:`TreeShap`). ``threads``: per large prediction (batch
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
    for classifier in (fast_delay.classifier, fast_delay.creation_classifier):
        if classifier is not None:  # every order acted on for its risk is explained
            classifier.shap  # noqa: B018 - its TreeSHAP tables, built now rather than in a request
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
