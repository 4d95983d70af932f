"""The delivery model: what is fixed when an order is placed (the *plan*), what happens after
(the *shocks*), and the realised timeline with its tracking events.

A parcel's journey, in hours after its goods are available (``release``, later than creation only
for presales), is ``m * B`` where ``m = exp(sigma * eps)`` is a journey-wide noise factor and

    B = warehouse wait (FIFO backlog) + picking + customisation + packing + origin weather hold
        + line haul to the first hub + hub dwell + carrier congestion + incident + hub weather hold
        [+ second hub] + line haul to the destination hub + sorting + destination weather hold
        + last mile [+ a failed first attempt].

Everything in ``B`` except the weather holds, the incident and the failed attempt is fixed at
creation (backlogs come from the orders placed *before* it), which is what lets the oracle compute
P(late) as a finite mixture of log-normal tails.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orderlens import vocab
from simulator import geography as geo
from simulator import weather as wx
from simulator.orders import HOURS_PER_DAY, OrderDraw

INCIDENT_HOURS = np.array([0.0, 18.0, 36.0, 72.0])
INCIDENT_SHARES = np.array([0.55, 0.30, 0.15])
INCIDENT_CODES = ("sorting_error", "hub_backlog", "vehicle_breakdown")
REDELIVERY_GAP_H = 20.0
SLOT_WEIGHT = np.array([0.8, 0.8, 1.0])  # origin, first hub, destination
HOLD_EXCEPTION_H = 3.0
"""Weather holds at least this long are scanned as a ``weather_hold`` exception."""
AIR_SPEED_KPH = 320.0
SMOOTHING_H = 8.0
SERVICE_QUEUE_FACTOR = np.array([1.0, 1.0, 0.7, 0.4])  # economy, standard, express, next_day
SERVICE_LAST_MILE_FACTOR = np.array([1.1, 1.0, 0.85, 0.7])
PROMISE_CUTOFF_LOCAL_H = 22.0
FAILING_INCIDENT_CAP = 0.6
"""A failing carrier's incident probability may rise far above the normal 0.2 cap, not to 1."""


@dataclass(frozen=True)
class CarrierFailure:
    """One carrier failing from an hour of the simulation on (a default-off drift scenario).

    Orders it takes from ``start_h`` on (hours after the simulation start) dwell ``multiplier``
    times longer at the hub and meet ``multiplier`` times more incidents (hub exception scans).
    """

    carrier: int  # index into geo.CARRIERS
    start_h: float
    multiplier: float

    def affects(self, carrier: np.ndarray, created_h: np.ndarray) -> np.ndarray:
        """Which orders the failure hits."""
        return (carrier == self.carrier) & (created_h >= self.start_h)


@dataclass(frozen=True)
class Plan:
    """Per-order quantities known when the order is created (hours unless named otherwise)."""

    created: np.ndarray
    release: np.ndarray  # goods available (presale) — the journey starts here
    handling: np.ndarray  # warehouse wait + picking + customisation
    pack: np.ndarray
    leg1: np.ndarray  # origin → first hub
    dwell1: np.ndarray  # first hub dwell incl. carrier congestion
    congestion: np.ndarray  # part of dwell1 due to the carrier's backlog
    leg12: np.ndarray  # first → second hub (0 when there is one hub)
    dwell2: np.ndarray
    leg2: np.ndarray  # last hub → destination hub
    sort: np.ndarray
    last_mile: np.ndarray
    sigma: np.ndarray
    p_incident: np.ndarray
    p_fail: np.ndarray
    p_damage_base: np.ndarray
    promised: np.ndarray
    slot_city: np.ndarray  # (3, n) city index of origin, first hub, destination
    slot_day: np.ndarray  # (3, n) simulated day index the parcel is planned to be there
    hub1: np.ndarray
    hub2: np.ndarray  # -1 when the route has one hub
    cold_chain: np.ndarray
    expedite_eligible: np.ndarray
    flown: np.ndarray

    @property
    def base(self) -> np.ndarray:
        """The part of ``B`` fixed at creation."""
        return (
            self.handling + self.pack + self.leg1 + self.dwell1 + self.leg12 + self.dwell2
            + self.leg2 + self.sort + self.last_mile
        )  # fmt: skip

    @property
    def window(self) -> np.ndarray:
        """Hours from release to the promise: the journey is late when ``m * B`` exceeds it."""
        return self.promised - self.release


