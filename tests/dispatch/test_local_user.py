"""What a user meets with the embedded default, on the real local model: arguments come from the
request (never the clock), the answer after a tool result is about that result, a fork reads a
result it shares instead of running the tool again, two things asked at once are two calls, and the
ledger says what the backend decided."""

from __future__ import annotations

import re
import time
from typing import Any

import anyio
import pytest

from ipyagent import Ledger, tool
from ipyagent.agents import DEFAULT_INSTRUCTIONS
from ipyagent.dispatch.backends import Chunk, TextChunk, ToolCallChunk, UsageChunk
from ipyagent.dispatch.backends.local import LocalBackend
from ipyagent.eval import parse_suite, run_scenario
from ipyagent.eval.runner import HeldBackend
from ipyagent.kernel.views import entry_lines
from ipyagent.ledger.render.context import Context, ToolSpec
from support.local_model import needs_local_model

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    needs_local_model,
]
STATUS_WORDS = re.compile(r"UTC|Tasks:|Now:|\d\d:\d\d:\d\d|2026-")

SUITE = {
    "tools": {
        "slow_lookup": {
            "description": "Look something up in a slow archive.",
            "parameters": {"query": "string"},
            "latency": 10,
            "result": "{query}: 42 records",
        },
        "word_count": {
            "description": "Count the words in a text.",
            "parameters": {"text": "string"},
            "latency": 1,
            "result": "5",
        },
    },
    "scenario": [
        {
            "id": "lookup",
            "behaviour": "notification",
            "tools": ["slow_lookup"],
            "steps": [
                {"user": "use slow_lookup for x"},
                {"after": "settled", "user": "Please call slow_lookup with query x"},
            ],
            "checks": [{"call": "slow_lookup", "args": {"query": "x"}, "count": 2}],
        },
        {
            "id": "quickstart",
            "behaviour": "notification",
            "tools": ["word_count"],
            "steps": [
                {"user": "What is the capital of France? Answer in one sentence."},
                {"after": "settled", "user": "Use word_count on 'the quick brown fox jumps'."},
            ],
            "checks": [{"call": "word_count"}, {"say": "5", "after": "word_count"}],
        },
    ],
}
SCENARIOS = {s.id: s for s in parse_suite(SUITE, "user.toml").scenarios}


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    return LocalBackend(temperature=0)


async def run(backend: LocalBackend, sid: str) -> Any:
    with anyio.fail_after(300):
        return await run_scenario(SCENARIOS[sid], lambda s, clock: HeldBackend(backend, clock), model="local")


def asked(request: str, now: float) -> Ledger:
    """A ledger where the user has just asked ``request``."""
    ledger = Ledger("main")
    ledger.append("system", DEFAULT_INSTRUCTIONS, time=now)
    ledger.append("user", request, time=now)
    return ledger


async def reply(
    backend: LocalBackend, ledger: Ledger, tools: list[ToolSpec], now: float, agent: str = "main"
) -> list[Chunk]:
    """What the backend streams in answer to ``ledger``."""
    context = Context(entries=list(ledger), tools=tools, now=now)
    with anyio.fail_after(120):
        return [c async for c in backend.stream(context, agent=agent)]


async def test_tool_arguments_come_from_the_request_not_from_the_status_line(backend: LocalBackend) -> None:
    record = await run(backend, "lookup")
    calls = [e for e in record.entries if e.kind == "tool_call"]
    assert [c.name for c in calls] == ["slow_lookup", "slow_lookup"]
    for call in calls:
        query = (call.arguments or {}).get("query", "")
        assert not STATUS_WORDS.search(query), query
        assert "x" in query.lower()
    # The ledger says why the tool was called, and the cell view shows it.
    first = next(e for e in record.entries if e.kind == "assistant")
    assert any(n.startswith("tool slow_lookup chosen by") for n in (first.usage or {}).get("notes", []))
    shown = [line.text for line in entry_lines(None, [first])]  # type: ignore[arg-type]
    assert any(t.startswith("ⓘ tool slow_lookup chosen") for t in shown)


