"""Did the actions work? For each action the policy fired: how often, what it cost, and the
late and complaint outcomes of the orders that got it against orders that did not, at similar
risk.

**Observational, not an experiment.** Orders get an action *because* their risk is high, so a raw
comparison mostly measures that risk. Each order that got the action is compared with orders
that did not get it but were scored at the same order stage (at creation / later) and in the same
band of P(late) (width :data:`RISK_BAND`): exact matching on coarsened risk. Where the policy
fires an action for nearly every order of a band, no comparable order is left and the page says
so (unmatched) rather than compare with a handful. What the model's
risk does not capture (a customer's mood, an agent's skill) is not matched; a difference can
still be selection. Where an action cannot have acted — a replayed period whose outcomes were
already decided — the difference measures the comparison's own bias.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

RISK_BAND = 0.1
"""Width of the P(late) bands orders are matched in."""
MIN_CONTROLS = 5
"""A stratum needs this many control orders to be compared (fewer: its treated orders count as
unmatched)."""
MIN_MATCHED = 20
"""Fewer matched orders with the action than this: no difference is reported."""


@dataclass(frozen=True)
class Effect:
    """One outcome of one action: orders with it vs matched orders without it.

    Attributes:
        outcome: ``late`` or ``complaint``.
        treated: orders with the action and a known outcome, matched to at least one control.
        controls: distinct orders without it in the matched strata.
        with_rate, without_rate: outcome rate of the matched treated orders, and of their
            controls weighted to the treated orders' strata.
        difference: ``with_rate − without_rate`` (negative: fewer bad outcomes with it).
        low, high: its 95 % interval (normal approximation, stratified).
        unmatched: treated orders whose stratum held no control.
    """

    outcome: str
    treated: int
    controls: int
    with_rate: float
    without_rate: float
    difference: float
    low: float
    high: float
    unmatched: int


@dataclass(frozen=True)
class ActionReport:
    """Counts, cost and outcome effects of one action."""

    action: str
    rules: str
    fired: int
    orders: int
    cost: float
    effects: list[Effect]

    def as_dict(self) -> dict:
        return asdict(self)


def firings(predictions: pd.DataFrame) -> pd.DataFrame:
    """One row per fired action: ``order_id``, ``rule``, ``action``, ``predicted_at``,
    ``p_late``, ``stage`` (of the prediction that fired it)."""
    fired = predictions[predictions["actions_fired"].fillna("").str.len() > 0]
    items = fired["actions_fired"].str.split("|").explode()
    items = items[items.str.len() > 0]
    split = items.str.split(":", n=1, expand=True)
    if split.empty:
        return pd.DataFrame(
            columns=["order_id", "rule", "action", "predicted_at", "p_late", "stage"]
        )
    out = fired.loc[split.index, ["order_id", "predicted_at", "p_late", "stage"]].copy()
    out["rule"], out["action"] = split[0].to_numpy(), split[1].to_numpy()
    return out.reset_index(drop=True)


def complaints(
    signals: pd.DataFrame | None, labels: list[str] | tuple[str, ...], threshold: float = 0.5
) -> pd.DataFrame | None:
    """Per order, when its first complaint ticket came (``order_id``, ``complained_at``).

    A ticket is a complaint when the scorer gave it one of ``labels`` (its ``labels`` column),
    or — in signals without that column — when one of their probabilities reaches
    ``threshold``. None when complaints cannot be measured: no ticket signals, or none of
    ``labels`` among the signals' labels (a shop's own label set may lack them).
    """
    from features.transforms.ticket_history import label_columns

    if signals is None or signals.empty:
        return None
    known = label_columns(signals)
    wanted = [name for name in labels if name in known]
    if not wanted:
        return None
    if "labels" in signals:
        given = signals["labels"].fillna("").astype(str).str.split("|")
        mask = given.map(lambda names: any(name in names for name in wanted))
    else:
        mask = (signals[[known[name] for name in wanted]] >= threshold).any(axis=1)
    mask &= signals["order_id"].notna()
    first = signals[mask].groupby("order_id")["created_at"].min()
    return first.rename("complained_at").reset_index()


def action_effects(
    predictions: pd.DataFrame,
    costs: dict[str, float],
    complaint_tickets: pd.DataFrame | None = None,
) -> list[ActionReport]:
    """The report of every action fired in ``predictions``.

    Args:
        predictions: served predictions with ``order_id``, ``predicted_at``, ``p_late``,
            ``stage``, ``actions_fired``, ``actions_suppressed`` and ``late`` (1/0/NaN as known).
        costs: cost of one firing per action (missing: 0).
        complaint_tickets: :func:`complaints` (None: complaints not measured).
    """
    fired = firings(predictions)
    if fired.empty:
        return []
    complained = None
    if complaint_tickets is not None:
        complained = complaint_tickets.set_index("order_id")["complained_at"]
    late = predictions.drop_duplicates("order_id").set_index("order_id")["late"]
    reports = []
    for action, group in fired.groupby("action"):
        first = group.sort_values("predicted_at").drop_duplicates("order_id")
        with_action = set(first["order_id"])
        # Controls: orders this action never fired for (another action may have: an order at
        # high risk nearly always gets one, and the question is what *this* one adds).
        others = predictions[~predictions["order_id"].isin(with_action)]
        effects = [
            _effect(
                "late", first, others, first["order_id"].map(late), others["order_id"].map(late)
            )
        ]
        if complained is not None:
            effects.append(
                _effect(
                    "complaint",
                    first,
                    others,
                    _complained_after(first, complained),
                    _complained_after(others, complained),
                )
            )
        reports.append(
            ActionReport(
                action=str(action),
                rules=", ".join(sorted(group["rule"].unique())),
                fired=len(group),
                orders=len(with_action),
                cost=len(group) * float(costs.get(str(action), 0.0)),
                effects=effects,
            )
        )
    return sorted(reports, key=lambda r: r.fired, reverse=True)


def _complained_after(rows: pd.DataFrame, complained: pd.Series) -> pd.Series:
    """1 if the order's first complaint came after this prediction, else 0."""
    when = rows["order_id"].map(complained)
    return (when.notna() & (when > rows["predicted_at"])).astype(float)


