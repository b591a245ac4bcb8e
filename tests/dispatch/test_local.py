"""The embedded default backend: SmolLM2-135M on llama.cpp, in this process, no key, no network."""

from __future__ import annotations

import time
from typing import Any

import anyio
import jsonschema
import pytest

from ipyagent import Agent, Ledger, State
from ipyagent.agents import DEFAULT_INSTRUCTIONS, ModelStatus, TextDelivered, Update
from ipyagent.clock import RealClock
from ipyagent.dispatch.backends import Chunk, TextChunk, ToolCallChunk, resolve
from ipyagent.dispatch.backends.local import LocalBackend, ledger_message_grammar
from ipyagent.errors import ModelError
from ipyagent.ledger.render.context import Context
from support.travel import book_table, get_weather

# Generation is real and this machine is small: each test gets minutes, not the default minute.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    # One model for the module: loading it is the slow part.
    return LocalBackend(temperature=0)


def context_for(message: str, *tools: object) -> Context:
    ledger = Ledger("main")
    ledger.append("system", DEFAULT_INSTRUCTIONS, time=time.time())
    ledger.append("user", message, time=time.time())
    return Context(entries=list(ledger), tools=[t.spec for t in tools], now=time.time())  # type: ignore[attr-defined]


async def collect(backend: LocalBackend, context: Context) -> list[Chunk]:
    with anyio.fail_after(120):
        return [chunk async for chunk in backend.stream(context, agent="main")]


async def test_answers_a_plain_question_streaming_with_progress(backend: LocalBackend) -> None:
    seen: list[Update] = []
    async with Agent(backend, clock=RealClock(), builtins=False) as agent:
        agent.subscribe(seen.append)
        await agent.send("What is the capital of France?")
        with anyio.fail_after(120):
            await agent.settled()
    answer = next(e for e in agent.ledger if e.kind == "assistant")
    assert answer.status == "complete"
    assert "Paris" in answer.text
    assert answer.usage is not None
    assert answer.usage["input_tokens"] > 50
    assert answer.usage["output_tokens"] > 0
    assert 0 < answer.usage["first_token_seconds"] <= answer.usage["total_seconds"]
    delivered = [u.text for u in seen if isinstance(u, TextDelivered)]
    assert len(delivered) > 1 and "".join(delivered) == answer.text
    status = [u.text for u in seen if isinstance(u, ModelStatus)]
    if status:  # the first test in the module loads the model, and says so
        assert status[0].startswith("loading the local model")
        assert status[-1].startswith("local model loaded in")
    assert agent.state is State.IDLE


async def test_calls_a_tool_and_uses_its_result(backend: LocalBackend) -> None:
    async with Agent(backend, tools=[get_weather], clock=RealClock(), builtins=False) as agent:
        await agent.send("What's the weather in Paris right now?")
        with anyio.fail_after(240):
            await agent.settled()
    call = next(e for e in agent.ledger if e.kind == "tool_call")
    assert call.name == "get_weather"
    assert dict(call.arguments or {}) == {"city": "Paris"}
    result = next(e for e in agent.ledger if e.kind == "notification")
    assert result.source == "tool_result" and "sunny" in result.text
    # The notification triggered a new generation that answered without calling again.
    last = agent.ledger[-1]
    assert last.kind == "assistant" and last.text.strip()
    assert sum(e.kind == "tool_call" for e in agent.ledger) == 1


async def test_tool_arguments_always_match_the_schema(backend: LocalBackend) -> None:
    chunks = await collect(backend, context_for("Book a table for 4 at Chez Marie for dinner.", book_table))
    calls = [c.call for c in chunks if isinstance(c, ToolCallChunk)]
    assert [c.name for c in calls] == ["book_table"]
    assert isinstance(calls[0].arguments, dict)
    schema = dict(book_table.spec.parameters)
    jsonschema.validate(calls[0].arguments, schema)


async def test_plain_style_output_is_a_valid_ledger_message(backend: LocalBackend) -> None:
    plain = await sibling(backend, prompt_style="plain")
    chunks = await collect(plain, context_for("Use get_weather for Oslo.", get_weather, book_table))
    text = "".join(c.text for c in chunks if isinstance(c, TextChunk))
    assert "<" not in text  # no stray control tags ever reach the user
    for call in (c.call for c in chunks if isinstance(c, ToolCallChunk)):
        spec = {"get_weather": get_weather.spec, "book_table": book_table.spec}[call.name]
        jsonschema.validate(call.arguments, dict(spec.parameters))


async def sibling(backend: LocalBackend, **options: Any) -> LocalBackend:
    """Another backend with other options on the same loaded model (and its lock)."""
    async for _ in backend._ensure_loaded():
        pass
    other = LocalBackend(temperature=0, **options)
    other._llm, other._model_lock = backend._llm, backend._model_lock
    return other


def test_grammar_names_only_registered_tools() -> None:
    grammar = ledger_message_grammar([get_weather.spec, book_table.spec])
    assert '\\"get_weather\\"' in grammar and '\\"book_table\\"' in grammar
    assert '"lunch"' in grammar.replace('\\"', '"')
    assert ledger_message_grammar([]).startswith("root ::= text")


async def test_cancelling_mid_generation_stops_promptly(backend: LocalBackend) -> None:
    long = await sibling(backend, max_tokens=2000)
    context = context_for("Write a very long story about a dragon, with many chapters.")
    pieces = 0
    started = time.perf_counter()
    with anyio.move_on_after(120) as scope:
        async for chunk in long.stream(context, agent="main"):
            if isinstance(chunk, TextChunk):
                pieces += 1
                if pieces == 5:
                    scope.cancel()  # as an interruption does: the generation thread must stop too
    assert pieces == 5
    # The model is free again at once: a new generation runs to completion.
    answer = await collect(backend, context_for("Say hello."))
    assert any(isinstance(c, TextChunk) and c.text for c in answer)
    assert time.perf_counter() - started < 60


def test_missing_model_file_is_a_clear_error(tmp_path: object) -> None:
    backend = resolve(f"local:{tmp_path}/nothing.gguf", RealClock())

    async def run() -> None:
        await collect(backend, context_for("hi"))  # type: ignore[arg-type]

    with pytest.raises(ModelError, match=r"no model file at .*nothing\.gguf"):
        anyio.run(run)


def test_unknown_prompt_style_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="unknown prompt style 'fancy'"):
        LocalBackend(prompt_style="fancy")