async def test_the_answer_after_a_result_is_about_that_result(backend: LocalBackend) -> None:
    record = await run(backend, "quickstart")
    entries = record.entries
    arrived = next(e.index for e in entries if e.kind == "notification" and e.name == "word_count")
    answers = [e.text for e in entries if e.kind == "assistant" and e.index > arrived]
    assert answers, "nothing was said after the result arrived"
    assert "5" in answers[0]
    assert "Paris" not in answers[0]
    for e in entries:
        if e.kind == "assistant":
            assert not STATUS_WORDS.search(e.text), e.text


async def test_a_fork_reads_the_result_it_shares_instead_of_running_the_tool_again(
    backend: LocalBackend,
) -> None:
    @tool
    async def slow_lookup(query: str) -> str:
        "Look something up in a slow archive."
        return ""

    now = time.time()
    ledger = asked("use slow_lookup for x", now)
    ledger.append("assistant", "Looking it up.", time=now)
    ledger.append("tool_call", "", name="slow_lookup", call_id="call_1", arguments={"query": "x"}, time=now)
    ledger.append(
        "tool_result",
        "started",
        name="slow_lookup",
        call_id="call_1",
        task_id="t1",
        status="started",
        time=now,
    )
    ledger.append(
        "notification", "x: 42 records", source="tool_result", name="slow_lookup", task_id="t1", time=now + 10
    )
    ledger.append("assistant", "The slow lookup result: 42 records for x.", time=now + 10)
    fork = ledger.fork("main/helper")
    fork.append("user", "Summarise what slow_lookup returned.", source="task", time=now + 11)
    chunks = await reply(backend, fork, [slow_lookup.spec], now + 11, agent="helper")
    assert not [c for c in chunks if isinstance(c, ToolCallChunk)]
    text = "".join(c.text for c in chunks if isinstance(c, TextChunk))
    assert "42" in text
    usage = next(c.usage for c in chunks if isinstance(c, UsageChunk))
    assert any("result of slow_lookup already in the ledger" in n for n in usage.notes)


async def test_a_second_result_like_the_first_is_reported_as_it_is(backend: LocalBackend) -> None:
    """The answer's lead ("The word count result: ") is how the first answer began too; what
    follows it is the new result, even when it is the same number."""

    @tool
    async def word_count(text: str) -> int:
        "Count the words in a text."
        return 5

    now = time.time()
    ledger = asked("Use word_count on 'the quick brown fox jumps'.", now)
    for n, words in enumerate(["the quick brown fox jumps", "one two three four five"]):
        if n:
            ledger.append("user", f"Now use word_count on '{words}'.", time=now)
        call = f"call_{n + 1}"
        ledger.append("tool_call", "", name="word_count", call_id=call, arguments={"text": words}, time=now)
        ledger.append(
            "tool_result",
            "started",
            name="word_count",
            call_id=call,
            task_id=f"t{n + 1}",
            status="started",
            time=now,
        )
        ledger.append(
            "notification", "5", source="tool_result", name="word_count", task_id=f"t{n + 1}", time=now
        )
        if not n:
            ledger.append("assistant", "The word count result: 5.", time=now)
    chunks = await reply(backend, ledger, [word_count.spec], now)
    text = "".join(c.text for c in chunks if isinstance(c, TextChunk))
    assert text.startswith("The word count result: 5"), text


async def test_two_things_asked_at_once_are_two_calls(backend: LocalBackend) -> None:
    @tool
    async def get_weather(city: str) -> str:
        "Current weather for a city."
        return ""

    now = time.time()
    chunks = await reply(
        backend, asked("What's the weather in Paris and in Rome?", now), [get_weather.spec], now
    )
    calls = [c.call for c in chunks if isinstance(c, ToolCallChunk)]
    assert [(c.name, c.arguments) for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Rome"}),
    ]


async def test_a_missing_adapter_file_is_a_clear_error(tmp_path: Any) -> None:
    from ipyagent.errors import ModelError

    backend = LocalBackend(adapter_path=tmp_path / "nope.gguf")
    context = Context(entries=[], tools=[], now=time.time())
    with pytest.raises(ModelError, match=r"no adapter file at .*nope\.gguf; give the path of a GGUF LoRA"):
        async for _ in backend.stream(context, agent="main"):
            pass
