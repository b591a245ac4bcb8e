"""Background tasks: tool runs, timers and sub-agents, each with an id the model can refer to."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio

from ..events import Notification
from ..redaction import redact

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
