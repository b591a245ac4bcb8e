"""The dialog state machine: states, the transition table and its pure ``step()``."""

from .table import EVENT_KINDS, TABLE, Effect, InvalidTransition, State, Transition, step, table_markdown

__all__ = [
    "EVENT_KINDS",
    "TABLE",
    "Effect",
    "InvalidTransition",
    "State",
    "Transition",
    "step",
    "table_markdown",
]
