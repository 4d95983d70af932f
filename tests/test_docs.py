"""The docs stay true: the settings reference and example file are what the settings model
generates, the example file loads to the defaults, and README and docs/ link only inside the
repository, to files that exist."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from orderlens.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _generator():
    spec = importlib.util.spec_from_file_location("settings_doc", ROOT / "scripts/settings_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_settings_reference_and_example_are_generated_from_the_model():
    generator = _generator()
    stale = "is out of date: run `make docs` (scripts/settings_doc.py --write)"
    assert (ROOT / "docs/settings.md").read_text() == generator.render_reference(), stale
    assert (ROOT / "docs/settings.example.yaml").read_text() == generator.render_example(), stale


def test_example_settings_file_loads_to_the_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("ORDERLENS_SETTINGS", str(ROOT / "docs/settings.example.yaml"))
    from_file = load_settings(home=tmp_path)
    monkeypatch.delenv("ORDERLENS_SETTINGS")
    assert from_file.model_dump() == load_settings(home=tmp_path).model_dump()


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_links_stay_inside_the_repository(page: Path):
    for target in LINK.findall(page.read_text()):
        if target.startswith(("http://127.0.0.1", "http://localhost", "#")):
            continue
        assert "://" not in target, f"{page.name} links outside the repository: {target}"
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT), f"{page.name}: {target} leaves the repository"
        assert path.exists(), f"{page.name}: {target} does not exist"
