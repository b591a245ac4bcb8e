"""The OpenAI backend, through the official SDK, against a real OpenAI-compatible server:
llama.cpp's server running the local SmolLM2 model on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anyio
import jsonschema
import pytest

from ipyagent import Agent, Ledger, State
from ipyagent.agents import TextDelivered, Update
from ipyagent.clock import RealClock
from ipyagent.dispatch.backends import TextChunk, ToolCallChunk, resolve
from ipyagent.dispatch.backends.openai import OpenAIBackend
from ipyagent.ledger.render.context import Context
from support.model_server import llama_server
from support.travel import get_weather

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with llama_server() as url:
        yield url


async def test_streams_an_answer_through_the_sdk(base_url: str) -> None:
    backend = resolve(f"openai:smollm2@{base_url}", RealClock())
    assert isinstance(backend, OpenAIBackend)
    backend.temperature = 0
    pieces: list[str] = []

    def on_update(update: Update) -> None:
        if isinstance(update, TextDelivered):
            pieces.append(update.text)

    async with Agent(backend, clock=RealClock(), builtins=False) as agent:
        agent.subscribe(on_update)
        await agent.send("What is the capital of France? Answer in one sentence.")
        with anyio.fail_after(120):
            await agent.settled()
    answer = next(e for e in agent.ledger if e.kind == "assistant")
    assert answer.status == "complete"
    assert answer.text.strip()  # what a 135M model says is its own business; that it arrives is ours
    assert len(pieces) > 1  # streamed, not delivered in one piece
    assert "".join(pieces) == answer.text
    assert answer.usage is not None and answer.usage["first_token_seconds"] > 0
    assert agent.state is State.IDLE


async def test_makes_a_schema_valid_tool_call(base_url: str) -> None:
    backend = OpenAIBackend("smollm2", base_url=base_url, temperature=0, tool_choice="get_weather")
    ledger = Ledger("main")
    ledger.append("system", "You are a helpful assistant.", time=time.time())
    ledger.append("user", "What's the weather in Paris?", time=time.time())
    context = Context(entries=list(ledger), tools=[get_weather.spec], now=time.time())
    calls = []
    with anyio.fail_after(120):
        async for chunk in backend.stream(context, agent="main"):
            assert not isinstance(chunk, TextChunk) or not chunk.text.strip().startswith("{")
            if isinstance(chunk, ToolCallChunk):
                calls.append(chunk.call)
    await backend.aclose()
    [call] = calls
    assert call.name == "get_weather"
    assert isinstance(call.arguments, dict)
    jsonschema.validate(call.arguments, dict(get_weather.spec.parameters))
    assert call.call_id
