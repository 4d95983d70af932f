"""The synthetic world: compose customers, orders, weather, deliveries, tickets, outcomes and the
oracle into the source tables of :mod:`orderlens.contracts` (plus the ``oracle`` table).

Usage::

    world = simulate_world(WorldConfig(n_orders=200_000, seed=7))
    write_world(world, out_dir)  # one <table>.parquet per table

Deterministic for a seed: every component draws from its own child generator, so changing one
component's draws does not reshuffle the others.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simulator import delivery as dl
from simulator import geography as geo
from simulator import oracle as orc
from simulator import weather as wx
from simulator.orders import simulate_customers, simulate_orders
from simulator.outcomes import draw_returns, finish_outcomes, outcomes_frame
from simulator.tickets import intent_events, service_minutes, ticket_table
from simulator.tracking import tracking_table
from simulator.weather import to_timestamp

TABLES = ("orders", "weather", "forecasts", "tracking", "tickets", "outcomes", "oracle")
_COMPONENTS = (
    "customers",
    "orders",
    "weather",
    "shocks",
    "tickets",
    "outcomes",
    "weather_tables",
    "oracle_delay",
    "oracle_value",
)


@dataclass(frozen=True)
class WorldConfig:
    """What to simulate.

    Args:
        n_orders: orders over the whole period.
        seed: same seed, same world.
        start: first order day (UTC), ``YYYY-MM-DD``.
        days: length of the order period; weather and deliveries run a few weeks past it.
        oracle_weather_samples: posterior weather draws per order for ``p_late``.
        oracle_replicas: replicas of the post-creation world the value oracle averages for the
            orders outside the focus.
        oracle_focus_replicas: replicas of the newest ``oracle_focus_share`` of orders (where
            models are tested: the oracle's noise there is what evaluation corrects for).
        oracle_batch: replicas per stratified batch (both replica counts are multiples).
        carrier_failure: default off (None). ``(carrier_id, start day YYYY-MM-DD, multiplier)``
            makes that carrier fail from that day on: its parcels dwell ``multiplier`` times
            longer at the hub and meet ``multiplier`` times more incidents (hub exception scans),
            so more of them are late, and later. A sharp, checkable drift for demos and tests;
            the oracle knows (it is computed from the same plan). Adds no random draws: the rest
            of the world is the same as without it.
    """

    n_orders: int = 20_000
    seed: int = 7
    start: str = "2025-01-01"
    days: int = 365
    oracle_weather_samples: int = 16
    oracle_replicas: int = 2
    oracle_focus_replicas: int = 16
    oracle_focus_share: float = 0.25
    oracle_batch: int = 4
    carrier_failure: tuple[str, str, float] | None = None

    def failure(self) -> dl.CarrierFailure | None:
        """The carrier failure in simulation terms (carrier index, hours after start)."""
        if self.carrier_failure is None:
            return None
        carrier_id, day, multiplier = self.carrier_failure
        carriers = list(geo.CARRIERS["carrier_id"])
        if carrier_id not in carriers:
            raise ValueError(f"carrier_failure: unknown carrier {carrier_id!r} (one of {carriers})")
        if multiplier < 1:
            raise ValueError(f"carrier_failure: the multiplier must be >= 1, got {multiplier}")
        hours = (
            _naive_utc(pd.Timestamp(day)) - _naive_utc(pd.Timestamp(self.start))
        ) / pd.Timedelta(hours=1)
        return dl.CarrierFailure(carriers.index(carrier_id), float(hours), float(multiplier))


def simulate_world(config: WorldConfig, *, progress: bool = False) -> dict[str, pd.DataFrame]:
    """Simulate every source table and the oracle.

    Args:
        config: the world to build.
        progress: show a progress bar on the terminal.

    Returns:
        ``orders``, ``weather``, ``forecasts``, ``tracking``, ``tickets``, ``outcomes`` (columns of
        :mod:`orderlens.contracts`, timestamps ``datetime64[us, UTC]``) and ``oracle``
        (``order_id``, ``p_late``, ``expected_delay_hours`` and one column per value dimension).
    """
    if config.n_orders < 1 or config.days < 7:
        raise ValueError("a world needs at least 1 order and 7 days")
    failure = config.failure()
    seeds = np.random.SeedSequence(config.seed).spawn(len(_COMPONENTS))
    rng = {name: np.random.default_rng(s) for name, s in zip(_COMPONENTS, seeds, strict=True)}
    start = _naive_utc(pd.Timestamp(config.start))
    start_us = int(start.value // 1000)

    with _steps(progress, 8) as step:
        step("customers and orders")
        customers = simulate_customers(max(1, config.n_orders // 4), rng["customers"])
        orders = simulate_orders(config.n_orders, start, config.days, customers, rng["orders"])
        weather = wx.simulate_weather(start, config.days, rng["weather"])

        step("deliveries")
        warehouse_staff, carrier_staff = staffing(start, config.days)
        plan = dl.plan_deliveries(orders, config.days, warehouse_staff, carrier_staff, failure)
        frame = orders.frame
        frame["created_at"] = to_timestamp(plan.created, start_us)
        frame["promised_at"] = to_timestamp(plan.promised, start_us)
        states = np.stack([weather.state(plan.slot_city[s], plan.slot_day[s]) for s in range(3)])
        timeline = dl.realise(plan, dl.draw_shocks(plan, states, rng["shocks"]))

        step("tracking")
        order_id = frame["order_id"].to_numpy()
        tracking = tracking_table(
            order_id, frame["carrier_id"].to_numpy(), plan, timeline, start_us
        )

        step("tickets")
        returns = draw_returns(orders, customers, timeline, rng["outcomes"])
        events = intent_events(
            orders, customers, plan, timeline, returns.returned, returns.exchanged, rng["tickets"]
        )
        minutes = service_minutes(events, orders, customers)
        n_intents = np.bincount(events.order, minlength=len(order_id))
        columns = finish_outcomes(
            orders, customers, plan, timeline, returns, minutes, n_intents, rng["outcomes"]
        )
        tickets = ticket_table(
            events, orders, customers, columns["refunded_amount"], start_us, rng["tickets"],
            to_timestamp,
        )  # fmt: skip

        step("outcomes and weather")
        outcomes = outcomes_frame(order_id, columns, start_us, to_timestamp)
        weather_table, forecasts = wx.weather_tables(weather, start_us, rng["weather_tables"])

        step("oracle: delay")
        posteriors = orc.slot_posteriors(weather, plan)
        p_late = np.empty(len(order_id))
        hours = np.empty(len(order_id))
        for lo in range(0, len(order_id), orc.CHUNK):
            sl = slice(lo, lo + orc.CHUNK)
            states = orc.sample_states(
                posteriors[:, sl], config.oracle_weather_samples, rng["oracle_delay"]
            )
            p_late[sl], hours[sl] = orc.delay_oracle(orc.slice_plan(plan, sl), states)

        step("oracle: value dimensions")
        replicas = orc.Replicas(
            config.oracle_replicas,
            config.oracle_focus_replicas,
            config.oracle_focus_share,
            config.oracle_batch,
        )
        value = orc.value_oracle(
            orders, customers, plan, posteriors, replicas, to_timestamp, start_us,
            rng["oracle_value"], first_ticket_h=_first_ticket_hour(events, orders, len(customers)),
        )  # fmt: skip
        value["on_time_delivery"] = 1 - p_late
        value["first_attempt_success"] = 1 - plan.p_fail
        oracle = pd.DataFrame(
            {"order_id": order_id, "p_late": p_late, "expected_delay_hours": hours}
        )
        oracle = pd.concat([oracle, value], axis=1)
        step("done")

    return {
        "orders": frame,
        "weather": weather_table,
        "forecasts": forecasts,
        "tracking": tracking,
        "tickets": tickets,
        "outcomes": outcomes,
        "oracle": oracle,
    }


def _naive_utc(moment: pd.Timestamp) -> pd.Timestamp:
    """``moment`` in UTC without a time zone (the simulator's clock)."""
    return moment.tz_convert("UTC").tz_localize(None) if moment.tzinfo is not None else moment


def staffing(start: pd.Timestamp, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Daily capacity factors of warehouses and carriers: both hire for promotions (planned, so
    most but not all of the surge is covered) and thin out around the Spring Festival."""
    festival = geo.spring_festival_factor(start, n_days)
    surge = geo.promotion_days(start, n_days)["multiplier"].to_numpy() - 1
    # Temporary staff stay a few days past the peak to clear what it left behind.
    kept = pd.Series(surge).rolling(5, min_periods=1).max().to_numpy()
    return festival * (1 + 0.2 * kept), festival * (1 + 0.2 * kept)


def _first_ticket_hour(events, orders, n_customers: int) -> np.ndarray:
    """Per customer, the hour of their first ticket (inf: none) — when their contact channel
    became observable."""
    first = np.full(n_customers, np.inf)
    np.minimum.at(first, orders.customer[events.order], events.time)
    return first


def write_world(world: dict[str, pd.DataFrame], out_dir: Path) -> dict[str, Path]:
    """Write each table as ``<out_dir>/<table>.parquet``.

    Returns:
        The path of each table written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for table, frame in world.items():
        path = out_dir / f"{table}.parquet"
        frame.to_parquet(path, index=False)
        paths[table] = path
    return paths


@contextlib.contextmanager
def _steps(progress: bool, total: int) -> Iterator:
    """A ``step(description)`` callback that advances a rich progress bar (or does nothing)."""
    if not progress:
        yield lambda description: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("simulating: {task.description:<28}"), BarColumn(), TimeElapsedColumn()
    ) as bar:
        task = bar.add_task("starting", total=total)
        first = [True]

        def step(description: str) -> None:
            if first[0]:
                first[0] = False
            else:
                bar.advance(task)
            bar.update(task, description=description)

        yield step
