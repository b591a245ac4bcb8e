"""One palette for every picture of an agent's time: the live ``%timeline`` widget and the
notebooks' matplotlib figures draw states, tasks and events with these colours and marks, and
name each one in their legend. Every colour differs from every other, so a legend entry can
only mean one thing."""

from __future__ import annotations

from typing import Final

# Dialog states (the agent's own lane).
STATES: Final = {
    "idle": "#dde3e9",
    "listening": "#5b8def",
    "generating": "#f4a259",
    "emitting": "#f6d55c",
}
# Background tasks (a lane per task): while running, then how it ended.
TASKS: Final = {
    "running": "#7bc8a4",
    "done": "#4f6d7a",
    "failed": "#e05252",
    "timeout": "#b4459c",
    "cancelled": "#a68a64",
}
# Moments on an agent's lane: (matplotlib marker, unicode mark, colour, what it means).
MARKS: Final = {
    "user": ("v", "▼", "#1f4e9c", "you spoke or sent a message"),
    "notification": ("o", "●", "#2e7d32", "a tool result or report arrived"),
    "interruption": ("X", "✕", "#c62828", "the agent was interrupted"),
}


def as_dict() -> dict[str, object]:
    """The palette as data for a browser widget."""
    return {
        "states": dict(STATES),
        "tasks": dict(TASKS),
        "marks": {k: {"mark": m[1], "color": m[2], "label": m[3]} for k, m in MARKS.items()},
    }
