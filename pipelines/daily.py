"""The ``daily`` flow: the main job, composing the stage flows in the order data flows through.

On an empty home it first simulates a synthetic world of ``orders`` orders (the embedded
default), then: ingest → nlp → features → train (+ promotion gate) → monitor → report. On a world
it simulated, the last ``simulation.replay_days`` days are replayed as served traffic before the
monitor (see :mod:`pipelines.replay`), so the monitor and every report page have predictions,
actions and outcomes to show. A step
that cannot run yet is skipped with the reason, in the result and in the summary artifact:
``train`` when ``training/`` is not installed (see :mod:`pipelines.train`). Report pages the data
does not allow yet are listed on the index page with the reason (see :mod:`reports.build`).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from orderlens.settings import Settings
from pipelines.data import features_flow, ingest_flow, simulate_world_task
from pipelines.monitor import monitor_flow
from pipelines.nlp import nlp_flow
from pipelines.replay import replay_task
from pipelines.report import report_flow
from pipelines.runtime import flow_settings, run_logger, run_name
from pipelines.train import missing_training, train_flow


def home_is_empty(settings: Settings) -> bool:
    """No source files and nothing in the lake: the embedded default world is simulated."""
    return (
        not (settings.sources_dir / "orders.parquet").is_file()
        and not (settings.lake_dir / "orders").is_dir()
    )


def world_present(settings: Settings) -> datetime:
    """A simulated world's present: just after its newest order.

    The simulator writes each order's future beside it (its deliveries and scans, weather weeks
    ahead), which an export taken at the last order would not hold. The online store is loaded
    as of this moment, so the newest orders (the demo's traffic and sample request, an hour
    after they were placed) are served from every view rather than refused for values from
    after their ``as_of`` or missing their day's rows."""
    from features.lake import read_lake

    created = read_lake(settings, "orders", columns=["created_at"])["created_at"]
    return created.max().to_pydatetime() + timedelta(seconds=1)


def online_store_until(settings: Settings, own_data: bool) -> datetime | None:
    """Up to when the daily flow loads the online store: a simulated world's present
    (:func:`world_present`) on its first run and every later one — its sources hold the
    oracle, which only the simulator writes — else None (an export: its newest row)."""
    simulated = (settings.sources_dir / "oracle.parquet").is_file()
    return world_present(settings) if simulated and not own_data else None


@flow(name="daily", flow_run_name=run_name("daily"))
def daily_flow(
    home: str | None = None,
    orders: int | None = None,
    smoke: bool = False,
    source: str | None = None,
    mapping: str | None = None,
    replay_days: int | None = None,
) -> dict[str, Any]:
    """Run the whole pipeline once.

    Args:
        home: run-time root (default: settings).
        orders: orders to simulate on an empty home (default ``settings.simulation.orders``).
        smoke: the smoke size of every stage (two spaCy epochs, a few boosting rounds).
        source: a shop's export folder to ingest (default ``settings.ingest.source``); with
            one, no world is simulated.
        mapping: mapping YAML for that export (default ``settings.ingest.mapping``).
        replay_days: days at the end of the lake replayed as served traffic after training
            (default: ``settings.simulation.replay_days`` when this run simulated the world,
            else none; a shop's traffic comes from its calls to the service).

    Returns:
        Per step, its result or ``{"skipped": reason}``, and ``seconds`` per step.
    """
    settings = flow_settings(home)
    home = str(settings.home)
    logger = run_logger()
    steps: dict[str, Any] = {}
    seconds: dict[str, float] = {}

    def step(name: str, run: Any, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        steps[name] = run(*args, **kwargs)
        seconds[name] = round(time.perf_counter() - began, 1)
        return steps[name]

    own_data = source or settings.ingest.source
    simulated = not own_data and home_is_empty(settings)
    if simulated:
        n_orders = orders or settings.simulation.orders
        logger.info("empty home %s: simulating a world of %d orders", home, n_orders)
        step("simulate", simulate_world_task, settings, n_orders)
    step("ingest", ingest_flow, home=home, source=source, mapping=mapping)
    step("nlp", nlp_flow, home=home, smoke=smoke)
    until = online_store_until(settings, bool(own_data))
    step("features", features_flow, home=home, until=until)
    why_not = missing_training()
    if why_not:
        logger.warning("train skipped: %s", why_not)
        steps["train"] = {"skipped": why_not}
    else:
        step("train", train_flow, home=home, smoke=smoke, reason="daily")
    if replay_days is None:
        replay_days = settings.simulation.replay_days if simulated else 0
    if replay_days and "skipped" not in steps.get("train", {"skipped": "no training"}):
        step("replay", replay_task, settings, replay_days)
    step("monitor", monitor_flow, home=home, retrain=False)  # daily just trained
    step("report", report_flow, home=home)
    create_markdown_artifact(key="daily-summary", markdown=_summary(home, steps, seconds))
    return {"steps": steps, "seconds": seconds}


def _summary(home: str, steps: dict[str, Any], seconds: dict[str, float]) -> str:
    lines = [f"# Daily run on {home}", "", "| step | seconds | outcome |", "|---|---|---|"]
    for name, result in steps.items():
        if isinstance(result, dict) and "skipped" in result:
            outcome = f"skipped: {result['skipped']}"
        elif name == "monitor":
            outcome = (
                f"{'alarm' if result['alarm'] else 'no alarm'}, decision {result['decision']}; "
                + ("; ".join(result["reasons"]) or "no evidence against the model")
            )
        elif name == "replay":
            outcome = (
                f"{result['predictions']} predictions of {result['orders']} orders "
                f"{result['start'][:10]} .. {result['end'][:10]}, {result['actions_fired']} actions"
            )
        elif name == "features":
            outcome = f"{len(result['views'])} views built, {len(result['skipped'])} skipped"
        elif name == "report":
            outcome = f"{len(result['pages'])} pages, index {result['index']}" + "".join(
                f"; not built: {name} ({why})" for name, why in result["not_built"].items()
            )
        elif name == "nlp":
            outcome = f"ticket pipelines {result['version']}, {result['signals']} tickets"
        else:
            outcome = str(result)[:200]
        lines.append(f"| {name} | {seconds.get(name, '-')} | {outcome} |")
    return "\n".join(lines)
