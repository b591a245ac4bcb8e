"""Coalescing: a burst of updates reaches the browser as at most one message per interval. The
widgets and the live cell views both send through a :class:`Throttle`.

Updates arrive on whatever thread the agent runs on (the kernel's loop, the agent's own thread, a
worker thread). A :class:`Throttle` sends the first update of a quiet period at once (no added
latency) and folds everything that follows within ``interval`` into one later flush, so a token
stream of hundreds of deltas a second costs at most ``1 / interval`` comm messages a second.

Time and deferred calls come from a :class:`Timer`: :class:`ThreadTimer` (the default: real time,
one shared daemon thread, callable from any thread), :class:`ClockTimer` (an agent's
:class:`~ipyagent.Clock`, for example a virtual clock, driven from that clock's event loop) or
:class:`ManualTimer` (virtual time that a test moves by hand).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from .clock import Clock

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 1 / 30


class Timer(Protocol):
    """Where a throttle reads the time and schedules its deferred flush."""

    def now(self) -> float:
        """Monotonic seconds."""
        ...

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        """Call ``fn()`` once, ``delay`` seconds from now, on any thread."""
        ...


class ThreadTimer:
    """Real time; deferred calls run on one shared daemon thread, whoever schedules them."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None

    def now(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        with self._cv:
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay), next(self._seq), fn))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ipyagent-widgets", daemon=True)
                self._thread.start()
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cv.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
                fn = heapq.heappop(self._heap)[2]
            try:
                fn()
            except Exception:  # a failing flush must not stop every widget's timer
                log.exception("deferred widget update failed")


class ManualTimer:
    """Virtual time for tests: nothing happens until :meth:`advance` moves the clock."""

    def __init__(self) -> None:
        self._now = 0.0
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (self._now + max(0.0, delay), next(self._seq), fn))

    @property
    def pending(self) -> int:
        return len(self._heap)

    def advance(self, seconds: float) -> None:
        """Move time forward, running each call that falls due, in order."""
        end = self._now + seconds
        while self._heap and self._heap[0][0] <= end:
            due, _, fn = heapq.heappop(self._heap)
            self._now = max(self._now, due)
            fn()
        self._now = end


class ClockTimer:
    """An agent's :class:`~ipyagent.Clock` (real or virtual). Deferred calls run as tasks on
    ``loop`` (default: the event loop the first update came from); calls from other threads are
    handed to that loop."""

    def __init__(self, clock: Clock, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.clock = clock
        self._loop = loop
        self._tasks: set[asyncio.Task[None]] = set()

    def now(self) -> float:
        return self.clock.now()

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self._loop is None:
            self._loop = running
        if self._loop is None:
            raise RuntimeError("ClockTimer needs an event loop: schedule from the agent's loop first")
        if running is self._loop:
            self._start(delay, fn)
        else:
            self._loop.call_soon_threadsafe(self._start, delay, fn)

    def _start(self, delay: float, fn: Callable[[], None]) -> None:
        async def later() -> None:
            await self.clock.sleep(delay)
            fn()

        task = asyncio.ensure_future(later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


_default: ThreadTimer | None = None


def default_timer() -> ThreadTimer:
    """The process-wide real-time timer (its thread starts on first use)."""
    global _default
    if _default is None:
        _default = ThreadTimer()
    return _default


class Throttle:
    """Calls ``flush()`` at most once per ``interval``, from any thread.

    Invariant: while ``_scheduled`` is True exactly one deferred flush is pending, and every
    :meth:`poke` since the last flush will be covered by it. Flushes never run concurrently.
    """

    def __init__(
        self, flush: Callable[[], None], interval: float = DEFAULT_INTERVAL, timer: Timer | None = None
    ) -> None:
        if interval < 0:
            raise ValueError(f"interval must be >= 0 seconds, got {interval!r}")
        self.interval = interval
        self.timer: Timer = timer if timer is not None else default_timer()
        self._flush = flush
        self._lock = threading.RLock()
        self._last = float("-inf")
        self._scheduled = False
        self.flushes = 0

    def poke(self) -> None:
        """Something changed: flush now if the interval has passed, else once it has."""
        with self._lock:
            if self._scheduled:
                return
            wait = self._last + self.interval - self.timer.now()
            if wait > 0:
                self._scheduled = True
                self.timer.call_later(wait, self._deferred)
                return
            self._run()

    def flush_now(self) -> None:
        """Flush at once (for example when a view asks for everything)."""
        with self._lock:
            self._run()

    def mark_flushed(self) -> None:
        """Count what was just sent some other way as a flush: the next poke waits its interval."""
        with self._lock:
            self._last = self.timer.now()

    def flush_pending(self) -> None:
        """If a deferred flush is waiting, do it now (its timer then finds nothing to do)."""
        with self._lock:
            if self._scheduled:
                self._scheduled = False
                self._run()

    def _deferred(self) -> None:
        with self._lock:
            if self._scheduled:
                self._scheduled = False
                self._run()

    def _run(self) -> None:
        self._last = self.timer.now()
        self.flushes += 1
        self._flush()
