"""The local backend's ``hybrid`` style, over scripted generations (no model): the model decides
between words and a call; the moment it names a tool, that generation is halted and the tool's
arguments are written afresh under a status block without the clock, so a model that would copy
the time into an argument cannot. After each call the model decides again: another call, or the
end of the message."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from ipyagent.dispatch.backends.base import TextChunk, ToolCallChunk, UsageChunk
from ipyagent.dispatch.backends.local import LocalBackend
from ipyagent.ledger import Entry
from ipyagent.ledger.render import Context, ToolSpec
from ipyagent.testing import VirtualClock

NOW = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC
CLOCK_TEXT = "14:13:20"
LOOKUP = ToolSpec(
    "slow_lookup",
    "Look something up in a slow archive.",
    {"type": "object", "properties": {"query": {"type": "string"}}},
)
WEATHER = ToolSpec(
    "weather", "The weather in a city.", {"type": "object", "properties": {"city": {"type": "string"}}}
)


@dataclass
class Generation:
    prompt: str
    gbnf: str
    max_tokens: int
    sent: list[str] = field(default_factory=list)
    halted_after: int | None = None  # pieces handed over before the halt was seen


class ScriptedLocal(LocalBackend):
    """The backend's own steering, over scripted outputs, one list of pieces per generation in
    the order the backend asks for them."""

    def __init__(self, outputs: list[list[str]], clock: VirtualClock) -> None:
        super().__init__(prompt_style="hybrid", clock=clock)
        self.outputs = outputs
        self.generations: list[Generation] = []

    async def _ensure_loaded(self) -> AsyncIterator[Any]:
        return
        yield

    async def _pieces(
        self,
        prompt: str,
        gbnf: str,
        max_tokens: int,
        counts: dict[str, int],
        *args: Any,
        halt: threading.Event | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[str]:
        generation = Generation(prompt, gbnf, max_tokens)
        self.generations.append(generation)
        for piece in self.outputs[len(self.generations) - 1][:max_tokens]:  # a piece is a token
            if halt is not None and halt.is_set():
                generation.halted_after = len(generation.sent)
                return
            await self.clock.sleep(0.05)
            counts["output"] += 1
            generation.sent.append(piece)
            yield piece


def context(*entries: Entry, tools: list[ToolSpec] | None = None) -> Context:
    base = [Entry("system", "You are a helpful assistant.", index=0, time=NOW)]
    numbered = [replace(e, index=n + 1, time=NOW) for n, e in enumerate(entries)]
    return Context(entries=base + numbered, tools=tools if tools is not None else [LOOKUP, WEATHER], now=NOW)


async def run(outputs: list[list[str]], ctx: Context) -> tuple[ScriptedLocal, list[Any]]:
    async with VirtualClock() as clock:
        backend = ScriptedLocal(outputs, clock)
        chunks = [c async for c in backend.stream(ctx, agent="main")]
    return backend, chunks


DECIDED = [
    "Starting",
    " that now.",
    "<tool_call>\n",
    '{"name": "slow_lookup", ',
    '"arguments": ',
    '{"query": "2026-09-21 ',  # what a small model does with the clock in sight
    f'{CLOCK_TEXT} UTC"}}}}\n',
    "</tool_call>",
]
ARGUMENTS = ['{"query"', ': "x"}', "}\n</tool_call>"]
END: list[str] = []  # the model ends the message


async def test_a_named_tool_gets_its_arguments_written_without_the_clock() -> None:
    backend, chunks = await run([DECIDED, ARGUMENTS, END], context(Entry("user", "use slow_lookup for x")))
    calls = [c.call for c in chunks if isinstance(c, ToolCallChunk)]
    assert [(c.name, c.arguments) for c in calls] == [("slow_lookup", {"query": "x"})]
    assert "".join(c.text for c in chunks if isinstance(c, TextChunk)) == "Starting that now."

    decide, fill, again = backend.generations
    # The deciding generation saw the clock, and was halted once the tool was named.
    assert CLOCK_TEXT in decide.prompt
    assert decide.halted_after == 5 and "slow_lookup" in decide.gbnf and "weather" in decide.gbnf
    # The arguments were written after what was said, the call opened, the clock out of sight,
    # to the named tool's schema only.
    assert CLOCK_TEXT not in fill.prompt
    assert fill.prompt.endswith('Starting that now.<tool_call>\n{"name": "slow_lookup", "arguments": ')
    assert "query" in fill.gbnf and "city" not in fill.gbnf
    # Then the model decided, with the clock in sight again, whether another call follows.
    assert CLOCK_TEXT in again.prompt and again.gbnf.startswith('root ::= ("\\n" call)?')
    assert again.prompt.endswith(
        'Starting that now.<tool_call>\n{"name": "slow_lookup", "arguments": {"query": "x"}}\n</tool_call>'
    )
    notes = next(c.usage for c in chunks if isinstance(c, UsageChunk)).notes
    assert any("slow_lookup chosen by the model" in n for n in notes)


async def test_several_calls_in_one_message_each_get_their_own_arguments() -> None:
    paris = ["Checking both.", '<tool_call>\n{"name": "weather", "arguments": ', '{"city": "14:13']
    rome = ["\n<tool_call>\n", '{"name": "weather", ', '"arguments": {"city": "14']
    backend, chunks = await run(
        [paris, ['{"city": "Paris"}}\n</tool_call>'], rome, ['{"city": "Rome"}}\n</tool_call>'], END],
        context(Entry("user", "Weather in Paris and Rome?")),
    )
    calls = [c.call for c in chunks if isinstance(c, ToolCallChunk)]
    assert [(c.name, c.arguments, c.call_id) for c in calls] == [
        ("weather", {"city": "Paris"}, "call_1"),
        ("weather", {"city": "Rome"}, "call_2"),
    ]
    fill_rome = backend.generations[3]
    assert CLOCK_TEXT not in fill_rome.prompt
    assert fill_rome.prompt.endswith(
        'Checking both.<tool_call>\n{"name": "weather", "arguments": {"city": "Paris"}}\n</tool_call>'
        '\n<tool_call>\n{"name": "weather", "arguments": '
    )
    notes = next(c.usage for c in chunks if isinstance(c, UsageChunk)).notes
    assert sum("weather chosen by the model" in n for n in notes) == 1


async def test_a_model_that_keeps_calling_stops_at_the_message_token_limit() -> None:
    named = ["\n<tool_call>\n", '{"name": "weather", "arguments": ', '{"city": "never written"']
    written = ['{"city": "A"}}\n</tool_call>']
    endless = [["<tool_call>\n", *named[1:]], written] + [named, written] * 50
    async with VirtualClock() as clock:
        backend = ScriptedLocal(endless, clock)
        backend.max_tokens = 12
        chunks = [c async for c in backend.stream(context(Entry("user", "Weather everywhere")), agent="main")]
    assert sum(len(g.sent) for g in backend.generations) == 12
    assert all(g.max_tokens > 0 for g in backend.generations)
    assert len([c for c in chunks if isinstance(c, ToolCallChunk)]) == 1  # the same call, once
    assert isinstance(chunks[-1], UsageChunk) and chunks[-1].usage.output_tokens == 12


async def test_words_alone_take_one_generation() -> None:
    backend, chunks = await run(
        [["The capital", " of France is Paris."]], context(Entry("user", "What is the capital of France?"))
    )
    assert len(backend.generations) == 1
    assert not [c for c in chunks if isinstance(c, ToolCallChunk)]
    assert "".join(c.text for c in chunks if isinstance(c, TextChunk)) == "The capital of France is Paris."


async def test_a_result_already_in_the_ledger_is_read_not_fetched_again() -> None:
    ctx = context(
        Entry("user", "use slow_lookup for x"),
        Entry("tool_call", "", name="slow_lookup", call_id="call_1", arguments={"query": "x"}),
        Entry("tool_result", "started", name="slow_lookup", call_id="call_1", task_id="t1", status="started"),
        Entry("notification", "x: 42 records", source="tool_result", name="slow_lookup", task_id="t1"),
        Entry("user", "Summarise what slow_lookup returned."),
    )
    backend, chunks = await run([["It found 42 records for x."]], ctx)
    (decide,) = backend.generations
    assert "slow_lookup" not in decide.gbnf and "weather" in decide.gbnf  # the other tool stays
    usage = next(c.usage for c in chunks if isinstance(c, UsageChunk))
    assert any("result of slow_lookup already in the ledger" in n for n in usage.notes)


def test_hybrid_is_a_known_style() -> None:
    assert LocalBackend(prompt_style="hybrid").prompt_style == "hybrid"


@pytest.mark.parametrize("style", ["choose", "plain"])
async def test_other_styles_never_halt(style: str) -> None:
    async with VirtualClock() as clock:
        backend = ScriptedLocal([DECIDED], clock)  # decided and written in one generation
        backend.prompt_style = style  # type: ignore[assignment]
        if style == "choose":  # the tool is decided first, then only arguments are written
            backend.outputs = [ARGUMENTS]
        chunks = [
            c async for c in backend.stream(context(Entry("user", "use slow_lookup for x")), agent="main")
        ]
    assert len(backend.generations) == 1 and backend.generations[0].halted_after is None
    calls = [c.call for c in chunks if isinstance(c, ToolCallChunk)]
    assert [c.name for c in calls] == ["slow_lookup"]
