"""Coalescing: bursts collapse to at most one flush per interval, the last update always lands."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from ipyagent.testing import VirtualClock
from ipyagent.throttle import ClockTimer, ManualTimer, ThreadTimer, Throttle


def test_first_update_goes_out_at_once_and_a_burst_costs_one_flush_per_interval() -> None:
    timer = ManualTimer()
    seen: list[float] = []
    throttle = Throttle(lambda: seen.append(timer.now()), interval=1 / 30, timer=timer)

    throttle.poke()
    assert seen == [0.0]  # no added latency for the first update
    # 1,000 updates a second for two seconds.
    for _ in range(2000):
        timer.advance(0.001)
        throttle.poke()
    timer.advance(1.0)
    assert 59 <= len(seen) <= 62  # ~30 a second
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    assert min(gaps) >= 1 / 30 - 1e-9
    # The flush after the last update happened: nothing is left unsent.
    assert timer.pending == 0
    assert seen[-1] >= 2.0


def test_a_quiet_period_resets_so_a_lone_update_is_not_delayed() -> None:
    timer = ManualTimer()
    seen: list[float] = []
    throttle = Throttle(lambda: seen.append(timer.now()), interval=0.1, timer=timer)
    throttle.poke()
    timer.advance(0.05)
    throttle.poke()  # inside the interval: deferred to 0.1
    assert seen == [0.0]
    timer.advance(0.05)
    assert seen == [0.0, 0.1]
    timer.advance(5.0)
    throttle.poke()
    assert seen == [0.0, 0.1, 5.1]


def test_interval_zero_sends_every_update() -> None:
    timer = ManualTimer()
    count = 0

    def flush() -> None:
        nonlocal count
        count += 1

    throttle = Throttle(flush, interval=0, timer=timer)
    for _ in range(100):
        throttle.poke()
    assert count == 100


def test_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="interval"):
        Throttle(lambda: None, interval=-1, timer=ManualTimer())


def test_pokes_from_many_threads_never_flush_concurrently_and_the_last_one_lands() -> None:
    timer = ThreadTimer()
    active = 0
    overlap = False
    flushed = threading.Event()
    total = 0
    lock = threading.Lock()
    done_poking = threading.Event()

    def flush() -> None:
        nonlocal active, overlap
        with lock:
            active += 1
            overlap = overlap or active > 1
        with lock:
            active -= 1
        if done_poking.is_set():
            flushed.set()

    throttle = Throttle(flush, interval=0.01, timer=timer)

    def poke_many() -> None:
        nonlocal total
        for _ in range(2000):
            throttle.poke()
            with lock:
                total += 1

    threads = [threading.Thread(target=poke_many) for _ in range(4)]
    started = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    done_poking.set()
    throttle.poke()  # whatever came last is flushed within one interval
    assert flushed.wait(timeout=5)
    assert not overlap
    assert total == 8000
    elapsed = time.monotonic() - started
    assert throttle.flushes <= elapsed / 0.01 + 3


async def test_clock_timer_runs_on_virtual_time() -> None:
    async with VirtualClock() as clock:
        timer = ClockTimer(clock)
        seen: list[float] = []
        throttle = Throttle(lambda: seen.append(clock.now()), interval=0.5, timer=timer)
        for _ in range(10):
            throttle.poke()
            await clock.sleep(0.1)
        await clock.sleep(1)
        assert seen == pytest.approx([0.0, 0.5, 1.0])
