"""What each model is shown. Golden files are the documentation: read them.

Regenerate with ``UPDATE_GOLDEN=1 pytest tests/ledger/test_render.py`` and review the diff.
"""

from __future__ import annotations

import difflib
import itertools
import json
import os
from pathlib import Path

import pytest

from ipyagent import Agent, State, current_clock, tool
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.ledger import Entry
from ipyagent.ledger.render import (
    INTERRUPT_TOKEN,
    Context,
    PendingTask,
    parse_chatml_tool_calls,
    render_anthropic,
    render_chatml,
    render_openai,
)
from ipyagent.testing import VirtualClock, wait_for_state
from support.travel import get_weather

GOLDEN = Path(__file__).parent / "golden"


@tool
async def plan_itinerary(city: str, days: int) -> str:
    "Plan a detailed day-by-day itinerary."
    await current_clock().sleep(600)
    return "never seen here"


SCRIPT = [
    {
        "agent": "main",
        "delay": 0.5,
        "text": "Let me check.",
        "tool_calls": [
            {"name": "get_weather", "arguments": {"city": "Paris"}},
            {"name": "get_weather", "arguments": "{city: Paris"},
        ],
    },
    # The malformed call is rejected, and the rejection prompts a turn of its own.
    {"agent": "main", "delay": 0.2, "text": "One request was malformed; the other is on its way."},
    {"agent": "main", "delay": 0.5, "text": "It is sunny in Paris, 21 degrees."},
    {
        "agent": "main",
        "delay": 8.0,
        "text": "Day one: the Louvre, then a walk along the Seine to Notre-Dame.",
        "tool_calls": [{"name": "plan_itinerary", "arguments": {"city": "Paris", "days": 3}}],
    },
    {"agent": "main", "delay": 0.5, "text": "Sure, what would you like instead?"},
    {"agent": "helper", "delay": 0.5, "text": "Musée d'Orsay."},
    {"agent": "main", "delay": 0.5, "text": "My helper suggests the Musée d'Orsay."},
]


async def make_ledger() -> tuple[list[Entry], Context]:
    """A real agent run that writes every kind of entry, on a virtual clock."""
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list(SCRIPT, clock)
        async with Agent(backend, tools=[get_weather, plan_itinerary], clock=clock, builtins=False) as agent:
            await agent.send("What's the weather in Paris?")
            await agent.settled()
            await agent.send("Now plan three days there.", source="chat")
            await wait_for_state(agent, State.GENERATING)
            await clock.sleep(3)
            await agent.send("Wait, stop.", interrupt=True, source="chat")
            await wait_for_state(agent, State.IDLE)
            await clock.sleep(1)
            agent.spawn("Suggest one museum.", name="helper")
            await wait_for(agent)
            entries = list(agent.ledger)
            context = Context(
                entries=entries,
                tools=[t.spec for t in agent.tools.values()],
                now=clock.wall(),
                pending=[PendingTask("t3", "plan_itinerary", 600.0)],  # as if it had started
            )
            return entries, context


async def wait_for(agent: Agent) -> None:
    from ipyagent.testing import wait_for as wait

    await wait(agent, lambda: agent.ledger[-1].text.startswith("My helper"))


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(
            difflib.unified_diff(expected.splitlines(True), text.splitlines(True), name, "rendered")
        )
        pytest.fail(f"{name} differs from its golden file (UPDATE_GOLDEN=1 to accept):\n{diff}")