def lindley_backlog(
    arrivals: np.ndarray, capacity: np.ndarray, smoothing_hours: float = 0.0
) -> np.ndarray:
    """Queue length at the end of each hour, ``B[h] = max(0, B[h-1] + a[h] - c[h])``.

    Arrivals are first passed through a trailing exponential filter (time constant
    ``smoothing_hours``): the simulated orders are a sample of the real load, and without it a
    small world's queues would be mostly sampling noise. The filter only looks back, so the
    backlog at hour ``h`` depends on orders placed up to ``h`` only.

    Args:
        arrivals, capacity: shape (hours, queues).
    """
    keep = np.exp(-1.0 / smoothing_hours) if smoothing_hours > 0 else 0.0
    backlog = np.zeros_like(arrivals, dtype=float)
    level = np.zeros(arrivals.shape[1])
    rate = arrivals[:24].mean(axis=0) if len(arrivals) else level
    for h in range(arrivals.shape[0]):  # a recursion over hours (~10k), vectorised over queues
        rate = keep * rate + (1 - keep) * arrivals[h]
        level = np.maximum(0.0, level + rate - capacity[h])
        backlog[h] = level
    return backlog


def _hourly(index: np.ndarray, hour: np.ndarray, n_queues: int, n_hours: int) -> np.ndarray:
    counts = np.zeros((n_hours, n_queues))
    np.add.at(counts, (np.clip(hour, 0, n_hours - 1), index), 1.0)
    return counts


