"""Snapshot sampling: a row budget keeps every creation snapshot and a fair share of the rest."""

from __future__ import annotations

import pandas as pd

from features.snapshots import SCAN_STAGES, sample_later_snapshots


def _snapshots(orders: int) -> pd.DataFrame:
    stages = ["created", *SCAN_STAGES]
    return pd.DataFrame(
        {
            "order_id": [f"O{i}" for i in range(orders) for _ in stages],
            "snapshot_stage": stages * orders,
        }
    )


def test_budget_keeps_every_creation_snapshot_and_samples_later_stages_evenly():
    rows = _snapshots(2_000)  # 12,000 rows, 2,000 per stage
    kept = sample_later_snapshots(rows, 6_000, seed=3)
    assert len(kept) == 6_000
    counts = kept["snapshot_stage"].value_counts()
    assert counts["created"] == 2_000
    # 4,000 later rows over 5 stages: 800 each, give or take sampling noise.
    assert all(abs(counts[stage] - 800) < 120 for stage in SCAN_STAGES)
    # Rows keep their order, and the same seed draws the same rows.
    assert kept["order_id"].str[1:].astype(int).is_monotonic_increasing
    pd.testing.assert_frame_equal(kept, sample_later_snapshots(rows, 6_000, seed=3))


def test_no_budget_or_a_small_world_keeps_everything():
    rows = _snapshots(10)
    assert sample_later_snapshots(rows, None) is rows
    assert sample_later_snapshots(rows, 1_000) is rows
    # A budget below the creation snapshots still keeps all of them (the value rows).
    assert (sample_later_snapshots(rows, 5)["snapshot_stage"] == "created").all()
    assert len(sample_later_snapshots(rows, 5)) == 10
