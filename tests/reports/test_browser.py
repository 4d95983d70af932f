"""Every report page opens in a real headless Chromium without console errors or outside
requests, and its charts render (SVG / Evidently widgets present, screenshot not blank)."""

from __future__ import annotations

import pytest

from tests.reports.browser import Chromium, chromium_path, distinct_pixel_bytes
from tests.servers import missing_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BLANK_PIXEL_BYTES = 16
"""A one-colour screenshot decodes to a handful of distinct bytes; rendered pages to hundreds."""


@pytest.fixture(scope="module")
def browser():
    binary = chromium_path()
    if binary is None:
        missing_service("chromium is not installed (make system-deps installs Debian's chromium)")
    with Chromium(binary) as chromium:
        yield chromium


def test_a_blank_page_counts_as_blank(browser):
    visit = browser.visit("about:blank", settle_seconds=0.2)
    assert distinct_pixel_bytes(visit.screenshot) < BLANK_PIXEL_BYTES


def test_every_page_renders_in_chromium(browser, built, tmp_path):
    for name, path in built.pages.items():
        visit = browser.visit(path.as_uri())
        (tmp_path / f"{name}.png").write_bytes(visit.screenshot)
        rendered = visit.rendered
        assert visit.errors == [], (name, visit.errors)
        assert visit.external_requests == [], (name, visit.external_requests)
        assert distinct_pixel_bytes(visit.screenshot) >= BLANK_PIXEL_BYTES, name
        assert rendered["text"] > 300, (name, rendered)
        if name == "index":
            linked = {href for href in rendered["links"]}
            assert linked == {p.name for n, p in built.pages.items() if n != "index"}
        elif name in ("value_attribution", "order_health"):
            assert rendered["svg"] >= 4 and rendered["svg_shapes"] >= 30, (name, rendered)
        else:  # Evidently: its widgets drew, with charts
            assert rendered["widgets"] >= 3 and rendered["svg"] >= 5, (name, rendered)
