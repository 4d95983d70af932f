"""The prediction hot path, vectorised over a batch: request columns + online features → one
matrix per model family → one predict call per model → reasons where they are needed → the
action policy → JSON-ready predictions.

HTTP, the ledger and the prediction log live in :mod:`serving.service`; this module is plain
Python and numpy so it can be called (and benchmarked) in-process. A :class:`Scorer` holds one
model set; a promotion builds a new one and the service swaps the reference.

Reasons cost far more than predictions (exact TreeSHAP), so delay reasons are computed only for
orders whose risk may be acted on — risk at or above the policy's ``high`` level, a rule testing
the reasons that may fire, or an action chosen by a rule on the delay prediction — and for every
order of a small batch, so a one-order call always explains itself. An order acting on its value
tier alone carries no delay reasons in a large batch: its actions' own ``reason`` says why.
Value-dimension reasons are computed only for orders with ``explain_value``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.online import OnlineFeatures, utc_times
from features.transforms.orders import (
    order_feature_columns,
    promotion_peaks,
    request_time_features,
)
from orderlens.dimensions import BY_NAME, DIMENSION_NAMES, QUADRANTS
from orderlens.reasons import render_reason
from orderlens.settings import OrderExtra
from serving.compiled import SharedTrees, ValueForest
from serving.policy import Action, Policy, ScoredOrder, evaluate_policy, may_act
from serving.schemas import Order
from training.explain import (
    extra_traits,
    group_matrix,
    reason_context,
    reason_group,
    top_reasons,
)
from training.matrix import FeatureSpec, to_matrix
from training.registry import ModelSet
from training.value import percentile, value_payloads

ENTITY_FIELDS = ("order_id", "customer_id", "carrier_id", "warehouse_id", "dest_region")
ORDER_FIELDS = (
    *ENTITY_FIELDS,
    "channel",
    "category",
    "service_level",
    "payment_method",
    "n_items",
    "order_value",
    "discount",
    "freight_cost",
    "cogs",
    "dest_lat",
    "dest_lon",
    "origin_region",
    "origin_lat",
    "origin_lon",
    "is_presale",
    "needs_customization",
    "cold_chain",
    "has_gift",
    "is_b2b",
)
# trk_stage (0 created … 6 delivered) → the policy's order state; 2 = departed the origin.
_DELIVERED_STAGE, _SHIPPED_STAGE = 6, 2
TOP_REASONS = 3
ON_TIME_DIMENSION = "on_time_delivery"
EXPLAINED_DIMENSIONS = 3
"""Value dimensions explained per order asking for value reasons: those driving its index."""


REQUEST_TIME_FIELDS = ("stage", "push_dismissals", "contact_preferences", "explain_value")
"""Request-time fields beside the order's own: what the caller knows now."""
TIME_FIELDS = ("created_at", "promised_at", "as_of")


def request_columns(orders: Sequence[Order]) -> dict[str, Any]:
    """A validated request as columns, built once: order fields and request-time fields as
    lists, the three times as naive-UTC ``datetime64[us]`` arrays, and ``lane_id``.

    Times are in UTC because the day-keyed views and the request-time features were built from
    UTC timestamps (a +08:00 ``as_of`` would otherwise read the wrong day's row).
    """
    rows = [order.__dict__ for order in orders]  # cheaper than model_dump on the hot path
    # Column by column, one comprehension each: a third of the cost of appending field by field
    # order by order.
    columns: dict[str, Any] = {
        name: [row.get(name) for row in rows] for name in (*ORDER_FIELDS, *REQUEST_TIME_FIELDS)
    }
    for name in TIME_FIELDS:
        columns[name] = utc_times([row[name] for row in rows])
    columns["explain_value"] = np.array(columns["explain_value"], dtype=bool)
    if orders:  # the shop's declared extra order columns (serving.schemas.request_model)
        for name in type(orders[0]).model_fields.keys() - Order.model_fields.keys():
            columns[name] = [getattr(o, name) for o in orders]
    return _with_lane(columns)


