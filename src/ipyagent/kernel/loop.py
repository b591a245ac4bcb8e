"""The agent's own thread and event loop.

A user's cell may block the kernel's main thread (``time.sleep``, a long computation). The agents
live on a separate thread with its own asyncio loop, so they keep generating, running tools and
updating their cell views while a cell blocks. The main thread talks to this loop only through
:meth:`AgentLoop.call` / :meth:`AgentLoop.run` (wait for a result, bounded; the work is cancelled
when the wait times out) and :meth:`AgentLoop.submit` (fire and forget), which cross threads the
one way the project does (:mod:`ipyagent.bridge`).
The other way round, the agent hands work that must run on the main thread (code in the user's
namespace) to a :class:`MainThreadInbox`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .. import bridge
from ..errors import IpyagentError

T = TypeVar("T")
log = logging.getLogger(__name__)


class LoopTimeout(IpyagentError):
    """Raised when the agent loop did not answer a request in time (it is busy or stuck)."""


class CodeInterrupted(IpyagentError):
    """Code the agent ran on the main thread was stopped by the user (KeyboardInterrupt)."""


class AgentLoop:
    """A daemon thread running an asyncio loop. Started on first use, stopped by :meth:`stop`."""

    def __init__(self, name: str = "ipyagent") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

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

        bridge.call_soon(self.loop, guarded)

    def call(self, fn: Callable[[], T], timeout: float = 30.0) -> T:
        """Run ``fn()`` on the agent loop and return its result here (its exception is raised
        here). Raises :class:`LoopTimeout` after ``timeout`` seconds."""

        async def wrapped() -> T:
            return fn()

        return self.run(wrapped, timeout)

    def run(
        self,
        fn: Callable[[], Coroutine[Any, Any, T]],
        timeout: float = 30.0,
        serve: MainThreadInbox | None = None,
    ) -> T:
        """Await ``fn()`` on the agent loop and return its result here (its exception is raised
        here). Raises :class:`LoopTimeout` after ``timeout`` seconds. With ``serve``, the work the
        agent hands to the main thread meanwhile is done here (the caller holds that thread)."""
        if self.in_loop():
            raise RuntimeError("AgentLoop.run() from the agent loop itself would deadlock")
        future = bridge.submit(self.loop, fn)
        try:
            if serve is not None:
                return serve.serve_until(future, timeout)
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()  # nobody waits for the answer any more: stop the work too
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


class MainThreadInbox:
    """Work the agent's thread hands to the kernel's main thread: code that must run in the
    user's namespace, never at the same time as a cell.

    Each job is posted to the main thread's event loop, which runs it once the running cell (if
    any) is done. A cell that itself waits for the agent (``%agent --wait``) holds the main thread
    and would wait for ever; it waits with :meth:`serve_until` instead, which does the jobs as they
    come. Each job runs exactly once, whichever of the two takes it.
    """

    _WAKE = object()  # tells a waiting serve_until to look at its future again

    def __init__(self, main_loop: asyncio.AbstractEventLoop | None) -> None:
        self._main_loop = main_loop
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()

    @property
    def available(self) -> bool:
        return self._main_loop is not None and not self._main_loop.is_closed()

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on the main thread and return its result (from the agent's loop)."""
        if self._main_loop is None:
            raise RuntimeError("this kernel has no main-thread event loop")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def job() -> None:
            if not future.set_running_or_notify_cancel():
                return  # the agent stopped waiting for it (cancelled): it never runs
            try:
                future.set_result(fn())
            except KeyboardInterrupt:
                # The interrupt button, while a waiting cell ran this: the agent hears that its
                # code was stopped (a KeyboardInterrupt would end its whole loop), and the
                # waiting cell stops too.
                future.set_exception(CodeInterrupted("stopped with the interrupt button"))
                raise
            except BaseException as exc:  # handed to the agent, who reports it
                future.set_exception(exc)

        self._jobs.put(job)
        self._main_loop.call_soon_threadsafe(self.serve_pending)
        # Cancelling this await cancels ``future`` too, so a job not yet started never runs.
        return await asyncio.wrap_future(future)

    def serve_pending(self) -> None:
        """Do every job waiting now (main thread)."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job is not self._WAKE:
                job()

    def serve_until(self, future: concurrent.futures.Future[T], timeout: float) -> T:
        """Do jobs as they come until ``future`` is done; its result (main thread). Raises
        ``concurrent.futures.TimeoutError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        future.add_done_callback(lambda _: self._jobs.put(self._WAKE))
        while not future.done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise concurrent.futures.TimeoutError
            try:
                job = self._jobs.get(timeout=remaining)
            except queue.Empty:
                continue
            if job is not self._WAKE:
                job()
        return future.result()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
