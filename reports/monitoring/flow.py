"""Deliveries of the orders still in flight: are they arriving as the model's probabilities and
each carrier's own recent deliveries lead to expect? — and what the answer says about how many
of them will be late, before their promises fall due.

The model's probabilities alone cannot show a failure its inputs do not see (a carrier's hubs
holding parcels): the CBPE estimate of :mod:`reports.monitoring.performance` reads only them.
But an order in flight is not wholly unknown. An on-time order is delivered *before* its
promise, and each carrier delivers its on-time orders at a typical point of their promise window
(``G(u)``: the share of its on-time orders delivered by ``u`` of the window, measured per
carrier and window length on its orders whose promise passed in the last ``calibration_days``,
from the lake: served or not). So the in-flight orders of a carrier (first served in the last
``in_flight_days``, promise not yet passed) should have been delivered, by now, about

    expected = Σ (1 − q)·G(u)        (q: the calibrated P(late), u: how far through the window)

times. Two figures per carrier follow:

- **flow ratio** = delivered / expected, with the exact (Garwood) Poisson 95 % interval of the
  delivered count. Quiet worlds sit near 1 (the control world's carriers: 0.83–1.12). A carrier
  short beyond doubt — below ``flow_ratio_alarm`` even at the top of its interval — is failing
  its orders now, days before their promises pass.
- **level shift** ``δ`` ≥ 0 — the log-odds by which the carrier's orders are later than the
  model says, such that the expected deliveries with ``p = σ(logit q + δ)`` meet the observed
  count (method of moments: the count is what the carrier's average timing vouches for, not
  which order arrived).

The performance estimate (:meth:`Flow.estimate`) counts each prediction as the labels known so
far say (its promise passed: late or on time), the rest by their calibrated P(late) — shifted by
``δ`` for a carrier short beyond doubt (a smaller shortfall is within what timing varies by and
would only add noise). What it assumes: a carrier whose on-time deliveries merely slow down is
read as a carrier whose orders go late; as promises pass, realised labels replace the estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit
from scipy.stats import chi2

MAX_SHIFT = 8.0
"""The largest log-odds shift fitted (a carrier delivering nothing)."""
MIN_TIMING_ORDERS = 100
"""On-time orders a carrier needs for its own delivery timing (fewer: all carriers' timing)."""
LONGEST_WINDOW_DAYS = 5
"""Promise windows of this many days or more share one delivery timing."""
ALL = "all"


@dataclass
class Flow:
    """In-flight orders at one moment and what their deliveries say.

    Attributes:
        observed_at: deliveries up to this moment count (the pass's moment minus the outcomes
            feed's grace).
        column: the segment column (``carrier_id``; None: the shop sends no carrier).
        segments: ``"carrier=<id>"`` (or ``"all"`` without carriers) → ``orders`` in flight,
            ``delivered``, ``expected`` deliveries, ``ratio`` with its 95 % ``ratio_low``/
            ``ratio_high``, the fitted level ``shift`` (log-odds), the mean calibrated
            ``predicted`` and the shifted ``estimated`` late rate of its in-flight orders, and
            ``short`` (short beyond doubt: its shift is applied to the estimate).
        shift: segment value → the log-odds shift applied to its predictions (short ones only).
        timing: (segment value, window days; 0 for all) → sorted on-time delivery shares (the
            measured ``G``).
    """

    observed_at: pd.Timestamp
    column: str | None
    segments: dict[str, dict[str, Any]] = field(default_factory=dict)
    shift: dict[Any, float] = field(default_factory=dict)
    timing: dict[Any, np.ndarray] = field(default_factory=dict)

    def share_delivered_on_time(
        self, value: Any, u: np.ndarray, length: np.ndarray | None = None
    ) -> np.ndarray:
        """``G(u)``: the share of the segment's on-time orders with promise windows of the same
        length (in days, :func:`window_days`) delivered by ``u`` of their window (smoothed so
        that no order is impossible). A carrier or window length with fewer than
        :data:`MIN_TIMING_ORDERS` on-time orders borrows all carriers' timing."""
        length = np.zeros(len(u), dtype=int) if length is None else length
        out = np.zeros(len(u))
        for days in np.unique(length):
            mask = length == days
            shares = next(
                (
                    self.timing[key]
                    for key in ((value, days), (ALL, days), (value, 0), (ALL, 0))
                    if key in self.timing
                ),
                None,
            )
            if shares is not None and len(shares):
                hits = np.searchsorted(shares, u[mask], side="right")
                out[mask] = (hits + 0.5) / (len(shares) + 1.0)
        return out

    def estimate(self, rows: pd.DataFrame, calibrated: np.ndarray) -> np.ndarray:
        """Each prediction's probability of being late given what is known at the pass: its
        realised label where known (``late``: its promise passed), else its calibrated P(late)
        — shifted by its carrier's level where that carrier's deliveries are confidently short
        (:attr:`shift`).

        Args:
            rows: predictions with ``late`` and the segment column.
            calibrated: their calibrated P(late) (the CBPE expectation).
        """
        q = np.clip(np.asarray(calibrated, dtype=np.float64), 1e-6, 1 - 1e-6)
        values = _segment_values(rows, self.column)
        shift = np.array([self.shift.get(v, 0.0) for v in values])
        out = expit(logit(q) + shift)
        known = rows["late"].notna().to_numpy()
        out[known] = rows["late"].to_numpy(np.float64)[known]
        return out


def measure_flow(
    orders: pd.DataFrame,
    calibrated: np.ndarray,
    shipped: pd.DataFrame,
    as_of: pd.Timestamp,
    grace: timedelta,
    *,
    history: timedelta,
    in_flight_days: float,
    alarm_ratio: float,
    min_expected: float = 0.0,
) -> Flow:
    """The in-flight orders' deliveries at ``as_of``, per carrier.

    Args:
        orders: one row per served order (its first prediction): ``created_at``,
            ``promised_at``, ``delivered_at`` (NaT: none known by ``as_of - grace``),
            ``predicted_at`` and, when the shop has it, ``carrier_id``.
        calibrated: the calibrated P(late) of each row's prediction.
        shipped: every order the shop sent (served or not) with ``created_at``,
            ``promised_at``, ``delivered_at`` and ``carrier_id``: its on-time deliveries
            measure each carrier's timing.
        as_of: the moment of the pass; deliveries count up to ``as_of - grace``.
        grace: how long the outcomes feed may lag.
        history: on-time orders whose promise passed within this time measure the timing.
        in_flight_days: orders first served this many days before ``as_of`` or later are
            judged (older ones still open are either due already or held back for long).
        alarm_ratio: a carrier whose flow ratio is below this even at the top of its interval
            is short beyond doubt: its fitted level shift is applied to the estimate.
        min_expected: ... provided at least this many deliveries were expected of it.
    """
    observed_at = as_of - grace
    column = "carrier_id" if "carrier_id" in orders and orders["carrier_id"].notna().any() else None
    flow = Flow(observed_at=observed_at, column=column)
    if orders.empty:
        return flow
    flow.timing = delivery_timing(shipped, observed_at, history, column)
    values = _segment_values(orders, column)
    length = window_days(orders)
    u = _window_share(orders, observed_at)
    in_flight = (
        (orders["promised_at"] > observed_at)
        & (orders["predicted_at"] >= as_of - timedelta(days=in_flight_days))
        & (orders["predicted_at"] <= as_of)
    ).to_numpy() & (u >= 0)
    q = np.clip(np.asarray(calibrated, dtype=np.float64), 1e-6, 1 - 1e-6)
    arrived = (orders["delivered_at"] <= observed_at).to_numpy()
    for value in np.unique(values[in_flight]):
        mask = in_flight & (values == value)
        g = flow.share_delivered_on_time(value, u[mask], length[mask])
        figures = _figures(q[mask], g, arrived[mask])
        figures["short"] = bool(
            figures["expected"] >= min_expected and figures["ratio_high"] < alarm_ratio
        )
        if figures["short"]:
            flow.shift[value] = figures["shift"]
        else:  # the estimate keeps the model's level
            figures["estimated"] = figures["predicted"]
        flow.segments[ALL if column is None else f"carrier={value}"] = figures
    return flow


def delivery_timing(
    shipped: pd.DataFrame, observed_at: pd.Timestamp, history: timedelta, column: str | None
) -> dict[tuple[Any, int], np.ndarray]:
    """When on-time orders were delivered, as a share of their promise window: per
    (carrier, window days), per window days (carrier ``all``) and per carrier (0 days), from
    the orders whose promise passed in the ``history`` before ``observed_at`` and that were
    delivered by it (nothing known only later)."""
    promised, delivered = shipped["promised_at"], shipped["delivered_at"]
    on_time = (
        (promised <= observed_at)
        & (promised > observed_at - history)
        & (delivered <= promised)
        & (shipped["created_at"] < promised)
    ).to_numpy()
    rows = shipped[on_time]
    share = (rows["delivered_at"] - rows["created_at"]) / (rows["promised_at"] - rows["created_at"])
    share = np.clip(share.to_numpy(np.float64), 0.0, 1.0)
    values, length = _segment_values(rows, column), window_days(rows)
    timing = {}
    for key, mask in _timing_groups(values, length):
        if mask.sum() >= MIN_TIMING_ORDERS or key == (ALL, 0):
            timing[key] = np.sort(share[mask])
    return timing


def fit_shift(q: np.ndarray, g: np.ndarray, delivered: np.ndarray) -> float:
    """The log-odds shift ``δ`` ≥ 0 at which the deliveries expected of the in-flight orders,
    ``Σ (1 − σ(logit q + δ))·g``, equal the deliveries observed (method of moments: the count,
    not which orders, is what the carrier's average timing ``g`` can vouch for; 0 when as many
    arrived as expected or more)."""
    observed = float(np.sum(delivered))
    base = logit(np.clip(q, 1e-6, 1 - 1e-6))

    def gap(shift: float) -> float:
        return float(((1 - expit(base + shift)) * g).sum()) - observed

    if len(q) == 0 or gap(0.0) <= 0:
        return 0.0
    if gap(MAX_SHIFT) >= 0:
        return MAX_SHIFT
    return float(brentq(gap, 0.0, MAX_SHIFT))


def poisson_interval(count: int) -> tuple[float, float]:
    """The exact (Garwood) 95 % interval of a Poisson count."""
    low = 0.0 if count == 0 else chi2.ppf(0.025, 2 * count) / 2
    high = chi2.ppf(0.975, 2 * (count + 1)) / 2
    return float(low), float(high)


def _figures(q: np.ndarray, g: np.ndarray, delivered: np.ndarray) -> dict[str, Any]:
    shift = fit_shift(q, g, delivered)
    expected = float(((1 - q) * g).sum())
    observed = int(delivered.sum())
    low, high = poisson_interval(observed)
    ratio = observed / expected if expected > 0 else math.nan
    p = expit(logit(q) + shift)
    return {
        "orders": len(q),
        "delivered": observed,
        "expected": expected,
        "ratio": ratio,
        "ratio_low": low / expected if expected > 0 else math.nan,
        "ratio_high": high / expected if expected > 0 else math.nan,
        "shift": shift,
        "predicted": float(q.mean()),
        "estimated": float(p.mean()),
    }


def window_days(rows: pd.DataFrame) -> np.ndarray:
    """Each order's promise window (creation → promise) in whole days, 1 to
    :data:`LONGEST_WINDOW_DAYS`: orders promised in two days are delivered at a different share
    of their window than orders promised in five."""
    hours = (rows["promised_at"] - rows["created_at"]).dt.total_seconds().to_numpy() / 3600
    days = np.ceil(np.nan_to_num(hours, nan=24.0) / 24).astype(int)
    return np.clip(days, 1, LONGEST_WINDOW_DAYS)


def _timing_groups(values: np.ndarray, length: np.ndarray):
    """(segment, window days) → rows; 0 days stands for every window length."""
    every = np.ones(len(values), dtype=bool)
    yield (ALL, 0), every
    for days in np.unique(length):
        yield (ALL, int(days)), length == days
    for value in np.unique(values):
        own = values == value
        yield (value, 0), own
        for days in np.unique(length[own]):
            yield (value, int(days)), own & (length == days)


def _window_share(rows: pd.DataFrame, at: pd.Timestamp) -> np.ndarray:
    """How far through its promise window (creation → promise) each order is at ``at``."""
    window = (rows["promised_at"] - rows["created_at"]).dt.total_seconds().to_numpy()
    gone = (at - rows["created_at"]).dt.total_seconds().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(window > 0, gone / window, -1.0)


def _segment_values(rows: pd.DataFrame, column: str | None) -> np.ndarray:
    if column is None:
        return np.full(len(rows), ALL, dtype=object)
    return rows[column].astype(object).fillna("unknown").to_numpy()
