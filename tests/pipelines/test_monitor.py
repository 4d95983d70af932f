"""The monitor on served worlds, one daily run at a time (real Prefect flow runs, real feature
store, the service's scoring, the promotion gate).

- A control world (no drift switched on): no alarm and no retrain over 8 daily runs.
- A carrier failing from a given day: no alarm on the failure day (its orders have had no time
  to be delivered), an alarm at the first daily run after it (its in-flight orders are not
  being delivered), an estimated AUC that falls to near what the outcomes later show, a
  retrain; the cool-down holds the next day's retrain back.
- ``orderlens monitor --json``: one pass; its last line is the record.
- The drift page of the control world, in headless Chromium, shows estimated and realised
  performance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.pipelines import worlds

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

CONTROL_DAYS = 7
FAILURE_DAY = 2
"""The carrier fails for the orders it takes from the start of served day 2 (F). Little of it
can be seen that day: its parcels reach the hubs and stay there, and none of their promises
falls due (promises are 25 h or more); none of them falls due on F+1 either. What shows by the
end of F+1 is that its orders of F and F+1 are not being delivered: the monitor must alarm at
the run at the end of F+1."""
FAILURE = ("ZTO", 8.0)
"""A hub meltdown: parcels dwell 8x longer at ZTO's hubs and meet 8x more incidents."""


@pytest.fixture(scope="module", autouse=True)
def outcomes_without_lag():
    """The simulator's outcomes feed has no lag: an order's outcome counts 6 h after its promise
    (the default, 24 h, allows for a shop's daily export)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ORDERLENS_MONITORING__OUTCOME_GRACE_HOURS", "6")
        yield


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A champion trained on the first weeks of the world (shared by both served worlds)."""
    home = tmp_path_factory.mktemp("monitor") / "trained"
    return worlds.train_champion(home, worlds.simulate())


def run_monitor(world: worlds.ServedWorld, k: int, *, html: bool = False) -> dict:
    """Serve day ``k``, then the daily monitor run at its end."""
    from pipelines.monitor import monitor_flow

    end = worlds.replay_day(world, k)
    return monitor_flow(home=str(world.home), as_of=end.isoformat(), smoke=True, html=html)


@pytest.fixture(scope="module")
def control(trained, tmp_path_factory):
    """The control world served for :data:`CONTROL_DAYS` days, with each run's record."""
    world = worlds.serve_world(trained, worlds.simulate(), tmp_path_factory.mktemp("c") / "home")
    records = [run_monitor(world, k, html=k == CONTROL_DAYS - 1) for k in range(CONTROL_DAYS)]
    return world, records


def test_a_world_without_drift_raises_no_alarm_and_never_retrains(control):
    _, records = control
    assert len(records) == CONTROL_DAYS >= 7
    for record in records:
        assert not record["alarm"], (record["as_of"], record["reasons"])
        assert not record["retrain"] and record["decision"] == "none"
        assert record["window"]["predictions"] >= 300
        assert 0.5 < record["estimated_auc"] <= 1
        assert record["drift_score"] < 0.5
        flow = record["flow"]["segments"]
        assert flow and not any(seg["short"] for seg in flow.values()), flow
    last = records[-1]
    assert last["realised_auc"] is not None, "outcomes of the first served days have arrived"
    assert last["recent"]["realised_auc_low"] <= last["recent"]["estimated_auc_labelled"] + 0.05
    assert os.path.getsize(last["html"]) > 10_000, "the Evidently drift page of the pass"
    kept = json.loads(Path(last["record"]).read_text())
    assert kept["alarm"] is False and kept["as_of"] == last["as_of"]


