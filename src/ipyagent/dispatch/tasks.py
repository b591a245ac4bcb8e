"""Background tasks: tool runs, timers and sub-agents, each with an id the model can refer to.

A :class:`TaskRunner` starts, tracks and cancels them for one agent. Each task ends with exactly
one notification (result, error, timeout or cancellation), posted to the agent's queue.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import dataclasses
import functools
import itertools
import logging
import math
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import anyio.abc

from .. import events as ev
from ..clock import Clock, TimedOut, run_with_timeout
from ..events import Notification
from ..ledger.render.context import PendingTask
from ..redaction import redact

log = logging.getLogger(__name__)

# Ended tasks kept for list_tasks, cancel_task and the views; older ones live on in the ledger.
KEEP_ENDED_TASKS = 100

TaskKind = Literal["tool", "timer", "subagent"]
TaskStatus = Literal["running", "done", "failed", "timeout", "cancelled"]
Outcome = Literal["ok", "error", "timeout", "cancelled"]

# Builds the notification for an outcome from its text.
NotificationFactory = Callable[["BackgroundTask", Outcome, str], Notification]

MAX_RESULT_CHARS = 16_000


@dataclass(frozen=True, slots=True)
class Progress:
    """What a running task last said about its progress. ``time`` is the agent clock's
    monotonic seconds when it said so; ``done``/``total`` are optional counts."""

    message: str
    done: float | None = None
    total: float | None = None
    time: float = 0.0

    @property
    def text(self) -> str:
        """One short line: the message, with the counts when given (``"pages (3 of 10)"``)."""
        if self.done is None:
            return self.message
        count = f"{self.done:g} of {self.total:g}" if self.total is not None else f"{self.done:g}"
        return f"{self.message} ({count})" if self.message else count

    @property
    def fraction(self) -> float | None:
        """``done / total`` between 0 and 1, when both are known."""
        if self.done is None or not self.total:
            return None
        return min(1.0, max(0.0, self.done / self.total))


MAX_PROGRESS_CHARS = 200


@dataclass(eq=False)
class BackgroundTask:
    """A unit of work started by the agent that will end with exactly one notification.

    ``started``/``finished`` are the agent clock's monotonic seconds.
    """

    task_id: str
    name: str
    kind: TaskKind
    arguments: Mapping[str, Any]
    started: float
    call_id: str | None = None
    timeout: float | None = None
    status: TaskStatus = "running"
    finished: float | None = None
    result: str | None = None
    # Set exactly while the task's work may still run: an ended task drops it, since a spent
    # anyio scope keeps its host task alive (about 2 KB for every task in the history).
    scope: anyio.CancelScope | None = field(default_factory=anyio.CancelScope, repr=False)
    cancel_reason: str | None = None
    progress: Progress | None = None
    # Set by the runner that runs the task: where progress reports go.
    _reporter: Callable[..., None] | None = field(default=None, repr=False)

    def report(
        self,
        message: str = "",
        *,
        done: float | None = None,
        total: float | None = None,
        notify: bool = False,
    ) -> None:
        """Report progress: shown live in the views, and the model's next prompt carries the
        latest report. ``notify=True`` also tells the agent now, as a notification that starts a
        generation (use it for news the user should hear, not for every step). Safe to call
        from any thread; ignored once the task has ended."""
        if self._reporter is not None:
            self._reporter(self, message, done=done, total=total, notify=notify)

    @property
    def running(self) -> bool:
        return self.status == "running"

    def elapsed(self, now: float) -> float:
        return (self.finished if self.finished is not None else now) - self.started

    def cancel(self, reason: str) -> bool:
        """Ask the task to stop; it ends with a 'cancelled' notification. False if already over."""
        if not self.running or self.scope is None:
            return False
        self.cancel_reason = reason
        self.scope.cancel(reason=reason)
        return True


def result_text(value: Any) -> str:
    """How a tool's return value is shown to the model: text, JSON where it can be, else its
    repr; never more than ``MAX_RESULT_CHARS``, with a marker saying how much was cut. Never
    raises: a value that cannot even be shown is described by its type."""
    import json

    if value is None:
        return "done (no output)"
    if isinstance(value, str):
        text = value
    elif isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value[: MAX_RESULT_CHARS // 4])  # repr of a byte takes at most 4 characters
        if len(value) > len(data):
            return _cut(redact(repr(data)), f"{len(value):,} bytes")
        text = repr(data)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=repr)
        except Exception:
            try:
                text = repr(value)
            except Exception as exc:
                return f"(a {type(value).__name__} that cannot be shown: {error_text(exc)})"
    text = redact(text)  # before cutting, so no part of a key survives the cut
    if len(text) > MAX_RESULT_CHARS:
        return _cut(text, f"{len(text):,} characters")
    return text


def _cut(text: str, total: str) -> str:
    shown = text[:MAX_RESULT_CHARS]
    return shown + f"\n[... output cut: only the first {len(shown):,} characters of {total} are shown]"


def error_text(exc: BaseException) -> str:
    """One line: the exception's type and message (secrets removed)."""
    whole = redact(str(exc)).strip()
    message = whole.splitlines()[0] if whole else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


