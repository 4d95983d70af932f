"""The service as a Bento: `bentoml build` from bentofile.yaml packs the code, the pinned
requirements and the newest registered model set, ready for `bentoml containerize`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orderlens.registry import MODEL_SET, store_home, versions

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bentoml_build_makes_a_bento_with_the_model_set(trained):
    import bentoml

    newest = versions(trained.settings, MODEL_SET)[-1]
    env = {
        **os.environ,
        "BENTOML_HOME": str(store_home()),
        "BENTOML_DO_NOT_TRACK": "true",
        # BentoML's build calls `uv`: the pinned one `make setup` installs (as `make bento` does).
        "PATH": f"{ROOT / '.tools/bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    result = subprocess.run(
        [str(Path(sys.executable).with_name("bentoml")), "build", "--output", "tag", str(ROOT)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    tag = result.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    bento = bentoml.bentos.get(tag)
    assert bento.tag.name == "orderlens"
    assert [str(m.tag) for m in bento.info.models] == [f"{MODEL_SET}:{newest}"]
    assert bento.info.labels["project"] == "orderlens"
    root = Path(bento.path)
    for packed in (
        "src/serving/service.py",
        "src/training/registry.py",
        "src/orderlens/registry.py",
    ):
        assert (root / packed).is_file(), packed
    assert not (root / "src/tests").exists() and not (root / "src/var").exists()
    assert (root / "src/serving/action_policy.yaml").is_file()
    requirements = (root / "env/python/requirements.txt").read_text()
    assert "lightgbm==4.7.0" in requirements and "bentoml==1.4.39" in requirements
    assert (root / "env/docker/Dockerfile").is_file()  # what `bentoml containerize` builds


def test_bento_requirements_are_the_lock():
    uv = ROOT / ".tools/bin/uv"
    if not uv.exists():
        uv = Path(shutil.which("uv") or "uv")
    exported = subprocess.run(
        [str(uv), "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes"]
        + ["--no-header", "--no-annotate", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    committed = (ROOT / "bento-requirements.txt").read_text()
    assert committed == exported, "bento-requirements.txt is stale: run `make requirements`"
