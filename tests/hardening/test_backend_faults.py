"""Model backend faults, through real HTTP on 127.0.0.1 and the official OpenAI and Anthropic SDKs,
plus the scripted backend raising and the local backend failing to load its model.

For each fault: the user gets one clear notification line (never a traceback), the agent is back
to idle, and the next request is answered. Repeated injection keeps memory bounded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest

from ipyagent import Agent, Entry, State
from ipyagent.clock import RealClock
from ipyagent.dispatch.backends import Backend, ScriptedBackend, TextChunk
from ipyagent.ledger.render.context import Context
from ipyagent.testing import VirtualClock
from ipyagent.testing.providers import (
    Calls,
    Cut,
    Drop,
    Empty,
    Garbage,
    Reply,
    Stall,
    Status,
    Text,
    anthropic_events,
    fake_provider,
    openai_events,
    sdk_backend,
)
from support.faultlog import FaultRecorder
from support.memory import measure
from support.simple_tools import weather_tool

KEY = "sk-fault-0123456789abcdefSECRET"
PROVIDERS = ["openai", "anthropic"]
BACK = "Back again."
TIMEOUT = 0.4  # real seconds the SDK waits on a silent server (the only real wait here)
ran: list[str] = []
get_weather = weather_tool(ran, "sunny")


def backend_for(provider: str, root: str, **options: object) -> Backend:
    options.setdefault("api_key", KEY)
    options.setdefault("timeout", 30.0)  # only the stall cases wait for TIMEOUT; a busy machine must not
    options.setdefault("max_retries", 0)
    return sdk_backend(provider, root, **options)


def first_arguments_event(provider: str, reply: Calls) -> int:
    """Index of the stream event that carries the first half of the first call's arguments."""
    events = openai_events(reply) if provider == "openai" else anthropic_events(reply)
    marker = '"partial_json"' if provider == "anthropic" else '"arguments": "{'
    return next(i for i, (_, data) in enumerate(events) if marker in data)


CALL = Calls([("get_weather", '{"city": "Paris"}')], text="Let me look.")


@dataclass
class Case:
    fault: str
    replies: list[Reply]
    expected: str  # what the one notification line says (a substring)
    source: str | None = "model_error"  # its kind; None: no notification, the answer arrives
    options: dict[str, object] = field(default_factory=dict)
    kept: str | None = None  # text that reached the user before the fault, kept as "incomplete"


def cases(provider: str) -> list[Case]:
    cut_call = first_arguments_event(provider, CALL) + 1
    malformed_ok = provider == "anthropic"  # its SDK skips events of a shape it does not know
    return [
        Case(
            "read timeout: silent before headers",
            [Stall(Text("x"), -1)],
            "did not answer within 0.4 s",
            options={"timeout": TIMEOUT},
        ),
        Case(
            "read timeout: stream stalls mid-answer",
            [Stall(Text("The first words of a long answer"), 3)],
            "did not answer within 0.4 s",
            options={"timeout": TIMEOUT},
            kept="The",
        ),
        Case(
            "429 then success",
            [Status(429, "slow down"), Text("Made it.")],
            "Made it.",
            None,
            {"max_retries": 2},
        ),
        Case(
            "429 forever", [Status(429, "slow down")] * 3, "rate limiting (429)", options={"max_retries": 2}
        ),
        *(
            Case(
                f"{code} {what}",
                [Status(code, body)] * 2,
                f"server error ({code}) after retries",
                options={"max_retries": 1},
            )
            for code, what, body in (
                (500, "server error", "boom"),
                (502, "bad gateway", "bad gateway"),
                (503, "unavailable", "overloaded"),
            )
        ),
        Case(
            "stream dropped mid-answer",
            [Drop("The first words")],
            "cut off before the end of the answer",
            kept="The",
        ),
        Case(
            "stream dropped mid-tool-call",
            [Cut(CALL, cut_call)],
            "cut off before the end of the answer",
            kept="Let me look.",
        ),
        Case(
            "garbage SSE: data that is not JSON",
            [Garbage(["event: content_block_delta", "data: {not json", ""], Text("hello there"))],
            "sent a malformed stream (JSONDecodeError",
        ),
        Case(
            "garbage SSE: JSON of the wrong shape",
            [Garbage(['data: {"choices": 5, "type": 7}', ""], Text("hello there"))],
            "hello there" if malformed_ok else "sent a malformed stream (TypeError",
            None if malformed_ok else "model_error",
        ),
        Case(
            "garbage SSE: non-SSE noise lines",
            [Garbage(["hello noise", ": a comment", "retry: soon", ""], Text("hello there"))],
            "hello there",
            None,
        ),
        Case(
            "malformed tool-call JSON",
            [Calls([("get_weather", '{"city": "Par')]), Text("I could not read my own call.")],
            "arguments are not a JSON object",
            "tool_rejected",
        ),
        Case("empty stream", [Empty()], "cut off before the end of the answer"),
    ]


