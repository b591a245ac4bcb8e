"""The one way work crosses from another thread onto an event loop (the one an agent runs on).

An agent is not thread-safe: kernel threads (the main thread running cells, the thread serving
widget messages, a microphone's frames) never touch it directly. They hand a callable
(:func:`call_soon`) or a coroutine (:func:`submit`) to the agent's loop. Either runs in a fresh,
empty ``contextvars.Context``: work started there must not inherit a cell's context (its parent
header), or its messages would be tied to a stale cell.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["call_soon", "on_loop", "submit"]


def on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    """True when the calling thread is running ``loop`` right now."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` on ``loop``: at once when already there, else at the loop's next turn."""
    if on_loop(loop):
        fn(*args)
    else:
        loop.call_soon_threadsafe(fn, *args, context=contextvars.Context())


def submit(
    loop: asyncio.AbstractEventLoop, make: Callable[[], Coroutine[Any, Any, T]]
) -> concurrent.futures.Future[T]:
    """Run the coroutine ``make()`` as a task on ``loop``; its result (or exception) arrives in
    the returned future, which any thread may wait on. Cancelling that future cancels the task
    (or, if it has not started yet, it never starts)."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    # Invariant: the future stays pending until the task ends (a running concurrent future could
    # no longer be cancelled), so cancelling it is how a waiting thread gives up.
    def start() -> None:
        if future.cancelled():
            return  # given up before the loop got here: never start
        task = loop.create_task(make())
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)
        task.add_done_callback(lambda t: _settle(t, future))

        def given_up(f: concurrent.futures.Future[T]) -> None:
            if f.cancelled():
                loop.call_soon_threadsafe(task.cancel)

        future.add_done_callback(given_up)

    loop.call_soon_threadsafe(start, context=contextvars.Context())
    return future


# Strong references: a loop keeps only weak ones to its tasks.
_tasks: set[asyncio.Task[Any]] = set()


def _settle(task: asyncio.Task[T], future: concurrent.futures.Future[T]) -> None:
    if future.done():
        return
    if task.cancelled():
        future.cancel()
    elif (exc := task.exception()) is not None:
        future.set_exception(exc)
    else:
        future.set_result(task.result())
