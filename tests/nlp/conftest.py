"""Seeded, cached ticket factories and one smoke-trained pipeline version for the nlp tests."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("ANSI_COLORS_DISABLED", "1")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real labelled data (``../shared/data`` beside the repo; read there, never copied)."""
    for candidate in (REPO.parent / "shared" / "data", REPO.parents[1] / "shared" / "data"):
        if (candidate / "ChnSentiCorp_htl_all.csv").is_file():
            return candidate
    pytest.skip("the real data in ../shared/data is not beside this checkout")


@pytest.fixture(scope="session")
def smoke_tickets() -> pd.DataFrame:
    """A few hundred labelled tickets in both languages (deterministic)."""
    from simulator.ticket_text import synthetic_tickets

    return synthetic_tickets(500, seed=3)


@pytest.fixture(scope="session")
def smoke_settings(tmp_path_factory):
    from orderlens.settings import load_settings

    return load_settings(home=tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="session")
def trained(smoke_tickets, smoke_settings):
    """A real spaCy training run at smoke size (two epochs), saved as the current version."""
    from nlp.training import train_pipelines

    return train_pipelines(smoke_tickets, smoke_settings, smoke=True, stdout=io.StringIO())


@pytest.fixture(scope="session")
def models(trained, smoke_settings):
    from nlp.scoring import TicketModels

    return TicketModels.load(smoke_settings)