CASE_IDS = [c.fault for c in cases("openai")]


def notes(agent: Agent) -> list[Entry]:
    return [e for e in agent.ledger if e.kind == "notification"]


async def settle(agent: Agent, seconds: float = 20) -> None:
    with anyio.fail_after(seconds):
        await agent.settled()


async def answers_next(agent: Agent, expected: str = BACK) -> None:
    """The agent survived: idle, and the next request gets a complete answer."""
    assert agent.state is State.IDLE
    await agent.send("are you still there?")
    await settle(agent)
    last = agent.ledger[-1]
    assert (last.kind, last.status, last.text) == ("assistant", "complete", expected)
    assert agent.state is State.IDLE


@pytest.mark.parametrize("index", range(len(CASE_IDS)), ids=CASE_IDS)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_backend_fault(provider: str, index: int, faults: FaultRecorder) -> None:
    case = cases(provider)[index]
    ran.clear()
    shown = f"{case.source}: {case.expected}" if case.source else f"none; answer {case.expected!r}"
    with faults(f"{provider}: {case.fault}", shown) as row:
        async with fake_provider(*case.replies, Text(BACK)) as server:
            backend = backend_for(provider, server.root, **case.options)
            async with Agent(backend, tools=[get_weather], clock=RealClock(), builtins=False) as agent:
                await agent.send("hi")
                await settle(agent)
                if case.source is None:
                    assert notes(agent) == []
                    assert agent.ledger[-1].text == case.expected
                else:
                    [note] = [e for e in notes(agent) if e.source == case.source]
                    row.seen = note.text
                    assert case.expected in note.text
                    assert "\n" not in note.text and "Traceback" not in note.text
                    assert KEY not in note.text
                if case.kept is not None:  # what the user already saw stays, marked incomplete
                    said = next(e for e in agent.ledger if e.kind == "assistant")
                    assert said.status == "incomplete"
                    assert said.text.startswith(case.kept)
                assert ran == []
                await answers_next(agent)
        if case.source is None:
            row.seen = f"(no notification; answered {agent.ledger[-3].text!r})"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_connection_refused(provider: str, faults: FaultRecorder) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()  # the port is free again: nothing listens there
    with faults(f"{provider}: connection refused", "model_error: lost the connection") as row:
        backend = backend_for(provider, f"http://127.0.0.1:{port}")
        async with Agent(backend, clock=RealClock(), builtins=False) as agent:
            await agent.send("hi")
            await settle(agent)
            [note] = notes(agent)
            row.seen = note.text
            assert note.text.startswith(f"the model failed: lost the connection to http://127.0.0.1:{port}")
            assert agent.state is State.IDLE
            # The server comes up on another address; the user points the agent there and goes on.
            async with fake_provider(Text(BACK)) as server:
                agent.set_backend(backend_for(provider, server.root))
                await answers_next(agent)


class Raising:
    """A backend whose stream raises a plain bug (not a ModelError) after a few words."""

    name = "raising"

    def __init__(self) -> None:
        self.calls = 0

    async def stream(self, context: Context, *, agent: str) -> AsyncIterator[TextChunk]:
        self.calls += 1
        if self.calls % 2:
            yield TextChunk("Half a ")
            raise KeyError("choices")
        yield TextChunk(BACK)


