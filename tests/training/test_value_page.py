"""The value page of a trained champion, opened in a real headless Chromium: money in the
shop's currency, intervals, realised vs predicted and "no signal" marks, all rendered."""

from __future__ import annotations

import re

import pytest

from tests.reports.browser import Chromium, chromium_path, distinct_pixel_bytes
from tests.servers import missing_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VISIBLE_TEXT = "document.body.innerText"


@pytest.fixture(scope="module")
def value_page(trained, tmp_path_factory):
    from reports import value_page
    from reports.data import load_inputs
    from reports.model_card import load_card_data

    settings = trained.settings
    card = load_card_data(settings, explain_rows=200)
    champion = value_page.load_champion_value(settings, card.model_set)
    path = tmp_path_factory.mktemp("value_page") / "value-attribution.html"
    value_page.build(load_inputs(settings), path, drivers=card.value_drivers, champion=champion)
    return path, champion


def test_the_value_page_shows_money_intervals_and_no_signal_marks(value_page, tmp_path):
    binary = chromium_path()
    if binary is None:
        missing_service("chromium is not installed (make system-deps installs Debian's chromium)")
    path, champion = value_page
    with Chromium(binary) as browser:
        visit = browser.visit(path.as_uri())
        text = browser.evaluate(VISIBLE_TEXT)
    (tmp_path / "value.png").write_bytes(visit.screenshot)
    assert visit.errors == [] and visit.external_requests == []
    assert distinct_pixel_bytes(visit.screenshot) >= 16
    assert visit.rendered["svg"] >= 8 and visit.rendered["svg_shapes"] >= 30
    currency = champion.money.currency
    # Money per order with its interval, e.g. "207 CNY [185, 229]".
    assert re.search(rf"-?[\d,]+ {currency}\s+\[-?[\d,]+, -?[\d,]+\]", text), text[:2000]
    assert "95 % interval" in text
    assert "Realised vs predicted contribution" in text
    silent = [name for name, status in champion.status.items() if status == "no_signal"]
    rows = text.splitlines()
    for name in silent:
        # Each dimension without signal is marked so in the dimension table.
        assert any(r.startswith(f"{name}\t") and "no signal" in r for r in rows), name
    assert silent, "a smoke-size champion has dimensions without signal"
