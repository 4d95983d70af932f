"""A real shipper's export end to end, and what the delay model earns on it.

The USAID SCMS delivery history (``../shared/data/SCMS_Delivery_History_Dataset.csv``, 10,324
shipments) goes through ``orderlens ingest --mapping examples/scms/mapping.yaml`` and the daily
flow (features, train, promotion gate, monitor, reports) in a fresh home, with the export's own
columns declared as extra features (``examples/scms/settings.yaml``); then the test window's
orders are scored by ``orderlens predict``. Printed, on the same time split (the product's own,
by ``created_at``):

- the product's delay AUC / PR-AUC / Brier / ECE at creation (``orderlens evaluate --json``),
- every baseline the evaluation fits on the same training rows (promise horizon, lane/region
  late rate, logistic regression on all features),
- references fitted here on the export's fair order-time columns read straight from the CSV (no
  orderlens code): a plain LightGBM (library defaults; its dates as day numbers, i.e. a
  calendar), the same with the dates as lead times to the scheduled day (no clock), and a
  logistic regression (one-hot categories, standardised numbers), all on the training +
  validation orders; and the lead-time LightGBM on the training orders alone (the rows the
  product fits its trees on),
- the AUC of ``orderlens predict``'s ``p_late`` on the test orders (the service's code path).

Usage: ``.venv/bin/python bench/bench_own_data.py [--home DIR] [--smoke] [--reuse]``. The machine may be
shared: the load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCMS_FILE = "SCMS_Delivery_History_Dataset.csv"
DATA_DIRS = (ROOT.parent / "shared" / "data", ROOT.parents[1] / "shared" / "data")
"""Where ``../shared/data`` is: beside the repository (a clone, CI) or beside the worktrees."""
SCMS = next((d / SCMS_FILE for d in DATA_DIRS if (d / SCMS_FILE).exists()), DATA_DIRS[0])
MAPPING = ROOT / "examples" / "scms" / "mapping.yaml"
SETTINGS = ROOT / "examples" / "scms" / "settings.yaml"
ORDERLENS = [sys.executable, "-m", "cli.main"]

FAIR_CATEGORIES = (
    "Country",
    "Managed By",
    "Fulfill Via",
    "Vendor INCO Term",
    "Shipment Mode",
    "Product Group",
    "Sub Classification",
    "Vendor",
    "Molecule/Test Type",
    "Brand",
    "Dosage Form",
    "Manufacturing Site",
    "First Line Designation",
)
FAIR_NUMBERS = ("Unit of Measure (Per Pack)", "Line Item Quantity", "Line Item Value", "Pack Price")
FAIR_NUMBERS += ("Unit Price",)
FAIR_DATES = {
    "PQ First Sent to Client Date": "%m/%d/%y",
    "PO Sent to Vendor Date": "%m/%d/%y",
    "Scheduled Delivery Date": "%d-%b-%y",
}
"""The export's fair order-time columns (its README): known when the order is placed."""