# The task whose work is running in this context (a tool's code, also in its worker thread).
_current_task: contextvars.ContextVar[BackgroundTask | None] = contextvars.ContextVar(
    "ipyagent_current_task", default=None
)


def current_task() -> BackgroundTask | None:
    """The background task whose work is running here, or ``None`` outside one."""
    return _current_task.get()


def progress(
    message: str = "", *, done: float | None = None, total: float | None = None, notify: bool = False
) -> bool:
    """Report the progress of the tool that is running this code::

        @tool
        async def crawl(url: str) -> str:
            "Crawl a site."
            for n, page in enumerate(pages, 1):
                ...
                progress("pages", done=n, total=len(pages))

    The views show it live and the model's next prompt carries the latest report; it starts no
    generation unless ``notify=True``. Works in async and sync tools (from their worker thread
    too). Outside a task it does nothing and returns ``False``, so the function stays usable on
    its own.
    """
    task = _current_task.get()
    if task is None:
        return False
    task.report(message, done=done, total=total, notify=notify)
    return True


_STATUS_OF: dict[Outcome, TaskStatus] = {
    "ok": "done",
    "error": "failed",
    "timeout": "timeout",
    "cancelled": "cancelled",
}


def default_notification(task: BackgroundTask, outcome: Outcome, text: str) -> Notification:
    cls: type[Notification] = {
        "ok": ev.ToolResult,
        "error": ev.ToolError,
        "timeout": ev.ToolTimeout,
        "cancelled": ev.ToolCancelled,
    }[outcome]
    return cls(text, task_id=task.task_id, name=task.name)


