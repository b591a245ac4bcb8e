"""Fork and spawn: sub-agents in a tree, reporting back to their parent as notifications."""

from __future__ import annotations

import pytest

from ipyagent import Agent, State
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.errors import AgentError
from ipyagent.testing import VirtualClock, wait_for
from support.simple_tools import lookup_tool

research = lookup_tool(20, name="research")  # slow research


async def test_fork_shares_prefix_and_reports_to_parent() -> None:
    async with VirtualClock() as clock:
        script = [
            {"agent": "main", "text": "Hello! How can I help?"},
            {
                "agent": "scout",
                "text": "Researching.",
                "tool_calls": [{"name": "research", "arguments": {"query": "museums"}}],
            },
            {"agent": "scout", "text": "Best museum: the Louvre."},
            {"agent": "main", "text": "My scout says: the Louvre."},
        ]
        backend = ScriptedBackend.from_list(script, clock)
        async with Agent(backend, tools=[research], clock=clock) as agent:
            await agent.send("Hi")
            await agent.settled()
            before = list(agent.ledger)
            child = agent.fork("Find the best museum in Paris", name="scout")

            # Structural sharing: the child's prefix is the parent's very entries.
            assert child.ledger.fork_point == len(before)
            assert all(child.ledger[i] is before[i] for i in range(len(before)))
            assert agent.children == {"scout": child}

            await agent.settled()
            assert child.status == "done"
            own = child.ledger.own
            assert [e.kind for e in own] == [
                "user",
                "assistant",
                "tool_call",
                "tool_result",
                "notification",
                "assistant",
            ]
            assert own[0].text == "Find the best museum in Paris" and own[0].source == "task"
            # The parent's ledger: the link, the child's report, then the parent's answer.
            tail = [(e.kind, e.source or e.status, e.text) for e in agent.ledger[len(before) :]]
            assert tail == [
                ("subagent", "fork", "Find the best museum in Paris"),
                ("notification", "subagent_report", "Best museum: the Louvre."),
                ("assistant", "complete", "My scout says: the Louvre."),
            ]
            # The parent kept working on its own ledger only; the child's entries stay the child's.
            assert not any(e.text == "Researching." for e in agent.ledger)


async def test_spawn_starts_fresh() -> None:
    async with VirtualClock() as clock:
        script = [
            {"agent": "main", "text": "Hello."},
            {"agent": "fresh", "text": "42."},
            {"agent": "main", "text": "The answer is 42."},
        ]
        backend = ScriptedBackend.from_list(script, clock)
        async with Agent(backend, clock=clock) as agent:
            await agent.send("Hi")
            await agent.settled()
            child = agent.spawn("What is six times seven?", name="fresh")
            assert child.ledger.fork_point == 0 and child.ledger.parent is None
            await agent.settled()
            assert [e.kind for e in child.ledger] == ["system", "user", "assistant"]
            assert "sub-agent 'fresh'" in child.ledger[0].text
            assert agent.ledger[-1].text == "The answer is 42."


async def test_model_can_fork_through_the_builtin_tool() -> None:
    async with VirtualClock() as clock:
        script = [
            {
                "agent": "main",
                "text": "I'll send a helper.",
                "tool_calls": [{"name": "fork", "arguments": {"name": "helper", "task": "Count to three"}}],
            },
            {"agent": "helper", "text": "One, two, three."},
            {"agent": "main", "text": "The helper counted: one, two, three."},
        ]
        backend = ScriptedBackend.from_list(script, clock)
        async with Agent(backend, clock=clock) as agent:
            await agent.send("Count to three, with help")
            await agent.settled()
            assert agent.children["helper"].status == "done"
            result = next(e for e in agent.ledger if e.kind == "tool_result")
            assert result.status == "started" and result.task_id == "t1"
            report = next(e for e in agent.ledger if e.kind == "notification")
            assert (report.source, report.name, report.text) == (
                "subagent_report",
                "helper",
                "One, two, three.",
            )
            assert agent.ledger[-1].text == "The helper counted: one, two, three."


