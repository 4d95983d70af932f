"""One build of every report: the index links each page with its size, nothing exceeds the
budget, the pages state the prediction log's own counts, and what cannot be built says why."""

from __future__ import annotations

import re

import pytest

from reports.evidently_pages import MAX_BYTES

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXPECTED = {
    "index", "value_attribution", "order_health", "prediction_drift",
    "delay_quality", "value_quality",
    *(f"data_quality_{t}" for t in ("orders", "weather", "forecasts", "tracking", "tickets", "outcomes")),
}  # fmt: skip


def test_every_page_is_built_within_the_size_budget(built):
    assert set(built.pages) == EXPECTED
    assert next(iter(built.pages)) == "index"
    for name, path in built.pages.items():
        assert path.is_file(), name
        assert 0 < path.stat().st_size <= MAX_BYTES, name


def test_index_links_every_page_and_says_what_is_missing(built):
    index = built.pages["index"].read_text()
    for name, path in built.pages.items():
        if name != "index":
            assert f"href='{path.name}'" in index
            assert built.descriptions[name].split(":")[0].replace("'", "&#x27;") in index
    # No champion in this home: the model card is not built, and the index says why; nor are
    # the drift pages (drift is measured on the champion's features, weighted by its use of them).
    assert "model_card" in built.skipped
    assert "no champion" in built.skipped["model_card"]
    assert "Model card" in index and "model-card.html" not in index
    assert set(built.skipped) == {"model_card", "drift", "feature_drift"}
    assert "no champion" in built.skipped["drift"], built.skipped


def test_health_page_states_the_logs_counts(served_home, built):
    from orderlens.records import read_prediction_log

    log = read_prediction_log(served_home[0])
    ok_orders = log.loc[log["status"] == "ok", "order_id"].nunique()
    page = built.pages["order_health"].read_text()
    tiles = re.findall(r"<b>([^<]+)</b><span>([^<]+)</span>", page)
    figures = {label: value for value, label in tiles}
    assert figures["orders predicted"] == f"{ok_orders:,}"
    assert figures["logged rows"] == f"{len(log):,}"
    assert figures["requests"] == f"{log['request_id'].nunique():,}"


def test_pages_are_self_contained(built):
    for name, path in built.pages.items():
        text = path.read_text()
        assert not re.search(r"<(script|link)[^>]+(src|href)=['\"]https?://", text), name


def test_build_reports_api(served_home, tmp_path):
    import reports

    settings, _ = served_home
    pages = reports.build_reports(settings, rows=200, out_dir=tmp_path)
    assert list(pages)[0] == "index"
    assert all(p.parent == tmp_path for p in pages.values())


def test_health_page_says_whether_the_actions_worked(served_home, built):
    from orderlens.records import read_prediction_log

    log = read_prediction_log(served_home[0])
    fired = log["actions_fired"].dropna().str.split("|").explode()
    actions = {item.split(":", 1)[1] for item in fired if item}
    page = built.pages["order_health"].read_text()
    section = page[page.index("Did the actions work?") :]
    assert "Observational, not an experiment" in section
    for action in actions:
        assert f"<td class='l'>{action}</td><td class='l'>late</td>" in section, action