def frame_columns(frame: pd.DataFrame) -> dict[str, Any]:
    """A frame of orders (typed by the orders contract) as the columns :class:`Scorer` reads:
    batch scoring's counterpart of :func:`request_columns` (absent optional fields are None)."""
    n = len(frame)
    columns: dict[str, Any] = {}
    for name in (*ORDER_FIELDS, *REQUEST_TIME_FIELDS):
        if name in frame:
            values = frame[name]
            columns[name] = values.astype(object).where(values.notna(), None).tolist()
        else:
            columns[name] = [None] * n
    for name in TIME_FIELDS:
        columns[name] = utc_times(frame[name])
    columns["explain_value"] = np.array([bool(v) for v in columns["explain_value"]], dtype=bool)
    for name in frame.columns:  # a shop's extra order columns (declared ones become features)
        columns.setdefault(name, frame[name].tolist())
    return _with_lane(columns)


def _with_lane(columns: dict[str, Any]) -> dict[str, Any]:
    columns["lane_id"] = [
        f"{c}|{d}" for c, d in zip(columns["carrier_id"], columns["dest_region"], strict=True)
    ]
    return columns


def request_only_features(columns: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """What the online read adds that the request alone can give: the request-time features
    (the degraded answer when the store is slow or down)."""
    times = request_time_features(columns["as_of"], columns["created_at"], columns["promised_at"])
    return {name: np.asarray(values, dtype=np.float64) for name, values in times.items()}


@dataclass(frozen=True)
class BatchResult:
    """Predictions (JSON-ready dicts in the :class:`~serving.schemas.Prediction` shape, ``fired``
    still unset) and, per prediction, the policy's actions in the same order as its
    ``actions`` list."""

    predictions: list[dict[str, Any]]
    actions: list[list[Action]]
    explained: int
    log_scores: dict[str, Any] | None = None
    """The prediction log's score columns (:data:`serving.prediction_log.SCORE_COLUMNS`), one
    value per order: the log is written from columns, not read back out of the answer."""


@dataclass(frozen=True)
class Scores:
    """The numbers of a scored batch, one array entry per order.

    Attributes:
        features: every model feature as a column (plus the online values reason texts name).
        delay_x, value_x: the delay and value model matrices.
        p_late, expected_hours, p90_hours: the delay predictions as of each order's ``as_of``.
        p_late_at_creation: P(late) from the same delay model with what was known when the
            order was placed (``on_time_delivery`` is its complement: one truth).
        value: :meth:`~training.value.ValueModels.score_raw`'s arrays (names, raw, scores,
            quadrants, index, tier).
    """

    features: dict[str, Any]
    delay_x: np.ndarray
    value_x: np.ndarray
    p_late: np.ndarray
    expected_hours: np.ndarray
    p90_hours: np.ndarray
    p_late_at_creation: np.ndarray
    value: dict[str, Any]


class Scorer:
    """Scores batches with one model set and one action policy.

    Args:
        models: the loaded model set (LightGBM boosters: the reference).
        policy: the compiled action policy.
        explain_all_up_to: batches of at most this many orders get delay reasons for every order.
        fast: the same model set predicting and explaining (TreeSHAP) with compiled trees
            (:func:`serving.compiled.compiled_model_set`); None: the boosters do both.
        threads: threads per large prediction (batch scoring: every core; a service worker: 1).
        display_names: per column, display names of its codes for reason texts
            (``settings.display.names``).
    """

    def __init__(
        self,
        models: ModelSet,
        policy: Policy,
        *,
        explain_all_up_to: int = 10,
        fast: ModelSet | None = None,
        threads: int = 1,
        display_names: Mapping[str, Mapping[str, str]] | None = None,
        promotions: Any = None,
    ) -> None:
        self.models = models
        self.display_names = display_names or {}
        # The business's promotion calendar (settings.business.promotions), as features use it.
        self._peaks = promotion_peaks(promotions)
        self.fast = fast or models
        self._threads = threads
        self.policy = policy
        self.explain_all_up_to = explain_all_up_to
        self.version = models.version
        self.model_versions = {
            k: str(v)
            for k, v in {
                "model_set": models.version,
                "code": models.manifest.get("code_version"),
                "nlp": models.manifest.get("nlp_version"),
            }.items()
            if v is not None
        }
        self.delay_names = models.delay.spec.names
        self.value_names = models.value.spec.names
        self._categorical = {*models.delay.spec.categories, *models.value.spec.categories}
        self._high = next(t for t, level in policy.risk_thresholds if level == "high")
        self._reason_rules = [r for r in policy.rules if r.on_reasons]
        self._risk_rules = frozenset(r.name for r in policy.rules if r.on_risk)
        self._value_groups = group_matrix(self.value_names)
        # on_time_delivery is 1 - P(late at creation) from the delay model, not a model of its own.
        self._value_models = {
            name: model for name, model in models.value.models.items() if name != ON_TIME_DIMENSION
        }
        # Only dimensions with signal are predicted: one without is answered null, weighs nothing
        # in the index and counts at its training average in the contribution, so its trees
        # (demo champion: 5 dimensions, 112 of 1,255 trees) would be walked for nothing.
        predicted = [n for n in self._value_models if models.value.has_signal(n)]
        self._value_positions = [list(self._value_models).index(n) for n in predicted]
        self._value_forest = ValueForest(
            {n: self._value_models[n] for n in predicted}, len(self.value_names), threads
        )
        self._value_base = self._value_base_scores()
        self._creation_view = _creation_view(self.delay_names)
        self._creation_trees = self._shared_creation_trees()
        self._value_columns = _shared_columns(models.delay.spec, models.value.spec)
        # The shop's extra order columns the set was trained with (settings at training time).
        self.order_extras = tuple(
            OrderExtra(**extra) for extra in models.manifest.get("order_extras", [])
        )
        # Order-profile features of the delay model (positions), to name the extras that drive
        # that reason; none when the set has no extra column.
        self._profile_extras = [e for e in self.order_extras if e.feature in self.delay_names]
        self._profile_features = [
            (j, name)
            for j, name in enumerate(self.delay_names)
            if reason_group(name) == "order_profile"
        ]

    # ---- the numbers --------------------------------------------------------------------------

    def predict(self, columns: Mapping[str, Any], online: Mapping[str, Any]) -> Scores:
        """Every prediction of a batch as arrays (what batch scoring writes; :meth:`score` adds
        reasons, the policy and the response).

        Args:
            columns: :func:`request_columns` or :func:`frame_columns`.
            online: online feature values (``{feature: array}``) with the request-time
                features; :func:`request_only_features` when the store did not answer.
        """
        n = len(columns["order_id"])
        features = self._feature_columns(columns, online, n)
        models = self.fast
        delay_x = models.delay_matrix(features)
        value_x = self._value_matrix(delay_x, features)
        shared = None
        if self._creation_trees is None:
            delay = models.predict_delay(delay_x)
        else:  # the creation classifier's trees both views share, walked once
            shared = self._creation_trees.shared.raw(delay_x, self._threads)[:, 0]
            created = models.delay.creation_rows(delay_x)
            delay = self._delay_given(shared[created]).predict(delay_x)
        at_creation = self._p_late_at_creation(columns, delay_x, delay["p_late"], shared)
        names = [*self._value_models, ON_TIME_DIMENSION]
        raw = np.full((n, len(names)), np.nan)  # NaN: a dimension without signal
        raw[:, self._value_positions] = self._value_forest.predict(value_x)
        raw[:, -1] = 1.0 - at_creation
        value = self.models.value.score_raw(names, raw)
        return Scores(
            features,
            delay_x,
            value_x,
            delay["p_late"],
            delay["hours"],
            delay["hours_p90"],
            at_creation,
            value,
        )

    def _value_matrix(self, delay_x: np.ndarray, features: Mapping[str, Any]) -> np.ndarray:
        """The value model matrix: the columns it shares with the delay matrix (same feature,
        same coding) taken from it, the others built from ``features``; equal to
        ``models.value_matrix(features)`` at a fraction of its cost (the value features are
        nearly all delay features)."""
        source, own_spec, own_positions = self._value_columns
        value_x = delay_x.take(source, axis=1)  # row-major in, row-major out
        if own_positions:
            value_x[:, own_positions] = to_matrix(features, own_spec)
        return value_x

    def _shared_creation_trees(self) -> SharedTrees | None:
        """The creation classifier split into the trees that never read a column the creation
        view changes and the rest (:class:`~serving.compiled.SharedTrees`), or None when there is
        no classifier of its own or most of its trees read such a column.

        Demo champion: 331 of the creation classifier's 364 trees are shared, so an order's
        second pass through it (P(late) at creation) walks 33 trees instead of 364."""
        delay = self.models.delay
        if delay.creation_classifier is None or delay.blend <= 0:
            return None
        blank, promised, since, hour, _ = self._creation_view
        changed = [*blank, *(j for j in (promised, since, hour) if j is not None)]
        trees = SharedTrees(delay.creation_classifier, changed, self._threads)
        return trees if trees.share >= 0.5 else None

    def _delay_given(self, shared: np.ndarray) -> Any:
        """The compiled delay models with the creation classifier's shared trees already
        walked for the rows it will score (``shared``, in their order)."""
        assert self._creation_trees is not None
        return dataclasses.replace(
            self.fast.delay, creation_classifier=self._creation_trees.given(shared)
        )

    def _p_late_at_creation(
        self,
        columns: Mapping[str, Any],
        delay_x: np.ndarray,
        p_late: np.ndarray,
        shared: np.ndarray | None = None,
    ) -> np.ndarray:
        """P(late) of each order as the delay model saw it when the order was placed: no scans,
        no tickets on the order, the request-time features at ``created_at`` (``shared``: the
        creation classifier's shared trees' raw score of every order, see
        :meth:`_shared_creation_trees`)."""
        later = np.flatnonzero(columns["as_of"] > columns["created_at"])
        out = p_late.copy()
        if len(later):
            x = delay_x[later]
            blank, promised, since, hour, created_hour = self._creation_view
            x[:, blank] = np.nan
            if since is not None:
                x[:, since] = 0.0
            if promised is not None and "promised_hours" in self.delay_names:
                x[:, promised] = x[:, self.delay_names.index("promised_hours")]
            if hour is not None and created_hour is not None:
                x[:, hour] = x[:, created_hour]
            delay = self.fast.delay if shared is None else self._delay_given(shared[later])
            out[later] = delay.calibrator.predict(delay.raw_probability(x), x)
        return out

    def _shop_traits(self, features: Mapping[str, Any], i: int, contributions: np.ndarray) -> Any:
        """The shop's own columns behind order ``i``'s order-profile reason, by their labels."""
        profile = {name: float(contributions[j]) for j, name in self._profile_features}
        return extra_traits(_Row(features, i), profile, self._profile_extras, self.display_names)

    # ---- the batch ----------------------------------------------------------------------------

    def score(
        self,
        columns: Mapping[str, Any],
        online: OnlineFeatures | None,
        degraded: Sequence[str] = (),
    ) -> BatchResult:
        """Score one batch: predictions, reasons where needed, the policy's actions.

        Args:
            columns: :func:`request_columns` of the request.
            online: the batch's online features, or None when the store did not answer (the
                answer then comes from the request alone).
            degraded: why the whole answer is degraded (the store's breaker); each prediction
                also names every feature view it could not use.
        """
        n = len(columns["order_id"])
        if online is None:
            values: Mapping[str, Any] = request_only_features(columns)
            ages: Mapping[str, np.ndarray] = {}
            per_order = [list(degraded) for _ in range(n)]
        else:
            values, ages = online.values, online.ages
            per_order = [[*degraded, *views] for views in online.degraded(n)]
        scores = self.predict(columns, values)
        features, delay_x = scores.features, scores.delay_x
        p_late, hours, p90 = scores.p_late, scores.expected_hours, scores.p90_hours
        value = scores.value
        tiers, index = value["tier"], value["index"]
        stages = self._stages(columns, values, online is None)
        order_ids = columns["order_id"]
        dismissals = columns["push_dismissals"]
        preferences = columns["contact_preferences"]
        order_values = columns["order_value"]

        def scored(i: int, groups: tuple[str, ...] = ()) -> ScoredOrder:
            return ScoredOrder(
                order_id=order_ids[i],
                p_late=float(p_late[i]),
                expected_hours=float(hours[i]),
                p90_hours=float(p90[i]),
                reason_groups=groups,
                stage=stages[i],
                tier=str(tiers[i]),
                value_index=float(index[i]),
                push_dismissals=dismissals[i] or 0,
                contact_preferences=tuple(preferences[i] or ()),
                order_value=order_values[i],  # the policy's suggest_when may test it
            )

        # Pass 1 without reasons decides who needs them; pass 2 re-evaluates those with them.
        # Pass 1 is skipped where its answer cannot matter: orders explained anyway (a small
        # batch, risk at or above ``high``) and orders no rule can fire for (screened on the
        # batch's arrays at once).
        actions: list[list[Action]] = [[] for _ in range(n)]
        screen = {
            "p_late": p_late,
            "expected_hours": hours,
            "p90_hours": p90,
            "value_index": index,
            "tier": tiers,
        }
        screened = may_act(self.policy, screen)
        if n <= self.explain_all_up_to:
            explain = np.arange(n)
        else:
            # Reasons are needed where a rule testing them may fire (judged on the arrays)
            # and for risk at or above ``high``; pass 1 then finds who acts on its risk below
            # that. An order acting on its value tier alone gets no delay reasons: nothing
            # about its risk is acted on (TreeSHAP is ~0.4 ms an order; the demo's platinum
            # orders were two thirds of the orders explained).
            needs_reasons = (p_late >= self._high) | may_act(
                self.policy, screen, rules=self._reason_rules
            )
            for i in np.flatnonzero(screened & ~needs_reasons).tolist():
                actions[i] = evaluate_policy(self.policy, scored(i))
            on_risk = np.fromiter(
                (any(a.rule in self._risk_rules for a in chosen) for chosen in actions),
                dtype=bool,
                count=n,
            )
            explain = np.flatnonzero(needs_reasons | on_risk)
        reasons: list[list[dict[str, Any]]] = [[] for _ in range(n)]
        if len(explain):
            # TreeSHAP on the compiled trees (serving.compiled.TreeShap: LightGBM's values, 3x
            # faster) and P(late) of the explained rows from them.
            contributions = self.fast.delay.contributions(delay_x[explain])
            points = self.fast.delay.explain(delay_x[explain], contributions)
            tops = top_reasons(points, top=TOP_REASONS)
            for k, (i, top) in enumerate(zip(explain.tolist(), tops, strict=True)):
                context = reason_context(_Row(features, i), self.display_names)
                if self._profile_extras and any(g == "order_profile" for g, _ in top):
                    context["shop_traits"] = self._shop_traits(features, i, contributions[k])
                reasons[i] = [
                    {
                        "group": g,
                        "text": render_reason(g, pts, context),
                        "contribution": round(pts, 2),
                    }
                    for g, pts in top
                ]
                if screened[i]:
                    actions[i] = evaluate_policy(self.policy, scored(i, tuple(g for g, _ in top)))
        score_names = value["names"]
        value_reasons = self._value_reasons(
            columns,
            scores.value_x,
            dict(zip(score_names, value["scores"].T, strict=True)),
            features,
        )

        freshness = _freshness(ages, n)
        # Rows of plain floats, rounded in numpy once: per-order work is only dict building.
        value_parts = value_payloads(self.models.value, value)
        p_list = np.round(p_late, 4).tolist()
        hours_list, p90_list = np.round(hours, 2).tolist(), np.round(p90, 2).tolist()
        levels = risk_levels(self.policy, p_late)
        predictions = []
        for i in range(n):
            for d, dim_reasons in value_reasons.get(i, {}).items():
                value_parts[i]["dimensions"][d]["reasons"] = dim_reasons
            predictions.append(
                {
                    "order_id": order_ids[i],
                    "delay": {
                        "probability": p_list[i],
                        "expected_hours": hours_list[i],
                        "p90_hours": p90_list[i],
                        "risk_level": levels[i],
                        "reasons": reasons[i],
                    },
                    "value": value_parts[i],
                    "actions": [],
                    "model_versions": self.model_versions,
                    "feature_freshness": freshness[i],
                    "degraded": per_order[i],
                }
            )
        log_scores = {
            "p_late": p_list,
            "expected_hours": hours_list,
            "p90_hours": p90_list,
            "risk_level": levels,
            "top_reason_group": [r[0]["group"] if r else None for r in reasons],
            "degraded": ["|".join(d) for d in per_order],
            **self._value_log_columns(value),
        }
        return BatchResult(predictions, actions, len(explain), log_scores)

    # ---- pieces -------------------------------------------------------------------------------

    def _value_log_columns(self, value: Mapping[str, Any]) -> dict[str, list[Any]]:
        """The prediction log's value columns, read from the value arrays as the payloads are
        (:func:`training.value.value_payloads`): a dimension without signal or never trained
        logs no score, a quadrant without a dimension with signal logs none."""
        n = len(value["index"])
        quadrants = np.round(value["quadrants"], 2)
        scores = np.round(value["scores"], 2).T.tolist()
        logged = {
            name: column
            for name, column in zip(value["names"], scores, strict=True)
            if self.models.value.has_signal(name)
        }
        return {
            "value_index": np.round(value["index"], 2).tolist(),
            "tier": [str(t) for t in value["tier"]],
            **{
                f"quadrant_{q}": [None if v != v else v for v in column]
                for q, column in zip(QUADRANTS, quadrants.T.tolist(), strict=True)
            },
            **{f"dim_{name}": logged.get(name, [None] * n) for name in DIMENSION_NAMES},
        }

    def _feature_columns(
        self, columns: Mapping[str, Any], online: Mapping[str, Any], n: int
    ) -> dict[str, Any]:
        """Every model feature as a column: request fields win over the store; a feature
        neither has is missing (NaN), which LightGBM routes like a missing value."""
        order = order_feature_columns(columns, self._peaks, self.order_extras)
        features: dict[str, Any] = {}
        for name in dict.fromkeys((*self.delay_names, *self.value_names)):
            if name in order:
                features[name] = order[name]
            elif name in online:
                features[name] = online[name]
            else:
                features[name] = np.full(n, np.nan)
        # Reason texts name a few non-feature values (alert type, last exception, ...).
        for name, values in online.items():
            features.setdefault(name, values)
        return features

    def _stages(
        self, columns: Mapping[str, Any], online: Mapping[str, Any], store_down: bool
    ) -> list[str | None]:
        """The order state: the request's, else from tracking; unknown when the store did not
        answer. An order the store has no scan for has not been shipped yet."""
        tracked = online.get("trk_stage")
        stages: list[str | None] = []
        for i, stage in enumerate(columns["stage"]):
            if stage is not None:
                stages.append(stage)
            elif tracked is None:
                stages.append(None if store_down else "not_shipped")
            else:
                scan = tracked[i]
                stages.append(
                    "not_shipped"
                    if scan is None or not scan >= _SHIPPED_STAGE  # NaN: no scan
                    else "delivered"
                    if scan >= _DELIVERED_STAGE
                    else "in_transit"
                )
        return stages

    def _value_base_scores(self) -> dict[str, float]:
        """Each dimension's score at its model's expected prediction (the SHAP base value)."""
        if not self.value_names:
            return {}
        typical = self.models.value.base_scores()  # natural units, whatever the model's link
        if typical:
            return typical
        probe = np.full((1, len(self.value_names)), np.nan)
        base = {}
        for name, model in self.models.value.models.items():
            bias = float(model.predict(probe, pred_contrib=True)[0, -1])
            pct = float(percentile(np.array([bias]), self.models.value.reference[name])[0])
            base[name] = pct if BY_NAME[name].higher_is_better else 100.0 - pct
        return base

    def _value_reasons(
        self,
        columns: Mapping[str, Any],
        value_x: np.ndarray,
        scores: Mapping[str, np.ndarray],
        features: Mapping[str, Any],
    ) -> dict[int, dict[str, list[dict[str, Any]]]]:
        """Top reasons for the value dimensions that drive each asking order's value index
        (``explain_value``): the :data:`EXPLAINED_DIMENSIONS` dimensions whose weighted scores
        stand furthest from their base, the ones that move the index and so the tier.

        Explaining all 18 model dimensions cost 3.9 ms per order (exact TreeSHAP of each model,
        demo home); the three that drive the index cost a sixth of it. TreeSHAP explains a
        dimension's raw prediction; each order's contributions are rescaled to add up to its
        score minus the base score, so they read as points of the 0–100 score (sign included: a
        feature raising fulfilment cost lowers that dimension's score). ``on_time_delivery``
        comes from the delay model: its reasons are the delay reasons.
        """
        rows = np.flatnonzero(columns["explain_value"])
        value = self.models.value
        # A dimension without signal has no score to explain.
        names = [n for n in self._value_models if n in self._value_base and value.has_signal(n)]
        if not len(rows) or not names:
            return {}
        weights = self.models.value.weights
        pull = np.column_stack(
            [weights.get(n, 1.0) * np.abs(scores[n][rows] - self._value_base[n]) for n in names]
        )
        k = min(EXPLAINED_DIMENSIONS, len(names))
        chosen = np.argsort(-pull, axis=1)[:, :k]
        out: dict[int, dict[str, list[dict[str, Any]]]] = {int(i): {} for i in rows}
        for j, name in enumerate(names):
            mine = rows[(chosen == j).any(axis=1)]
            if not len(mine):
                continue
            model = self.fast.value.models[name]  # TreeSHAP tables built on first use
            contrib = model.predict(value_x[mine], pred_contrib=True)[:, :-1]
            grouped = contrib @ self._value_groups
            total = grouped.sum(axis=1)
            delta = scores[name][mine] - self._value_base[name]
            safe = np.abs(total) > 1e-12
            scale = np.where(safe, delta / np.where(safe, total, 1.0), 0.0)
            points = grouped * scale[:, None]
            for i, top in zip(mine.tolist(), top_reasons(points, top=TOP_REASONS), strict=True):
                context = reason_context(_Row(features, i), self.display_names)
                out[i][name] = [
                    {"group": g, "text": render_reason(g, p, context), "contribution": round(p, 2)}
                    for g, p in top
                ]
        return out


def _shared_columns(
    delay: FeatureSpec, value: FeatureSpec
) -> tuple[np.ndarray, FeatureSpec, list[int]]:
    """How :meth:`Scorer._value_matrix` builds the value matrix: per value column, the delay
    column it is taken from (a placeholder 0 where the delay matrix has no column coded alike:
    absent, or a categorical with other levels), and the spec and value positions of those
    columns of its own."""
    delay_at = {name: j for j, name in enumerate(delay.names)}
    source, own = [], []
    for j, name in enumerate(value.names):
        if name in delay_at and delay.categories.get(name) == value.categories.get(name):
            source.append(delay_at[name])
        else:
            source.append(0)
            own.append(j)
    names = tuple(value.names[j] for j in own)
    own_spec = FeatureSpec(names, {n: value.categories[n] for n in names if n in value.categories})
    return np.array(source, dtype=np.int64), own_spec, own


def _creation_view(
    names: Sequence[str],
) -> tuple[list[int], int | None, int | None, int | None, int | None]:
    """Column positions that differ between an order's later snapshot and its creation: what
    only later events give (scans, tickets on the order) and the request-time features."""
    blank = [
        j
        for j, name in enumerate(names)
        if name.startswith(("trk_", "tkt_", "ticket_", "tickets")) or name == "last_urgency"
    ]

    def at(name: str) -> int | None:
        return names.index(name) if name in names else None

    return (
        blank,
        at("hours_to_promise"),
        at("hours_since_created"),
        at("as_of_hour"),
        at("created_hour"),
    )


class _Row(Mapping[str, Any]):
    """One order's values across feature columns, read lazily (reason texts need a handful)."""

    __slots__ = ("_columns", "_i")

    def __init__(self, columns: Mapping[str, Any], i: int) -> None:
        self._columns, self._i = columns, i

    def __getitem__(self, name: str) -> Any:
        return self._columns[name][self._i]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)


def _freshness(ages: Mapping[str, np.ndarray], n: int) -> list[dict[str, float | None]]:
    """Per order, ``{view: age in seconds rounded to 0.1, or None}``."""
    if not ages:
        return [{} for _ in range(n)]
    views = list(ages)
    # NaN (nothing served) → None, view by view (NaN is the one float unequal to itself); then
    # each order's dict from plain values: half the cost of a test per order and view.
    rounded = []
    for values in ages.values():
        column = np.round(np.asarray(values, dtype=np.float64), 1)
        missing = np.isnan(column)
        listed = column.tolist()
        for i in np.flatnonzero(missing).tolist():
            listed[i] = None
        rounded.append(listed)
    return [dict(zip(views, row, strict=True)) for row in zip(*rounded, strict=True)]


def risk_levels(policy: Policy, p_late: np.ndarray) -> list[str]:
    """:meth:`Policy.risk_level` of every order at once (thresholds are few, orders many)."""
    levels = np.full(len(p_late), "low", dtype=object)
    for threshold, level in sorted(policy.risk_thresholds):  # ascending: the highest wins
        levels[np.round(p_late, 4) >= threshold] = level
    return levels.tolist()
