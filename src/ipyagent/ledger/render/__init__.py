"""Rendering a ledger for a model: extended ChatML, OpenAI chat, Anthropic Messages."""

from .anthropic import render_anthropic
from .chatml import INTERRUPT_TOKEN, parse_chatml_tool_calls, render_chatml, render_small_model
from .context import Context, PendingTask, ToolSpec
from .openai import render_openai

__all__ = [
    "INTERRUPT_TOKEN",
    "Context",
    "PendingTask",
    "ToolSpec",
    "parse_chatml_tool_calls",
    "render_anthropic",
    "render_chatml",
    "render_openai",
    "render_small_model",
]