async def test_cancelling_parent_cancels_children_and_their_tools() -> None:
    async with VirtualClock() as clock:
        script = [
            {
                "agent": "a",
                "text": "On it.",
                "tool_calls": [{"name": "research", "arguments": {"query": "a"}}],
            },
            {
                "agent": "b",
                "text": "On it.",
                "tool_calls": [{"name": "research", "arguments": {"query": "b"}}],
            },
        ]
        backend = ScriptedBackend.from_list(script, clock)
        async with Agent(backend, tools=[research], clock=clock) as agent:
            a = agent.spawn("task a", name="a")
            b = agent.fork("task b", name="b")
            await wait_for(agent, lambda: all(c.tasks and c.state is State.IDLE for c in (a, b)))
            agent.cancel("stop everything")
            assert agent.status == "cancelled"
            assert a.status == "cancelled" and b.status == "cancelled"
            for child in (a, b):
                last = child.ledger[-1]
                assert (last.kind, last.source) == ("notification", "tool_cancelled")
                assert child.tasks[0].status == "cancelled"
            with pytest.raises(AgentError, match="was cancelled"):
                await agent.send("hello?")
        assert clock.now() < 20  # the research tools never finished


async def test_cancelling_one_child_reports_to_parent() -> None:
    async with VirtualClock() as clock:
        script = [
            {
                "agent": "slowpoke",
                "text": "Working.",
                "tool_calls": [{"name": "research", "arguments": {"query": "x"}}],
            },
            {"agent": "main", "text": "The sub-agent was cancelled."},
        ]
        backend = ScriptedBackend.from_list(script, clock)
        async with Agent(backend, tools=[research], clock=clock) as agent:
            child = agent.spawn("research x", name="slowpoke")
            await wait_for(agent, lambda: bool(child.tasks))
            child.cancel()
            await agent.settled()
            report = agent.ledger[-2]
            assert report.source == "subagent_report"
            assert report.text == "sub-agent 'slowpoke' did not finish: cancelled by the user"
            assert agent.ledger[-1].text == "The sub-agent was cancelled."
            assert agent.tasks[0].status == "failed"


async def test_duplicate_child_name_is_a_clear_error() -> None:
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list([{"text": "x"}, {"text": "y"}, {"text": "z"}], clock)
        async with Agent(backend, clock=clock) as agent:
            agent.spawn("one", name="dup")
            with pytest.raises(AgentError, match="already exists"):
                agent.spawn("two", name="dup")
            with pytest.raises(AgentError, match="must be 1-40"):
                agent.spawn("three", name="bad name!")


async def test_failing_child_reports_the_failure() -> None:
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list([{"agent": "main", "text": "The helper failed."}], clock)
        async with Agent(backend, clock=clock) as agent:
            child = agent.spawn("do something", name="helper")
            await agent.settled()
            assert child.status == "failed"
            report = agent.ledger[-2]
            assert report.source == "subagent_report"
            assert report.text.startswith("sub-agent 'helper' did not finish: the model failed: the script")
            assert "no turn left for agent 'helper'" in report.text
            assert agent.ledger[-1].text == "The helper failed."


async def test_sub_agents_cannot_nest_without_end() -> None:
    async with VirtualClock() as clock:
        fork = {"name": "fork", "arguments": {"name": "deeper", "task": "go deeper"}}
        # Every agent, at every level, tries to fork again.
        script = [{"agent": "main", "text": "Forking.", "tool_calls": [fork]}]
        script += [{"agent": "deeper", "text": "Forking.", "tool_calls": [fork]} for _ in range(4)]
        script += [{"agent": "deeper", "text": "Done here."} for _ in range(4)]
        script += [{"agent": "main", "text": "All done."}]
        backend = ScriptedBackend.from_list(script, clock)
        async with Agent(backend, clock=clock) as agent:
            await agent.send("start")
            await agent.settled()
            depth, node = 0, agent
            while node.children:
                node = node.children["deeper"]
                depth += 1
            assert depth == 4
            rejected = [e for e in node.ledger.own if e.kind == "tool_result" and e.status == "rejected"]
            assert rejected and "nest at most 4 deep" in rejected[0].text
            assert agent.state is State.IDLE
