"""Customer-service tickets caused by what happened to each order.

First *intent events* (order, intent, time) are drawn from the realised experience — a late
parcel makes "where is my order" likely after some waiting, a damaged one a complaint, an
appliance an installation booking. The oracle re-uses this step on its replicas (service minutes
depend on it). Then events close in time are grouped into (sometimes multi-intent) tickets, a few
labels are corrupted, and :func:`render_ticket_texts` writes the text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from orderlens import vocab
from orderlens.intents import INTENT_NAMES, LABEL_SEPARATOR
from simulator import geography as geo
from simulator.delivery import Plan, Timeline
from simulator.orders import HOURS_PER_DAY, Customers, OrderDraw
from simulator.ticket_text import render_ticket_texts

INTENT = {name: i for i, name in enumerate(INTENT_NAMES)}
SERVICE_MINUTES = np.array(
    [
        {
            "where_is_my_order": 6,
            "delay_complaint": 12,
            "damaged_item": 15,
            "wrong_or_missing_item": 12,
            "refund_request": 10,
            "return_or_exchange": 9,
            "installation_booking": 7,
            "technical_consult": 18,
            "address_change": 5,
            "invoice_request": 4,
            "praise": 2,
        }[name]
        for name in INTENT_NAMES
    ],
    dtype=float,
)
CHANNEL_MINUTES_FACTOR = np.array([1.0, 1.4, 0.8, 0.7])  # chat, phone, email, app
LABEL_NOISE = 0.03
MERGE_WINDOW_H = 12.0


@dataclass(frozen=True)
class IntentEvents:
    """One row per (order, intent) the customer raises, with when."""

    order: np.ndarray
    intent: np.ndarray
    time: np.ndarray  # hours since start


def intent_events(
    orders: OrderDraw,
    customers: Customers,
    plan: Plan,
    timeline: Timeline,
    returned: np.ndarray,
    exchanged: np.ndarray,
    rng: np.random.Generator,
) -> IntentEvents:
    """Draw the intents each order's experience provokes (vectorised over orders)."""
    n = len(plan.created)
    cust = orders.customer
    created, delivered, promised = plan.created, timeline.delivered, plan.promised
    late_h = np.maximum(timeline.late_hours, 0.0)
    late = timeline.late_hours > 0
    calmed = np.where(timeline.notified, 0.5, 1.0)  # a warning saves many "where is it" calls
    cat = orders.category
    b2b = customers.is_b2b[cust]
    u = rng.random((len(INTENT_NAMES) + 2, n))
    t = rng.random((len(INTENT_NAMES) + 2, n))
    events: list[tuple[np.ndarray, int, np.ndarray]] = []

    def add(mask: np.ndarray, name: str, when: np.ndarray) -> None:
        events.append((np.flatnonzero(mask), INTENT[name], when[mask]))

    transit = delivered - created
    p_wismo = np.where(late, np.minimum(0.15 + 0.08 * late_h / 24, 0.45) * calmed, 0.003)
    p_wismo = np.where(~late & (transit > 96), 0.02, p_wismo)
    wismo_at = np.where(
        late,
        promised + (0.15 + 0.7 * t[0]) * np.minimum(late_h, 48),
        created + (0.3 + 0.6 * t[0]) * transit,
    )
    add(u[0] < p_wismo, "where_is_my_order", wismo_at)
    p_complaint = np.where(late & (late_h > 12), np.minimum(0.12 + 0.08 * late_h / 24, 0.5), 0.0)
    complaint_at = np.where(t[1] < 0.5, wismo_at + 6 * t[10], delivered + 1 + 23 * t[10])
    add(u[1] < p_complaint * calmed, "delay_complaint", complaint_at)
    damaged_at = delivered + 0.5 + 30 * t[2]
    add(timeline.damaged & (u[2] < 0.75), "damaged_item", damaged_at)
    return_at = delivered + 12 + 6.5 * 24 * t[3]
    add((timeline.damaged & (u[3] < 0.45)), "refund_request", damaged_at + 2 * t[4])
    add(returned & (u[4] < 0.25), "refund_request", return_at + 3 * t[4])
    add((returned | exchanged) & (u[5] < 0.25), "return_or_exchange", return_at)
    add(u[6] < 0.006, "wrong_or_missing_item", delivered + 1 + 23 * t[5])
    install = geo.CATEGORIES["install_rate"].to_numpy()[cat]
    install_at = np.maximum(delivered - 24 * t[6], created + 1)
    add(u[7] < install * 0.35, "installation_booking", install_at)
    consult = geo.CATEGORIES["consult_rate"].to_numpy()[cat] + 0.15 * (
        b2b & (cat == vocab.CATEGORIES.index("industrial_supplies"))
    )
    add(u[8] < 0.5 * consult, "technical_consult", delivered + 6 + 14 * 24 * t[7])
    picked = timeline.picked
    add(
        u[9] < 0.006, "address_change", created + 0.1 + np.maximum(picked - created - 0.2, 0) * t[8]
    )
    p_invoice = np.where(b2b, 0.2, 0.004)
    add(
        u[10] < p_invoice,
        "invoice_request",
        np.maximum(delivered - 24, created + 1) + 5 * 24 * t[9],
    )
    happy = ~late & ~timeline.damaged & (promised - delivered > 12)
    p_praise = 0.005 + 0.01 * customers.review_propensity[cust]
    add(happy & (u[11] < p_praise), "praise", delivered + 1 + 47 * t[11])

    order = np.concatenate([e[0] for e in events])
    intent = np.concatenate([np.full(len(e[0]), e[1]) for e in events])
    time = np.concatenate([e[2] for e in events])
    # Nobody writes about an order before placing it.
    time = np.maximum(time, created[order] + 0.05)
    return IntentEvents(order=order, intent=intent, time=time)