def test_a_failing_carrier_alarms_within_one_daily_run_and_retrains(
    trained, control, tmp_path_factory
):
    """The failing world is the control world until the failure: it shares the control's served
    history up to then and is served (and judged) from the failure day on."""
    quiet, quiet_records = control
    day = (trained.cut + pd.Timedelta(days=FAILURE_DAY)).strftime("%Y-%m-%d")
    failing = worlds.simulate(carrier_failure=(FAILURE[0], day, FAILURE[1]))
    world = worlds.serve_world(trained, failing, tmp_path_factory.mktemp("f") / "home")
    worlds.share_history(quiet, world, FAILURE_DAY)
    on_the_day = run_monitor(world, FAILURE_DAY)  # its orders have had no time to be delivered
    assert not on_the_day["alarm"], on_the_day["reasons"]
    after = run_monitor(world, FAILURE_DAY + 1)  # the first daily run after the failure day
    carrier = f"carrier={FAILURE[0]}"
    assert after["alarm"], (after["watch"], after["flow"]["segments"].get(carrier))
    assert any(f"deliveries short in {carrier}" in r for r in after["reasons"]), after["reasons"]
    short = after["flow"]["segments"][carrier]
    assert short["short"] and short["ratio_high"] < 0.5 and short["estimated"] > short["predicted"]
    # The estimated AUC falls: beyond its band below the control world's estimate of the same
    # day, and to near the AUC the window's outcomes (known to the test, not to the monitor)
    # later show.
    same_day = quiet_records[FAILURE_DAY + 1]
    assert after["window"]["estimated_auc_high"] < same_day["window"]["estimated_auc_low"]
    assert after["estimated_auc"] < on_the_day["estimated_auc"] - 0.05
    later = realised_later(world, after)
    assert later < same_day["estimated_auc"] - 0.05, "the fall is real"
    assert abs(after["estimated_auc"] - later) < 0.05, (after["estimated_auc"], later)
    assert after["retrain"] and after["decision"] == "retrain"
    run = after["retrain_run"]
    assert run["reason"].startswith("monitor: ") and run["promotion"]["version"] == run["version"]
    # The next day's alarm does not retrain again: the cool-down holds it back.
    nxt = run_monitor(world, FAILURE_DAY + 2)
    assert nxt["alarm"] and not nxt["retrain"], nxt["watch"]
    assert any("cool-down" in note for note in nxt["watch"]), nxt["watch"]


def realised_later(world: worlds.ServedWorld, record: dict) -> float:
    """The realised AUC of a pass's window, with every outcome the simulated world holds."""
    from orderlens.settings import load_settings
    from reports.monitoring.monitor import read_outcomes
    from reports.monitoring.performance import delong_auc
    from reports.monitoring.served import served_predictions, with_outcomes

    settings = load_settings(home=world.home)
    start, end = pd.Timestamp(record["window"]["start"]), pd.Timestamp(record["as_of"])
    window = served_predictions(settings, start, end + pd.Timedelta(microseconds=1))
    labelled = with_outcomes(window, read_outcomes(settings), end + pd.Timedelta(days=30))
    return delong_auc(labelled["p_late"], labelled["late"])[0]


def test_orderlens_monitor_json_prints_the_record_last(control):
    world, records = control
    env = {**os.environ, "ORDERLENS_HOME": str(world.home)}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "monitor", "--json", "--no-retrain", "--no-html"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"alarm", "retrain", "drift_score", "estimated_auc", "realised_auc", "reasons"} <= set(
        record
    )
    # Judged at the newest served prediction (the daily runs were judged at each day's end).
    from orderlens.settings import load_settings
    from reports.monitoring.monitor import latest_prediction_time

    newest = latest_prediction_time(load_settings(home=world.home))
    assert pd.Timestamp(record["as_of"]) == newest <= pd.Timestamp(records[-1]["as_of"])
    assert record["alarm"] is False and record["retrain"] is False


def test_the_drift_page_shows_estimated_and_realised_performance(control, tmp_path):
    from orderlens.settings import load_settings
    from reports import drift_page
    from reports.monitoring.monitor import pass_records, run_pass
    from tests.reports.browser import Chromium, chromium_path
    from tests.servers import missing_service

    binary = chromium_path()
    if binary is None:
        missing_service("chromium is not installed (make system-deps installs Debian's chromium)")
    world, records = control
    settings = load_settings(home=world.home)
    path = tmp_path / "drift.html"
    drift_page.build(run_pass(settings, retrain_allowed=False), pass_records(settings), path)
    with Chromium(binary) as browser:
        visit = browser.visit(path.as_uri())
        text = browser.evaluate("document.body.innerText")
    assert visit.errors == [] and visit.external_requests == []
    assert visit.rendered["svg"] >= 2 and visit.rendered["tables"] >= 3
    estimated = f"{records[-1]['estimated_auc']:.3f}"
    realised = f"{records[-1]['realised_auc']:.3f}"
    assert f"{estimated} (" in text and "estimated AUC (latest window)" in text
    assert f"{realised} (" in text and "realised AUC (latest complete days)" in text
    assert "The monitor's decisions" in text and text.count("no alarm") >= 1
