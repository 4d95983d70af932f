"""The numbers behind the value page: money per segment with bootstrap intervals, realised
against predicted, and the segments whose value differs from the rest beyond noise.

Intervals resample customers (Poisson bootstrap: each customer weighs a Poisson(1) count in
each resample that all its orders share, which lets every segment of a split share one set of
resamples; a customer's orders share its traits, so resampling orders one by one would narrow
the intervals, most for segments dominated by a few large customers). A segment is named only when its interval, widened for the
number of segments compared (Bonferroni), excludes "like the rest".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

RESAMPLES = 1_000
CONFIDENCE = 0.95
MIN_ORDERS = 30
"""Segments with fewer orders get no interval and are never named."""


def resample_weights(
    n: int, resamples: int = RESAMPLES, seed: int = 0, clusters: np.ndarray | None = None
) -> np.ndarray:
    """Poisson(1) bootstrap weights, ``(resamples, n)`` float32.

    Args:
        clusters: a label per order (its customer): each customer draws one Poisson(1) count
            that all its orders share (a customer's orders share its traits; resampling them
            one by one would narrow the intervals). Missing labels are orders of their own.
    """
    rng = np.random.default_rng(seed)
    if clusters is None:
        return rng.poisson(1.0, (resamples, n)).astype(np.float32)
    labels = pd.Series(clusters).astype("string")
    labels = labels.fillna(pd.Series([f"\0row{i}" for i in range(n)], dtype="string"))
    member = pd.factorize(labels)[0]
    counts = rng.poisson(1.0, (resamples, int(member.max()) + 1 if n else 0))
    return counts[:, member].astype(np.float32)


def customers_of(frame: pd.DataFrame) -> np.ndarray | None:
    """The customer of each order for :func:`resample_weights`, or None without customers."""
    if "customer_id" not in frame or frame["customer_id"].notna().sum() == 0:
        return None
    return frame["customer_id"].to_numpy()


def _bounds(draws: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    finite = draws[np.isfinite(draws)]
    if len(finite) < 0.9 * len(draws):
        return np.nan, np.nan
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def segment_means(
    frame: pd.DataFrame, segment: str, column: str, weights: np.ndarray
) -> pd.DataFrame:
    """Per segment: orders, share of orders, total and share of ``column``, its mean per order
    with a 95 % interval, and whether the mean differs from the other orders' beyond noise.

    Args:
        frame: one row per order (``segment`` and ``column`` columns).
        weights: :func:`resample_weights` for ``len(frame)`` orders.

    Returns:
        One row per segment, most orders first: ``orders``, ``share_orders``, ``total``,
        ``share_total``, ``mean``, ``low``, ``high``, ``rest_mean``, ``differs`` (+1 above the
        rest, -1 below, 0 within noise).
    """
    values = frame[column].to_numpy(np.float64)
    keep = np.isfinite(values)
    labels = frame[segment].astype(str).to_numpy()
    groups = pd.unique(labels[keep])
    level = 1 - (1 - CONFIDENCE) / max(len(groups), 1)  # Bonferroni over the segments
    total_all = values[keep].sum()
    rows = []
    for group in groups:
        mine = keep & (labels == group)
        rest = keep & ~mine
        n = int(mine.sum())
        mean = float(values[mine].mean())
        row = {
            "segment": group,
            "orders": n,
            "share_orders": n / keep.sum(),
            "total": float(values[mine].sum()),
            "share_total": float(values[mine].sum() / total_all) if total_all else np.nan,
            "mean": mean,
            "rest_mean": float(values[rest].mean()) if rest.any() else np.nan,
            "low": np.nan,
            "high": np.nan,
            "differs": 0,
        }
        if n >= MIN_ORDERS and rest.sum() >= MIN_ORDERS:
            w_mine, w_rest = weights[:, mine], weights[:, rest]
            with np.errstate(invalid="ignore", divide="ignore"):
                means = w_mine @ values[mine] / w_mine.sum(axis=1)
                gap = means - w_rest @ values[rest] / w_rest.sum(axis=1)
            row["low"], row["high"] = _bounds(means, CONFIDENCE)
            gap_low, gap_high = _bounds(gap, level)
            row["differs"] = 1 if gap_low > 0 else -1 if gap_high < 0 else 0
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.set_index("segment").sort_values("orders", ascending=False)


@dataclass(frozen=True)
class ShareFinding:
    """A segment whose share of a value is out of line with its share of orders."""

    segment_kind: str
    segment: str
    measure: str
    share_orders: float
    share_value: float
    low: float
    high: float

    @property
    def lift(self) -> float:
        """Share of the value over share of orders (1: in line with its volume)."""
        return self.share_value / self.share_orders


def share_findings(
    frame: pd.DataFrame, segment: str, columns: dict[str, str], weights: np.ndarray
) -> list[ShareFinding]:
    """Segments whose share of a (non-negative) value differs from their share of orders beyond
    noise: the interval of the share ratio, widened for the number of segments, excludes 1.

    Args:
        columns: value column → how a manager calls it ("repeat purchases").
    """
    labels = frame[segment].astype(str).to_numpy()
    groups = [g for g in pd.unique(labels) if (labels == g).sum() >= MIN_ORDERS]
    level = 1 - (1 - CONFIDENCE) / max(len(groups), 1)
    found = []
    for column, measure in columns.items():
        values = frame[column].to_numpy(np.float64)
        keep = np.isfinite(values)
        if not keep.any() or values[keep].sum() <= 0 or (values[keep] < 0).any():
            continue
        w = weights[:, keep]
        x, lab = values[keep], labels[keep]
        all_value, all_orders = w @ x, w.sum(axis=1)
        for group in groups:
            mine = lab == group
            # A segment that never has the value (no service fee, say) is structure, not news.
            if mine.sum() < MIN_ORDERS or x[mine].sum() <= 0:
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                share_value = w[:, mine] @ x[mine] / all_value
                share_orders = w[:, mine].sum(axis=1) / all_orders
                ratio = share_value / share_orders
            low, high = _bounds(ratio, level)
            if low > 1 or high < 1:
                v_low, v_high = _bounds(share_value, CONFIDENCE)
                found.append(
                    ShareFinding(
                        segment, group, measure, float(mine.mean()),
                        float(x[mine].sum() / x.sum()), v_low, v_high,
                    )
                )  # fmt: skip
    return found


def realised_vs_predicted(frame: pd.DataFrame, segment: str, weights: np.ndarray) -> pd.DataFrame:
    """Per segment of the test window: predicted and realised contribution per order, the
    realised mean's 95 % interval, and whether the prediction falls outside it.

    Args:
        frame: one row per test order with ``segment``, ``predicted`` and ``realised``.
    """
    labels = frame[segment].astype(str).to_numpy()
    predicted = frame["predicted"].to_numpy(np.float64)
    realised = frame["realised"].to_numpy(np.float64)
    rows = []
    for group in pd.unique(labels):
        mine = labels == group
        row = {
            "segment": group,
            "orders": int(mine.sum()),
            "predicted": float(predicted[mine].mean()),
            "realised": float(realised[mine].mean()),
            "low": np.nan,
            "high": np.nan,
            "off": False,
        }
        if mine.sum() >= MIN_ORDERS:
            w = weights[:, mine]
            with np.errstate(invalid="ignore", divide="ignore"):
                means = w @ realised[mine] / w.sum(axis=1)
            row["low"], row["high"] = _bounds(means, CONFIDENCE)
            row["off"] = not row["low"] <= row["predicted"] <= row["high"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("segment").sort_values("orders", ascending=False)
