"""What a model is shown: the ledger entries plus the tools and the present moment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..entry import Entry


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as a model sees it: name, description and a JSON schema for its arguments."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PendingTask:
    """A background task that has not finished, with how long it has been running and the
    latest progress it reported (an MCP server's, say), if any."""

    task_id: str
    name: str
    elapsed: float
    progress: str | None = None  # the task's latest progress report, if it made one
    progress_age: float | None = None  # seconds since that report


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a renderer needs. Rendering is deterministic: the same context gives the same
    output, and the entries' rendering does not depend on ``now`` or ``pending`` (those go in a
    status block at the very end), so a growing ledger keeps a stable prefix for prompt caches.

    ``cache_point`` is the index of the last entry a fork shares with its parent; renderers that
    support explicit cache breakpoints put one there.
    """

    entries: Sequence[Entry]
    tools: Sequence[ToolSpec] = ()
    now: float = 0.0
    pending: Sequence[PendingTask] = field(default_factory=tuple)
    cache_point: int | None = None
