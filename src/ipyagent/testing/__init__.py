"""Helpers for testing code built on ipyagent: a virtual clock and ways to wait on an agent."""

from .clock import DEFAULT_EPOCH, VirtualClock
from .crash import kill_after_lines
from .waiting import kinds, record_states, wait_for, wait_for_state

__all__ = [
    "DEFAULT_EPOCH",
    "VirtualClock",
    "kill_after_lines",
    "kinds",
    "record_states",
    "wait_for",
    "wait_for_state",
]
