"""What the reports read: the lake's orders and outcomes, the prediction log, and the joins and
derived columns every page shares (region, realised value scores, labels of logged orders).

Pure frame functions plus one loader, :func:`load_inputs`; pages never read files themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from features.labels import delay_labels, value_targets
from orderlens.dimensions import DIMENSIONS, QUADRANTS
from orderlens.settings import Settings

REGION_OF_CITY: dict[str, str] = {
    **dict.fromkeys(("Beijing", "Tianjin", "Shijiazhuang", "Taiyuan"), "North"),
    **dict.fromkeys(("Shenyang", "Harbin", "Changchun", "Dalian"), "Northeast"),
    **dict.fromkeys(
        ("Shanghai", "Hangzhou", "Nanjing", "Suzhou", "Hefei", "Ningbo", "Wenzhou", "Qingdao"),
        "East",
    ),
    **dict.fromkeys(("Jinan", "Fuzhou", "Xiamen", "Nanchang"), "East"),
    **dict.fromkeys(("Wuhan", "Zhengzhou", "Changsha"), "Central"),
    **dict.fromkeys(("Guangzhou", "Shenzhen", "Nanning", "Haikou"), "South"),
    **dict.fromkeys(("Chengdu", "Chongqing", "Kunming", "Guiyang"), "Southwest"),
    **dict.fromkeys(("Xi'an", "Lanzhou", "Urumqi"), "Northwest"),
}
"""China's customary sales regions (华北, 东北, 华东, 华中, 华南, 西南, 西北) of the simulator's cities."""

SEGMENTS: dict[str, str] = {
    "channel": "channel",
    "category": "category",
    "region": "region (from the destination city)",
    "carrier_id": "carrier",
}
"""Columns the value attribution splits by, with the words a manager reads."""


def regions(cities: pd.Series) -> pd.Series:
    """The sales region of each destination: the customary region of a known city; any other
    destination (your own data) is its own region, as the shop wrote it."""
    return cities.map(REGION_OF_CITY).fillna(cities).fillna("Other")


def midrank_scores(values: pd.Series, reference: pd.Series, higher_is_better: bool) -> pd.Series:
    """0–100 score of each value against a reference distribution, as the value models score
    (ties take the middle of their run; a "lower is better" dimension is flipped)."""
    ref = np.sort(reference.dropna().to_numpy(np.float64))
    if len(ref) == 0:
        return pd.Series(np.nan, index=values.index)
    v = values.to_numpy(np.float64)
    lo = np.searchsorted(ref, v, side="left")
    hi = np.searchsorted(ref, v, side="right")
    score = 100.0 * (lo + hi) / (2.0 * len(ref))
    score = score if higher_is_better else 100.0 - score
    return pd.Series(np.where(np.isfinite(v), score, np.nan), index=values.index)


def realised_scores(targets: pd.DataFrame) -> pd.DataFrame:
    """``score_<dimension>`` (0–100 against all realised orders) and ``quadrant_<q>`` (mean of
    its dimensions' scores) for frames of :func:`features.labels.value_targets`."""
    scores = pd.DataFrame(index=targets.index)
    for dim in DIMENSIONS:
        scores[f"score_{dim.name}"] = midrank_scores(
            targets[dim.name], targets[dim.name], dim.higher_is_better
        )
    for q in QUADRANTS:
        names = [f"score_{d.name}" for d in DIMENSIONS if d.quadrant == q]
        scores[f"quadrant_{q}"] = scores[names].mean(axis=1)
    return scores


@dataclass
class ReportInputs:
    """Everything the pages are built from. Frames may be empty; pages say what is missing."""

    settings: Settings
    orders: pd.DataFrame
    outcomes: pd.DataFrame
    log: pd.DataFrame

    @cached_property
    def realised(self) -> pd.DataFrame:
        """One row per order with an outcome: the order's segments, the 19 realised values and
        their scores (see :func:`realised_scores`)."""
        if self.orders.empty or self.outcomes.empty:
            return pd.DataFrame()
        targets = value_targets(self.orders, self.outcomes)
        keys = ["order_id", "customer_id", "channel", "category", "carrier_id", "dest_region"]
        segments = self.orders[[k for k in keys if k in self.orders]]
        frame = targets.merge(segments, on="order_id", how="left", validate="one_to_one")
        frame["region"] = regions(frame["dest_region"]).to_numpy()
        return pd.concat([frame, realised_scores(frame)], axis=1)

    @cached_property
    def suggestions(self) -> pd.DataFrame:
        """The suggested actions and their decisions (the service's latest snapshot)."""
        from orderlens.records import read_suggestions

        return read_suggestions(self.settings)

    @cached_property
    def predictions(self) -> pd.DataFrame:
        """The latest successful prediction of each logged order, with its region."""
        log = self.log
        if log.empty:
            return log
        ok = log[(log["status"] == "ok") & log["p_late"].notna()]
        latest = ok.drop_duplicates("order_id", keep="last").reset_index(drop=True)
        return latest.assign(region=regions(latest["dest_region"]).to_numpy())

    @cached_property
    def labelled(self) -> pd.DataFrame:
        """Latest predictions of orders whose outcome has arrived, with ``is_late``,
        ``delay_hours`` and the realised values and scores (``score_<dimension>``)."""
        predictions = self.predictions
        if predictions.empty or self.outcomes.empty:
            return pd.DataFrame()
        labels = delay_labels(predictions, self.outcomes)
        frame = predictions.merge(labels, on="order_id", how="inner")
        realised = self.realised
        if not realised.empty:
            keep = ["order_id", *[c for c in realised if c.startswith("score_")]]
            frame = frame.merge(realised[keep], on="order_id", how="left")
        return frame


def load_inputs(settings: Settings) -> ReportInputs:
    """Read the lake's orders and outcomes and the whole prediction log."""
    from features.lake import read_lake
    from orderlens.records import read_prediction_log

    return ReportInputs(
        settings=settings,
        orders=read_lake(settings, "orders"),
        outcomes=read_lake(settings, "outcomes"),
        log=read_prediction_log(settings),
    )
