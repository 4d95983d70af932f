"""The value oracle: an honest posterior over the latent traits, exact expectations of the last
draws, and a Monte Carlo noise estimate that shrinks where more replicas run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulator import delivery as dl
from simulator.orders import simulate_customers, simulate_orders
from simulator.outcomes import draw_returns, expected_outcomes, finish_outcomes
from simulator.traits import draw_traits, gather_evidence
from simulator.world import WorldConfig, simulate_world, staffing

N_ORDERS = 20_000


@pytest.fixture(scope="module")
def stream():
    """Customers and an order stream (no deliveries yet)."""
    rng = np.random.default_rng(3)
    customers = simulate_customers(N_ORDERS // 4, rng)
    orders = simulate_orders(N_ORDERS, pd.Timestamp("2025-01-01"), 365, customers, rng)
    return customers, orders


@pytest.mark.parametrize(
    ("trait", "min_corr"),
    [("loyalty", 0.15), ("spend_level", 0.6), ("price_sensitivity", 0.6), ("social_reach", 0.2)],
)
def test_trait_posterior_is_calibrated_and_informative(stream, trait, min_corr):
    """The true trait is a draw from its posterior: its rank among posterior draws (PIT) is
    uniform — neither the prior (no information) nor the truth (a leak) would pass both
    checks."""
    customers, orders = stream
    draws = draw_traits(gather_evidence(orders, customers), 100, np.random.default_rng(1))
    truth = getattr(customers, trait)[orders.customer]
    sample = getattr(draws, trait)
    pit = (sample < truth[None, :]).mean(axis=0)
    assert abs(pit.mean() - 0.5) < 0.02, pit.mean()
    assert abs(pit.std() - np.sqrt(1 / 12)) < 0.02, pit.std()
    assert np.corrcoef(sample.mean(axis=0), truth)[0, 1] > min_corr


def test_home_channel_posterior_mostly_finds_the_channel(stream):
    customers, orders = stream
    draws = draw_traits(gather_evidence(orders, customers), 20, np.random.default_rng(2))
    accuracy = (draws.channel == customers.channel[orders.customer][None, :]).mean()
    assert 0.85 < accuracy < 0.99


def test_expected_outcomes_are_the_mean_of_the_world_draws(stream):
    """Given one delivery, returns and tickets, the oracle's expectation equals the average of
    many draws of the world's own last step."""
    customers, orders = stream
    days = 365
    plan = dl.plan_deliveries(orders, days, *staffing(pd.Timestamp("2025-01-01"), days), None)
    states = np.zeros((3, len(plan.created)), dtype=np.int8)
    rng = np.random.default_rng(4)
    timeline = dl.realise(plan, dl.draw_shocks(plan, states, rng), events=False)
    returns = draw_returns(orders, customers, timeline, rng)
    minutes = np.zeros(len(plan.created))
    n_intents = np.zeros(len(plan.created), dtype=np.int64)
    expected = expected_outcomes(orders, customers, plan, timeline, returns, minutes, n_intents)
    draws = [
        finish_outcomes(
            orders, customers, plan, timeline, returns, minutes, n_intents, rng, review_all=True
        )
        for _ in range(200)
    ]
    columns = (
        "refunded_amount", "review_score", "repeat_orders_90d", "spend_180d_after",
        "profile_tags_gained", "referrals", "service_attach_revenue", "partner_revenue_share",
        "cross_category_orders_90d", "cash_collected_at",
    )  # fmt: skip
    for name in columns:
        mean = np.mean([d[name] for d in draws], axis=0).mean()
        assert abs(expected[name].mean() - mean) < 0.01 * abs(mean) + 0.005, name
    repeat_share = np.mean([d["repeat_orders_90d"] > 0 for d in draws])
    assert abs(expected["p_repeat"].mean() - repeat_share) < 0.005


def test_oracle_noise_is_estimated_and_smaller_where_more_replicas_ran():
    config = WorldConfig(n_orders=4_000, seed=8, days=120)
    oracle = simulate_world(config)["oracle"]
    noise = oracle["satisfaction__mc_var"].to_numpy()
    focus = np.arange(len(oracle)) >= len(oracle) * (1 - config.oracle_focus_share)
    assert (noise >= 0).all() and noise.mean() > 0
    assert noise[focus].mean() < noise[~focus].mean() / 2  # 16 replicas there, 4 elsewhere
    assert (oracle["on_time_delivery__mc_var"] == 0).all()  # exact, no replicas
