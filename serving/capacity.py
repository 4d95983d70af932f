"""Load without lies: each worker scores at most a few requests at once and lets a bounded number
of orders wait; beyond that it sheds the request (503 with ``Retry-After``) at once, before any
work, instead of taking it on and answering late or without its features.

Why: with every request admitted, 16 concurrent clients piled dozens of scoring threads onto two
cores; the online read then missed its time budget because the machine was busy, the breaker
opened, and 84-94 % of answers came back degraded with status 200 (issue 18). Scoring is CPU work:
running more of it at once than there are cores only makes every answer later.

Waiting requests are admitted smallest first (fewest orders), so a one-order call is not stuck
behind a queue of 1,000-order batches; ties go first come, first served.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass


class Overloaded(Exception):
    """The request was shed; ``retry_after_s`` is a fair estimate of when to come back."""

    def __init__(self, retry_after_s: float, queued_orders: int) -> None:
        super().__init__(f"over capacity: {queued_orders} orders already waiting")
        self.retry_after_s = retry_after_s
        self.queued_orders = queued_orders


@dataclass
class GateStats:
    admitted: int = 0
    shed: int = 0


class CapacityGate:
    """Admission to scoring in one worker (one event loop).

    Args:
        max_running: requests scored at once (about the cores a worker may use; 2 lets a small
            request run beside a large one).
        max_queued_orders: orders that may wait for a slot; a request that would take the queue
            beyond this is shed. A request always gets in when nothing waits, however large.
        max_wait_s: a request is also shed when the orders waiting ahead of it and its own would
            take longer than this to score, at the seconds per order measured on the requests
            scored so far: the bound follows the machine (on a busy machine each order takes
            longer, so fewer may wait).
        clock: monotonic seconds.
    """

    def __init__(
        self,
        max_running: int = 2,
        max_queued_orders: int = 2_000,
        max_wait_s: float = 0.2,
        clock=time.monotonic,
    ) -> None:
        if max_running < 1 or max_queued_orders < 0 or max_wait_s <= 0:
            raise ValueError("max_running >= 1, max_queued_orders >= 0, max_wait_s > 0")
        self.max_running = max_running
        self.max_queued_orders = max_queued_orders
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._running = 0
        self._queued_orders = 0
        self._waiting: list[tuple[int, int, asyncio.Future]] = []
        self._order = itertools.count()
        self._seconds_per_order = 2e-4  # learnt from the requests scored (EWMA)
        self.stats = GateStats()

    @property
    def queued_orders(self) -> int:
        return self._queued_orders

    def retry_after(self) -> float:
        """Seconds until what waits now should have been scored (at least one)."""
        backlog = self._queued_orders * self._seconds_per_order / self.max_running
        return max(1.0, float(math.ceil(backlog)))

    @asynccontextmanager
    async def slot(self, orders: int) -> AsyncIterator[None]:
        """Hold a scoring slot for a request of ``orders`` orders.

        Raises:
            Overloaded: the request would take the waiting orders beyond the bound.
        """
        if self._running >= self.max_running:
            queued = self._queued_orders + orders
            wait = queued * self._seconds_per_order / self.max_running
            if self._waiting and (queued > self.max_queued_orders or wait > self.max_wait_s):
                self.stats.shed += 1
                raise Overloaded(self.retry_after(), self._queued_orders)
            ticket = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (orders, next(self._order), ticket))
            self._queued_orders += orders
            try:
                await ticket  # handed a slot by a finishing request
            except asyncio.CancelledError:
                if not ticket.done() or ticket.cancelled():
                    self._forget(ticket, orders)
                else:  # the slot was handed over as the caller gave up: pass it on
                    self._release()
                raise
        else:
            self._running += 1
        self.stats.admitted += 1
        began = self._clock()
        try:
            yield
        finally:
            elapsed = self._clock() - began
            per_order = elapsed / max(orders, 1)
            self._seconds_per_order = 0.9 * self._seconds_per_order + 0.1 * per_order
            self._release()

    def _release(self) -> None:
        """Hand the slot to the smallest waiting request, or free it."""
        while self._waiting:
            orders, _, ticket = heapq.heappop(self._waiting)
            self._queued_orders -= orders
            if not ticket.done():
                ticket.set_result(None)  # the slot passes on: running count unchanged
                return
        self._running -= 1

    def _forget(self, ticket: asyncio.Future, orders: int) -> None:
        for k, entry in enumerate(self._waiting):
            if entry[2] is ticket:
                self._waiting.pop(k)
                heapq.heapify(self._waiting)
                self._queued_orders -= orders
                return
