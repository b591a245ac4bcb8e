"""The OpenAI and Anthropic backends, through the official SDKs, over real HTTP on 127.0.0.1.

The server (tests/fake_providers.py) speaks each provider's streaming wire format and
answers from a queue of scripted replies, so every fault is repeatable: rate limits, server
errors, a bad key, a connection cut mid-stream, malformed tool-call JSON.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import anyio
import pytest

from ipyagent import Agent, Entry, State
from ipyagent.clock import RealClock
from ipyagent.dispatch.backends import Backend, resolve
from ipyagent.dispatch.backends.anthropic import AnthropicBackend
from ipyagent.dispatch.backends.openai import OpenAIBackend
from ipyagent.errors import ModelError
from ipyagent.testing import kinds
from ipyagent.testing.providers import Calls, Drop, FakeProvider, Status, Text, fake_provider, sdk_backend
from support.simple_tools import weather_tool

KEY = "sk-test-0123456789abcdefSECRET"
PROVIDERS = ["openai", "anthropic"]
ran: list[str] = []
get_weather = weather_tool(ran)


def backend_for(provider: str, server: FakeProvider, **options: object) -> Backend:
    options.setdefault("api_key", KEY)
    return sdk_backend(provider, server.root, **options)


async def converse(backend: Backend, *messages: str, seconds: float = 20) -> Agent:
    """Send the messages one after another, each once the agent has settled; return the agent."""
    agent = Agent(backend, tools=[get_weather], clock=RealClock(), builtins=False)
    async with agent:
        for message in messages:
            await agent.send(message)
            with anyio.fail_after(seconds):
                await agent.settled()
    return agent


def notifications(agent: Agent, source: str) -> list[Entry]:
    return [e for e in agent.ledger if e.kind == "notification" and e.source == source]


def assert_no_secret(agent: Agent) -> None:
    for entry in agent.ledger:
        assert KEY not in entry.to_json()


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_streams_text_and_records_usage(provider: str) -> None:
    async with fake_provider(Text("Hello from the server.", cached_tokens=20)) as server:
        agent = await converse(backend_for(provider, server), "hi")
    answer = next(e for e in agent.ledger if e.kind == "assistant")
    assert answer.text == "Hello from the server."
    assert answer.status == "complete"
    assert answer.usage is not None
    assert answer.usage["input_tokens"] == 50
    assert answer.usage["output_tokens"] == 7
    assert answer.usage["cached_tokens"] == 20  # read from the provider's prompt cache
    assert answer.usage["first_token_seconds"] is not None
    assert answer.usage["first_token_seconds"] <= answer.usage["total_seconds"]
    # The key travelled in the request header, and nowhere into the ledger.
    headers = server.requests[0].headers
    assert KEY in (headers.get("authorization", "") + headers.get("x-api-key", ""))
    assert_no_secret(agent)


async def test_a_classroom_names_the_student_in_each_request(monkeypatch: pytest.MonkeyPatch) -> None:
    # A shared server lets its users take turns by the request's "user" field.
    async with fake_provider(Text("one"), Text("two")) as server:
        monkeypatch.delenv("IPYAGENT_MODEL_USER", raising=False)
        await converse(backend_for("openai", server), "hi")
        monkeypatch.setenv("IPYAGENT_MODEL_USER", "student7")
        await converse(backend_for("openai", server), "hi")
    assert "user" not in server.requests[0].body
    assert server.requests[1].body["user"] == "student7"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_tool_call_runs_in_the_background_and_its_result_comes_back(provider: str) -> None:
    ran.clear()
    replies = [Calls([("get_weather", '{"city": "Paris"}')], text="Let me look."), Text("Sunny in Paris.")]
    async with fake_provider(*replies) as server:
        agent = await converse(backend_for(provider, server), "weather in Paris?")
    assert ran == ["Paris"]
    assert kinds(agent) == ["user", "assistant", "tool_call", "tool_result", "notification", "assistant"]
    call = next(e for e in agent.ledger if e.kind == "tool_call")
    assert (call.name, dict(call.arguments or {})) == ("get_weather", {"city": "Paris"})
    assert agent.ledger[-1].text == "Sunny in Paris."
    # The second request carried the call and its result, in the provider's own format.
    second = json.dumps(server.requests[1].body)
    assert "get_weather" in second
    assert "Paris: sunny, 21 C" in second
    assert agent.state is State.IDLE


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_parallel_tool_calls_in_one_turn(provider: str) -> None:
    ran.clear()
    calls = Calls([("get_weather", '{"city": "Paris"}'), ("get_weather", '{"city": "Oslo"}')])
    async with fake_provider(calls, Text("Both arrived."), Text("Noted.")) as server:
        agent = await converse(backend_for(provider, server), "weather in Paris and Oslo?")
    assert sorted(ran) == ["Oslo", "Paris"]
    started = [e for e in agent.ledger if e.kind == "tool_result"]
    assert [e.status for e in started] == ["started", "started"]
    assert len({e.call_id for e in started}) == 2
    assert len(notifications(agent, "tool_result")) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_rate_limit_is_retried_then_succeeds(provider: str) -> None:
    async with fake_provider(Status(429, "slow down"), Text("Made it.")) as server:
        agent = await converse(backend_for(provider, server), "hi")
    assert len(server.requests) == 2
    assert agent.ledger[-1].text == "Made it."
    assert notifications(agent, "model_error") == []


def _error_case(
    status: int,
) -> tuple[list[Status], Callable[[str, str], None]]:
    def check(text: str, provider: str) -> None:
        assert "\n" not in text
        if status == 401:
            assert "(401)" in text
            assert ("OPENAI_API_KEY" if provider == "openai" else "ANTHROPIC_API_KEY") in text
        else:
            assert f"({status})" in text
            assert "after retries" in text

    return [Status(status, f"failure {status} with key {KEY}")] * 4, check


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(("status", "attempts"), [(500, 3), (401, 1)])
async def test_server_error_and_bad_key_end_in_a_notification(
    provider: str, status: int, attempts: int
) -> None:
    replies, check = _error_case(status)
    async with fake_provider(*replies) as server:
        agent = await converse(backend_for(provider, server, max_retries=2), "hi")
    # 5xx is transient: retried (twice here); a bad key is permanent: asked once.
    assert len(server.requests) == attempts
    [failure] = notifications(agent, "model_error")
    check(failure.text, provider)
    assert agent.state is State.IDLE
    assert_no_secret(agent)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_connection_cut_mid_stream_keeps_what_arrived(provider: str) -> None:
    async with fake_provider(Drop("The first words"), Text("Back again.")) as server:
        agent = await converse(backend_for(provider, server, max_retries=0), "hi", "still there?")
    cut = next(e for e in agent.ledger if e.kind == "assistant")
    assert cut.status == "incomplete"
    assert cut.text.strip()
    assert "The first words".startswith(cut.text.strip())
    [failure] = notifications(agent, "model_error")
    assert "connection" in failure.text or "stream" in failure.text
    # The agent is usable afterwards.
    assert agent.ledger[-1].text == "Back again."
    assert agent.state is State.IDLE


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_malformed_tool_json_is_rejected_to_the_model(provider: str) -> None:
    ran.clear()
    replies = [Calls([("get_weather", '{"city": "Par')]), Text("Sorry, let me try again later.")]
    async with fake_provider(*replies) as server:
        agent = await converse(backend_for(provider, server), "weather?")
    assert ran == []
    rejected = next(e for e in agent.ledger if e.kind == "tool_result")
    assert rejected.status == "rejected"
    assert "JSON" in rejected.text or "json" in rejected.text
    assert notifications(agent, "tool_rejected")
    assert agent.ledger[-1].text == "Sorry, let me try again later."


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_missing_key_says_which_variable(provider: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    backend = resolve("openai:gpt-test" if provider == "openai" else "anthropic:claude-test", RealClock())
    agent = await converse(backend, "hi")
    [failure] = notifications(agent, "model_error")
    assert ("OPENAI_API_KEY" if provider == "openai" else "ANTHROPIC_API_KEY") + " is not set" in failure.text


async def test_a_server_given_by_url_needs_no_openai_key_but_anthropic_asks_for_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A local OpenAI-compatible server (llama.cpp, vLLM, Ollama) usually takes no key."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    async with fake_provider(Text("No key needed.")) as server:
        agent = await converse(backend_for("openai", server, api_key=None), "hi")
        assert agent.ledger[-1].text == "No key needed."
        agent = await converse(backend_for("anthropic", server, api_key=None), "hi")
    [failure] = notifications(agent, "model_error")
    assert "ANTHROPIC_API_KEY is not set" in failure.text
    for make in (OpenAIBackend, AnthropicBackend):
        with pytest.raises(ModelError, match="model needs a name: '"):
            make("")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_key_from_the_environment_never_reaches_the_ledger(
    provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY" if provider == "openai" else "ANTHROPIC_API_KEY", KEY)
    async with fake_provider(Status(400, f"bad request for {KEY}")) as server:
        backend = backend_for(provider, server, api_key=None)
        agent = await converse(backend, "hi")
    [failure] = notifications(agent, "model_error")
    assert "[redacted]" in failure.text
    assert_no_secret(agent)
    assert KEY not in repr(backend)


async def test_timeout_is_a_clear_notification() -> None:
    async def silent(connection: anyio.abc.ByteStream) -> None:
        async with connection:
            await anyio.sleep_forever()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, silent)
        backend = OpenAIBackend(
            "gpt-test", base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, timeout=0.3, max_retries=0
        )
        agent = await converse(backend, "hi")
        tg.cancel_scope.cancel()
    [failure] = notifications(agent, "model_error")
    assert "did not answer within 0.3 s" in failure.text


async def test_forked_child_reads_the_shared_prefix_from_the_anthropic_cache() -> None:
    replies = [Text("Parent answer."), Text("Child answer.", cached_tokens=40), Text("Thanks, child.")]
    async with fake_provider(*replies) as server:
        backend = backend_for("anthropic", server)
        async with Agent(backend, tools=[get_weather], clock=RealClock(), builtins=False) as agent:
            await agent.send("hello")
            with anyio.fail_after(20):
                await agent.settled()
            child = agent.fork("summarise the conversation", name="summary")
            with anyio.fail_after(20):
                await agent.settled()
    # The child's request marks the end of the prefix it shares with its parent for caching.
    child_request = server.requests[1].body
    marked = [
        block
        for message in child_request["messages"]
        for block in (message["content"] if isinstance(message["content"], list) else [])
        if "cache_control" in block
    ]
    assert len(marked) == 1
    assert marked[0]["cache_control"] == {"type": "ephemeral"}
    assert "Parent answer." in json.dumps(child_request["messages"])
    child_answer = next(e for e in child.ledger.own if e.kind == "assistant")
    assert child_answer.usage is not None
    assert child_answer.usage["cached_tokens"] == 40
    assert any(e.source == "subagent_report" and "Child answer." in e.text for e in agent.ledger)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_key_is_in_no_log_even_at_debug_level(
    provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    replies = [Status(429, f"slow down {KEY}"), Status(401, f"bad key {KEY}"), Text("unused")]
    async with fake_provider(*replies) as server:
        agent = await converse(backend_for(provider, server), "hi")
    assert notifications(agent, "model_error")
    assert caplog.records  # the SDK and the dispatcher did log, with tracebacks
    assert KEY not in caplog.text
    for record in caplog.records:
        assert KEY not in record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            assert KEY not in repr(record.exc_info[1])