def as_json(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


async def test_the_fixture_ledger_has_every_kind() -> None:
    entries, _ = await make_ledger()
    assert {e.kind for e in entries} == {
        "system",
        "user",
        "assistant",
        "tool_call",
        "tool_result",
        "notification",
        "interruption",
        "subagent",
    }


async def test_chatml_golden() -> None:
    _, context = await make_ledger()
    check_golden("chatml.txt", render_chatml(context))


async def test_openai_golden() -> None:
    _, context = await make_ledger()
    messages, tools = render_openai(context)
    check_golden("openai.json", as_json({"messages": messages, "tools": tools}))


async def test_anthropic_golden() -> None:
    _, context = await make_ledger()
    fork_context = Context(entries=context.entries, tools=context.tools, now=context.now, cache_point=4)
    system, messages, tools = render_anthropic(fork_context)
    check_golden("anthropic.json", as_json({"system": system, "messages": messages, "tools": tools}))


async def test_model_sees_what_matters() -> None:
    _, context = await make_ledger()
    prompt = render_chatml(context)
    assert (
        "<|im_start|>notification\n[09:00:01] tool_result t1 get_weather: Paris: sunny, 21 C<|im_end|>"
        in prompt
    )
    assert f"Day one: the Louvre, {INTERRUPT_TOKEN}<|im_end|>" in prompt  # what was heard
    assert "Tasks: t3 plan_itinerary (running 10 min)." in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    messages, _ = render_openai(context)
    tool_ids = {m["tool_call_id"] for m in messages if m["role"] == "tool"}
    call_ids = {c["id"] for m in messages for c in m.get("tool_calls", [])}
    assert tool_ids == call_ids  # every call answered, every answer paired


async def test_rendering_is_prefix_stable() -> None:
    entries, context = await make_ledger()
    for k in range(1, len(entries)):
        short = Context(entries=entries[:k], tools=context.tools, now=0.0)
        full = Context(entries=entries, tools=context.tools, now=context.now, pending=context.pending)
        head = render_chatml(short).rsplit("<|im_start|>notification\nNow:", 1)[0]
        # Entries that are complete turns render the same whatever comes after them.
        if entries[k].kind in ("user", "notification", "subagent", "system"):
            assert render_chatml(full).startswith(head)
            short_messages = render_openai(short)[0][:-1]
            assert render_openai(full)[0][: len(short_messages)] == short_messages


async def test_anthropic_alternates_and_starts_with_user() -> None:
    _, context = await make_ledger()
    _, messages, _ = render_anthropic(context)
    roles = [m["role"] for m in messages]
    assert roles[0] == "user"
    assert all(a != b for a, b in itertools.pairwise(roles))
    for i, m in enumerate(messages):
        if m["role"] == "assistant" and any(b["type"] == "tool_use" for b in m["content"]):
            ids = [b["id"] for b in m["content"] if b["type"] == "tool_use"]
            answered = [b["tool_use_id"] for b in messages[i + 1]["content"] if b["type"] == "tool_result"]
            assert answered == ids


async def test_cache_breakpoint_marks_the_end_of_the_shared_prefix() -> None:
    entries, context = await make_ledger()
    _, plain, _ = render_anthropic(context)
    assert "cache_control" not in json.dumps(plain)
    # A fork happens between events, so its point is the end of a turn: never inside the
    # entries one generation wrote together.
    ends = [
        i
        for i in range(1, len(entries) - 1)
        if entries[i + 1].kind not in ("tool_call", "tool_result", "interruption")
    ]
    assert len(ends) >= 8
    for point in ends:
        _, messages, _ = render_anthropic(
            Context(entries=entries, tools=context.tools, now=context.now, cache_point=point)
        )
        marked = [i for i, m in enumerate(messages) for b in m["content"] if "cache_control" in b]
        assert len(marked) == 1, point
        # The mark is on the message holding the fork point's entry: the last message of the
        # prefix rendered alone, before its own status line (merged into it when both are the user's).
        _, prefix, _ = render_anthropic(Context(entries=entries[: point + 1], tools=context.tools, now=0.0))
        holder = len(prefix) - 1 if len(prefix[-1]["content"]) > 1 else len(prefix) - 2
        assert marked[0] == holder, point


@pytest.mark.parametrize(
    ("completion", "text", "calls"),
    [
        ("Hello there.", "Hello there.", []),
        (
            'Checking.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
            "Checking.",
            [("get_weather", {"city": "Paris"})],
        ),
        (
            '<tool_call>{"name": "a", "arguments": {}}</tool_call>\n'
            '<tool_call>{"name": "b", "arguments": {"x": 1}}</tool_call>',
            "",
            [("a", {}), ("b", {"x": 1})],
        ),
        (
            '<tool_call>{"name": "a", "arguments": {city: 1}</tool_call>',
            "",
            [("a", '{"name": "a", "arguments": {city: 1}')],
        ),
        ('Hi <tool_call>{"name": "a", "arguments": {}}', "Hi", [("a", {})]),
        ("<tool_call>garbage", "", [("", "garbage")]),
        ("<tool_call>[1, 2]</tool_call>", "", [("", "[1, 2]")]),
    ],
)
def test_parse_chatml_tool_calls(completion: str, text: str, calls: list[tuple[str, object]]) -> None:
    assert parse_chatml_tool_calls(completion) == (text, calls)
