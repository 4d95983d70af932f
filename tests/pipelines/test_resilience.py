"""Which failures retry, and when cache keys change."""

from __future__ import annotations

import pandas as pd
import pytest
from prefect.states import Completed, Failed

from pipelines.resilience import (
    cache_key,
    content_fingerprint,
    is_transient,
    listing_fingerprint,
    retry_on_transient,
    source_files,
)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ConnectionError("reset by peer"), True),
        (TimeoutError("slow"), True),
        (OSError(5, "I/O error"), True),
        (ValueError("bad column"), False),
        (KeyError("order_id"), False),
        (FileNotFoundError("no such file"), False),
        (PermissionError("denied"), False),
    ],
)
def test_only_transient_errors_retry(error, transient):
    assert is_transient(error) is transient
    assert retry_on_transient(None, None, Failed(data=error)) is transient


def test_a_completed_state_never_retries():
    assert retry_on_transient(None, None, Completed(data=1)) is False


def test_content_fingerprint_follows_bytes_not_times(tmp_path):
    frame = pd.DataFrame({"order_id": ["O1", "O2"]})
    frame.to_parquet(tmp_path / "orders.parquet")
    first = content_fingerprint(source_files(tmp_path), tmp_path)
    frame.to_parquet(tmp_path / "orders.parquet")  # rewritten, same bytes
    assert content_fingerprint(source_files(tmp_path), tmp_path) == first
    frame.assign(order_id=["O1", "O3"]).to_parquet(tmp_path / "orders.parquet")
    assert content_fingerprint(source_files(tmp_path), tmp_path) != first


def test_listing_fingerprint_changes_when_a_part_is_added(tmp_path):
    assert listing_fingerprint(tmp_path / "absent") == "absent"
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "part-1.parquet")
    first = listing_fingerprint(tmp_path)
    pd.DataFrame({"a": [2]}).to_parquet(tmp_path / "part-2.parquet")
    assert listing_fingerprint(tmp_path) != first


def test_cache_keys_differ_per_home_and_input(tmp_path):
    key = cache_key("ingest", tmp_path / "a", sources="x")
    assert key.startswith("ingest-")
    assert key == cache_key("ingest", tmp_path / "a", sources="x")
    assert key != cache_key("ingest", tmp_path / "b", sources="x")
    assert key != cache_key("ingest", tmp_path / "a", sources="y")