def service_minutes(events: IntentEvents, orders: OrderDraw, customers: Customers) -> np.ndarray:
    """Customer-service minutes per order implied by its intent events."""
    n = len(orders.created_h)
    channel = customers.ticket_channel[orders.customer[events.order]]
    minutes = SERVICE_MINUTES[events.intent] * CHANNEL_MINUTES_FACTOR[channel]
    return np.bincount(events.order, weights=minutes, minlength=n)


def ticket_table(
    events: IntentEvents,
    orders: OrderDraw,
    customers: Customers,
    refunded: np.ndarray,
    start_us: int,
    rng: np.random.Generator,
    to_timestamp,
) -> pd.DataFrame:
    """Group intent events into tickets, add label noise and render the texts.

    Returns:
        The ``tickets`` source table plus ``template_id``.
    """
    order_sort = np.lexsort((events.time, events.order))
    o, it, tm = events.order[order_sort], events.intent[order_sort], events.time[order_sort]
    same_order = np.r_[False, o[1:] == o[:-1]]
    close = np.r_[False, np.diff(tm) < MERGE_WINDOW_H]
    # Events about the same order close in time usually end up in one message.
    merge = same_order & close & (rng.random(len(o)) < 0.7)
    ticket = np.cumsum(~merge) - 1
    n_tickets = int(ticket[-1]) + 1 if len(ticket) else 0
    first = np.r_[0, np.flatnonzero(~merge[1:]) + 1] if len(o) else np.array([], dtype=int)
    t_order = o[first]
    t_time = tm[first]
    labels = [[] for _ in range(n_tickets)]
    for k, name in zip(ticket.tolist(), np.array(INTENT_NAMES)[it].tolist(), strict=True):
        if name not in labels[k]:  # loop over the few % of orders with tickets only
            labels[k].append(name)
    true_labels = np.array([LABEL_SEPARATOR.join(x) for x in labels], dtype=object)
    noisy = _label_noise(labels, rng)

    cust = orders.customer[t_order]
    frame = orders.frame
    value = frame["order_value"].to_numpy()[t_order]
    has_refund = np.array(["refund_request" in x for x in labels])
    render_input = pd.DataFrame(
        {
            "labels": true_labels,
            "language": customers.language[cust],
            "order_ref": frame["order_id"].to_numpy()[t_order],
            "category": frame["category"].to_numpy()[t_order],
            "amount": np.where(has_refund & (refunded[t_order] > 0), refunded[t_order], value),
            "waited_days": (t_time - orders.created_h[t_order]) / HOURS_PER_DAY,
        }
    )
    rendered = render_ticket_texts(render_input, rng)
    tickets = pd.DataFrame(
        {
            "ticket_id": np.array([f"T{i:08d}" for i in range(1, n_tickets + 1)], dtype=object),
            "order_id": render_input["order_ref"].to_numpy(),
            "customer_id": frame["customer_id"].to_numpy()[t_order],
            "created_at": to_timestamp(t_time, start_us),
            "channel": np.array(vocab.TICKET_CHANNELS, dtype=object)[
                customers.ticket_channel[cust]
            ],
            "text": rendered["text"].to_numpy(),
            "language": render_input["language"].to_numpy(),
            "labels": noisy,
            "template_id": rendered["template_id"].to_numpy(),
        }
    )
    return tickets.sort_values(["created_at", "ticket_id"], kind="stable").reset_index(drop=True)


def _label_noise(labels: list[list[str]], rng: np.random.Generator) -> np.ndarray:
    """Annotator slips on ~3% of tickets: a label swapped for another, dropped or added."""
    out = []
    noise = rng.random(len(labels))
    kind = rng.random(len(labels))
    other = rng.integers(0, len(INTENT_NAMES), len(labels))
    for names, u, k, extra in zip(labels, noise, kind, other, strict=True):
        names = list(names)
        if u < LABEL_NOISE:
            wrong = INTENT_NAMES[extra]
            if k < 0.5 and wrong not in names:
                names[-1] = wrong
            elif k < 0.75 and len(names) > 1:
                names.pop()
            elif wrong not in names:
                names.append(wrong)
        out.append(LABEL_SEPARATOR.join(names))
    return np.array(out, dtype=object)
