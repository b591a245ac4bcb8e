"""A speculative generation (``Agent.speculate``) on the virtual clock: its output is held back,
its tool calls do not start and nothing reaches the ledger until the same turn is confirmed; any
other turn discards it and is answered afresh."""

from __future__ import annotations

from ipyagent import Agent, current_clock
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.testing import VirtualClock, kinds


async def lookup() -> str:
    """Look up the user's flight."""
    await current_clock().sleep(1.0)
    return "AF 1234 at nine"


async def test_a_confirmed_turn_takes_up_the_speculation_and_only_then_starts_its_tools() -> None:
    script = [
        {"delay": 0.5, "text": "Looking it up.", "tool_calls": [{"name": "lookup", "at": 0.3}]},
        {"delay": 0.1, "text": "It leaves at nine."},
    ]
    async with (
        VirtualClock() as clock,
        Agent(ScriptedBackend.from_list(script, clock), clock=clock, tools=[lookup], builtins=False) as agent,
    ):
        assert agent.speculate("find my flight")
        await clock.sleep(2.0)  # the model has finished long ago
        assert kinds(agent) == [] and agent.tasks == []  # nothing said, nothing started
        asked = clock.now()
        await agent.send("find my flight", source="voice")
        await agent.settled()
        task = agent.tasks[0]
        assert task.started == asked  # started on confirmation, not when it was decoded
        assert kinds(agent) == [
            "user",
            "assistant",
            "tool_call",
            "tool_result",
            "notification",
            "assistant",
        ]
        assert agent.ledger[2].text == "Looking it up."
        assert agent.dispatcher.speculations == {"started": 1, "adopted": 1, "discarded": 0}


async def test_another_turn_discards_the_speculation_and_is_answered_afresh() -> None:
    script = [{"delay": 0.2, "text": "An answer to the guess."}, {"delay": 0.2, "text": "The answer."}]
    async with (
        VirtualClock() as clock,
        Agent(ScriptedBackend.from_list(script, clock), clock=clock, builtins=False) as agent,
    ):
        assert agent.speculate("what is the")
        await clock.sleep(0.1)
        await agent.send("what is the time?", source="voice")
        await agent.settled()
        assert [(e.kind, e.text) for e in agent.ledger if e.kind != "system"] == [
            ("user", "what is the time?"),
            ("assistant", "The answer."),
        ]
        assert agent.dispatcher.speculations == {"started": 1, "adopted": 0, "discarded": 1}
        # Dropped on purpose (the user went on): gone too, and the agent stays settled.
        assert agent.speculate("and tomorrow")
        assert agent.drop_speculation()
        assert not agent.drop_speculation()
        await agent.settled()
        assert kinds(agent) == ["user", "assistant"]


async def test_no_speculation_while_the_agent_is_answering() -> None:
    script = [{"delay": 1.0, "text": "A long answer."}]
    async with (
        VirtualClock() as clock,
        Agent(ScriptedBackend.from_list(script, clock), clock=clock, builtins=False) as agent,
    ):
        await agent.send("hello")
        await clock.sleep(0.1)
        assert not agent.speculate("and more")
        await agent.settled()
        assert agent.dispatcher.speculations["started"] == 0
