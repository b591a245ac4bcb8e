"""Agents: the runner that drives the dialog state machine, and the sub-agent tree."""

from .agent import DEFAULT_INSTRUCTIONS, Agent
from .updates import (
    AgentStatusChanged,
    EntryAdded,
    EventHandled,
    ModelStatus,
    StateChanged,
    TaskChanged,
    TextDelivered,
    Update,
)

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "Agent",
    "AgentStatusChanged",
    "EntryAdded",
    "EventHandled",
    "ModelStatus",
    "StateChanged",
    "TaskChanged",
    "TextDelivered",
    "Update",
]
