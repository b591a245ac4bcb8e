"""The agent's front door: starting, bad input, what the model is shown, resuming from a file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ipyagent import Agent, State, current_clock, tool
from ipyagent.agents import EntryAdded, StateChanged, TextDelivered, Update
from ipyagent.dispatch.backends import Chunk, ScriptedBackend
from ipyagent.errors import AgentError
from ipyagent.ledger.render.context import Context
from ipyagent.testing import VirtualClock, kinds


class Recording:
    """A backend that remembers each context it was given and answers from a script."""

    def __init__(self, inner: ScriptedBackend) -> None:
        self.inner = inner
        self.name = "recording"
        self.contexts: list[Context] = []

    def stream(self, context: Context, *, agent: str) -> AsyncIterator[Chunk]:
        self.contexts.append(context)
        return self.inner.stream(context, agent=agent)


@tool
async def long_job() -> str:
    "Runs for two minutes."
    await current_clock().sleep(120)
    return "finished"


async def test_model_sees_the_time_and_how_long_tasks_have_run() -> None:
    async with VirtualClock() as clock:
        inner = ScriptedBackend.from_list(
            [
                {"delay": 1, "text": "Started.", "tool_calls": [{"name": "long_job"}]},
                {"delay": 1, "text": "Still running."},
                {"delay": 1, "text": "Done now."},
            ],
            clock,
        )
        backend = Recording(inner)
        async with Agent(backend, tools=[long_job], clock=clock) as agent:
            await agent.send("start the job")
            await clock.sleep(45)
            await agent.send("how is it going?")
            await agent.settled()
        first, second, third = backend.contexts
        assert first.pending == [] and first.now == clock.epoch
        assert [(p.task_id, p.name, p.elapsed) for p in second.pending] == [("t1", "long_job", 44.0)]
        assert second.now == clock.epoch + 45
        assert third.pending == []
        assert {t.name for t in first.tools} >= {"long_job", "sleep", "set_timer", "fork", "spawn"}
        assert [e.kind for e in second.entries][-1] == "user"


async def test_send_starts_the_agent_in_the_background() -> None:
    async with VirtualClock() as clock:
        agent = Agent(ScriptedBackend.from_list([{"delay": 1, "text": "Hi there."}], clock), clock=clock)
        assert agent.status == "new"
        await agent.send("hello")
        await agent.settled()
        assert agent.status == "running"
        assert agent.ledger[-1].text == "Hi there."
        await agent.aclose()
        assert agent.status == "closed"
        with pytest.raises(AgentError, match="was closed"):
            await agent.send("again")


@pytest.mark.parametrize("bad", ["", "   ", 42, None])
async def test_send_rejects_empty_or_non_text(bad: object) -> None:
    async with VirtualClock() as clock, Agent(ScriptedBackend.from_list([], clock), clock=clock) as agent:
        with pytest.raises(AgentError, match="non-empty message string"):
            await agent.send(bad)  # type: ignore[arg-type]
        assert kinds(agent) == []


async def test_subscribers_see_entries_states_and_delivered_text() -> None:
    seen: list[str] = []

    def on_update(update: Update) -> None:
        match update:
            case EntryAdded(entry=entry):
                seen.append(f"entry {entry.kind}")
            case StateChanged(new=new):
                seen.append(f"state {new}")
            case TextDelivered(text=text):
                seen.append(f"text {text!r}")

    def broken(_: Update) -> None:
        raise RuntimeError("a broken widget")

    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list([{"delay": 1, "text": "Hello you"}], clock)
        async with Agent(backend, clock=clock) as agent:
            agent.subscribe(broken)
            unsubscribe = agent.subscribe(on_update)
            await agent.send("hi")
            await agent.settled()
            unsubscribe()
            await agent.send("more")  # no turn left: a model-failure notification, not seen
            await agent.settled()
    assert seen == [
        "entry user",
        "state generating",
        "text 'Hello '",
        "state emitting",  # the model is done; delivery of its last word follows
        "text 'you'",
        "entry assistant",
        "state idle",
    ]
    assert agent.ledger[-1].source == "model_error"  # the broken subscriber stopped nothing


async def test_resume_from_a_ledger_file(tmp_path: Path) -> None:
    path = tmp_path / "session.sqlite"
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list([{"text": "First."}, {"text": "Second, and I remember."}], clock)
        async with Agent(backend, clock=clock, ledger=path) as agent:
            await agent.send("one")
            await agent.settled()
        before = [(e.kind, e.text) for e in agent.ledger]

        async with Agent(backend, clock=clock, ledger=path) as resumed:
            assert [(e.kind, e.text) for e in resumed.ledger] == before  # no second system message
            await resumed.send("two")
            await resumed.settled()
            assert resumed.state is State.IDLE
        assert [e.text for e in resumed.ledger][-2:] == ["two", "Second, and I remember."]
