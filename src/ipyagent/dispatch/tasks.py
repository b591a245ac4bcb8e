"""Background tasks: tool runs, timers and sub-agents, each with an id the model can refer to.

A :class:`TaskRunner` starts, tracks and cancels them for one agent. Each task ends with exactly
one notification (result, error, timeout or cancellation), posted to the agent's queue.
"""

from __future__ import annotations

import collections
import itertools
import logging
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
    # The latest progress the work reported (an MCP server's, say ``3/10: copying``).
    progress: str | None = None

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

    def attach(self, tg: anyio.abc.TaskGroup) -> None:
        """Run tasks in ``tg`` (the agent's task group) from now on."""
        self._tg = tg

    def continue_after(self, task_ids: Iterable[str]) -> None:
        """Number new tasks after the highest ``t<n>`` in ``task_ids`` (a resumed ledger's)."""
        highest = max((int(t[1:]) for t in task_ids if t[:1] == "t" and t[1:].isdigit()), default=0)
        self._ids = itertools.count(highest + 1)

    def get(self, task_id: str) -> BackgroundTask | None:
        return self.tasks.get(task_id)

    def report_progress(self, task: BackgroundTask, progress: str) -> None:
        """A running task's latest progress (``3/10: copying``): kept on the task for the views
        and the task list, and announced like any change of the task."""
        if task.running:
            task.progress = progress
            self._on_change(task)

    def running(self) -> list[BackgroundTask]:
        return [t for t in self._live.values() if t.running]

    def pending(self) -> list[PendingTask]:
        """The running tasks as a model's context shows them."""
        now = self.clock.now()
        return [PendingTask(t.task_id, t.name, t.elapsed(now), t.progress) for t in self.running()]

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
        # The notification is queued before the task is announced as ended, so the agent is
        # never seen settled in between.
        self._post(notify(task, outcome, text))
        self._on_change(task)
