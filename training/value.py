"""Value models: one LightGBM model per dimension, and the scores built on their predictions —
0-100 per dimension (direction-aware percentile against the training reference), four quadrant
scores, a weighted value index and a tier."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from orderlens.dimensions import BY_NAME, DIMENSION_NAMES, DIMENSIONS, QUADRANTS
from orderlens.settings import TrainingSettings, ValueSettings
from training import boosting
from training.matrix import FeatureSpec, fit_feature_spec, to_matrix

QUANTILES = np.linspace(0.0, 1.0, 1001)
"""Reference distributions are kept as 1,001 quantiles: 0.1-point resolution, tiny to store."""


def percentile(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Where each value falls in a reference given by its quantiles, in 0-100."""
    # Ties in the reference (e.g. many zero predictions) map to the middle of their run.
    lo = np.searchsorted(reference, values, side="left")
    hi = np.searchsorted(reference, values, side="right")
    return 100.0 * (lo + hi) / (2.0 * len(reference))


SCALED_DIMENSIONS: dict[str, str] = {
    "net_revenue": "net_order_value",
    "gross_margin": "net_order_value",
    "partner_share": "net_order_value",
    "carbon_kg": "freight_cost",
}
"""Heavy-tailed dimensions modelled per unit of a feature, then multiplied back: trees cannot
extrapolate. On 20k orders (test R², plain → scaled, oracle): net revenue 0.66 → 0.98 (0.98;
net order value alone explains 0.98), gross margin 0.33 → 0.58 (0.56), partner share
0.76 → 0.84 (0.91). Fulfilment cost and service attach do not scale with the order's value (per
unit of it they got far worse) and stay plain.

CO2e is weight × distance × a mode factor (air or road), and the order carries no weight: the
freight cost the shop paid is the observable weight × distance (carriers price per kg-km), so
CO2e is modelled per unit of freight cost — the trees then only learn the mode factor and the
per-carrier tariff, which is flat where the heavy, far, flown orders are. Demo world (12k
orders, world seed 7: the development world): R² 0.652 (log link) → 0.812 (oracle 0.963);
a weight × distance proxy feature (items^0.8 × route km) reached 0.728 with the log link, per
unit of it 0.463. An export without freight costs models CO2e plainly, with the log link
(:data:`OBJECTIVES`)."""

OBJECTIVES: dict[str, str] = {
    "carbon_kg": "tweedie",
    "fulfilment_cost": "poisson",
    "cross_category_pull": "poisson",
    "profile_enrichment": "poisson",
    "reverse_logistics_cost": "tweedie",
}
"""Non-negative dimensions fitted with a log link (LightGBM's Poisson / Tweedie deviance) when
modelled plainly (with a scale or a known part, see :data:`SCALED_DIMENSIONS` and
:data:`KNOWN_PARTS`, the rest is fitted with squared error): their drivers multiply (weight × distance × air or road for CO2e), which additive trees
on the raw scale approximate poorly. Demo world (12k orders), test R² (squared error → log
link): carbon 0.54 (per route km 0.44) → 0.60 tweedie, fulfilment cost 0.78 → 0.83 poisson,
cross-category pull 0.060 → 0.075 poisson, profile enrichment 0.066 → 0.069 poisson. Reverse
logistics cost is zero for most orders and a freight-sized amount for the few returned,
exchanged or failed ones — the compound Poisson-gamma shape Tweedie models: 0.033 → 0.040
(oracle 0.062). Others measured no better (service attach, service minutes, satisfaction,
referrals; satisfaction with Huber loss 0.047 → 0.020). The compiled trees of the service apply
the same link (``serving/compiled.py``); TreeSHAP contributions are then on the log scale, which
value reasons rescale to score points anyway."""


