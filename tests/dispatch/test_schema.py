"""Tool arguments are checked against their schema without importing jsonschema for the schemas
``@tool`` makes (importing it costs seconds where its format checkers are installed), with the
same verdicts and messages; richer hand-written schemas still get the full library."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipyagent import tool
from ipyagent.dispatch.schema import _simple, errors
from ipyagent.dispatch.tools import Tool
from ipyagent.errors import ToolCallError, ToolDefinitionError

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["a", "b", "", "1", "ab1", "Oslo-2"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["x", "y", "z", "w"]), inner, max_size=3)
    ),
    max_leaves=8,
)
TYPES = ["string", "integer", "number", "boolean", "null", "array", "object"]
leaf_schemas = st.sampled_from(
    [{"type": t} for t in TYPES]
    + [{}, {"enum": ["a", 1, True, None]}, {"const": 1}, {"type": ["string", "null"]}, True, False]
    # The bounds the built-in tools use (and their neighbours), with and without a type.
    + [{"type": "string", "minLength": 1}, {"minLength": 2}, {"maxLength": 0}, {"maxLength": 1}]
    + [{"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,40}$"}, {"pattern": "[0-9]"}]
    + [{"type": "number", "minimum": 0, "maximum": 7 * 86400}, {"minimum": -1.5}, {"maximum": 0}]
    + [{"exclusiveMinimum": 0}, {"exclusiveMaximum": 1}, {"type": "integer", "minimum": 1}]
    + [{"minItems": 1}, {"maxItems": 0}, {"type": "array", "minItems": 2}, {"maxItems": 2}]
)
names = st.sampled_from(["x", "y", "z"])
schemas = st.recursive(
    leaf_schemas,
    lambda inner: (
        st.builds(lambda i: {"type": "array", "items": i}, inner)
        | st.builds(
            lambda p, r, a: {
                "type": "object",
                "properties": p,
                "required": sorted(set(r) & set(p)),
                "additionalProperties": a,
            },
            st.dictionaries(names, inner, max_size=3),
            st.lists(names, unique=True),
            st.booleans() | inner,
        )
        | st.builds(lambda xs: {"anyOf": xs}, st.lists(inner, min_size=1, max_size=3))
    ),
    max_leaves=6,
)


@settings(max_examples=400, deadline=None)
@given(schemas, json_values)
def test_the_same_verdict_and_message_as_jsonschema(schema: Any, value: Any) -> None:
    assert _simple(schema)
    ours = errors(schema, value)
    theirs = {e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(value)}
    assert bool(ours) == bool(theirs), (ours, theirs)
    if ours and "any of" not in ours[0][1] and "False schema" not in ours[0][1]:
        assert ours[0][1] in theirs


def test_a_tool_call_does_not_import_jsonschema() -> None:
    code = """
import sys
from ipyagent import tool

@tool
def book(city: str, nights: int, pets: list[str] | None = None) -> str:
    "Book a room."
    return city

assert book.validate({"city": "Oslo", "nights": 2}) == {"city": "Oslo", "nights": 2}
try:
    book.validate({"city": "Oslo", "nights": "two"})
except Exception as exc:
    print(exc)
print("jsonschema" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.splitlines() == [
        "tool call 'book' rejected: invalid arguments at 'nights': 'two' is not of type 'integer'",
        "False",
    ], out.stdout + out.stderr


def test_hand_written_schemas_with_more_keywords_are_fully_checked() -> None:
    def scale(factor: float) -> float:
        return factor

    schema = {
        "type": "object",
        "properties": {"factor": {"type": "number", "minimum": 0, "multipleOf": 0.5}},
        "required": ["factor"],
    }
    checked = Tool(scale, "scale", "Scale.", schema)
    assert not _simple(schema)
    assert checked.validate({"factor": 2}) == {"factor": 2}
    with pytest.raises(ToolCallError, match="-1 is less than the minimum of 0"):
        checked.validate({"factor": -1})
    with pytest.raises(ToolCallError, match=r"0\.3 is not a multiple of 0\.5"):
        checked.validate({"factor": 0.3})
    with pytest.raises(ToolDefinitionError, match=r"tool 'scale': invalid parameter schema: .*'wrong'"):
        Tool(scale, "scale", "Scale.", {"type": "wrong"})
    with pytest.raises(ToolDefinitionError, match="invalid parameter schema"):
        Tool(scale, "scale", "Scale.", {"type": "object", "required": "factor"})
    # Malformed bounds are not for the fast path: jsonschema says what is wrong with them.
    for broken in ({"minLength": -1}, {"minimum": "0"}, {"pattern": "("}, {"maxItems": True}):
        assert not _simple(broken)
        with pytest.raises(ToolDefinitionError, match="invalid parameter schema"):
            Tool(scale, "scale", "Scale.", {"type": "object", "properties": {"factor": broken}})


def test_generated_schemas_stay_on_the_fast_path() -> None:
    @tool
    def plan(city: str, days: int = 2, mode: str | None = None, stops: list[str] | None = None) -> str:
        "Plan a trip."
        return city

    assert _simple(plan.parameters)


def test_the_built_in_tools_stay_on_the_fast_path() -> None:
    from ipyagent import Agent
    from ipyagent.dispatch.backends import ScriptedBackend
    from ipyagent.testing import VirtualClock

    clock = VirtualClock()
    agent = Agent(ScriptedBackend.from_list([], clock), clock=clock)
    assert {"set_timer", "sleep", "fork", "spawn", "cancel_task", "list_tasks"} <= set(agent.tools)
    for name, builtin in agent.tools.items():
        assert _simple(builtin.parameters), name