def run(args: list[str], home: Path, log: Path) -> str:
    """Run an ``orderlens`` command in ``home``; its output goes to ``log`` and is returned."""
    env = {**os.environ, "ORDERLENS_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    done = subprocess.run(
        [*ORDERLENS, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    with log.open("a") as out:
        out.write(f"$ orderlens {' '.join(args)}\n{done.stdout}\n{done.stderr}\n")
    if done.returncode != 0:
        raise SystemExit(f"orderlens {' '.join(args)} failed ({done.returncode}): see {log}")
    return done.stdout


def reference_split(home: Path) -> pd.DataFrame:
    """``order_id`` → split of the product's time split (the same function and shares)."""
    from features.lake import read_lake
    from orderlens.settings import load_settings
    from training.data import time_split

    settings = load_settings(home=home)
    orders = read_lake(settings, "orders", ["order_id", "created_at"])
    outcomes = read_lake(settings, "outcomes", ["order_id", "delivered_at"])
    orders = orders[orders["order_id"].isin(outcomes.dropna()["order_id"])]
    training = settings.training
    cuts = time_split(orders["created_at"], training.train_share, training.validation_share)
    created = orders["created_at"]
    split = np.where(created < cuts[0], "train", np.where(created < cuts[1], "validation", "test"))
    return pd.DataFrame({"order_id": orders["order_id"].astype(str), "split": split})


def fair_columns(path: Path) -> tuple[pd.DataFrame, pd.Series]:
    """The export's fair order-time columns (categories as categories, numbers, dates as day
    numbers) and the late label, indexed by the shipment ``ID``."""
    raw = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    raw = raw.set_index("ID")
    frame = pd.DataFrame(index=raw.index)
    for name in FAIR_CATEGORIES:
        frame[name] = raw[name].replace({"": None, "N/A": None}).astype("category")
    for name in FAIR_NUMBERS:
        frame[name] = pd.to_numeric(raw[name].str.replace(",", ""), errors="coerce")
    for name, fmt in FAIR_DATES.items():
        when = pd.to_datetime(raw[name], format=fmt, errors="coerce")
        frame[name] = (when - pd.Timestamp("2000-01-01")).dt.days
    promised = pd.to_datetime(raw["Scheduled Delivery Date"], format="%d-%b-%y")
    delivered = pd.to_datetime(raw["Delivered to Client Date"], format="%d-%b-%y")
    return frame, (delivered > promised).astype(int)


def references(frame: pd.DataFrame, late: pd.Series, split: pd.DataFrame) -> dict[str, dict]:
    """A plain LightGBM and a logistic regression on the fair columns, fitted on the training
    and validation orders of ``split``, scored on its test orders."""
    import lightgbm as lgb
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from training import metrics

    split = split.set_index("order_id")["split"]
    rows = frame.index.intersection(split.index)
    fit = rows[split.loc[rows].to_numpy() != "test"]
    test = rows[split.loc[rows].to_numpy() == "test"]
    y_fit, y_test = late.loc[fit].to_numpy(), late.loc[test].to_numpy()
    plain = lgb.LGBMClassifier(verbose=-1, random_state=0).fit(frame.loc[fit], y_fit)
    # The dates as day numbers are a calendar (the trees can read the era from them): the same
    # LightGBM with the dates as lead times to the scheduled day instead, no clock.
    scheduled = frame["Scheduled Delivery Date"]
    no_clock = frame.drop(columns=list(FAIR_DATES)).assign(
        **{f"days {name} to schedule": scheduled - frame[name] for name in FAIR_DATES}
    )
    no_clock = no_clock.drop(columns=["days Scheduled Delivery Date to schedule"])
    plain_no_clock = lgb.LGBMClassifier(verbose=-1, random_state=0).fit(no_clock.loc[fit], y_fit)
    # ... and on the training rows alone: the product fits its trees there (the validation
    # slice, the latest orders before the test window, stops and calibrates them).
    train = rows[split.loc[rows].to_numpy() == "train"]
    plain_train_rows = lgb.LGBMClassifier(verbose=-1, random_state=0).fit(
        no_clock.loc[train], late.loc[train].to_numpy()
    )
    numbers = [*FAIR_NUMBERS, *FAIR_DATES]
    text = frame[list(FAIR_CATEGORIES)].astype(str)
    linear_frame = pd.concat([text, frame[numbers]], axis=1)
    logistic = make_pipeline(
        ColumnTransformer(
            [
                ("categories", OneHotEncoder(handle_unknown="ignore", min_frequency=5), list(text)),
                ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), numbers),
            ]
        ),
        LogisticRegression(max_iter=2000),
    ).fit(linear_frame.loc[fit], y_fit)
    out = {}
    for name, p in (
        ("plain_lightgbm", plain.predict_proba(frame.loc[test])[:, 1]),
        ("plain_lightgbm_lead_times", plain_no_clock.predict_proba(no_clock.loc[test])[:, 1]),
        (
            "plain_lightgbm_lead_times_train_rows",
            plain_train_rows.predict_proba(no_clock.loc[test])[:, 1],
        ),
        ("logistic_regression", logistic.predict_proba(linear_frame.loc[test])[:, 1]),
    ):
        out[name] = {
            "auc": metrics.auc(y_test, p),
            "pr_auc": metrics.pr_auc(y_test, p),
            "brier": metrics.brier(y_test, p),
            "ece": metrics.ece(y_test, p),
            "n": len(test),
        }
    return out