async def test_scripted_and_custom_backends_raising(faults: FaultRecorder) -> None:
    with faults("scripted backend: script ran out", "model_error: no turn left") as row:
        async with VirtualClock() as clock:
            backend = ScriptedBackend.from_list([], clock)
            async with Agent(backend, clock=clock, builtins=False) as agent:
                await agent.send("hi")
                await agent.settled()
                [note] = notes(agent)
                row.seen = note.text
                assert note.text.startswith("the model failed: the script <list> has no turn left")
                assert agent.state is State.IDLE
                backend._turns.append(ScriptedBackend.from_list([{"text": BACK}], clock)._turns[0])
                backend._used.append(False)
                await answers_next(agent)
    with faults("backend raising a bug mid-answer", "model_error: KeyError") as row:
        async with VirtualClock() as clock, Agent(Raising(), clock=clock, builtins=False) as agent:
            await agent.send("hi")
            await agent.settled()
            [note] = notes(agent)
            row.seen = note.text
            assert note.text == "the model failed: KeyError: 'choices'"
            # Only what reached the user is kept (here, maybe nothing), and it is marked incomplete.
            said = [e for e in agent.ledger if e.kind == "assistant"]
            assert all(e.status == "incomplete" and "Half a ".startswith(e.text) for e in said)
            await answers_next(agent)


@pytest.mark.parametrize(
    ("what", "content"), [("missing", None), ("corrupt", b"GGUF" + b"\x00garbage" * 64), ("empty", b"")]
)
async def test_local_model_that_cannot_load(
    what: str, content: bytes | None, tmp_path: Path, faults: FaultRecorder
) -> None:
    pytest.importorskip("llama_cpp")
    path = tmp_path / "model.gguf"
    if content is not None:
        path.write_bytes(content)
    expected = "no model file at" if content is None else "cannot load the local model"
    with faults(f"local backend: {what} model file", f"model_error: {expected}") as row:
        async with Agent(f"local:{path}", clock=RealClock(), builtins=False) as agent:
            await agent.send("hi")
            await settle(agent, 60)
            [note] = notes(agent)
            row.seen = note.text
            assert expected in note.text and str(path) in note.text
            assert "\n" not in note.text and "Traceback" not in note.text
            assert agent.state is State.IDLE
            # Still usable: the user switches to a working model and asks again.
            async with VirtualClock() as clock:
                agent.set_backend(ScriptedBackend.from_list([{"text": BACK}], clock))
                await answers_next(agent)


MEMORY_FAULTS = {"openai": Status(503, "overloaded"), "anthropic": Drop("Some words and")}


@pytest.mark.slow
@pytest.mark.timeout(600)  # ~40 s on two free cores; a safety net for a busy machine
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_memory_stays_bounded_under_repeated_backend_faults(
    provider: str, faults: FaultRecorder
) -> None:
    warmup, n = 10, 90
    fault = MEMORY_FAULTS[provider]
    what = "503 server error" if isinstance(fault, Status) else "stream dropped mid-answer"
    expected = "server error (503)" if isinstance(fault, Status) else "cut off before the end"
    with faults(f"{provider}: {what}, again and again", f"model_error: {expected}", warmup + 2 + n) as row:
        async with fake_provider(*[fault] * (warmup + 2 + n), Text(BACK)) as server:
            server.record = False  # the fake server's own record is not the agent's memory
            backend = backend_for(provider, server.root)
            async with Agent(backend, clock=RealClock(), builtins=False) as agent:

                async def inject() -> None:
                    await agent.send("hi")
                    await settle(agent)

                growth = await measure(inject, lambda: list(agent.ledger), n, warmup=warmup)
                row.seen = f"{notes(agent)[-1].text}  [{growth}]"
                print(f"\n{provider}: {growth}")
                failures = [e for e in notes(agent) if e.source == "model_error"]
                assert len(failures) == warmup + 2 + n
                assert all(expected in e.text for e in failures)
                # Memory grows with the ledger (which keeps every message by design), not beyond it.
                assert growth.beyond_ledger_per_fault < 1024, growth
                await answers_next(agent)