def _effect(
    outcome: str,
    treated: pd.DataFrame,
    others: pd.DataFrame,
    treated_y: pd.Series,
    others_y: pd.Series,
) -> Effect:
    """Stratified difference of ``outcome`` between treated orders and controls."""
    t = treated.assign(y=treated_y.to_numpy(), stratum=_stratum(treated)).dropna(subset=["y"])
    # A control order counts once per stratum (its first prediction there).
    c = others.assign(y=others_y.to_numpy(), stratum=_stratum(others)).dropna(subset=["y"])
    c = c.sort_values("predicted_at").drop_duplicates(["order_id", "stratum"])
    t_stats = t.groupby("stratum")["y"].agg(["count", "mean", "var"])
    c_stats = c.groupby("stratum")["y"].agg(["count", "mean", "var"])
    matched = t_stats.join(c_stats, lsuffix="_t", rsuffix="_c", how="inner")
    matched = matched[matched["count_c"] >= MIN_CONTROLS]
    unmatched = int(t_stats["count"].sum() - matched["count_t"].sum()) if len(t_stats) else 0
    n = matched["count_t"].sum() if len(matched) else 0
    if n < MIN_MATCHED:
        nan = float("nan")
        return Effect(outcome, int(n), 0, nan, nan, nan, nan, nan, unmatched)
    weight = matched["count_t"] / n
    with_rate = float((weight * matched["mean_t"]).sum())
    without_rate = float((weight * matched["mean_c"]).sum())
    # Bernoulli variance per stratum (a stratum of one has no sample variance).
    var_t = matched["mean_t"] * (1 - matched["mean_t"]) / matched["count_t"]
    var_c = matched["mean_c"] * (1 - matched["mean_c"]) / matched["count_c"]
    se = math.sqrt(float((weight**2 * (var_t + var_c)).sum()))
    difference = with_rate - without_rate
    controls = int(c[c["stratum"].isin(matched.index)]["order_id"].nunique())
    return Effect(
        outcome=outcome,
        treated=int(n),
        controls=controls,
        with_rate=with_rate,
        without_rate=without_rate,
        difference=difference,
        low=difference - 1.96 * se,
        high=difference + 1.96 * se,
        unmatched=unmatched,
    )


def _stratum(rows: pd.DataFrame) -> np.ndarray:
    band = np.minimum((rows["p_late"].to_numpy() / RISK_BAND).astype(int), int(1 / RISK_BAND) - 1)
    return np.char.add(rows["stage"].astype(str).to_numpy().astype(str), band.astype(str))
