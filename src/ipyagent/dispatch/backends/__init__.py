"""Model backends: one protocol, one module per provider, each loaded only when asked for.

Model strings:
    local                      the embedded default (llama.cpp + SmolLM2, no key, no network)
    local:PATH                 another GGUF file on llama.cpp
    openai:MODEL               OpenAI (key from OPENAI_API_KEY)
    openai:MODEL@BASE_URL      any OpenAI-compatible server (vLLM, llama.cpp server, Ollama)
    anthropic:MODEL            Anthropic (key from ANTHROPIC_API_KEY)
    scripted:PATH              replays a JSON script of turns (tests and demos only)
"""

from __future__ import annotations

from importlib import import_module

from ...clock import Clock
from ...errors import IpyagentError
from .base import Backend, Chunk, StatusChunk, TextChunk, ToolCallChunk, UsageChunk
from .scripted import ScriptedBackend

__all__ = [
    "Backend",
    "Chunk",
    "ScriptedBackend",
    "StatusChunk",
    "TextChunk",
    "ToolCallChunk",
    "UsageChunk",
    "resolve",
]

MODEL_STRINGS = "'local', 'openai:MODEL', 'openai:MODEL@BASE_URL', 'anthropic:MODEL' or 'scripted:PATH'"


def resolve(model: str | Backend, clock: Clock) -> Backend:
    """A backend for a model string, or the backend object itself. Raises IpyagentError with
    the accepted forms when the string is not understood."""
    if not isinstance(model, str):
        if isinstance(model, Backend):
            return model
        raise IpyagentError(
            f"model must be a string ({MODEL_STRINGS}) or a backend, got {type(model).__name__}"
        )
    provider, _, rest = model.strip().partition(":")
    if provider == "scripted":
        if not rest:
            raise IpyagentError("model 'scripted:' needs a path: 'scripted:PATH' to a JSON list of turns")
        return ScriptedBackend.from_file(rest, clock)
    if provider == "local":
        local = import_module(f"{__name__}.local")
        backend: Backend = local.LocalBackend(rest or None, clock=clock)
        return backend
    if provider in ("openai", "anthropic"):
        name, _, base_url = rest.partition("@")
        if not name:
            raise IpyagentError(f"model {model!r} needs a model name: '{provider}:MODEL'")
        module = import_module(f"{__name__}.{provider}")
        cls = module.OpenAIBackend if provider == "openai" else module.AnthropicBackend
        backend = cls(name, base_url=base_url or None, clock=clock)
        return backend
    raise IpyagentError(f"unknown model {model!r}; use {MODEL_STRINGS}")
