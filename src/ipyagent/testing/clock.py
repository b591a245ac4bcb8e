"""A virtual clock for tests and demos: time stands still while anything can run, and jumps to
the next deadline the moment every task is waiting.

Use it as an async context manager; the clock's driver runs inside it::

    async with VirtualClock() as clock:
        await clock.sleep(3600)      # returns at once; clock.now() == 3600

Work in worker threads must be wrapped in ``clock.holding()`` (the agent does this for sync tools),
otherwise the clock cannot tell that the loop is waiting for it and may jump ahead.
Only the asyncio backend is supported: idleness is read from the loop's ready queue.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType

import anyio

from ..errors import IpyagentError

DEFAULT_EPOCH = datetime(2026, 1, 1, 9, 0, 0, tzinfo=UTC).timestamp()


class _Sleeper:
    __slots__ = ("gone", "wake")

    def __init__(self) -> None:
        self.wake = anyio.Event()
        self.gone = False


class VirtualClock:
    """Monotonic time starts at 0; :meth:`wall` adds ``epoch`` (default 2026-01-01 09:00 UTC)."""

    def __init__(self, epoch: float = DEFAULT_EPOCH) -> None:
        self.epoch = epoch
        self._now = 0.0
        # Invariant: every waiting sleeper is in _sleepers as (deadline, seq, sleeper); a sleeper
        # whose task was cancelled stays in the heap marked ``gone`` and never moves time.
        self._sleepers: list[tuple[float, int, _Sleeper]] = []
        self._seq = itertools.count()
        self._holds = 0
        self._new_sleeper: anyio.Event | None = None
        self._scope: anyio.CancelScope | None = None
        self._tg: anyio.abc.TaskGroup | None = None

    # --- the Clock protocol -------------------------------------------------------------------

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self.epoch + self._now

    async def sleep(self, seconds: float) -> None:
        if self._tg is None:
            raise IpyagentError(
                "VirtualClock is not running: use it as 'async with VirtualClock() as clock:'"
            )
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        sleeper = _Sleeper()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), sleeper))
        if self._new_sleeper is not None:
            self._new_sleeper.set()
        try:
            await sleeper.wake.wait()
        finally:
            sleeper.gone = True

    @contextmanager
    def holding(self) -> Iterator[None]:
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1

    # --- driving ------------------------------------------------------------------------------

    async def __aenter__(self) -> VirtualClock:
        try:
            asyncio.get_running_loop()
        except RuntimeError as exc:  # pragma: no cover - trio or no loop
            raise IpyagentError("VirtualClock needs the asyncio backend") from exc
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._drive)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel(reason="virtual clock closed")
        try:
            return await self._tg.__aexit__(exc_type, exc, tb)
        finally:
            self._tg = None

    async def _until_idle(self) -> None:
        """Return once nothing but this task is runnable and no worker thread is held."""
        loop = asyncio.get_running_loop()
        quiet = 0
        while quiet < 2:
            await asyncio.sleep(0)
            ready = loop._ready  # type: ignore[attr-defined]  # CPython's queue of runnable callbacks
            quiet = quiet + 1 if not ready and self._holds == 0 else 0
            if self._holds:
                # A worker thread will wake the loop through its self-pipe; do not spin.
                await asyncio.sleep(0.001)

    async def _drive(self) -> None:
        while True:
            await self._until_idle()
            while self._sleepers and self._sleepers[0][2].gone:
                heapq.heappop(self._sleepers)
            if not self._sleepers:
                self._new_sleeper = anyio.Event()
                await self._new_sleeper.wait()
                self._new_sleeper = None
                continue
            deadline = self._sleepers[0][0]
            self._now = max(self._now, deadline)
            while self._sleepers and self._sleepers[0][0] <= self._now:
                heapq.heappop(self._sleepers)[2].wake.set()

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass (everything due in that span runs)."""
        await self.sleep(seconds)
