"""The flows by name: what ``orderlens flow run NAME`` runs and ``orderlens flow deploy`` deploys."""

from __future__ import annotations

from typing import Any

from prefect import Flow

from pipelines.daily import daily_flow
from pipelines.data import features_flow, ingest_flow
from pipelines.monitor import monitor_flow
from pipelines.nlp import nlp_flow
from pipelines.report import report_flow
from pipelines.train import train_flow

FLOWS: dict[str, Flow[..., Any]] = {
    "ingest": ingest_flow,
    "nlp": nlp_flow,
    "features": features_flow,
    "train": train_flow,
    "monitor": monitor_flow,
    "report": report_flow,
    "daily": daily_flow,
}
