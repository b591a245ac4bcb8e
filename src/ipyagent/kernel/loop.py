"""The agent's own thread and event loop.

A user's cell may block the kernel's main thread (``time.sleep``, a long computation). The agents
live on a separate thread with its own asyncio loop, so they keep generating, running tools and
updating their cell views while a cell blocks. The main thread talks to this loop only through
:meth:`AgentLoop.call` (wait for a result, bounded) and :meth:`AgentLoop.submit` (fire and forget).

Every callback runs in a fresh, empty ``contextvars.Context``: a task started here must not inherit
the kernel's per-cell context (its parent header), or its messages would be tied to a stale cell.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..errors import IpyagentError

T = TypeVar("T")
log = logging.getLogger(__name__)


class LoopTimeout(IpyagentError):
    """Raised when the agent loop did not answer a request in time (it is busy or stuck)."""


class AgentLoop:
    """A daemon thread running an asyncio loop. Started on first use, stopped by :meth:`stop`."""

    def __init__(self, name: str = "ipyagent") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Strong references: the loop keeps only weak ones to its tasks.
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop (the thread is started if needed)."""
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                self._start()
            assert self._loop is not None
            return self._loop

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def in_loop(self) -> bool:
        """True when called from the agent thread itself."""
        return self._thread is not None and threading.current_thread() is self._thread

    def _start(self) -> None:
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        def main() -> None:
            asyncio.set_event_loop(loop)
            ready.set()
            try:
                loop.run_forever()
            finally:
                _cancel_all(loop)
                loop.close()

        thread = threading.Thread(target=main, name=self.name, daemon=True)
        thread.start()
        ready.wait()
        self._loop, self._thread = loop, thread

    def submit(self, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` on the agent loop soon; do not wait. A failure is logged."""

        def guarded() -> None:
            try:
                fn()
            except Exception:
                log.exception("ipyagent: a callback on the agent loop failed")

        self.loop.call_soon_threadsafe(guarded, context=contextvars.Context())

    def call(self, fn: Callable[[], T], timeout: float = 30.0) -> T:
        """Run ``fn()`` on the agent loop and return its result here (its exception is raised
        here). Raises :class:`LoopTimeout` after ``timeout`` seconds."""

        async def wrapped() -> T:
            return fn()

        return self.run(wrapped, timeout)

    def run(self, fn: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        """Await ``fn()`` on the agent loop and return its result here (its exception is raised
        here). Raises :class:`LoopTimeout` after ``timeout`` seconds."""
        if self.in_loop():
            raise RuntimeError("AgentLoop.run() from the agent loop itself would deadlock")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        async def run() -> None:
            try:
                future.set_result(await fn())
            except BaseException as exc:  # handed to the caller, who re-raises it
                future.set_exception(exc)

        def start() -> None:
            task = asyncio.ensure_future(run())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self.loop.call_soon_threadsafe(start, context=contextvars.Context())
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise LoopTimeout(
                f"the agent did not answer within {timeout:g} s; try again, or %interrupt it"
            ) from None

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel everything on the loop and end the thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