class TaskRunner:
    """Starts, tracks and cancels one agent's background tasks. Runs on the agent's event loop.

    ``post`` queues each task's final notification; ``on_change`` hears of every task that
    starts or ends.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        post: Callable[[ev.Event], None],
        on_change: Callable[[BackgroundTask], None] = lambda _: None,
    ) -> None:
        self.clock = clock
        self._post = post
        self._on_change = on_change
        # Running tasks and the most recent KEEP_ENDED_TASKS ended ones: a long session must
        # not hold every task it ever ran (the ledger keeps each outcome).
        self.tasks: dict[str, BackgroundTask] = {}
        self._ended: collections.deque[str] = collections.deque()
        # Invariant: every task whose _run has not returned is here (possibly already marked
        # ended by a wind-down); checked after every event, so it must not grow with history.
        self._live: dict[str, BackgroundTask] = {}
        self._ids = itertools.count(1)
        self._tg: anyio.abc.TaskGroup | None = None
        # Where reports from worker threads are handed over (the agent's loop and thread).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None

    def attach(self, tg: anyio.abc.TaskGroup) -> None:
        """Run tasks in ``tg`` (the agent's task group) from now on."""
        self._tg = tg
        self._thread = threading.get_ident()
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio: reports from other threads cannot be handed over
            self._loop = None

    def report_progress(self, task: BackgroundTask, text: str) -> None:
        """A running task's latest progress as one line (``3/10: copying``, an MCP server's)."""
        self.report(task, text)

    def report(
        self,
        task: BackgroundTask,
        message: str = "",
        *,
        done: float | None = None,
        total: float | None = None,
        notify: bool = False,
    ) -> None:
        """Record a running task's progress and tell the views; with ``notify``, also queue a
        ``tool_progress`` notification for the agent. Any thread; reports on ended tasks, and
        reports that are not text and numbers, are dropped (logged)."""
        if threading.get_ident() != self._thread:
            if self._loop is not None and not self._loop.is_closed():
                call = functools.partial(self.report, task, message, done=done, total=total, notify=notify)
                self._loop.call_soon_threadsafe(call)
            return
        if not task.running:
            return
        if not isinstance(message, str) or not all(
            n is None or (isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n))
            for n in (done, total)
        ):
            log.warning("task %s: progress needs a text and finite numbers; ignored", task.task_id)
            return
        line = " ".join(redact(message).split())
        if len(line) > MAX_PROGRESS_CHARS:
            line = line[: MAX_PROGRESS_CHARS - 1] + "…"
        task.progress = Progress(line, done, total, self.clock.now())
        self._on_change(task)
        if notify:
            self._post(
                ev.ToolProgress(
                    f"progress: {task.progress.text}",
                    task_id=task.task_id,
                    name=task.name,
                    finished=self.clock.wall(),
                )
            )

    def continue_after(self, task_ids: Iterable[str]) -> None:
        """Number new tasks after the highest ``t<n>`` in ``task_ids`` (a resumed ledger's)."""
        highest = max((int(t[1:]) for t in task_ids if t[:1] == "t" and t[1:].isdigit()), default=0)
        self._ids = itertools.count(highest + 1)

    def get(self, task_id: str) -> BackgroundTask | None:
        return self.tasks.get(task_id)

    def running(self) -> list[BackgroundTask]:
        return [t for t in self._live.values() if t.running]

    def pending(self) -> list[PendingTask]:
        """The running tasks as a model's context shows them."""
        now = self.clock.now()
        return [
            PendingTask(t.task_id, t.name, t.elapsed(now))
            if t.progress is None
            else PendingTask(t.task_id, t.name, t.elapsed(now), t.progress.text, now - t.progress.time)
            for t in self.running()
        ]

    @property
    def idle(self) -> bool:
        """No task's work is still running (not even one a wind-down already marked ended)."""
        return not self._live

    def start(
        self,
        name: str,
        kind: TaskKind,
        work: Callable[[], Awaitable[Any]],
        *,
        arguments: Mapping[str, Any] | None = None,
        call_id: str | None = None,
        timeout: float | None = None,
        notify: NotificationFactory = default_notification,
    ) -> BackgroundTask:
        """Run ``work()`` as a background task that ends with exactly one notification."""
        if self._tg is None:
            raise RuntimeError("the task runner is not running")
        task = BackgroundTask(
            task_id=f"t{next(self._ids)}",
            name=name,
            kind=kind,
            arguments=dict(arguments or {}),
            started=self.clock.now(),
            call_id=call_id,
            timeout=timeout,
            _reporter=self.report,
        )
        self.tasks[task.task_id] = task
        self._live[task.task_id] = task
        self._tg.start_soon(self._run, task, work, notify, name=f"task {task.task_id} {name}")
        self._on_change(task)
        return task

    def cancel(self, task_id: str, reason: str) -> bool:
        """Ask a task to stop; it ends with a 'cancelled' notification. False if there is no
        such task or it has already ended."""
        task = self.tasks.get(task_id)
        return task is not None and task.cancel(reason)

    def mark_stopped(self, task: BackgroundTask) -> None:
        """Record now that a task cancelled by a wind-down has ended (its agent is going away and
        records the cancellation itself, so no notification follows)."""
        task.status, task.finished = "cancelled", self.clock.now()

    async def _run(
        self, task: BackgroundTask, work: Callable[[], Awaitable[Any]], notify: NotificationFactory
    ) -> None:
        _current_task.set(task)  # this asyncio task's own context: seen by the work alone
        try:
            await self._run_to_outcome(task, work, notify)
        finally:
            self._live.pop(task.task_id, None)
            task.scope = None  # the scope holds the finished asyncio task; let both go
            self._ended.append(task.task_id)
            while len(self._ended) > KEEP_ENDED_TASKS:
                self.tasks.pop(self._ended.popleft(), None)

    async def _run_to_outcome(
        self, task: BackgroundTask, work: Callable[[], Awaitable[Any]], notify: NotificationFactory
    ) -> None:
        outcome: Outcome
        scope = task.scope
        assert scope is not None
        try:
            with scope:
                try:
                    value = await run_with_timeout(self.clock, task.timeout, work)
                    outcome, text = "ok", result_text(value)
                except TimedOut as exc:
                    outcome, text = "timeout", f"timed out after {exc.seconds:g} s and was stopped"
                except anyio.get_cancelled_exc_class():
                    raise
                except Exception as exc:
                    outcome, text = "error", error_text(exc)
            if scope.cancelled_caught:
                outcome, text = "cancelled", f"cancelled ({task.cancel_reason or 'no reason given'})"
        except BaseException:
            # The agent itself is going away; it records what it cancels.
            self.mark_stopped(task)
            self._on_change(task)
            raise
        task.status = _STATUS_OF[outcome]
        task.finished = self.clock.now()
        task.result = text
        note = notify(task, outcome, text)
        if note.finished is None:
            note = dataclasses.replace(note, finished=self.clock.wall())
        # The notification is queued before the task is announced as ended, so the agent is
        # never seen settled in between.
        self._post(note)
        self._on_change(task)
