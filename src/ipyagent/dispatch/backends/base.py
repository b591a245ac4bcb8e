"""The one protocol every model backend implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ...events import ToolCallRequest, Usage
from ...ledger.render.context import Context


@dataclass(frozen=True, slots=True)
class TextChunk:
    """Streamed assistant text."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallChunk:
    """One complete tool call."""

    call: ToolCallRequest


@dataclass(frozen=True, slots=True)
class UsageChunk:
    """Token and timing figures, once per generation (usually last)."""

    usage: Usage


@dataclass(frozen=True, slots=True)
class StatusChunk:
    """Progress of slow set-up (loading a model), for the user; not part of the answer."""

    text: str


Chunk = TextChunk | ToolCallChunk | UsageChunk | StatusChunk


@runtime_checkable
class Backend(Protocol):
    """Streams one completion for a rendered ledger.

    ``stream`` yields text as it is produced, each tool call once it is complete, and usage
    figures. It raises :class:`ipyagent.errors.ModelError` for failures it understands; the
    agent turns any exception into a notification. Cancellation must stop it promptly.
    """

    name: str

    def stream(self, context: Context, *, agent: str) -> AsyncIterator[Chunk]: ...


async def close_backend(backend: Backend) -> None:
    """Release what a backend holds open (HTTP connections), if it has an ``aclose``."""
    close = getattr(backend, "aclose", None)
    if close is not None:
        await close()
