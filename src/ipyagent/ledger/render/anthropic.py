"""The Anthropic Messages format.

Messages alternate user/assistant and start with a user message, so consecutive same-role content
is merged into one message's list of blocks. Tool results sit in the user message right after the
assistant's ``tool_use`` blocks. A ``cache_control`` breakpoint marks the end of a fork's shared
prefix, so the child's first request reads the parent's prefix from the provider's cache.
Malformed tool-call arguments are sent as ``{"_raw_arguments": "..."}``: the API requires an
object, and the model still sees what it wrote.
"""

from __future__ import annotations

from typing import Any

from .common import Turn, calls_by_task, data, interruption_text, note_text, status_text, turns
from .context import Context

Block = dict[str, Any]
Message = dict[str, Any]


def _assistant_blocks(turn: Turn) -> list[Block]:
    blocks: list[Block] = [{"type": "text", "text": turn.text}] if turn.text else []
    for call in turn.calls:
        arguments = dict(call.arguments) if call.arguments is not None else {"_raw_arguments": call.text}
        blocks.append({"type": "tool_use", "id": call.call_id, "name": call.name, "input": arguments})
    return blocks


def render_anthropic(context: Context) -> tuple[list[Block], list[Message], list[dict[str, Any]]]:
    """``(system, messages, tools)`` for ``messages.create``."""
    system: list[Block] = []
    messages: list[Message] = []
    # Where the fork's shared prefix ends: (message, block position) at the time it was added;
    # later blocks merged into the same message are not part of the prefix.
    cache_at: tuple[Message, int] | None = None
    calls = calls_by_task(context.entries)

    def add(role: str, blocks: list[Block], last_index: int) -> None:
        nonlocal cache_at
        if not blocks:
            return
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": list(blocks)})
        if context.cache_point is not None and last_index >= context.cache_point and cache_at is None:
            cache_at = (messages[-1], len(messages[-1]["content"]) - 1)

    for turn in turns(context.entries):
        if turn.kind == "system":
            system.append({"type": "text", "text": turn.text})
            continue
        if turn.kind == "user":
            add("user", [{"type": "text", "text": turn.text}], turn.last_index)
        elif turn.kind == "note":
            add("user", [{"type": "text", "text": note_text(turn.first, calls)}], turn.last_index)
        else:
            if not messages:  # the API wants a user message first
                add("user", [{"type": "text", "text": "(the conversation continues)"}], -1)
            said = max(e.index for e in (turn.first, *turn.calls))  # results follow, in the user's turn
            add("assistant", _assistant_blocks(turn) or [{"type": "text", "text": "(no text)"}], said)
            results: list[Block] = []
            for r in turn.results:
                block: Block = {"type": "tool_result", "tool_use_id": r.call_id, "content": data(r.text)}
                if r.status == "rejected":
                    block["is_error"] = True
                results.append(block)
            if turn.interruption is not None:
                results.append({"type": "text", "text": interruption_text(turn.interruption)})
            add("user", results, turn.last_index)
    if cache_at is not None:
        message, position = cache_at
        message["content"][position] = {
            **message["content"][position],
            "cache_control": {"type": "ephemeral"},
        }
    add("user", [{"type": "text", "text": status_text(context)}], -1)
    tools = [
        {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
        for t in context.tools
    ]
    return system, messages, tools
