"""The virtual clock jumps only when everything waits; timeouts run on it."""

from __future__ import annotations

import anyio
import pytest

from ipyagent.clock import TimedOut, format_duration, format_wall, run_with_timeout
from ipyagent.testing import DEFAULT_EPOCH, VirtualClock


async def test_sleepers_wake_in_deadline_order_without_real_waiting() -> None:
    async with VirtualClock() as clock:
        woke: list[tuple[float, float]] = []

        async def sleeper(seconds: float) -> None:
            await clock.sleep(seconds)
            woke.append((seconds, clock.now()))

        async with anyio.create_task_group() as tg:
            for s in (3600.0, 1.0, 0.5, 60.0):
                tg.start_soon(sleeper, s)
        assert woke == [(0.5, 0.5), (1.0, 1.0), (60.0, 60.0), (3600.0, 3600.0)]
        assert clock.wall() == DEFAULT_EPOCH + 3600


async def test_cancelled_sleeper_does_not_move_time() -> None:
    async with VirtualClock() as clock:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await clock.sleep(1000)
        await clock.sleep(1)
        assert clock.now() == 1


async def test_time_does_not_jump_while_work_is_runnable() -> None:
    async with VirtualClock() as clock:
        steps = 0

        async def busy() -> None:
            nonlocal steps
            for _ in range(100):
                steps += 1
                await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as tg:
            tg.start_soon(busy)
            await clock.sleep(5)
            assert steps == 100  # all runnable work ran before time moved


async def test_time_holds_while_a_worker_thread_runs() -> None:
    async with VirtualClock() as clock:
        import threading

        release = threading.Event()
        timed_out = False

        def blocking() -> None:
            release.wait(5)

        async def watchdog() -> None:
            nonlocal timed_out
            await clock.sleep(1)
            timed_out = True

        async with anyio.create_task_group() as tg:
            tg.start_soon(watchdog)
            with clock.holding():
                release.set()
                await anyio.to_thread.run_sync(blocking)
            assert not timed_out and clock.now() == 0
            tg.cancel_scope.cancel()


async def test_run_with_timeout() -> None:
    async with VirtualClock() as clock:

        async def quick() -> str:
            await clock.sleep(1)
            return "ok"

        async def slow() -> str:
            await clock.sleep(100)
            return "late"

        assert await run_with_timeout(clock, 5, quick) == "ok"
        with pytest.raises(TimedOut, match="did not finish within 5 s"):
            await run_with_timeout(clock, 5, slow)
        assert clock.now() == 6
        assert await run_with_timeout(clock, None, quick) == "ok"


def test_formatting() -> None:
    assert format_wall(DEFAULT_EPOCH) == "2026-01-01 09:00:00 UTC"
    assert [format_duration(s) for s in (0.42, 12, 185, 7260)] == ["0.4 s", "12 s", "3 min 5 s", "2 h 1 min"]