def predict_test_window(home: Path, split: pd.DataFrame, log: Path) -> dict[str, float]:
    """Score the test window's orders (from the lake, in the contract) with ``orderlens
    predict --point-in-time`` and grade its ``p_late`` against their outcomes."""
    from features.lake import read_lake
    from orderlens.settings import load_settings
    from training import metrics

    settings = load_settings(home=home)
    orders = read_lake(settings, "orders")
    outcomes = read_lake(settings, "outcomes", ["order_id", "delivered_at"]).dropna()
    test_ids = set(split.loc[split["split"] == "test", "order_id"])
    test = orders[orders["order_id"].astype(str).isin(test_ids)]
    orders_file, scores_file = home / "bench_test_orders.parquet", home / "bench_scores.parquet"
    test.to_parquet(orders_file, index=False)
    report = json.loads(
        run(
            # Past orders scored as of their creation: the online store holds each key's
            # latest value, so their features come from the offline store's point-in-time join.
            [
                "predict",
                "--orders",
                str(orders_file),
                "--out",
                str(scores_file),
                "--point-in-time",
                "--json",
            ],
            home,
            log,
        )
    )
    scores = pd.read_parquet(scores_file).merge(test[["order_id", "promised_at"]], on="order_id")
    scores = scores.merge(outcomes, on="order_id")
    y = (scores["delivered_at"] > scores["promised_at"]).astype(int).to_numpy()
    p = scores["p_late"].to_numpy()
    return {
        "scored": report.get("scored"),
        "auc": metrics.auc(y, p),
        "brier": metrics.brier(y, p),
        "orders_per_s": report.get("orders_per_s"),
        "degraded": report.get("degraded"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=ROOT / "var" / "bench_own_data")
    parser.add_argument("--smoke", action="store_true", help="a few boosting rounds")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the home's trained champion (no daily flow)"
    )
    args = parser.parse_args()
    home: Path = args.home
    log = home / "bench.log"
    began = time.perf_counter()
    if not args.reuse:
        if home.exists():
            shutil.rmtree(home)
        home.mkdir(parents=True)
        shutil.copy(SETTINGS, home / "settings.yaml")
        daily = ["flow", "run", "daily", "--source", str(SCMS.parent), "--mapping", str(MAPPING)]
        run(daily + (["--smoke"] if args.smoke else []), home, log)
    flow_seconds = time.perf_counter() - began
    report = json.loads(run(["evaluate", "--json"], home, log))
    delay = report["delay"]
    split = reference_split(home)
    frame, late = fair_columns(SCMS)
    frame.index = frame.index.astype(str)
    late.index = late.index.astype(str)
    refs = references(frame, late, split)
    predicted = predict_test_window(home, split, log)

    def row(name: str, figures: dict) -> str:
        cells = [
            f"{figures.get(k):.4f}" if figures.get(k) is not None else "  n/a "
            for k in ("auc", "pr_auc", "brier", "ece")
        ]
        return f"{name:<58} " + "  ".join(cells)

    print(f"SCMS delivery history through ingest --mapping -> daily flow ({flow_seconds:.0f} s)")
    print(f"test window: {delay['n']} orders at creation, late rate {delay['base_rate']:.3f}")
    print(f"{'model':<58} AUC     PR-AUC  Brier   ECE")
    print(row(f"orderlens delay ({delay['served'].get('model')})", delay))
    for name, figures in delay.get("baselines", {}).items():
        print(row(f"  baseline {name}", figures))
    for name, figures in refs.items():
        print(row(f"  reference {name} (fair columns)", figures))
    print(
        f"orderlens predict on the test orders: {predicted['scored']} scored, AUC "
        f"{predicted['auc']:.4f}, Brier {predicted['brier']:.4f}, "
        f"{predicted['orders_per_s']:.0f} orders/s, degraded {predicted['degraded']}"
    )
    best = max(
        [
            *(f["auc"] for f in delay.get("baselines", {}).values()),
            *(f["auc"] for f in refs.values()),
        ]
    )
    print(
        f"product AUC {delay['auc']:.4f} vs best other {best:.4f}: "
        f"{'beats' if delay['auc'] > best else 'does NOT beat'} every baseline and reference"
    )
    print(f"gate: {delay.get('baseline_gate')}")
    print(f"load average: {os.getloadavg()} (shared machine)")


if __name__ == "__main__":
    main()
