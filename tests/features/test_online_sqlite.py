"""The direct SQLite online reader's memo of shared (day-keyed) views: served until the store
changes, never after."""

from __future__ import annotations

import sqlite3

from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from features.online_sqlite import SqliteOnlineReader, entity_key_bytes

TABLE = '"shop_lane_day"'


def _store(path, rows: dict[str, float | None]) -> None:
    """A Feast-layout view table with one feature, ``rate``, per lane-day key."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (entity_key BLOB, feature_name TEXT, "
            "value BLOB, value_text TEXT, vector_value BLOB, event_ts timestamp, "
            "created_ts timestamp, PRIMARY KEY(entity_key, feature_name))"
        )
        for key, rate in rows.items():
            blob = ValueProto(double_val=rate).SerializeToString()
            conn.execute(
                f"INSERT OR REPLACE INTO {TABLE} (entity_key, feature_name, value, event_ts) "
                "VALUES (?, 'rate', ?, 1000)",
                (entity_key_bytes("lane_day", key), blob),
            )


def test_shared_reads_are_memoised_until_the_store_changes(tmp_path):
    path = tmp_path / "online.db"
    _store(path, {"A|2025-06-17": 0.25})
    reader = SqliteOnlineReader(path, "shop")
    keys = ["A|2025-06-17", "B|2025-06-17"]

    def read() -> dict:
        return reader.read("lane_day", "lane_day", keys, ["rate"], shared=True)

    assert read() == {"A|2025-06-17": (1000.0, [0.25])}
    # Served from the memo: a second reader sees the same, and so does a plain read.
    assert read() == reader.read("lane_day", "lane_day", keys, ["rate"])
    assert reader._shared[("lane_day", ("rate",))].keys() == set(keys)

    # A materialization (another connection) changes one value and adds the missing key.
    _store(path, {"A|2025-06-17": 0.5, "B|2025-06-17": 0.75})
    assert read() == {"A|2025-06-17": (1000.0, [0.5]), "B|2025-06-17": (1000.0, [0.75])}
    reader.close()
