"""The OpenAI chat-completions format (also spoken by vLLM, llama.cpp server and Ollama).

Notifications, interruptions and sub-agent links become clearly tagged user messages; the
present moment (time, running tasks) is a system message at the end, after the stable prefix.
"""

from __future__ import annotations

from typing import Any

from .common import (
    Turn,
    arguments_json,
    calls_by_task,
    data,
    interruption_text,
    note_text,
    status_text,
    turns,
)
from .context import Context

Message = dict[str, Any]


def _assistant(turn: Turn) -> list[Message]:
    message: Message = {"role": "assistant", "content": turn.text or None}
    if turn.calls:
        message["tool_calls"] = [
            {
                "id": c.call_id,
                "type": "function",
                "function": {"name": c.name, "arguments": arguments_json(c)},
            }
            for c in turn.calls
        ]
    out = [message]
    out += [{"role": "tool", "tool_call_id": r.call_id, "content": data(r.text)} for r in turn.results]
    if turn.interruption is not None:
        out.append({"role": "user", "content": interruption_text(turn.interruption)})
    return out


def render_openai(context: Context) -> tuple[list[Message], list[dict[str, Any]]]:
    """``(messages, tools)`` for ``chat.completions.create``."""
    messages: list[Message] = []
    calls = calls_by_task(context.entries)
    for turn in turns(context.entries):
        if turn.kind == "system":
            messages.append({"role": "system", "content": turn.text})
        elif turn.kind == "user":
            messages.append({"role": "user", "content": turn.text})
        elif turn.kind == "assistant":
            messages += _assistant(turn)
        else:
            messages.append({"role": "user", "content": note_text(turn.first, calls)})
    messages.append({"role": "system", "content": status_text(context)})
    tools = [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": dict(t.parameters)},
        }
        for t in context.tools
    ]
    return messages, tools
