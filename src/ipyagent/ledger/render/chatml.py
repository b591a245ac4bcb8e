"""Extended ChatML, for local ChatML-native models (SmolLM2).

Beyond ChatML's ``system``, ``user``, ``assistant`` and ``tool`` roles it has a ``notification``
role for everything that arrives on its own, and the token ``<|interrupt|>`` at the end of an
assistant message that was cut off. Tool calls are ``<tool_call>`` blocks holding JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .common import (
    TOOLS_RUN_IN_BACKGROUND,
    Turn,
    clock_time,
    data,
    finished_time,
    status_text,
    tool_lines,
    turns,
)
from .context import Context

INTERRUPT_TOKEN = "<|interrupt|>"
_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


def _block(role: str, body: str) -> str:
    return f"<|im_start|>{role}\n{body}<|im_end|>\n"


def plain(text: str) -> str:
    """User or model text, unable to open or close a role: llama.cpp reads ``<|...|>`` in the
    prompt as control tokens, so ``<|`` is written ``&lt;|``."""
    return text.replace("<|", "&lt;|")


def _signature(schema: Mapping[str, Any]) -> str:
    """``city: string, days?: integer``: a tool's parameters in one short line."""
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    parts = []
    for name, spec in properties.items():
        kind = spec.get("type", "any") if isinstance(spec, Mapping) else "any"
        parts.append(f"{name}{'' if name in required else '?'}: {kind}")
    return ", ".join(parts)


def compact_tool_lines(context: Context) -> str:
    """One short line per tool, ``- name(arg: type, ...): description``: a small model reads a
    third of the tokens of the JSON schemas (the grammar still enforces the schemas)."""
    return "\n".join(f"- {t.name}({_signature(t.parameters)}): {t.description}" for t in context.tools)


def _system(context: Context, compact_tools: bool = False) -> str:
    first = next((e for e in context.entries if e.kind == "system"), None)
    parts = [first.text] if first is not None else []
    if context.tools:
        lines = compact_tool_lines(context) if compact_tools else tool_lines(context)
        parts.append(
            "You can call these tools:\n" + lines + "\n"
            "To call a tool, write exactly:\n<tool_call>\n"
            '{"name": "TOOL_NAME", "arguments": {...}}\n</tool_call>\n'
            "one block per call. " + TOOLS_RUN_IN_BACKGROUND
        )
    return "\n\n".join(parts)


def _assistant(turn: Turn) -> str:
    body = plain(turn.text)
    for call in turn.calls:
        if call.arguments is not None:
            payload = json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False)
        else:  # what the model wrote, as it wrote it
            payload = f'{{"name": {json.dumps(call.name)}, "arguments": {call.text}}}'
        # "<" only ever sits inside JSON strings, where \u003c means the same: nothing in a call
        # can end its block or form a control token.
        payload = payload.replace("<", "\\u003c")
        body += ("\n" if body else "") + f"<tool_call>\n{payload}\n</tool_call>"
    if turn.interruption is not None:
        body += INTERRUPT_TOKEN
    out = _block("assistant", body)
    for result in turn.results:
        out += _block("tool", data(result.text))
    return out


def render_chatml(
    context: Context,
    *,
    status_before_last: bool = False,
    compact_tools: bool = False,
    status: str | None = None,
) -> str:
    """The whole prompt, ending with the opening of the assistant's reply.

    The status block (the time, the running tasks) goes at the very end, after everything that
    never changes, so a growing ledger keeps a stable prefix. ``status_before_last`` puts it
    before the last message instead, for small models that otherwise echo the status block
    or copy numbers from it instead of answering the message itself. ``compact_tools`` lists
    the tools as one-line signatures instead of JSON schemas; ``status`` replaces the status text.
    """
    out = [_block("system", _system(context, compact_tools))]
    seen_system = False
    for turn in turns(context.entries):
        if turn.kind == "system":
            if seen_system:  # later system messages are instructions too
                out.append(_block("system", turn.text))
            seen_system = True
        elif turn.kind == "user":
            out.append(_block("user", plain(turn.text)))
        elif turn.kind == "assistant":
            out.append(_assistant(turn))
        else:
            e = turn.first
            if e.kind == "interruption":
                out.append(_block("assistant", INTERRUPT_TOKEN))
            elif e.kind == "subagent":
                out.append(
                    _block(
                        "notification",
                        f"[{clock_time(e.time)}] sub-agent {e.name!r} started ({e.status}): {data(e.text)}",
                    )
                )
            else:
                who = " ".join(x for x in (e.task_id, e.name) if x)
                finished = finished_time(e)
                when = clock_time(e.time) + (f", finished {clock_time(finished)}" if finished else "")
                out.append(
                    _block(
                        "notification",
                        f"[{when}] {e.source}{' ' + data(who) if who else ''}: {data(e.text)}",
                    )
                )
    block = _block("notification", status_text(context) if status is None else status)
    if status_before_last and len(out) > 1:
        out.insert(len(out) - 1, block)
    else:
        out.append(block)
    out.append("<|im_start|>assistant\n")
    return "".join(out)


def render_small_model(context: Context, *, status: str | None = None) -> str:
    """The prompt of the embedded local model (and of the data it is fine-tuned on): compact tool
    lines, the status block before the last message."""
    return render_chatml(context, status_before_last=True, compact_tools=True, status=status)


def parse_chatml_tool_calls(text: str) -> tuple[str, list[tuple[str, dict[str, Any] | str]]]:
    """Split a completion into its plain text and its tool calls ``(name, arguments)``.

    Arguments are a dict, or the raw string when the JSON is malformed (the dispatcher rejects
    it with a clear reason). Never raises.
    """
    calls: list[tuple[str, dict[str, Any] | str]] = []
    first = text.find("<tool_call>")
    plain = (text if first < 0 else text[:first]).replace(INTERRUPT_TOKEN, "").strip()
    for match in _CALL.finditer(text):
        raw = match.group(1).strip()
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):  # RecursionError: nested too deeply
            name = re.search(r'"name"\s*:\s*"([^"]*)"', raw)
            calls.append((name.group(1) if name else "", raw))
            continue
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            calls.append(("", raw))
            continue
        arguments = body.get("arguments", {})
        calls.append((body["name"], arguments if isinstance(arguments, dict) else json.dumps(arguments)))
    return plain, calls
