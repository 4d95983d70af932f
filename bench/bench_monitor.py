"""How long a monitoring pass takes, and how close the estimated AUC comes to the realised one.

Runs :func:`reports.monitoring.monitor.run_pass` on a home with served predictions (after
``make demo``: the replayed weeks) and prints, with the load average (the machine is shared):

- the pass's wall time;
- per week of predictions whose outcomes are all known: the AUC estimated before the outcomes
  (each day's estimate as made at the end of that day, with the labels and in-flight deliveries
  known then) against the realised AUC, pooled over
  the week's predictions, and the difference.

Usage: ``.venv/bin/python bench/bench_monitor.py --home var [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import timedelta
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=Path("var"))
    parser.add_argument("--json", action="store_true", help="last line: the figures as JSON")
    args = parser.parse_args()

    import pandas as pd

    from orderlens.settings import load_settings
    from reports.monitoring.monitor import (
        COMPLETE_SHARE,
        daily_series,
        delivered_by,
        latest_prediction_time,
        pooled,
        prediction_stage,
        read_outcomes,
        run_pass,
        shipped_orders,
    )
    from reports.monitoring.served import served_predictions, with_outcomes

    settings = load_settings(home=args.home.resolve())
    load = os.getloadavg()
    began = time.perf_counter()
    result = run_pass(settings, retrain_allowed=False)
    seconds = time.perf_counter() - began
    record = result.record()

    # Every served day, not only the page's history: the whole replay is compared.
    as_of = latest_prediction_time(settings)
    predictions = served_predictions(settings)
    grace = timedelta(hours=settings.monitoring.outcome_grace_hours)
    outcomes = read_outcomes(settings)
    predictions = with_outcomes(predictions, outcomes, as_of, grace)
    predictions["delivered_at"] = delivered_by(predictions, outcomes, as_of - grace)
    predictions["stage"] = prediction_stage(predictions)
    shipped = shipped_orders(settings, outcomes, as_of - grace)
    span = (as_of - predictions["predicted_at"].min()).days + 1
    config = settings.monitoring.model_copy(update={"history_days": span})
    _, expected, complete = daily_series(predictions, as_of, config, shipped)
    weeks = []
    days = pd.Series(complete)
    weeks_of = days.dt.tz_localize(None).dt.to_period("W")  # days are UTC midnights
    for week, group in days.groupby(weeks_of):
        figures = pooled(predictions, expected, list(group))
        weeks.append(
            {
                "week": str(week),
                "predictions": figures.labelled,
                "estimated_auc": round(figures.estimated_auc_labelled, 4),
                "realised_auc": round(figures.realised_auc, 4),
                "difference": round(figures.estimated_auc_labelled - figures.realised_auc, 4),
            }
        )
    whole = pooled(predictions, expected, complete) if complete else None
    figures = {
        "home": str(settings.home),
        "load_average_1m": load[0],
        "pass_seconds": round(seconds, 1),
        "as_of": record["as_of"],
        "alarm": record["alarm"],
        "estimated_auc": record["estimated_auc"],
        "realised_auc": record["realised_auc"],
        "complete_days": len(complete),
        "complete_share": COMPLETE_SHARE,
        "weeks": weeks,
        "all_complete_days": None
        if whole is None
        else {
            "estimated_auc": round(whole.estimated_auc_labelled, 4),
            "realised_auc": round(whole.realised_auc, 4),
            "difference": round(whole.estimated_auc_labelled - whole.realised_auc, 4),
        },
    }
    print(
        f"monitoring pass on {settings.home}: {seconds:.1f} s (load {load[0]:.1f}, shared machine)"
    )
    print(f"verdict at {record['as_of']}: alarm={record['alarm']}, reasons={record['reasons']}")
    print("week        predictions  estimated  realised  difference")
    for w in weeks:
        print(
            f"{w['week'][:10]}  {w['predictions']:>11,}  {w['estimated_auc']:9.3f}  "
            f"{w['realised_auc']:8.3f}  {w['difference']:+10.3f}"
        )
    if whole is not None:
        a = figures["all_complete_days"]
        print(f"all {len(complete)} complete days: estimated {a['estimated_auc']:.3f}, "
              f"realised {a['realised_auc']:.3f}, difference {a['difference']:+.3f}")  # fmt: skip
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
