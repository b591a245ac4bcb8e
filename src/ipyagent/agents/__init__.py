"""Agents: the runner that drives the dialog state machine, the sub-agents' lifecycle and tree,
and the updates an agent tells its subscribers."""

from . import updates
from .agent import DEFAULT_INSTRUCTIONS, Agent
from .updates import *  # noqa: F403  (the updates, each by its name)

__all__ = ["DEFAULT_INSTRUCTIONS", "Agent", *updates.__all__]
