"""The real flows on a temporary Prefect server: retries, caching, the daily job at smoke size
(with the demo's replay of served traffic). The monitor's worlds are in ``test_monitor.py``."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from prefect import flow, task

from orderlens.settings import load_settings
from pipelines.data import RESILIENT, ingest_task
from tests.features.sources import good_sources, write_sources
from tests.pipelines.conftest import SMOKE_DAYS, SMOKE_ORDERS

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

ATTEMPTS: Counter[str] = Counter()
ERRORS = {"connection": ConnectionError, "timeout": TimeoutError, "value": ValueError}


@task(**(RESILIENT | {"retry_delay_seconds": 0}))
def fails_once(kind: str) -> str:
    """Raises ``ERRORS[kind]`` on its first attempt only."""
    ATTEMPTS[kind] += 1
    if ATTEMPTS[kind] == 1:
        raise ERRORS[kind](f"{kind} on attempt 1")
    return "done"


@flow
def run_fails_once(kind: str) -> str:
    # The state's name, not the state: a returned Failed state would fail the flow itself.
    return fails_once(kind, return_state=True).name


@pytest.mark.parametrize(
    ("kind", "retried"), [("connection", True), ("timeout", True), ("value", False)]
)
def test_tasks_retry_transient_failures_only(kind, retried):
    assert run_fails_once(kind) == ("Completed" if retried else "Failed")
    assert ATTEMPTS[kind] == (2 if retried else 1)


@flow
def ingest_twice(source: Path, home: str) -> list[str]:
    settings = load_settings(home=Path(home))
    return [ingest_task(source, settings, return_state=True).name for _ in range(2)]


def test_ingest_is_cached_while_the_source_files_are_unchanged(tmp_path):
    source = tmp_path / "sources"
    write_sources(good_sources(), source)
    assert ingest_twice(source, str(tmp_path / "home")) == ["Completed", "Cached"]
    write_sources(good_sources(), source)  # same bytes, new file times: still cached
    assert ingest_twice(source, str(tmp_path / "home")) == ["Cached", "Cached"]
    (source / "tickets.parquet").unlink()  # inputs changed: runs again, then cached
    assert ingest_twice(source, str(tmp_path / "home")) == ["Completed", "Cached"]
    assert ingest_twice(source, str(tmp_path / "other")) == ["Completed", "Cached"]


def test_ingest_task_logic_without_the_engine(tmp_path):
    write_sources(good_sources(), tmp_path / "sources")
    settings = load_settings(home=tmp_path / "home")
    summary = ingest_task.fn(tmp_path / "sources", settings)
    orders = summary.as_dict()["orders"]
    assert (orders["rows_in"], orders["added"], orders["quarantined"]) == (2, 2, 0)


def test_the_online_store_is_loaded_as_of_a_simulated_worlds_present_on_every_run(tmp_path):
    """A simulated world (its sources hold the oracle) is loaded as of just after its newest
    order on every daily run, not only the one that simulated it; an export (or any home
    without the oracle) up to its newest row."""
    import pandas as pd

    from pipelines.daily import online_store_until

    tables = good_sources()
    write_sources(tables, tmp_path / "home" / "sources")
    settings = load_settings(home=tmp_path / "home")
    ingest_task.fn(settings.sources_dir, settings)
    assert online_store_until(settings, own_data=False) is None  # no oracle: not simulated
    pd.DataFrame({"order_id": ["x"]}).to_parquet(settings.sources_dir / "oracle.parquet")
    present = pd.Timestamp(tables["orders"]["created_at"].max()) + pd.Timedelta(seconds=1)
    assert pd.Timestamp(online_store_until(settings, own_data=False)) == present
    assert online_store_until(settings, own_data=True) is None


def test_ingest_flow_takes_a_source_and_a_mapping(tmp_path):
    """`flow run ingest/daily --source DIR --mapping FILE`: the flow reads the export through the
    mapping; a changed mapping is a new cache key (the same files map differently)."""
    from orderlens.settings import PROJECT_ROOT
    from pipelines.data import ingest_flow

    write_sources(good_sources(), tmp_path / "export")
    home = str(tmp_path / "home")
    mapping = PROJECT_ROOT / "examples" / "demo" / "mapping.yaml"
    added = ingest_flow(home=home, source=str(tmp_path / "export"), mapping=str(mapping))
    assert added["orders"]["added"] == 2 and added["tracking"]["added"] == 11
    strict = tmp_path / "strict.yaml"
    strict.write_text(mapping.read_text().replace("tables:", "time_zone: UTC\ntables:", 1))
    again = ingest_flow(home=home, source=str(tmp_path / "export"), mapping=str(strict))
    assert again["orders"] == {**added["orders"], "added": 0, "already_present": 2}


@pytest.fixture(scope="module")
def daily_home(tmp_path_factory):
    """A home after one ``daily`` run at smoke size: a winter world of 300 orders."""
    from pipelines.daily import daily_flow

    home = tmp_path_factory.mktemp("daily")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ORDERLENS_SIMULATION__DAYS", str(SMOKE_DAYS))
        result = daily_flow(home=str(home), orders=SMOKE_ORDERS, smoke=True)
    return home, result


@pytest.mark.slow
def test_daily_runs_every_stage_that_exists(daily_home):
    home, result = daily_home
    steps = result["steps"]
    assert steps["simulate"]["orders"] == SMOKE_ORDERS
    assert steps["ingest"]["orders"]["added"] == SMOKE_ORDERS
    assert steps["nlp"]["signals"] > 0 and (home / "nlp" / "signals.parquet").is_file()
    assert steps["features"]["views"] and not steps["features"]["skipped"]
    assert steps["features"]["materialized_until"]
    report = steps["report"]
    assert Path(report["index"]) == home / "reports" / "index.html"
    assert list(report["pages"])[0] == "index" and "model_card" in report["pages"]
    assert all(Path(p).stat().st_size == report["bytes"][n] for n, p in report["pages"].items())
    # The replayed weeks give the managers' pages something to show the first time (issue 19).
    assert report["not_built"] == {}, report["not_built"]
    train = steps["train"]
    assert train["promotion"]["promote"], "the first model set becomes the champion"
    assert Path(train["reference"]).is_file(), "the champion's features become the reference"
    replay = steps["replay"]  # the simulated world's last weeks, served through the Scorer
    assert replay["predictions"] > replay["orders"] > 0 and replay["model_set"] == train["version"]
    monitor = steps["monitor"]
    assert Path(monitor["record"]).is_file()
    assert monitor["window"]["predictions"] > 0 and monitor["estimated_auc"] is not None
    assert monitor["decision"] == "none", "the daily job just trained: no retrain"
    assert json.loads(Path(monitor["record"]).read_text())["decision"] == monitor["decision"]


@pytest.mark.slow
def test_a_simulated_worlds_newest_orders_are_served_from_every_view(daily_home):
    """The online store holds the simulated world as of its present (its newest order), not
    the future the simulator writes beside each order: the newest order, an hour after it was
    placed (the demo's sample request), reads every view, its day's carrier, warehouse and
    weather rows included, and nothing from after its ``as_of``. (Older orders at an hour after
    their placing may find a newer value than their ``as_of`` and rightly go without it.)"""
    import numpy as np
    import pandas as pd

    from features.lake import read_lake
    from features.snapshots import entity_rows
    from features.store import FeatureRepo

    home, result = daily_home
    settings = load_settings(home=home)
    newest = read_lake(settings, "orders").nlargest(1, "created_at")
    rows = entity_rows(newest).assign(as_of=newest["created_at"] + pd.Timedelta(hours=1))
    online = FeatureRepo(settings).online_feature_values("delay_v1", rows.to_dict("list"))
    assert online.degraded(1) == [[]]
    for view in ("carrier_performance", "warehouse_backlog", "weather_observed"):
        assert not np.isnan(online.ages[view]).any(), f"{view}: no row of the newest order's day"
    present = newest["created_at"].max() + pd.Timedelta(seconds=1)
    assert pd.Timestamp(result["steps"]["features"]["materialized_until"]) == present


@pytest.mark.slow
def test_report_flow_on_demand_lists_its_pages(daily_home):
    from pipelines.report import report_flow

    home, _ = daily_home
    result = report_flow(home=str(home), rows=100)
    assert result["pages"]["index"] == result["index"] and len(result["pages"]) > 3
    assert all(size > 1000 for size in result["bytes"].values())


@pytest.mark.slow
def test_train_flow_runs_on_a_local_dask_cluster_by_settings_alone(daily_home, tmp_path):
    """``pipelines.task_runner: dask`` is the only change: the train flow's steps run as the
    ``train-on-dask`` flow on Prefect's ``DaskTaskRunner`` and every model trains through
    ``lightgbm.dask`` on the runner's two-worker cluster, then meets the promotion gate."""
    import shutil

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    from pipelines.train import train_flow

    home, _ = daily_home
    copy = shutil.copytree(home, tmp_path / "home")  # the other tests keep their champion
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ORDERLENS_PIPELINES__TASK_RUNNER", "dask")
        patch.setenv("ORDERLENS_PIPELINES__DASK_WORKERS", "2")
        result = train_flow(home=str(copy), smoke=True, reason="scale path")
    assert result["trained_on"]["workers"] == 2, result["trained_on"]
    assert result["trained_on"]["scheduler"].startswith("inproc://")
    assert 0 <= result["summary"]["delay_ece"] <= 1, "the candidate was evaluated"
    assert result["promotion"]["version"] == result["version"]
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(  # limit and sort explicit: the server refuses nulls
            flow_filter=FlowFilter(name=FlowFilterName(any_=["train-on-dask"])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=10,
        )
    assert any(run.state.is_completed() for run in runs), [r.state for r in runs]


@pytest.mark.slow
def test_main_job_starts_the_service_once_a_champion_exists(daily_home, tmp_path):
    """The main job's service starter waits for the promotion gate, then boots ``orderlens
    serve`` while the rest of the flow runs, and the service answers a real prediction."""
    import shutil

    import httpx

    from cli.demo import ServiceStarter, sample_request, stop_service
    from serving.schemas import EXAMPLE_INPUT
    from tests.servers import free_port

    home, _ = daily_home
    copy = shutil.copytree(home, tmp_path / "home", ignore=shutil.ignore_patterns("serve.pid"))
    settings = load_settings(home=copy)
    from orderlens.registry import MODEL_SET, pointer_path

    champion = pointer_path(settings, MODEL_SET, "champion")
    saved = champion.rename(tmp_path / "champion.json")  # as before the promotion gate
    starter = ServiceStarter(settings, free_port(), poll_seconds=0.2)
    starter.start()
    try:
        starter.join(timeout=2)
        assert starter.is_alive() and not (copy / "serve.pid").exists(), "waits for a champion"
        saved.rename(champion)  # the gate promotes
        url = starter.wait_ready()
        served = {}
        for name, body in (("sample", sample_request(settings)), ("example", EXAMPLE_INPUT)):
            answer = httpx.post(f"{url}/predict", json=body, timeout=30)
            assert answer.status_code == 200, answer.text
            prediction = answer.json()["predictions"][0]
            assert prediction["order_id"] == body["orders"][0]["order_id"]
            assert 0 <= prediction["delay"]["probability"] <= 1
            served[name] = prediction["feature_freshness"]
        # The printed sample is the world's newest order: the online store has its features.
        assert any(age is not None for age in served["sample"].values()), served
    finally:
        stop_service(settings)