KNOWN_PARTS: dict[str, str] = {
    "gross_margin": "order_margin",
    "fulfilment_cost": "freight_cost",
}
"""Dimensions whose value is partly known when the order is placed: a feature holding that part
is added to the model's prediction of the rest (which is what the trees learn). Gross margin is
the order's margin at checkout (net of discount, goods cost and freight) less refunds and
fulfilment beyond freight; fulfilment cost is the freight plus packing, expediting and
compensation. Trees approximate the identity of the known part by steps, and a step on a
large order is a large amount: two trainings with different seeds moved the gross margin of the
demo's test orders by 7.6 CNY (median; 98 CNY at the 90th percentile), the largest source of
tier changes between them. With the known parts (``bench/bench_tiers.py --home var/demo``, 12k
orders): 90.2 % → 94.8 % of test orders keep their tier, the contribution moves p90 122 → 49 CNY;
test R² on the development world: fulfilment cost 0.840 → 0.935 (oracle 0.959), gross margin
0.793 → 0.826 (0.833)."""


class ScaledBooster:
    """A booster of a dimension's uncertain part per unit of a scale, answering in the
    dimension's units like a plain booster: ``known + scale × booster``.

    ``scale`` is the row's scale feature (column ``index``; at least 1; a missing one counts as
    the training median ``typical``; ``index`` -1: no scale), ``known`` the row's known-part
    feature (column ``known``, missing → 0; -1: none, see :data:`KNOWN_PARTS`).
    ``pred_contrib`` multiplies each row's contributions and bias by the scale and adds the
    known part to its own feature's contribution (its distance from the training mean
    ``known_mean``; the mean goes to the bias) — still exact and additive (they sum to the
    prediction), so reasons and model cards need no special case. A booster with a scale or a
    known part is fitted with squared error, so its contributions are in the dimension's units.
    """

    def __init__(
        self,
        booster: lgb.Booster,
        *,
        index: int = -1,
        typical: float = 1.0,
        known: int = -1,
        known_mean: float = 0.0,
    ) -> None:
        self.booster = booster
        self.index = index
        self.typical = typical
        self.known = known
        self.known_mean = known_mean

    def predict(self, matrix: np.ndarray, **kwargs: Any) -> np.ndarray:
        """As :meth:`lightgbm.Booster.predict`, in the target's units."""
        out = self.booster.predict(matrix, **kwargs)
        if out.ndim == 2:  # contributions: one column per feature, then the bias
            out = out * self.scale(matrix)[:, None]
            if self.known >= 0:
                out[:, self.known] += self.known_part(matrix) - self.known_mean
                out[:, -1] += self.known_mean
            return out
        return self.finish(matrix, out)

    def finish(self, matrix: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The dimension's value from the booster's raw predictions ``out`` on ``matrix``
        (compiled trees predict the raw part; this is the one place that completes it)."""
        return self.known_part(matrix) + out * self.scale(matrix)

    def scale(self, matrix: np.ndarray) -> np.ndarray:
        """Each row's scale (ones without a scale feature)."""
        if self.index < 0:
            return np.ones(len(matrix))
        return row_scale(matrix, self.index, self.typical)

    def known_part(self, matrix: np.ndarray) -> np.ndarray | float:
        """Each row's known part (0 without a known-part feature)."""
        if self.known < 0:
            return 0.0
        return np.nan_to_num(matrix[:, self.known], nan=0.0)

    def as_dict(self) -> dict[str, float]:
        """What the registry stores beside the booster to rebuild this wrapper."""
        return {
            "index": self.index,
            "typical": self.typical,
            "known": self.known,
            "known_mean": self.known_mean,
        }

    def __getattr__(self, name: str) -> Any:  # num_trees(), feature_name(), … of the booster
        return getattr(self.booster, name)


def row_scale(matrix: np.ndarray, index: int, typical: float) -> np.ndarray:
    """The multiplier of each row: column ``index``, missing → ``typical``, at least 1."""
    values = matrix[:, index]
    return np.maximum(np.where(np.isnan(values), typical, values), 1.0)


@dataclass(frozen=True)
class Money:
    """How dimensions turn into the order's expected contribution in the shop's currency (see
    :class:`orderlens.settings.ValueSettings`)."""

    currency: str = "CNY"
    per_unit: dict[str, float] = field(default_factory=dict)
    shadow_prices: dict[str, float] = field(default_factory=dict)
    capital_cost_per_year: float = 0.0

    @classmethod
    def from_settings(cls, value: ValueSettings, currency: str) -> Money:
        """The conversion factors of the settings' ``value`` section, in ``currency`` (the
        settings' ``business.currency``)."""
        both = sorted(set(value.money_per_unit) & set(value.shadow_prices))
        if both:
            raise ValueError(f"value dimension(s) {both} have both a money rate and a shadow price")
        return cls(
            currency,
            dict(value.money_per_unit),
            dict(value.shadow_prices),
            value.capital_cost_per_year,
        )

    def as_dict(self) -> dict[str, Any]:
        """What the model set's manifest records (serving and reports read it from there)."""
        return {
            "currency": self.currency,
            "per_unit": self.per_unit,
            "shadow_prices": self.shadow_prices,
            "capital_cost_per_year": self.capital_cost_per_year,
        }


CAPITAL_PART = "cash_conversion_days"
"""The cash cycle's part: capital cost on net revenue for the days until cash comes in."""
AVERAGE_PART = "average_without_signal"
"""The part of dimensions without signal: their training average, the same for every order."""


@dataclass
class ValueModels:
    """The 19 dimension models and how their predictions become scores, money and tiers.

    Attributes:
        spec: the model matrix's columns and categories (no tracking features).
        models: dimension name → booster (binary dimensions: probability; the
            :data:`SCALED_DIMENSIONS` wrapped in :class:`ScaledBooster`).
        reference: dimension name → quantiles of the training predictions.
        index_reference: quantiles of the training value index.
        weights: dimension name → value-index weight.
        tier_cutoffs: tier → lowest percentile (0-1) of the expected contribution among training
            orders, best tier first.
        signal: dimension name → whether its skill on the test window clears chance (see
            :mod:`training.value_skill`); a dimension without signal gets no score, no weight
            in the index or quadrants, and counts at its training average in the contribution.
        money: the money conversion factors.
        typical: dimension name → training mean of the realised value (the average a dimension
            without signal counts at) .
        centre: dimension name → training mean of the prediction (shadow prices count from it).
        contribution_reference: quantiles of the training orders' expected contribution.
    """

    spec: FeatureSpec
    models: dict[str, lgb.Booster | ScaledBooster]
    reference: dict[str, np.ndarray] = field(default_factory=dict)
    index_reference: np.ndarray = field(default_factory=lambda: np.zeros(0))
    weights: dict[str, float] = field(default_factory=dict)
    tier_cutoffs: dict[str, float] = field(default_factory=dict)
    signal: dict[str, bool] = field(default_factory=dict)
    money: Money = field(default_factory=Money)
    typical: dict[str, float] = field(default_factory=dict)
    centre: dict[str, float] = field(default_factory=dict)
    contribution_reference: np.ndarray = field(default_factory=lambda: np.zeros(0))
    train_raw_: np.ndarray | None = field(default=None, repr=False)
    """Training predictions (rows × :attr:`models`), kept in memory to rebuild the references
    once the signal is known; never saved."""

    @property
    def names(self) -> list[str]:
        """The modelled dimensions, in column order of every array."""
        return list(self.models)

    def has_signal(self, name: str) -> bool:
        """Whether dimension ``name`` is modelled and has signal (sets saved before skill gating
        count every modelled dimension)."""
        return name in self.models and self.signal.get(name, True)

    def predict_raw(self, matrix: np.ndarray) -> pd.DataFrame:
        """Each dimension's predicted value (expected realised value / probability)."""
        return pd.DataFrame(self.raw_arrays(matrix), columns=self.names)

    def raw_arrays(self, matrix: np.ndarray) -> np.ndarray:
        """Each dimension's prediction, rows × :attr:`names`."""
        raw = np.empty((len(matrix), len(self.models)))
        for j, model in enumerate(self.models.values()):
            raw[:, j] = model.predict(matrix)
        return raw

    def dimension_scores(self, raw: pd.DataFrame) -> pd.DataFrame:
        """0-100 per dimension: percentile in the training reference, reversed where lower is
        better, so 100 always means "more value"; NaN for a dimension without signal."""
        names = list(raw.columns)
        return pd.DataFrame(
            self.score_arrays(raw.to_numpy(np.float64), names), columns=names, index=raw.index
        )

    def score_arrays(self, raw: np.ndarray, names: list[str] | None = None) -> np.ndarray:
        """:meth:`dimension_scores` on arrays (rows × ``names``, default :attr:`names`)."""
        names = names or self.names
        scores = np.full(raw.shape, np.nan)
        for j, name in enumerate(names):
            if not self.has_signal(name):
                continue
            # A dimension without a reference distribution of its own is a probability.
            reference = self.reference.get(name)
            pct = 100.0 * raw[:, j] if reference is None else percentile(raw[:, j], reference)
            scores[:, j] = pct if BY_NAME[name].higher_is_better else 100.0 - pct
        return scores

    def quadrant_arrays(self, scores: np.ndarray, names: list[str] | None = None) -> np.ndarray:
        """Mean score of each quadrant's dimensions with signal, rows × :data:`QUADRANTS`
        (NaN: no dimension of the quadrant has signal)."""
        names = names or self.names
        out = np.full((len(scores), len(QUADRANTS)), np.nan)
        for q, quadrant in enumerate(QUADRANTS):
            columns = [
                j
                for j, name in enumerate(names)
                if BY_NAME[name].quadrant == quadrant and self.has_signal(name)
            ]
            if columns:
                out[:, q] = scores[:, columns].mean(axis=1)
        return out

    def index(self, scores: pd.DataFrame) -> np.ndarray:
        """The weighted value index (0-100) of dimension scores (dimensions with signal)."""
        return self.index_arrays(scores.to_numpy(np.float64), list(scores.columns))

    def index_arrays(self, scores: np.ndarray, names: list[str] | None = None) -> np.ndarray:
        """:meth:`index` on arrays."""
        names = names or self.names
        weights = np.array([self.weights.get(n, 1.0) if self.has_signal(n) else 0.0 for n in names])
        if weights.sum() <= 0:
            return np.full(len(scores), 50.0)
        return np.nan_to_num(scores) @ weights / weights.sum()

    def contribution_arrays(
        self, raw: np.ndarray, names: list[str] | None = None
    ) -> tuple[list[str], np.ndarray]:
        """The expected contribution of each order in money, by part.

        Dimensions with signal count at their prediction, those without at their training
        average (one :data:`AVERAGE_PART`, the same for every order); shadow-priced dimensions
        count from the typical prediction; the cash cycle costs capital on net revenue.

        Args:
            raw: predictions, rows × ``names`` (default :attr:`names`).

        Returns:
            The part names and an array rows × parts (their sum is the contribution).
        """
        position = {name: j for j, name in enumerate(names or self.names)}

        def expected(name: str) -> np.ndarray | float | None:
            if self.has_signal(name) and name in position:
                return raw[:, position[name]]
            return self.typical.get(name) if name in self.models else None

        parts: dict[str, np.ndarray] = {}
        average = np.zeros(len(raw))
        for name, rate in self.money.per_unit.items():
            value = expected(name)
            if value is None or not rate:
                continue
            if self.has_signal(name):
                parts[name] = rate * value
            else:
                average = average + rate * value
        days, net = expected(CAPITAL_PART), expected("net_revenue")
        rate = self.money.capital_cost_per_year / 365.0
        if rate and days is not None and net is not None:
            cost = -rate * np.maximum(days, 0.0) * np.maximum(net, 0.0) * np.ones(len(raw))
            if self.has_signal(CAPITAL_PART) or self.has_signal("net_revenue"):
                parts[CAPITAL_PART] = cost
            else:
                average = average + cost
        for name, price in self.money.shadow_prices.items():
            if price and self.has_signal(name) and name in position:
                parts[name] = price * (raw[:, position[name]] - self.centre.get(name, 0.0))
        names = [*parts, AVERAGE_PART]
        return names, np.column_stack([*parts.values(), average])

    @property
    def tiers_by_index(self) -> bool:
        """Whether tiers are cut on the value index instead of the contribution: when the data
        gives no dimension with signal a money rate (an export without costs, say), every
        training order has the same contribution and it cannot rank orders."""
        reference = self.contribution_reference
        return len(reference) == 0 or float(np.ptp(reference)) <= 1e-9

    def tiers(self, contribution: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
        """The tier of each order by its expected contribution's percentile among training
        orders (by its value index's, see :attr:`tiers_by_index`)."""
        if self.tiers_by_index and index is not None:
            pct = percentile(index, self.index_reference) / 100.0
        else:
            pct = percentile(contribution, self.contribution_reference) / 100.0
        tier = np.full(len(contribution), "standard", dtype=object)
        for name, cut in sorted(self.tier_cutoffs.items(), key=lambda kv: kv[1]):
            tier[pct >= cut] = name
        return tier

    def predict(self, matrix: np.ndarray) -> dict[str, Any]:
        """Everything the service returns about value, per row.

        Returns:
            ``raw`` (DataFrame, per dimension), ``scores`` (DataFrame, 0-100 per dimension, NaN
            without signal), ``quadrants`` (DataFrame, 0-100 per quadrant), ``index`` (array),
            ``contribution`` (array, money), ``parts`` (DataFrame, money per part) and ``tier``.
        """
        arrays = self.predict_arrays(matrix)
        names = arrays["names"]
        return {
            "raw": pd.DataFrame(arrays["raw"], columns=names),
            "scores": pd.DataFrame(arrays["scores"], columns=names),
            "quadrants": pd.DataFrame(arrays["quadrants"], columns=list(QUADRANTS)),
            "index": arrays["index"],
            "contribution": arrays["contribution"],
            "parts": pd.DataFrame(arrays["parts"], columns=arrays["part_names"]),
            "tier": arrays["tier"],
        }

    def predict_arrays(self, matrix: np.ndarray) -> dict[str, Any]:
        """:meth:`predict` as numpy arrays (the serving hot path: building the frames cost
        more than the models themselves on a one-order request).

        Returns:
            ``names`` (the dimensions, in column order), ``raw`` and ``scores`` (rows ×
            dimensions), ``quadrants`` (rows × :data:`QUADRANTS`), ``index``, ``part_names``,
            ``parts`` (rows × parts), ``contribution`` and ``tier``.
        """
        return self.score_raw(self.names, self.raw_arrays(matrix))

    def score_raw(self, names: list[str], raw: np.ndarray) -> dict[str, Any]:
        """:meth:`predict_arrays` from predictions already made (``raw``: rows × ``names``):
        the serving hot path predicts with compiled trees, and takes ``on_time_delivery`` from
        the delay model."""
        scores = self.score_arrays(raw, names)
        part_names, parts = self.contribution_arrays(raw, names)
        contribution = parts.sum(axis=1)
        index = self.index_arrays(scores, names)
        return {
            "names": names,
            "raw": raw,
            "scores": scores,
            "quadrants": self.quadrant_arrays(scores, names),
            "index": index,
            "part_names": part_names,
            "parts": parts,
            "contribution": contribution,
            "tier": self.tiers(contribution, index),
        }

    def base_scores(self) -> dict[str, float]:
        """Each dimension's score at its typical prediction (the training mean: what value
        reasons count from), for every modelled dimension."""
        out = {}
        for name in self.models:
            typical = self.centre.get(name)
            if typical is None or name not in self.reference:
                continue
            pct = float(percentile(np.array([typical]), self.reference[name])[0])
            out[name] = pct if BY_NAME[name].higher_is_better else 100.0 - pct
        return out

    def gate(self, signal: dict[str, bool]) -> None:
        """Set each dimension's signal (from the test window's skill) and rebuild the index and
        contribution references on the training predictions accordingly."""
        self.signal = {name: bool(signal.get(name, False)) for name in self.models}
        self._rebuild_references()

    def _rebuild_references(self) -> None:
        if self.train_raw_ is None:
            raise RuntimeError("references need the training predictions (train_value keeps them)")
        scores = self.score_arrays(self.train_raw_)
        self.index_reference = np.quantile(self.index_arrays(scores), QUANTILES)
        _, parts = self.contribution_arrays(self.train_raw_)
        self.contribution_reference = np.quantile(parts.sum(axis=1), QUANTILES)

    def scoring_record(self) -> dict[str, Any]:
        """What the model set's manifest keeps about value scoring (JSON-ready)."""
        return {
            "weights": self.weights,
            "tier_cutoffs": self.tier_cutoffs,
            "index_reference": self.index_reference.tolist(),
            "signal": self.signal,
            "money": self.money.as_dict(),
            "typical": self.typical,
            "centre": self.centre,
            "contribution_reference": self.contribution_reference.tolist(),
        }

    def apply_scoring_record(self, record: dict[str, Any]) -> ValueModels:
        """Restore what :meth:`scoring_record` wrote (sets saved before money and skill gating
        lack those entries: every dimension then has signal and the contribution is empty)."""
        self.weights = record["weights"]
        self.tier_cutoffs = record["tier_cutoffs"]
        self.index_reference = np.asarray(record["index_reference"])
        self.signal = dict(record.get("signal", {}))
        money = record.get("money", {})
        self.money = Money(
            money.get("currency", "CNY"),
            money.get("per_unit", {}),
            money.get("shadow_prices", {}),
            money.get("capital_cost_per_year", 0.0),
        )
        self.typical = record.get("typical", {})
        self.centre = record.get("centre", {})
        self.contribution_reference = np.asarray(
            record.get("contribution_reference", self.index_reference)
        )
        return self


def train_value(
    frame: pd.DataFrame,
    training: TrainingSettings,
    *,
    rounds: int | None = None,
    skipped_views: tuple[str, ...] = (),
    money: Money | None = None,
    log: Any = print,
) -> ValueModels:
    """Fit one model per dimension on a value training set with a ``split`` column.

    Dimensions whose realised target is absent (all missing) are skipped and said so. Every
    dimension has signal until :meth:`ValueModels.gate` is told otherwise (after evaluation).

    Args:
        money: the money conversion factors (default: none, the contribution is empty).
    """
    spec = fit_feature_spec(frame[frame["split"] == "train"], skipped_views=skipped_views)
    parts = {s: frame[frame["split"] == s] for s in ("train", "validation")}
    x = {s: to_matrix(part, spec) for s, part in parts.items()}
    rounds = rounds or training.max_rounds
    models: dict[str, lgb.Booster | ScaledBooster] = {}
    # Every dimension learns from the same rows: bin them once (dataset settings do not depend
    # on the objective).
    binned = boosting.bin_matrices(
        boosting.base_params(training, "regression"), spec, x["train"], x["validation"]
    )
    for dim in DIMENSIONS:
        y = {s: part[dim.name].to_numpy(np.float64) for s, part in parts.items()}
        # An export without the scale or known-part feature's values models the dimension
        # without it.
        index = _column_with_values(spec, x["train"], SCALED_DIMENSIONS.get(dim.name))
        known = _column_with_values(spec, x["train"], KNOWN_PARTS.get(dim.name))
        typical = float(np.nanmedian(x["train"][:, index])) if index >= 0 else 1.0
        wrapper = ScaledBooster(None, index=index, typical=typical, known=known)
        if known >= 0:
            wrapper.known_mean = float(np.mean(wrapper.known_part(x["train"])))
        scaled = index >= 0 or known >= 0
        if scaled:
            y = {
                s: (values - wrapper.known_part(x[s])) / wrapper.scale(x[s])
                for s, values in y.items()
            }
        keep = {s: np.isfinite(v) for s, v in y.items()}
        if keep["train"].sum() < 10:
            log(f"value: {dim.name} skipped (no realised target in the data)")
            continue
        train_xy = (x["train"][keep["train"]], y["train"][keep["train"]])
        valid_xy = (x["validation"][keep["validation"]], y["validation"][keep["validation"]])
        if keep["validation"].sum() < 2:
            # A target derived from the order history (repeat purchase in 90 days) is not
            # realised yet for the latest orders: stop early on the last realised training rows.
            train_xy, valid_xy = _last_share(train_xy, 0.2)
            log(f"value: {dim.name} early-stopped on the last realised training orders")
        # No linear_tree here although it fits money-like targets far better (net revenue R²
        # 0.64 → 0.96 on 20k orders): LightGBM cannot compute TreeSHAP for linear trees, and
        # value reasons and model cards need it. The better fix is a feature (net order value).
        objective = (
            "binary"
            if dim.binary
            else "regression"
            if scaled
            else OBJECTIVES.get(dim.name, "regression")
        )
        params = boosting.base_params(training, objective)
        booster = boosting.fit(
            params,
            spec,
            train_xy,
            valid_xy,
            rounds=rounds,
            early_stopping=training.early_stopping_rounds,
            # A dimension realised on only some orders trains on those rows, binned anew.
            binned=binned if all(k.all() for k in keep.values()) else None,
        )
        if scaled:
            wrapper.booster = booster
        models[dim.name] = wrapper if scaled else booster
    value = ValueModels(spec, models, money=money or Money())
    raw = value.raw_arrays(x["train"])
    value.train_raw_ = raw
    value.reference = {
        name: np.quantile(raw[:, j], QUANTILES) for j, name in enumerate(value.names)
    }
    value.weights = {name: training.value_weights.get(name, 1.0) for name in models}
    value.tier_cutoffs = dict(training.tier_cutoffs)
    train_part = parts["train"]
    value.typical = {
        name: float(np.nanmean(train_part[name].to_numpy(np.float64))) for name in models
    }
    value.centre = {name: float(raw[:, j].mean()) for j, name in enumerate(value.names)}
    value.gate(dict.fromkeys(models, True))  # until the test window says otherwise
    log(f"value: {len(models)} dimension models")
    return value


def _column_with_values(spec: FeatureSpec, train: np.ndarray, name: str | None) -> int:
    """The matrix column of feature ``name`` if it has a value on some training row, else -1."""
    if name not in spec.names:
        return -1
    index = spec.names.index(name)
    return index if bool(np.isfinite(train[:, index]).any()) else -1


def gate_by_skill(value: ValueModels, skills: dict[str, dict[str, Any]], log: Any = print) -> None:
    """Give the dimensions whose test-window skill does not clear chance zero weight (see
    :func:`training.evaluate.evaluate_value` for ``skills``) and say which."""
    value.gate({name: bool(skills.get(name, {}).get("signal")) for name in value.models})
    silent = [name for name in value.models if not value.signal[name]]
    if silent:
        log(f"value: no signal on the test window (zero weight): {', '.join(silent)}")


NO_SIGNAL = "no_signal"
NOT_AVAILABLE = "not_available"


def value_payloads(value: ValueModels, arrays: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``value`` part of each order's prediction, JSON-ready, from :meth:`ValueModels.
    predict_arrays`: index, tier, quadrants, the 19 dimensions and the contribution in money.

    A dimension with signal carries its 0-100 ``score``; one without carries ``score: null``
    and ``status: "no_signal"``; one the data could not train (no realised target) ``status:
    "not_available"``. A quadrant with no dimension with signal is null. Values are rounded in
    numpy once: per order only dicts are built (the serving hot path).
    """
    names = arrays["names"]
    n = len(arrays["index"])
    scores = np.round(arrays["scores"], 2).tolist()
    quadrants = np.round(arrays["quadrants"], 2).tolist()
    index = np.round(arrays["index"], 2).tolist()
    contribution = np.round(arrays["contribution"], 2).tolist()
    parts = np.round(arrays["parts"], 2).tolist()
    part_names = arrays["part_names"]
    # Every order's dimensions start from one template in DIMENSION_NAMES order: the entries
    # without a score are shared between orders (nothing adds to them: only dimensions with
    # signal get reasons), and only the scored ones are new dicts per order.
    template: dict[str, Any] = {
        name: {"score": None, "status": NO_SIGNAL if name in value.models else NOT_AVAILABLE}
        for name in DIMENSION_NAMES
    }
    signal = [(j, name) for j, name in enumerate(names) if value.has_signal(name)]
    currency = value.money.currency
    out = []
    for i in range(n):
        row = scores[i]
        dims = template.copy()
        for j, name in signal:
            dims[name] = {"score": row[j], "status": "signal"}
        out.append(
            {
                "index": index[i],
                "tier": str(arrays["tier"][i]),
                "quadrants": {
                    q: (None if v != v else v) for q, v in zip(QUADRANTS, quadrants[i], strict=True)
                },
                "dimensions": dims,
                "contribution": {
                    "amount": contribution[i],
                    "currency": currency,
                    "parts": dict(zip(part_names, parts[i], strict=True)),
                },
            }
        )
    return out


def value_metadata(value: ValueModels) -> dict[str, Any]:
    """What ``/metadata`` says about value scoring: each dimension's status (``signal``,
    ``no_signal``, ``not_available``), the money conversion and the tiers' cut points."""
    return {
        "dimensions": {
            name: "signal"
            if value.has_signal(name)
            else NO_SIGNAL
            if name in value.models
            else NOT_AVAILABLE
            for name in DIMENSION_NAMES
        },
        "money": value.money.as_dict(),
        "tiers_by": (
            "value index percentile among training orders (no dimension with signal has a "
            "money rate)"
            if value.tiers_by_index
            else "expected contribution percentile among training orders"
        ),
        "tier_cutoffs": value.tier_cutoffs,
        "weights": {n: w for n, w in value.weights.items() if value.has_signal(n)},
    }


def realised_contribution(
    money: Money, realised: pd.DataFrame, centre: dict[str, float] | None = None
) -> pd.DataFrame:
    """The contribution each order actually made, in money, by part: the same conversion as
    :meth:`ValueModels.contribution_arrays` applied to realised values (every dimension counts
    at what happened; a dimension not realised counts as nothing).

    Args:
        money: the conversion factors.
        realised: one row per order with the realised dimensions (``value_targets`` columns).
        centre: where shadow prices count from (default: the realised mean of ``realised``).

    Returns:
        One column per part and ``contribution`` (their sum), aligned with ``realised``.
    """
    # A dimension the data never realises (an export without it) is no part at all.
    realised = realised.loc[:, realised.notna().any()]
    parts: dict[str, pd.Series] = {}
    for name, rate in money.per_unit.items():
        if rate and name in realised:
            parts[name] = rate * realised[name].fillna(0.0)
    rate = money.capital_cost_per_year / 365.0
    if rate and {CAPITAL_PART, "net_revenue"} <= set(realised.columns):
        days = realised[CAPITAL_PART].clip(lower=0).fillna(0.0)
        parts[CAPITAL_PART] = -rate * days * realised["net_revenue"].clip(lower=0).fillna(0.0)
    for name, price in money.shadow_prices.items():
        if price and name in realised:
            middle = (centre or {}).get(name, realised[name].mean())
            parts[name] = price * (realised[name] - middle).fillna(0.0)
    frame = pd.DataFrame(parts, index=realised.index)
    frame["contribution"] = frame.sum(axis=1)
    return frame


def _last_share(
    train: tuple[np.ndarray, np.ndarray], share: float
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The training rows split in time order (rows are time-ordered): the first ``1 - share``
    to fit, the last ``share`` to stop early on."""
    x, y = train
    cut = max(int(len(y) * (1 - share)), 1)
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])
