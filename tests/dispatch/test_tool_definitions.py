"""Tools whose parameters are described: from docstrings (Google, NumPy, reST), ``Annotated``, or a
JSON schema given as is; and tool names the providers accept."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

from ipyagent import Agent, Tool, tool
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.errors import ToolDefinitionError
from ipyagent.ledger import Entry
from ipyagent.ledger.render import Context, render_anthropic, render_chatml, render_openai
from ipyagent.testing import VirtualClock


@tool
def google(city: str, days: int = 3) -> str:
    """Plan a trip.

    Args:
        city: The city to visit, in English.
        days: How many days
            the trip lasts.
    """
    return city


@tool
def numpy_style(city: str, days: int = 3) -> str:
    """Plan a trip.

    Parameters
    ----------
    city : str
        The city to visit, in English.
    days : int
        How many days the trip lasts.
    """
    return city


@tool
def rest_style(city: str, days: int = 3) -> str:
    """Plan a trip.

    :param city: The city to visit, in English.
    :param days: How many days the trip lasts.
    """
    return city


@tool
def annotated(
    city: Annotated[str, "The city to visit, in English."],
    days: Annotated[int, "How many days the trip lasts."] = 3,
) -> str:
    """Plan a trip."""
    return city


@pytest.mark.parametrize("t", [google, numpy_style, rest_style, annotated], ids=lambda t: t.name)
def test_parameter_descriptions_reach_every_backend(t: Tool) -> None:
    props = t.parameters["properties"]
    assert props["city"] == {"type": "string", "description": "The city to visit, in English."}
    assert props["days"]["description"] == "How many days the trip lasts."
    assert t.description == "Plan a trip."  # the parameter section is not repeated in it
    context = Context(entries=[Entry("system", "hi", index=0)], tools=[t.spec])
    _, openai_tools = render_openai(context)
    assert openai_tools[0]["function"]["parameters"]["properties"]["city"]["description"] == (
        "The city to visit, in English."
    )
    _, _, anthropic_tools = render_anthropic(context)
    assert anthropic_tools[0]["input_schema"]["properties"]["days"]["description"] == (
        "How many days the trip lasts."
    )
    assert "The city to visit, in English." in render_chatml(context)


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "What to search for", "minLength": 1},
        "limit": {"type": "integer", "maximum": 50, "description": "At most this many"},
        "since": {"type": "string", "format": "date"},
        "filter": {
            "type": "object",
            "properties": {"lang": {"type": "string", "enum": ["en", "fr"]}},
            "required": ["lang"],
        },
    },
    "required": ["query"],
}


async def test_a_tool_from_a_schema_keeps_it_as_given_and_validates_calls() -> None:
    seen: list[dict[str, Any]] = []

    async def search(**arguments: Any) -> str:
        seen.append(arguments)
        return "3 hits"

    t = Tool.from_schema("search", "Search the archive.", SCHEMA, search)
    assert t.parameters == SCHEMA  # no additionalProperties added, nothing dropped
    context = Context(entries=[Entry("system", "hi", index=0)], tools=[t.spec])
    assert render_openai(context)[1][0]["function"]["parameters"] == SCHEMA
    assert render_anthropic(context)[2][0]["input_schema"] == SCHEMA
    async with VirtualClock() as clock:
        calls = [
            {"name": "search", "arguments": {"query": "tides", "filter": {"lang": "fr"}, "extra": 1}},
            {"name": "search", "arguments": {"query": "tides", "limit": 99}},
        ]
        turns = [{"delay": 1, "text": "Searching.", "tool_calls": calls}, {"delay": 1, "text": "Done."}]
        async with Agent(ScriptedBackend.from_list(turns, clock), tools=[t], clock=clock) as agent:
            await agent.send("search")
            await agent.settled()
    assert seen == [{"query": "tides", "filter": {"lang": "fr"}, "extra": 1}]
    rejected = [e.text for e in agent.ledger if e.kind == "tool_result" and e.status == "rejected"]
    assert len(rejected) == 1 and "limit" in rejected[0] and "50" in rejected[0]


def test_tool_decorator_takes_a_schema_for_kwargs_functions() -> None:
    @tool(parameters=SCHEMA)
    def search(**arguments: Any) -> str:
        "Search the archive."
        return "ok"

    assert search.parameters == SCHEMA
    with pytest.raises(ToolDefinitionError, match=r"\*\*kwargs.*parameters="):

        @tool
        def loose(**arguments: Any) -> str:
            "No schema."
            return "ok"


@pytest.mark.parametrize("name", ["weather.get", "a b", "x" * 65, "", "søk"])
def test_a_name_providers_refuse_is_refused_in_one_line(name: str) -> None:
    with pytest.raises(ToolDefinitionError) as caught:
        Tool.from_schema(name, "Something.", {"type": "object"}, lambda **_: None)
    message = str(caught.value)
    assert "\n" not in message and "letters, digits, '_' and '-'" in message


def test_a_name_providers_accept_renders_unchanged_for_both() -> None:
    t = Tool.from_schema("weather_get-v2", "Weather.", {"type": "object"}, lambda **_: None)
    context = Context(entries=[Entry("system", "hi", index=0)], tools=[t.spec])
    assert render_openai(context)[1][0]["function"]["name"] == "weather_get-v2"
    assert render_anthropic(context)[2][0]["name"] == "weather_get-v2"
