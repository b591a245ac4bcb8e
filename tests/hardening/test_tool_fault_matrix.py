"""Tool faults on the virtual clock: a tool raising, hanging past its timeout, returning 50 MB or
something that is not JSON, and one cancelled after the user interrupts. For each: the
notification the model and the user see, the agent back to idle and answering, memory bounded."""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from ipyagent import Agent, Entry, State, current_clock, tool
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.dispatch.tasks import KEEP_ENDED_TASKS, MAX_RESULT_CHARS
from ipyagent.testing import VirtualClock
from support.failing_tools import explode, hang
from support.faultlog import FaultRecorder
from support.memory import measure

BIG = 50 * 1024 * 1024


class Unshowable:
    def __repr__(self) -> str:
        raise RuntimeError("repr is broken too")


@tool
def firehose() -> str:
    "Returns 50 MB of text."
    return "log line\n" * (BIG // 9)


@tool
def raw_bytes() -> bytes:
    "Returns 50 MB of bytes."
    return b"\x00\x01" * (BIG // 2)


@tool
def odd_value() -> Any:
    "Returns things JSON cannot hold."
    return {"when": {1, 2}, "what": threading.Lock()}


@tool
def unshowable() -> Any:
    "Returns an object that cannot even be printed."
    return Unshowable()


@tool
async def long_search(query: str) -> str:
    "A search that takes ten minutes."
    await current_clock().sleep(600)
    return f"results for {query}"


def call(name: str, **arguments: object) -> dict[str, object]:
    return {"name": name, "arguments": arguments}


def notes(agent: Agent, source: str | None = None) -> list[Entry]:
    return [e for e in agent.ledger if e.kind == "notification" and source in (None, e.source)]


@asynccontextmanager
async def agent_with(script: list[dict[str, Any]], tools: list[Any]) -> AsyncIterator[Agent]:
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list([*script, {"text": "Still here."}], clock)
        async with Agent(backend, tools=tools, clock=clock, builtins=True) as agent:
            yield agent


async def survives(agent: Agent) -> None:
    assert agent.state is State.IDLE
    assert not agent.runner.running()
    await agent.send("are you still there?")
    await agent.settled()
    assert (agent.ledger[-1].kind, agent.ledger[-1].text) == ("assistant", "Still here.")


async def run_one(tool_fn: Any, source: str) -> tuple[Agent, Entry]:
    """One call of the tool, the model's reply to its notification, then a follow-up request."""
    name = tool_fn.name
    script = [{"text": "On it.", "tool_calls": [call(name)]}, {"text": "I saw the result."}]
    async with agent_with(script, [tool_fn]) as agent:
        await agent.send("go")
        await agent.settled()
        [note] = notes(agent, source)
        assert agent.ledger[-1].text == "I saw the result."
        await survives(agent)
        return agent, note


async def test_tool_raising(faults: FaultRecorder) -> None:
    with faults("tool raises ValueError", "tool_error: ValueError: no such city") as row:
        script = [
            {"text": "Checking.", "tool_calls": [call("explode", city="Atlantis")]},
            {"text": "Failed."},
        ]
        async with agent_with(script, [explode]) as agent:
            await agent.send("go")
            await agent.settled()
            [note] = notes(agent, "tool_error")
            row.seen = note.text
            assert note.text == "ValueError: no such city: Atlantis"
            assert agent.tasks[0].status == "failed"
            await survives(agent)


async def test_tool_hanging_past_its_timeout(faults: FaultRecorder) -> None:
    with faults("tool hangs past its 5 s timeout", "tool_timeout: timed out after 5 s") as row:
        agent, note = await run_one(hang, "tool_timeout")
        row.seen = note.text
        assert note.text == "timed out after 5 s and was stopped"
        assert agent.tasks[0].elapsed(0) == 5.0  # virtual seconds: stopped exactly at the limit


@pytest.mark.parametrize(("fn", "total"), [(firehose, "characters"), (raw_bytes, "bytes")])
async def test_huge_output_is_cut_with_a_marker(fn: Any, total: str, faults: FaultRecorder) -> None:
    with faults(f"tool returns 50 MB ({total})", "tool_result: first 16,000 chars + cut marker") as row:
        tracemalloc.start()
        try:
            agent, note = await run_one(fn, "tool_result")
            held = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        row.seen = note.text[-90:].replace("\n", " ")
        shown, marker = note.text.rsplit("\n", 1)
        assert len(shown) == MAX_RESULT_CHARS
        size = f"{BIG:,}" if total == "bytes" else f"{9 * (BIG // 9):,}"
        assert marker == f"[... output cut: only the first 16,000 characters of {size} {total} are shown]"
        # The model was given the same bounded text: nothing of the 50 MB stays behind.
        assert agent.tasks[0].result == note.text
        assert held < 5 * 1024 * 1024


async def test_result_that_is_not_json(faults: FaultRecorder) -> None:
    with faults(
        "tool returns a set and a lock (not JSON)", "tool_result: JSON with repr() for the rest"
    ) as row:
        _, note = await run_one(odd_value, "tool_result")
        row.seen = note.text
        assert note.text.startswith('{"when": "{1, 2}", "what": "<unlocked _thread.lock object')
    with faults("tool returns an object whose repr() raises", "tool_result: says it cannot be shown") as row:
        _, note = await run_one(unshowable, "tool_result")
        row.seen = note.text
        assert note.text == "(a Unshowable that cannot be shown: RuntimeError: repr is broken too)"


async def test_tool_cancelled_after_an_interruption(faults: FaultRecorder) -> None:
    with faults("tool cancelled after the user interrupts", "tool_cancelled: cancelled (...)") as row:
        script = [
            {"text": "Searching.", "tool_calls": [call("long_search", query="flights")]},
            {"text": "Once upon a time " * 20, "delay": 10},
            {"text": "Stopping the search.", "tool_calls": [call("cancel_task", task_id="t1")]},
            {"text": "It is stopped."},
        ]
        async with VirtualClock() as clock:
            backend = ScriptedBackend.from_list([*script, {"text": "Still here."}], clock)
            async with Agent(backend, tools=[long_search], clock=clock) as agent:
                await agent.send("find flights")
                while agent.state is not State.IDLE or not agent.runner.running():
                    await clock.sleep(0.1)
                await agent.send("meanwhile, tell me a story")
                await clock.sleep(3)
                assert agent.state in (State.GENERATING, State.EMITTING)
                await agent.send("stop the search", interrupt=True)
                await agent.settled()
                [cut] = [e for e in agent.ledger if e.kind == "interruption"]
                assert cut.text == "the user sent a new message"
                [cancelled] = notes(agent, "tool_cancelled")
                row.seen = cancelled.text
                assert cancelled.text == "cancelled (cancelled by the agent)"
                assert agent.tasks[0].status == "cancelled"
                assert clock.now() < 600  # it did not run to the end
                assert agent.ledger[-1].text == "It is stopped."
                await survives(agent)


async def test_memory_bounded_under_repeated_tool_faults(faults: FaultRecorder) -> None:
    n, warmup = 100, 20
    total = warmup + 2 + n
    with faults("tool raising, then hanging, again and again", "tool_error / tool_timeout", 2 * total) as row:
        turns: list[dict[str, Any]] = []
        for _ in range(total):
            turns += [
                {"text": "Trying.", "tool_calls": [call("explode", city="X")]},
                {"text": "It failed."},
                {"text": "Trying another.", "tool_calls": [call("hang")]},
                {"text": "It hung."},
            ]
        async with VirtualClock() as clock:
            backend = ScriptedBackend.from_list([*turns, {"text": "Still here."}], clock)
            async with Agent(backend, tools=[explode, hang], clock=clock, builtins=False) as agent:

                async def inject() -> None:
                    for _ in range(2):
                        await agent.send("try again")
                        await agent.settled()

                growth = await measure(inject, lambda: list(agent.ledger), n, per_call=2, warmup=warmup)
                print(f"\ntools: {growth}")
                row.seen = f"{notes(agent)[-1].text}  [{growth}]"
                assert len(notes(agent, "tool_error")) == len(notes(agent, "tool_timeout")) == total
                assert growth.beyond_ledger_per_fault < 512, growth
                assert len(agent.tasks) == KEEP_ENDED_TASKS  # the newest; the ledger has them all
                await survives(agent)
