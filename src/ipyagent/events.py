"""Everything that can happen to an agent, as frozen dataclasses.

An event's class decides how urgent it is: :class:`Priority` orders the queue, and within one
priority events keep their arrival order (the queue holds ``(priority, seq, event)``, so events
are never compared with each other).

    interruption  >  user turn  >  notification  >  model output  >  housekeeping
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar, Literal

import anyio


class Priority(IntEnum):
    """Lower value is handled first."""

    INTERRUPTION = 0
    USER_TURN = 1
    NOTIFICATION = 2
    MODEL_OUTPUT = 3
    HOUSEKEEPING = 4


@dataclass(frozen=True, slots=True)
class Event:
    """Base of all events. Subclasses set :attr:`priority`."""

    priority: ClassVar[Priority]


# --- interruption -------------------------------------------------------------------------------


InterruptSource = Literal["api", "button", "chat", "speech", "magic"]


@dataclass(frozen=True, slots=True)
class Interrupt(Event):
    """The user wants the floor: stop what is being generated or said, now."""

    priority: ClassVar[Priority] = Priority.INTERRUPTION
    reason: str = "interrupted by the user"
    source: InterruptSource = "api"


# --- user turns ---------------------------------------------------------------------------------


UserSource = Literal["api", "cell", "chat", "voice", "task"]


@dataclass(frozen=True, slots=True)
class UserMessage(Event):
    """A complete user turn (a cell, a chat message, a final transcript). ``exchange``: an id the
    sender chose, to find the entry this message becomes (a cell's view starts there)."""

    priority: ClassVar[Priority] = Priority.USER_TURN
    text: str
    source: UserSource = "api"
    exchange: str | None = None


@dataclass(frozen=True, slots=True)
class UserStartedSpeaking(Event):
    """The user began to speak or compose; the agent should listen rather than talk."""

    priority: ClassVar[Priority] = Priority.USER_TURN


@dataclass(frozen=True, slots=True)
class Say(Event):
    """Say ``text`` as the agent's next answer, word for word, without the model (a confirmation,
    a warning). ``interruptible=False``: the user's voice does not cut it (their words are answered
    after it); ``min_words`` / ``min_seconds`` override the agent's barge-in thresholds for it."""

    priority: ClassVar[Priority] = Priority.NOTIFICATION
    text: str
    interruptible: bool = True
    min_words: int | None = None
    min_seconds: float | None = None


# --- notifications ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notification(Event):
    """Base of everything that arrives on its own: task outcomes, sub-agent reports, failures.

    ``text`` is what the model and the user are told. ``finished`` is when the work it reports
    on ended (wall-clock seconds of the agent's clock), set by the task runner; it can be well
    before the notification is recorded, when the agent was busy generating.
    """

    priority: ClassVar[Priority] = Priority.NOTIFICATION
    kind: ClassVar[str] = "notification"
    text: str
    task_id: str | None = None
    name: str | None = None
    finished: float | None = None


@dataclass(frozen=True, slots=True)
class ToolResult(Notification):
    """A background tool finished and returned a value."""

    kind: ClassVar[str] = "tool_result"


@dataclass(frozen=True, slots=True)
class ToolError(Notification):
    """A background tool raised an exception."""

    kind: ClassVar[str] = "tool_error"


@dataclass(frozen=True, slots=True)
class ToolTimeout(Notification):
    """A background tool ran past its time limit and was stopped."""

    kind: ClassVar[str] = "tool_timeout"


@dataclass(frozen=True, slots=True)
class ToolCancelled(Notification):
    """A background tool was cancelled (by the model, the user, or its agent being cancelled)."""

    kind: ClassVar[str] = "tool_cancelled"


@dataclass(frozen=True, slots=True)
class ToolRejected(Notification):
    """A tool call could not start: unknown tool or invalid arguments."""

    kind: ClassVar[str] = "tool_rejected"


@dataclass(frozen=True, slots=True)
class ToolProgress(Notification):
    """A running tool reported progress and asked the agent to hear it now (an ordinary progress
    report only updates the task; it does not reach the dialog)."""

    kind: ClassVar[str] = "tool_progress"


@dataclass(frozen=True, slots=True)
class TimerFired(Notification):
    """A timer the model set has gone off."""

    kind: ClassVar[str] = "timer"


@dataclass(frozen=True, slots=True)
class SubAgentReport(Notification):
    """A sub-agent finished (``ok``) or failed, with its final answer or the reason."""

    kind: ClassVar[str] = "subagent_report"
    ok: bool = True


@dataclass(frozen=True, slots=True)
class ModelFailed(Notification):
    """The model backend failed; the user and the model are told, and no new generation starts."""

    kind: ClassVar[str] = "model_error"
    generation: int = 0


# --- model output -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolCallRequest:
    """One tool call as the model produced it (arguments already parsed from JSON when possible)."""

    name: str
    arguments: Mapping[str, Any] | str
    call_id: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token figures and timing of one generation."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    first_token_seconds: float | None = None
    total_seconds: float | None = None
    # What the backend decided for the model, in words, for the ledger (e.g. a tool it chose,
    # output it stopped); empty for most backends.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ModelOutput(Event):
    """Base of events produced by a generation; ``generation`` names which one."""

    priority: ClassVar[Priority] = Priority.MODEL_OUTPUT
    generation: int


@dataclass(frozen=True, slots=True)
class TextDelta(ModelOutput):
    """A piece of streamed assistant text."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDecoded(ModelOutput):
    """The model has finished writing one tool call's arguments: start it now, while the
    generation goes on."""

    call: ToolCallRequest


@dataclass(frozen=True, slots=True)
class GenerationFinished(ModelOutput):
    """The model has finished: its whole text and the tool calls it asked for (each already
    announced by a :class:`ToolCallDecoded`)."""

    text: str
    tool_calls: tuple[ToolCallRequest, ...] = ()
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True, slots=True)
class EmissionFinished(ModelOutput):
    """Everything generated has been delivered to the user (shown, or played aloud)."""


# --- housekeeping -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GenerateNow(Event):
    """Start a generation now that every more urgent event has been recorded.

    Queued at the lowest priority so that a burst of user turns and notifications is absorbed
    into one generation.
    """

    priority: ClassVar[Priority] = Priority.HOUSEKEEPING


@dataclass(frozen=True, slots=True)
class ListenTimeout(Event):
    """Nobody spoke for a while after the agent started listening; go back to idle."""

    priority: ClassVar[Priority] = Priority.HOUSEKEEPING
    token: int = 0


# --- the queue ----------------------------------------------------------------------------------


class EventQueue:
    """A priority queue of events for one agent.

    Invariant: ``_heap`` holds ``(priority, seq, event)``; ``seq`` is unique and increasing, so
    events of equal priority come out in arrival order and are never compared.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Event]] = []
        self._seq = itertools.count()
        # Created by the waiting reader: anyio events need a running event loop.
        self._waiter: anyio.Event | None = None

    def __len__(self) -> int:
        return len(self._heap)

    def put(self, event: Event) -> None:
        """Add an event; never blocks (the queue is unbounded, callers are the agent's own parts)."""
        heapq.heappush(self._heap, (event.priority, next(self._seq), event))
        if self._waiter is not None:
            self._waiter.set()

    def get_nowait(self) -> Event | None:
        """Take the most urgent event, or ``None`` when the queue is empty."""
        if not self._heap:
            return None
        return heapq.heappop(self._heap)[2]

    async def get(self) -> Event:
        """Wait for and take the most urgent event."""
        while not self._heap:
            self._waiter = anyio.Event()
            await self._waiter.wait()
        self._waiter = None
        return heapq.heappop(self._heap)[2]

    def peek(self) -> Event | None:
        """The most urgent event without taking it."""
        return self._heap[0][2] if self._heap else None
