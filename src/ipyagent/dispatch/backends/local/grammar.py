"""Grammars (llama.cpp GBNF) that keep the local model's output a valid ledger message: plain
text without control tags, tool calls naming registered tools with schema-valid arguments, the
name of one tool, or one tool's arguments."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from ....ledger.render.context import ToolSpec

_QUOTED = re.compile(r'"(?:\\.|[^"\\])*"')
# Plain text may not contain "<", so the model cannot emit stray control tags.
TEXT_RULE = "text ::= [^<]+\n"


def rename_rule(gbnf: str, old: str, new: str) -> str:
    """Rename a grammar rule, leaving quoted literals alone."""
    pattern = re.compile(rf"(?<![\w-]){re.escape(old)}(?![\w])")
    out = []
    for line in gbnf.splitlines():
        pieces, last = [], 0
        for m in _QUOTED.finditer(line):
            pieces.append(pattern.sub(new, line[last : m.start()]))
            pieces.append(m.group(0))
            last = m.end()
        pieces.append(pattern.sub(new, line[last:]))
        out.append("".join(pieces))
    return "\n".join(out)


MAX_STRING = 200
"""The longest string argument the local model may write when the schema sets no bound: a
small model that loops inside a string otherwise runs on until the token limit."""


def bounded(schema: Any) -> Any:
    """``schema`` with a ``maxLength`` on every string that has none (nested ones too)."""
    if isinstance(schema, list):
        return [bounded(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: bounded(v) for k, v in schema.items()}
    if out.get("type") == "string" and "maxLength" not in out and "pattern" not in out and "enum" not in out:
        out["maxLength"] = MAX_STRING
    return out


def _call_rules(tools: Sequence[ToolSpec]) -> str:
    """GBNF rule ``call``: one ``<tool_call>`` naming one of ``tools`` with schema-valid arguments."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    alternatives = [
        {
            "type": "object",
            "properties": {"name": {"const": t.name}, "arguments": bounded(dict(t.parameters))},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for t in tools
    ]
    schema = {"anyOf": alternatives} if len(alternatives) > 1 else alternatives[0]
    calls = rename_rule(
        json_schema_to_gbnf(json.dumps(schema), prop_order=["name", "arguments"]), "root", "call-json"
    )
    return 'call ::= "<tool_call>\\n" call-json "\\n</tool_call>"\n' + calls + "\n"


def ledger_message_grammar(tools: Sequence[ToolSpec]) -> str:
    """GBNF for one assistant message: text, tool calls, or text followed by tool calls.

    Text may not contain ``<``, so the model cannot emit stray control tags; a ``<`` can only
    open a ``<tool_call>`` whose JSON names a registered tool with schema-valid arguments.
    """
    if not tools:
        return "root ::= text\n" + TEXT_RULE
    return 'root ::= text | text? calls\ncalls ::= call ("\\n" call)*\n' + TEXT_RULE + _call_rules(tools)


def another_call_grammar(tools: Sequence[ToolSpec]) -> str:
    """After a message's calls so far: nothing more (the message ends), or one more call."""
    return 'root ::= ("\\n" call)?\n' + _call_rules(tools)


def choice_grammar(names: Sequence[str]) -> str:
    """Exactly one of ``names``."""
    return "root ::= " + " | ".join(json.dumps(n) for n in names) + "\n"


def arguments_grammar(tool: ToolSpec) -> str:
    """``tool``'s arguments as JSON, then the end of the call (the call is already opened)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    schema = bounded(dict(tool.parameters))
    schema.setdefault("additionalProperties", False)
    args = rename_rule(json_schema_to_gbnf(json.dumps(schema)), "root", "args-json")
    return 'root ::= args-json "}\n</tool_call>"\n' + args + "\n"
