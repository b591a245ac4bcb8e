"""Helpers for testing code built on ipyagent: a virtual clock and ways to wait on an agent."""

from .clock import DEFAULT_EPOCH, VirtualClock
from .waiting import kinds, record_states, wait_for, wait_for_state

__all__ = ["DEFAULT_EPOCH", "VirtualClock", "kinds", "record_states", "wait_for", "wait_for_state"]
