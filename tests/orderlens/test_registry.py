"""The one model registry: artefacts in BentoML's store through its public API, one version
format, atomic pointers per home; the ticket pipelines go through it too."""

from __future__ import annotations

import json
import re

import pytest

from orderlens import registry
from orderlens.settings import load_settings

NAME = "orderlens_test_artefact"


@pytest.fixture
def settings(tmp_path):
    return load_settings(home=tmp_path / "home")


def _write(text: str):
    def write(folder):
        (folder / "model.txt").write_text(text)

    return write


def test_one_version_format_sorts_by_time():
    from datetime import UTC, datetime

    earlier = registry.new_version(datetime(2025, 6, 1, 12, 0, 0, 5, tzinfo=UTC))
    later = registry.new_version(datetime(2025, 6, 1, 12, 0, 1, tzinfo=UTC))
    assert earlier == "v20250601t120000000005"  # lower case: BentoML tags are
    assert re.fullmatch(r"v\d{8}t\d{12}", later) and earlier < later


def test_save_read_and_list_an_artefact(settings):
    version = registry.new_version()
    tag = registry.save(
        settings, NAME, version, _write("trees"), metadata={"auc": 0.8, "oracle": None}
    )
    assert tag == f"{NAME}:{version}"
    assert registry.exists(settings, NAME, version)
    assert (registry.path(settings, NAME, version) / "model.txt").read_text() == "trees"
    assert registry.metadata(settings, NAME, version) == {"auc": 0.8}  # None dropped
    assert version in registry.versions(settings, NAME)
    assert registry.path(settings, NAME, version).is_relative_to(registry.store_home())


def test_a_failed_write_registers_nothing(settings):
    version = registry.new_version()

    def crash(folder):
        (folder / "half.txt").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        registry.save(settings, NAME, version, crash)
    assert not registry.exists(settings, NAME, version)
    with pytest.raises(FileNotFoundError):
        registry.path(settings, NAME, version)


def test_pointers_name_registered_versions_only(settings):
    version = registry.new_version()
    assert registry.pointed_version(settings, NAME, "champion") is None
    with pytest.raises(FileNotFoundError):
        registry.set_pointer(settings, NAME, "champion", version)  # not registered yet
    registry.save(settings, NAME, version, _write("x"))
    registry.set_pointer(settings, NAME, "champion", version, reason="first")
    assert registry.pointed_version(settings, NAME, "champion") == version
    record = json.loads(registry.pointer_path(settings, NAME, "champion").read_text())
    assert record["reason"] == "first" and record["set_at"]
    assert registry.pointer_path(settings, NAME, "champion").is_relative_to(settings.home)


def test_ticket_pipelines_are_registered_by_set_current(settings):
    from nlp import store

    version = store.new_version_name()
    folder = store.nlp_root(settings) / version
    (folder / "en").mkdir(parents=True)
    (folder / "en" / "config.cfg").write_text("[nlp]\n")
    (folder / "runs" / "en").mkdir(parents=True)  # spaCy's corpora and output: not registered
    (folder / "runs" / "en" / "train.spacy").write_bytes(b"corpus")
    store.write_meta(folder, {"name": store.PIPELINE_NAME, "metrics": {"en": {"macro_f1": 0.9}}})
    assert store.version_path(settings, version) == folder  # trained, not yet registered
    store.set_current(settings, version)
    assert store.current_version(settings) == version
    registered = store.version_path(settings)
    assert registered == registry.path(settings, registry.TICKET_SIGNALS, version)
    assert (registered / "en" / "config.cfg").is_file() and not (registered / "runs").exists()
    assert store.read_meta(settings)["metrics"]["en"]["macro_f1"] == 0.9
    assert registry.metadata(settings, registry.TICKET_SIGNALS, version)["metrics"] == {
        "en": {"macro_f1": 0.9}
    }
