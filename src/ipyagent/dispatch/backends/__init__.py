"""Model backends: one protocol, one module per provider, each loaded only when asked for."""

from __future__ import annotations

from ...clock import Clock
from ...errors import IpyagentError
from .base import Backend, Chunk, TextChunk, ToolCallChunk, UsageChunk
from .scripted import ScriptedBackend

__all__ = ["Backend", "Chunk", "ScriptedBackend", "TextChunk", "ToolCallChunk", "UsageChunk", "resolve"]


def resolve(model: str | Backend, clock: Clock) -> Backend:
    """A backend for a model string (``scripted:PATH``) or an already-built backend."""
    if not isinstance(model, str):
        if isinstance(model, Backend):
            return model
        raise IpyagentError(
            f"model must be a string like 'scripted:PATH' or a backend, got {type(model).__name__}"
        )
    provider, _, rest = model.partition(":")
    if provider == "scripted":
        if not rest:
            raise IpyagentError("model 'scripted:' needs a path: 'scripted:PATH' to a JSON list of turns")
        return ScriptedBackend.from_file(rest, clock)
    raise IpyagentError(f"unknown model {model!r}; available now: 'scripted:PATH'")
