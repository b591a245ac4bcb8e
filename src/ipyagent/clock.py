"""Time, injected.

Core code never reads the system time or sleeps directly: it asks a :class:`Clock`. The real clock
is :class:`RealClock`; tests and demos use :class:`ipyagent.testing.VirtualClock`, on which time
jumps ahead whenever every task is waiting, so a scenario with a 60-second tool runs in
microseconds and never flakes.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Protocol, TypeVar, runtime_checkable

import anyio

from .errors import IpyagentError

T = TypeVar("T")


@runtime_checkable
class Clock(Protocol):
    """What the agent needs to know about time."""

    def now(self) -> float:
        """Monotonic seconds; only differences are meaningful."""
        ...

    def wall(self) -> float:
        """Seconds since the Unix epoch, for timestamps people read."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time (cancellable)."""
        ...

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Mark work that runs outside the event loop (a worker thread) so that a virtual clock
        does not jump ahead while it runs. A no-op on the real clock."""
        ...


class RealClock:
    """The system clock."""

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))

    @contextmanager
    def holding(self) -> Iterator[None]:
        yield


_current: contextvars.ContextVar[Clock] = contextvars.ContextVar("ipyagent_clock")


def current_clock() -> Clock:
    """The clock of the agent whose task is running (a tool can sleep on it), else the real clock."""
    clock = _current.get(None)
    return clock if clock is not None else RealClock()


def set_current_clock(clock: Clock) -> contextvars.Token[Clock]:
    """Make ``clock`` the one :func:`current_clock` returns in this context and tasks started from it."""
    return _current.set(clock)


class TimedOut(IpyagentError):
    """Raised by :func:`run_with_timeout` when the work did not finish in time."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"did not finish within {seconds:g} s")


async def run_with_timeout(clock: Clock, seconds: float | None, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work()``; if it has not finished after ``seconds`` of ``clock`` time, cancel it and
    raise :class:`TimedOut`. ``None`` means no limit."""
    if seconds is None:
        return await work()
    timed_out = False
    result: list[T] = []
    try:
        async with anyio.create_task_group() as tg:

            async def watchdog() -> None:
                nonlocal timed_out
                await clock.sleep(seconds)
                timed_out = True
                tg.cancel_scope.cancel(reason=f"timed out after {seconds:g} s")

            tg.start_soon(watchdog)
            result.append(await work())
            tg.cancel_scope.cancel(reason="finished")
    except BaseExceptionGroup as group:
        # The work's own failure, not a group of our making: callers see what the work raised.
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
    if timed_out and not result:
        raise TimedOut(seconds)
    return result[0]


def format_wall(seconds: float) -> str:
    """A wall-clock time as people read it in a transcript: ``2026-11-25 09:30:05 UTC``."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``3 min 5 s``, ``2 h 1 min``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