def warehouse_wait(orders: OrderDraw, n_days: int, staffing: np.ndarray) -> np.ndarray:
    """FIFO wait (hours) before picking starts, from the warehouse's backlog when the goods are
    released: the orders released earlier and not yet processed, against the shift capacity.

    Args:
        staffing: capacity factor per day (surge staff for promotions, fewer hands at the Spring
            Festival), length ``n_days``.
    """
    n_hours = (n_days + wx.DAYS_AFTER) * 24
    n_wh = len(geo.WAREHOUSES)
    t = orders.presale_release_h
    hour = np.floor(t).astype(np.int64)
    arrivals = _hourly(orders.warehouse, hour, n_wh, n_hours)
    # Two shifts, 08:00–24:00 local; fewer hands around the Spring Festival.
    local = (np.arange(n_hours) + geo.LOCAL_UTC_OFFSET_HOURS) % 24
    shift = (local >= 8).astype(float)
    day_staff = np.concatenate([staffing, np.ones(n_hours // 24 - len(staffing))])
    mean_rate = arrivals[: n_days * 24].sum(axis=0) / (n_days * 24)
    headroom = geo.WAREHOUSES["headroom"].to_numpy()
    capacity = (shift * np.repeat(day_staff, 24))[:, None] * (mean_rate * headroom * 24 / 16)[
        None, :
    ]
    backlog = lindley_backlog(arrivals, capacity, SMOOTHING_H)
    cum_cap = np.vstack([np.zeros((1, n_wh)), np.cumsum(capacity, axis=0)])
    # Orders ahead: the backlog at the end of the previous hour, less what the shift has
    # processed since the hour began.
    prev = np.where(hour > 0, backlog[np.maximum(hour - 1, 0), orders.warehouse], 0.0)
    frac = t - hour
    cap_now = capacity[np.clip(hour, 0, n_hours - 1), orders.warehouse]
    ahead = np.maximum(0.0, prev - cap_now * frac)
    wait = np.zeros(len(t))
    for w in range(n_wh):
        mine = orders.warehouse == w
        c_now = cum_cap[hour[mine], w] + cap_now[mine] * frac[mine]
        target = c_now + ahead[mine] + 1.0
        done = np.searchsorted(cum_cap[:, w], target, side="left")  # first hour boundary past it
        done = np.clip(done, 1, n_hours)
        lo = cum_cap[done - 1, w]
        step = np.maximum(cum_cap[done, w] - lo, 1e-9) if n_hours > 0 else 1.0
        finish = (done - 1) + np.clip((target - lo) / step, 0, 1)
        wait[mine] = np.maximum(finish - t[mine], 0.0)
    return wait


def carrier_congestion(orders: OrderDraw, n_days: int, staffing: np.ndarray) -> np.ndarray:
    """Hours of sorting backlog at the carrier's hubs when the order is created, from the
    carrier's volume in the hours before (sorting runs around the clock)."""
    n_hours = (n_days + wx.DAYS_AFTER) * 24
    n_c = len(geo.CARRIERS)
    hour = np.floor(orders.created_h).astype(np.int64)
    arrivals = _hourly(orders.carrier, hour, n_c, n_hours)
    mean_rate = arrivals[: n_days * 24].sum(axis=0) / (n_days * 24)
    day_staff = np.concatenate([staffing, np.ones(n_hours // 24 - len(staffing))])
    capacity = (
        np.repeat(day_staff, 24)[:, None]
        * (mean_rate * geo.CARRIERS["hub_headroom"].to_numpy())[None, :]
    )
    backlog = lindley_backlog(arrivals, capacity, SMOOTHING_H)
    prev = np.where(hour > 0, backlog[np.maximum(hour - 1, 0), orders.carrier], 0.0)
    return prev / np.maximum(capacity[np.clip(hour, 0, n_hours - 1), orders.carrier], 1e-9)


def plan_deliveries(
    orders: OrderDraw,
    n_days: int,
    warehouse_staffing: np.ndarray,
    carrier_staffing: np.ndarray,
    failure: CarrierFailure | None = None,
) -> Plan:
    """Everything about each order's journey that is known when it is placed.

    Args:
        warehouse_staffing, carrier_staffing: capacity factor per simulated day.
        failure: a carrier failing from some hour on (None: every carrier as usual).
    """
    cat = orders.category
    cats, carriers = geo.CATEGORIES, geo.CARRIERS
    c = orders.carrier
    flags = orders.frame
    n = len(c)
    wh_city = np.array([geo.CITY_INDEX[x] for x in geo.WAREHOUSES["city"]])[orders.warehouse]
    dist = geo.city_distance_km()
    hubs = np.array([geo.CITY_INDEX[h] for h in geo.HUB_CITIES])
    hub1 = hubs[np.argmin(dist[wh_city][:, hubs], axis=1)]
    hub_near_dest = hubs[np.argmin(dist[orders.dest_region][:, hubs], axis=1)]
    two_hubs = (hub_near_dest != hub1) & (orders.distance_km > 600)
    hub2 = np.where(two_hubs, hub_near_dest, -1)

    cold = flags["cold_chain"].to_numpy()
    wait = warehouse_wait(orders, n_days, warehouse_staffing)
    # Cold chain and fast service levels jump the queue; fast ones also get a dedicated last mile.
    wait = wait * np.where(cold, 0.3, SERVICE_QUEUE_FACTOR[orders.service])
    pick = geo.WAREHOUSES["pick_hours"].to_numpy()[orders.warehouse] + 0.3 * np.log1p(
        flags["n_items"].to_numpy()
    )
    custom = np.where(flags["needs_customization"].to_numpy(), 36.0, 0.0)
    congestion = carrier_congestion(orders, n_days, carrier_staffing)

    speed = carriers["speed_kph"].to_numpy()[c]
    fast = orders.service >= vocab.SERVICE_LEVELS.index("express")
    flown = fast & (orders.distance_km > 800) & (carriers["air_share"].to_numpy()[c] >= 0.5)
    d1 = dist[wh_city, hub1] + 15.0
    last_hub = np.where(two_hubs, hub2, hub1)
    d12 = np.where(two_hubs, dist[hub1, np.maximum(hub2, 0)], 0.0)
    d2 = dist[last_hub, orders.dest_region] + 20.0
    main_speed = np.where(flown, AIR_SPEED_KPH, speed)
    leg1 = d1 / speed + 0.5
    leg12 = np.where(two_hubs, d12 / main_speed + 1.0, 0.0)
    leg2 = np.where(two_hubs, d2 / speed, d2 / main_speed) + 1.0
    dwell = carriers["hub_dwell_h"].to_numpy()[c]
    failing = np.zeros(n, dtype=bool) if failure is None else failure.affects(c, orders.created_h)
    worse = np.where(failing, failure.multiplier if failure else 1.0, 1.0)
    dwell = dwell * worse
    tier = np.array([x.tier for x in geo.CITIES])[orders.dest_region]
    bulky = np.isin(
        cat, [vocab.CATEGORIES.index("home_appliances"), vocab.CATEGORIES.index("furniture")]
    )
    last_mile = (3.0 + 2.5 * tier + 6.0 * bulky) * SERVICE_LAST_MILE_FACTOR[orders.service]

    payment = flags["payment_method"].to_numpy()
    p_fail = (
        0.035 * carriers["fail_factor"].to_numpy()[c] * (1 + 0.4 * (tier - 1))
        * np.where(payment == "cash_on_delivery", 1.8, 1.0)
        * np.where(flags["is_b2b"].to_numpy(), 0.5, 1.0) * np.where(bulky, 0.6, 1.0)
    )  # fmt: skip
    sigma = (
        carriers["sigma"].to_numpy()[c]
        + 0.08 * flags["needs_customization"].to_numpy()
        + 0.04 * (orders.service == 0)
    )
    p_incident = np.minimum(carriers["incident_rate"].to_numpy()[c] * (1 + congestion / 10), 0.2)
    p_incident = np.where(failing, np.minimum(p_incident * worse, FAILING_INCIDENT_CAP), p_incident)
    p_damage = cats["fragility"].to_numpy()[cat] * carriers["damage_factor"].to_numpy()[c]

    release = orders.presale_release_h
    handling = wait + pick + custom
    pack = np.full(n, 1.0)
    dwell1 = dwell + congestion
    dwell2 = np.where(two_hubs, dwell, 0.0)
    sort = np.full(n, 2.0)
    depart = release + handling + pack
    at_hub1 = depart + leg1
    at_dest = at_hub1 + dwell1 + leg12 + dwell2 + leg2
    slot_city = np.stack([wh_city, hub1, orders.dest_region])
    slot_day = np.floor(np.stack([depart, at_hub1, at_dest]) / HOURS_PER_DAY).astype(np.int64)
    return Plan(
        created=orders.created_h,
        release=release,
        handling=handling,
        pack=pack,
        leg1=leg1,
        dwell1=dwell1,
        congestion=congestion,
        leg12=leg12,
        dwell2=dwell2,
        leg2=leg2,
        sort=sort,
        last_mile=last_mile,
        sigma=sigma,
        p_incident=p_incident,
        p_fail=p_fail,
        p_damage_base=p_damage,
        promised=promise_hours(orders, release),
        slot_city=slot_city,
        slot_day=slot_day,
        hub1=hub1,
        hub2=hub2,
        cold_chain=cold,
        expedite_eligible=fast,
        flown=flown,
    )


# Promise in whole local days by service level: a fixed part plus distance at a planning pace.
PROMISE_BASE_DAYS = np.array([2.2, 1.7, 1.1, 0.4])
PROMISE_KM_PER_DAY = np.array([550.0, 750.0, 1400.0, 4000.0])


def promise_hours(orders: OrderDraw, release: np.ndarray) -> np.ndarray:
    """The platform's promise: the end of a local day a service-level/distance table away from
    when the goods are available (customisation adds two days). Backlog and weather are not in
    it, which is why promotions and storms make parcels late."""
    days = np.ceil(
        PROMISE_BASE_DAYS[orders.service] + orders.distance_km / PROMISE_KM_PER_DAY[orders.service]
    )
    days += 2 * orders.frame["needs_customization"].to_numpy()
    off = geo.LOCAL_UTC_OFFSET_HOURS
    local_day = np.floor((release + off) / HOURS_PER_DAY)
    # Orders placed after the evening cut-off count from the next local day.
    late_in_day = (release + off) - local_day * HOURS_PER_DAY >= PROMISE_CUTOFF_LOCAL_H - 1
    return (local_day + days + late_in_day) * HOURS_PER_DAY + PROMISE_CUTOFF_LOCAL_H - off


@dataclass(frozen=True)
class Shocks:
    """What happens after creation: weather states per slot, incident, failed attempt, damage and
    the journey's noise."""

    slot_state: np.ndarray  # (3, n) weather state index
    incident: np.ndarray  # 0 none, 1..3 size class
    incident_code: np.ndarray  # index into INCIDENT_CODES
    failed: np.ndarray
    damaged: np.ndarray
    eps: np.ndarray
    notify_u: np.ndarray


def draw_shocks(plan: Plan, slot_state: np.ndarray, rng: np.random.Generator) -> Shocks:
    """Draw the post-creation randomness given the weather states the parcel meets."""
    n = len(plan.created)
    u = rng.random(n)
    size = 1 + (rng.random((n, 1)) > np.cumsum(INCIDENT_SHARES)[None, :]).sum(axis=1).clip(0, 2)
    incident = np.where(u < plan.p_incident, size, 0)
    level = wx.STATE_LEVEL[slot_state]
    rough = level.max(axis=0) >= 3
    heat_at_dest = (wx.STATE_TYPE[slot_state[2]] == vocab.ALERT_TYPES.index("heat")) & (
        level[2] >= 2
    )
    p_damage = plan.p_damage_base * (1 + 0.6 * rough) + 0.05 * (plan.cold_chain & heat_at_dest)
    return Shocks(
        slot_state=slot_state,
        incident=incident,
        incident_code=rng.integers(0, len(INCIDENT_CODES), n),
        failed=rng.random(n) < plan.p_fail,
        damaged=rng.random(n) < p_damage,
        eps=rng.normal(0, 1, n),
        notify_u=rng.random(n),
    )


EVENTS = (
    ("created", None),
    ("picked", None),
    ("exception", "weather_hold"),  # origin
    ("departed_origin", None),
    ("arrived_hub", None),
    ("exception", "hub"),  # incident or congestion (code per order)
    ("exception", "weather_hold"),  # first hub
    ("departed_hub", None),
    ("arrived_hub", None),  # second hub
    ("departed_hub", None),
    ("arrived_dest_hub", None),
    ("exception", "damaged_parcel"),
    ("exception", "weather_hold"),  # destination
    ("out_for_delivery", None),
    ("exception", "recipient_absent"),
    ("out_for_delivery", None),
    ("delivered", None),
)
"""Tracking event columns of :attr:`Timeline.times`, in route order."""


@dataclass(frozen=True)
class Timeline:
    """A realised journey per order."""

    times: np.ndarray | None  # (n, len(EVENTS)) hours, NaN where it did not happen
    picked: np.ndarray
    hub_code: np.ndarray  # (n,) index into INCIDENT_CODES, or -1 for a congestion scan
    delivered: np.ndarray
    late_hours: np.ndarray  # delivered - promised (negative when early)
    attempts: np.ndarray
    damaged: np.ndarray
    held: np.ndarray  # any exception before delivery
    first_exception: np.ndarray  # hours, inf when none
    notified: np.ndarray
    expedited: np.ndarray
    weather_hours: np.ndarray


def realise(plan: Plan, shocks: Shocks, *, events: bool = True) -> Timeline:
    """Turn a plan and its shocks into event times (the same code serves the world and the
    oracle's replicas, which skip the event matrix with ``events=False``)."""
    m = np.exp(plan.sigma * shocks.eps)
    holds = wx.STATE_HOURS[shocks.slot_state] * SLOT_WEIGHT[:, None]  # (3, n)
    inc = INCIDENT_HOURS[shocks.incident]
    nan = np.full(len(m), np.nan)
    start = plan.release
    picked = start + m * plan.handling
    departed = picked + m * (plan.pack + holds[0])
    arr1 = departed + m * plan.leg1
    dep1 = arr1 + m * (plan.dwell1 + inc + holds[1])
    two = plan.hub2 >= 0
    arr2 = np.where(two, dep1 + m * plan.leg12, nan)
    dep2 = np.where(two, arr2 + m * plan.dwell2, nan)
    arr_dest = np.where(two, dep2, dep1) + m * plan.leg2
    ofd1 = arr_dest + m * (plan.sort + holds[2])
    failed = shocks.failed
    absent = np.where(failed, ofd1 + m * plan.last_mile, nan)
    ofd2 = np.where(failed, absent + m * REDELIVERY_GAP_H, nan)
    delivered = np.where(failed, ofd2, ofd1) + m * plan.last_mile
    hub_scan = (shocks.incident > 0) | (plan.congestion >= 8)
    exc = {
        2: np.where(holds[0] >= HOLD_EXCEPTION_H, picked + m * plan.pack * 0.5, nan),
        5: np.where(hub_scan, arr1 + m * plan.dwell1 * 0.4, nan),
        6: np.where(holds[1] >= HOLD_EXCEPTION_H, arr1 + m * (plan.dwell1 * 0.5 + inc + 0.05), nan),
        11: np.where(shocks.damaged, arr_dest + m * plan.sort * 0.25, nan),
        12: np.where(holds[2] >= HOLD_EXCEPTION_H, arr_dest + m * plan.sort * 0.5, nan),
        14: absent,
    }
    times = None if not events else np.column_stack(
        [plan.created, picked, exc[2], departed, arr1, exc[5], exc[6], dep1, arr2, dep2,
         arr_dest, exc[11], exc[12], ofd1, absent, ofd2, delivered]
    )  # fmt: skip
    first_exc = np.fmin.reduce(np.column_stack([exc[k] for k in (2, 5, 6, 11, 12, 14)]), axis=1)
    first_exc = np.where(np.isnan(first_exc), np.inf, first_exc)
    late_hours = delivered - plan.promised
    late = late_hours > 0
    # The platform warns the customer when a scan exception shows up before the promise and the
    # parcel then misses it; a few late parcels are caught by ETA checks without an exception.
    warned = first_exc < plan.promised
    notified = late & (shocks.notify_u < np.where(warned, 0.75, 0.10))
    return Timeline(
        times=times,
        picked=picked,
        hub_code=np.where(shocks.incident > 0, shocks.incident_code, -1),
        delivered=delivered,
        late_hours=late_hours,
        attempts=1 + failed.astype(np.int64),
        damaged=shocks.damaged,
        held=np.isfinite(first_exc),
        first_exception=first_exc,
        notified=notified,
        expedited=plan.expedite_eligible & (holds.max(axis=0) >= HOLD_EXCEPTION_H)
        | (plan.expedite_eligible & (shocks.incident > 0)),
        weather_hours=holds.sum(axis=0),
    )
