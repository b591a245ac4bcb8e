"""What an agent tells its subscribers (the widgets, the kernel's live views)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..dispatch.tasks import BackgroundTask
from ..events import Event
from ..fsm import State, Transition
from ..ledger import Entry

if TYPE_CHECKING:
    from .agent import Agent

__all__ = [
    "AgentStatusChanged", "EntryAdded", "EventHandled", "ModelStatus", "StateChanged", "TaskChanged",
    "TextDelivered", "Update",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class EntryAdded:
    """An entry was committed to the agent's ledger."""

    agent: Agent
    entry: Entry


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The dialog state changed."""

    agent: Agent
    old: State
    new: State
    time: float


@dataclass(frozen=True, slots=True)
class EventHandled:
    """The runner took an event off the queue and applied a transition (``None``: stale, dropped)."""

    agent: Agent
    event: Event
    state: State
    transition: Transition | None
    time: float


@dataclass(frozen=True, slots=True)
class TextDelivered:
    """A piece of the agent's answer reached the user."""

    agent: Agent
    generation: int
    text: str


@dataclass(frozen=True, slots=True)
class TaskChanged:
    """A background task started or ended (see ``task.status``)."""

    agent: Agent
    task: BackgroundTask


@dataclass(frozen=True, slots=True)
class AgentStatusChanged:
    """A sub-agent started, finished, failed or was cancelled (``agent.status``)."""

    agent: Agent


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """Progress of slow model set-up (for example, loading the local model)."""

    agent: Agent
    text: str


Update = (
    EntryAdded | StateChanged | EventHandled | TextDelivered | TaskChanged | AgentStatusChanged | ModelStatus
)
