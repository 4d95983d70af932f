"""The capacity gate: a bounded number of requests score at once, a bounded number of orders
wait (smallest request first), the rest is shed at once with a retry time."""

from __future__ import annotations

import asyncio

import pytest

from serving.capacity import CapacityGate, Overloaded


def test_requests_beyond_the_queue_are_shed_and_the_smallest_waiting_goes_first():
    async def scenario() -> tuple[list[str], list[float]]:
        gate = CapacityGate(max_running=1, max_queued_orders=150)
        started: list[str] = []
        shed: list[float] = []
        release = asyncio.Event()

        async def request(name: str, orders: int) -> None:
            try:
                async with gate.slot(orders):
                    started.append(name)
                    if name == "first":
                        await release.wait()
            except Overloaded as exc:
                shed.append(exc.retry_after_s)

        first = asyncio.create_task(request("first", 1000))  # nothing waits: always admitted
        await asyncio.sleep(0)
        big = asyncio.create_task(request("batch", 100))  # waits
        await asyncio.sleep(0)
        small = asyncio.create_task(request("single", 1))  # waits, ahead of the batch
        await asyncio.sleep(0)
        over = asyncio.create_task(request("too much", 100))  # 101 + 100 > 150: shed
        await asyncio.sleep(0)
        assert gate.queued_orders == 101
        release.set()
        await asyncio.gather(first, big, small, over)
        assert gate.queued_orders == 0 and gate.stats.shed == 1
        return started, shed

    started, shed = asyncio.run(scenario())
    assert started == ["first", "single", "batch"]
    assert shed and shed[0] >= 1.0


def test_a_cancelled_waiter_leaves_the_queue():
    async def scenario() -> CapacityGate:
        gate = CapacityGate(max_running=1, max_queued_orders=10)
        hold = asyncio.Event()

        async def holder() -> None:
            async with gate.slot(1):
                await hold.wait()

        async def waiter() -> None:
            async with gate.slot(5):
                pass

        running = asyncio.create_task(holder())
        await asyncio.sleep(0)
        waiting = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        assert gate.queued_orders == 5
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert gate.queued_orders == 0
        hold.set()
        await running
        async with gate.slot(1):  # the slot was freed
            pass
        return gate

    assert asyncio.run(scenario()).stats.admitted == 2


def test_the_wait_bound_follows_the_measured_cost_per_order():
    """On a busy machine each order takes longer: fewer orders may wait before shedding."""

    async def scenario() -> int:
        now = [0.0]
        gate = CapacityGate(
            max_running=1, max_queued_orders=10_000, max_wait_s=0.2, clock=lambda: now[0]
        )
        for _ in range(30):  # requests measured at 10 ms per order
            async with gate.slot(10):
                now[0] += 0.1
        hold = asyncio.Event()

        async def holder() -> None:
            async with gate.slot(1):
                await hold.wait()

        async def waiter(orders: int) -> None:
            async with gate.slot(orders):
                pass

        running = asyncio.create_task(holder())
        await asyncio.sleep(0)
        first = asyncio.create_task(waiter(5))  # nothing waits: queued whatever its size
        await asyncio.sleep(0)
        with pytest.raises(Overloaded):  # 5 + 30 orders x ~10 ms > 200 ms
            async with gate.slot(30):
                pass
        async with asyncio.timeout(1):
            hold.set()
            await asyncio.gather(running, first)
        return gate.stats.shed

    assert asyncio.run(scenario()) == 1
