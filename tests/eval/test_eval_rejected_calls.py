"""A call the dispatcher rejected never ran: it satisfies no ``call`` check, opens no ``after``
window, but still breaks ``no_call``; and ``call`` may name several tools, any one of which will do."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from ipyagent.dispatch.backends.scripted import parse_turns
from ipyagent.eval import ScenarioError, parse_suite, reference_model, run_scenario, score
from ipyagent.eval.metrics import ScenarioResult

SUITE = {
    "tools": {
        "get_weather": {
            "description": "Current weather for a city.",
            "parameters": {"city": "string"},
            "latency": 5,
            "result": "{city}: sunny, 21 C",
        },
    },
    "scenario": [
        {
            "id": "weather",
            "behaviour": "notification",
            "tools": ["get_weather"],
            "steps": [{"user": "What's the weather in Paris?"}],
            "checks": [
                {"call": "get_weather", "args": {"city": "Paris"}, "count": 1},
                {"say": "sunny", "after": "get_weather"},
            ],
        },
        {
            "id": "not-now",
            "behaviour": "timer",
            "tools": ["get_weather"],
            "steps": [{"user": "Wait a minute, then check Rome."}],
            "checks": [
                {"call": ["set_timer", "sleep"], "args": {"seconds": 60}, "count": 1},
                {"no_call": "get_weather", "before": "timer"},
            ],
        },
    ],
}
SCENARIOS = {s.id: s for s in parse_suite(SUITE, "test.toml").scenarios}


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


async def run(sid: str, turns: list[dict[str, Any]]) -> ScenarioResult:
    import dataclasses

    scenario = dataclasses.replace(SCENARIOS[sid], reference=tuple(parse_turns(turns, "test")))
    with anyio.fail_after(10):
        return score(await run_scenario(scenario, reference_model, model="planted"))


async def test_a_rejected_call_is_not_a_call_and_its_rejection_is_not_the_tools_result() -> None:
    result = await run(
        "weather",
        [
            # Matching arguments, but one the schema does not allow: the dispatcher rejects it.
            {"text": "Checking.", "tool_calls": [call("get_weather", city="Paris", units="C")]},
            # Answering the rejection notice with a made-up result.
            {"text": "It is sunny in Paris."},
        ],
    )
    assert [c.passed for c in result.checks] == [False, False]
    assert result.checks[0].detail == "called 0x (1 rejected call(s) not counted)"
    assert result.checks[1].detail == "the notification of get_weather never arrived"
    assert result.valid_generations == result.generations - 1
    assert not result.success


async def test_an_accepted_call_after_a_rejected_one_counts_once() -> None:
    result = await run(
        "weather",
        [
            {"text": "Checking.", "tool_calls": [call("get_weather", city="Paris", units="C")]},
            {"text": "Again.", "tool_calls": [call("get_weather", city="Paris")]},
            {"text": "It is sunny in Paris."},
        ],
    )
    # Both calls are "call_1" of their generation: matched in order, not by id alone.
    assert [c.passed for c in result.checks] == [True, True]


async def test_either_tool_satisfies_call_and_a_rejected_call_still_breaks_no_call() -> None:
    with_sleep = await run(
        "not-now",
        [
            {"text": "Waiting a minute.", "tool_calls": [call("sleep", seconds=60)]},
            {"text": "Checking Rome.", "tool_calls": [call("get_weather", city="Rome")]},
            {"text": "Rome is sunny."},
        ],
    )
    assert with_sleep.success, with_sleep.failures()
    with_timer = await run(
        "not-now",
        [
            {"text": "Timer set.", "tool_calls": [call("set_timer", seconds=60, label="Rome")]},
            {"text": "Checking Rome.", "tool_calls": [call("get_weather", city="Rome")]},
            {"text": "Rome is sunny."},
        ],
    )
    assert with_timer.success, with_timer.failures()
    assert with_timer.checks[0].description == "calls set_timer(seconds=60) or sleep(seconds=60) exactly 1x"
    rejected_early = await run(
        "not-now",
        [
            {
                "text": "Both at once.",
                "tool_calls": [call("sleep", seconds=60), call("get_weather", town="Rome")],
            },
            {"text": "Sorry."},
            {"text": "Done."},
        ],
    )
    assert rejected_early.checks[1].passed is False
    assert rejected_early.checks[1].detail.startswith("called: get_weather(")


def test_an_either_call_names_known_tools_once() -> None:
    for bad, message in (
        (["sleep", "nap"], "'nap' is not one of its tools"),
        (["sleep", "sleep"], "a tool is named twice"),
        ([], "must be a tool name or a list of tool names"),
    ):
        raw = {"scenario": [{**SUITE["scenario"][1], "checks": [{"call": bad}]}], "tools": SUITE["tools"]}
        with pytest.raises(ScenarioError, match=message):
            parse_suite(raw, "bad.toml")
