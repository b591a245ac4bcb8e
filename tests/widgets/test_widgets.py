"""Chat box, notifications, state indicator, agent tree and timeline, driven through their
browser messages and checked through what they send; and their text fallbacks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from ipyagent import Agent, State, current_clock, tool
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.testing import VirtualClock, kinds, wait_for, wait_for_state
from ipyagent.throttle import ClockTimer
from ipyagent.widgets import agent_tree, chat_box, notifications, state_indicator, timeline
from support.simple_tools import failing_tool, lookup_tool

STORY = " ".join(f"word{i}" for i in range(40))


slow_lookup = lookup_tool(10, name="slow_lookup", description="Look something up (slow).")
broken = failing_tool("the service is down")


@asynccontextmanager
async def shown(make: Callable[..., Any], script: list[dict[str, Any]], wire: Any) -> AsyncIterator[Any]:
    """``(clock, agent, widget, sent)``: an agent on ``script`` in virtual time, and the widget
    ``make(agent)`` draws of it, with what the widget sends to the browser in ``sent``."""
    async with VirtualClock() as clock, Agent(ScriptedBackend.from_list(script, clock), clock=clock) as agent:
        widget = make(agent, timer=ClockTimer(clock))
        yield clock, agent, widget, wire(widget)


async def test_sending_in_the_chat_while_the_agent_talks_interrupts_it(wire: Any) -> None:
    script = [{"delay": 4.0, "text": STORY}, {"delay": 0.2, "text": "Sure, the short version."}]
    async with shown(chat_box, script, wire) as (clock, agent, chat, sent):
        await agent.send("Tell me a story")
        await wait_for_state(agent, State.GENERATING)
        await clock.sleep(1.05)  # ten words delivered
        assert chat.live.startswith("word0 word1")
        chat._receive(chat, {"type": "send", "text": "Stop, make it short"}, [])
        await wait_for(agent, lambda: "interruption" in kinds(agent))
        await agent.settled()
        assert kinds(agent) == ["user", "assistant", "interruption", "user", "assistant"]
        cut = agent.ledger[2]
        assert cut.status == "interrupted"
        assert cut.text.startswith("word0 ") and len(cut.text.split()) == 10
        assert agent.ledger[4].source == "chat"
        await clock.sleep(0.1)
        assert [line["role"] for line in chat.lines] == [
            "user",
            "assistant",
            "interruption",
            "user",
            "assistant",
        ]
        assert chat.lines[1]["status"] == "interrupted"
        assert chat.live == ""
        assert "generating" in sent.states("state")
        assert chat.state == "idle"


async def test_chat_send_to_an_idle_agent_is_a_plain_turn_and_empty_text_is_refused(wire: Any) -> None:
    async with shown(chat_box, [{"delay": 0.2, "text": "Hello!"}], wire) as (_, agent, chat, sent):
        chat._receive(chat, {"type": "send", "text": "   "}, [])
        assert [m["text"] for m in sent.custom("error")] == ["type a message first"]
        chat._receive(chat, {"type": "send", "text": "hi"}, [])
        await wait_for(agent, lambda: "user" in kinds(agent))
        await agent.settled()
        assert kinds(agent) == ["user", "assistant"]


async def test_stop_button_interrupts(wire: Any) -> None:
    async with shown(chat_box, [{"delay": 4.0, "text": STORY}], wire) as (clock, agent, chat, _):
        await agent.send("Tell me a story")
        await wait_for_state(agent, State.GENERATING)
        await clock.sleep(0.5)
        chat._receive(chat, {"type": "interrupt"}, [])
        await wait_for_state(agent, State.LISTENING)
        assert agent.ledger[-1].kind == "interruption"
        assert agent.ledger[-1].text == "the user pressed stop"


async def test_notifications_feed_shows_results_and_failures_as_they_arrive() -> None:
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list(
            [
                {
                    "delay": 0.1,
                    "text": "On it.",
                    "tool_calls": [
                        {"name": "slow_lookup", "arguments": {"query": "x"}},
                        {"name": "broken", "arguments": {"query": "y"}},
                    ],
                },
                {"delay": 0.1, "text": "One failed."},
                {"delay": 0.1, "text": "Found x."},
            ],
            clock,
        )
        async with Agent(backend, tools=[slow_lookup, broken], clock=clock) as agent:
            feed = notifications(agent, timer=ClockTimer(clock))
            await agent.send("look up x and y")
            await wait_for(agent, lambda: len(feed._items) == 1)
            await clock.sleep(0.1)
            assert [(n["source"], n["level"], n["name"]) for n in feed.items] == [
                ("tool_error", "error", "broken")
            ]
            assert "the service is down" in feed.items[0]["text"]
            await agent.settled()
            await clock.sleep(0.1)
            assert [(n["source"], n["level"]) for n in feed.items] == [
                ("tool_error", "error"),
                ("tool_result", "ok"),
            ]
            assert feed.items[1]["text"] == "found x"
            text = feed._repr_mimebundle_()[0]["text/plain"]
            assert "[tool_result t1 slow_lookup] found x" in text


async def test_state_indicator_follows_the_dialog_state(wire: Any) -> None:
    script = [{"delay": 1.0, "text": "one two three"}]
    async with shown(state_indicator, script, wire) as (clock, agent, badge, sent):
        await agent.send("count")
        await agent.settled()
        await clock.sleep(0.1)
        assert (
            sent.states("state") == ["generating", "emitting", "idle"] or sent.states("state")[-1] == "idle"
        )
        assert "generating" in sent.states("state")
        assert badge.state == "idle"
        assert badge.status == "running"
        assert badge._repr_mimebundle_()[0]["text/plain"] == "main: idle (running)"


async def test_agent_tree_shows_a_forked_child_and_cancels_it(wire: Any) -> None:
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list(
            [
                {
                    "agent": "researcher",
                    "delay": 0.1,
                    "text": "Looking.",
                    "tool_calls": [{"name": "slow_lookup", "arguments": {"query": "z"}}],
                },
                {"agent": "main", "delay": 0.1, "text": "The researcher was stopped."},
            ],
            clock,
        )
        async with Agent(backend, tools=[slow_lookup], clock=clock) as agent:
            tree = agent_tree(agent, timer=ClockTimer(clock))
            wire(tree)
            kid = agent.fork("research z", name="researcher")
            await wait_for(agent, lambda: any(t.running for t in kid.tasks))
            await clock.sleep(0.1)
            [child] = tree.tree["children"]
            assert (child["path"], child["how"], child["status"], child["running"]) == (
                "main/researcher",
                "fork",
                "running",
                1,
            )
            assert child["task"] == "research z"
            tree._receive(tree, {"type": "cancel", "path": "main/researcher"}, [])
            await wait_for(agent, lambda: kid.status == "cancelled")
            await agent.settled()
            await clock.sleep(0.1)
            [child] = tree.tree["children"]
            assert child["status"] == "cancelled"
            assert child["running"] == 0
            [report] = [e for e in agent.ledger if e.source == "subagent_report"]
            assert "did not finish" in report.text
            text = tree._repr_mimebundle_()[0]["text/plain"]
            assert text.splitlines() == [
                "main  idle",  # one word each: its state while it runs, how it ended otherwise
                "  └ researcher (fork)  cancelled: cancelled from the agent tree",
            ]


async def test_timeline_records_states_and_tool_spans(wire: Any) -> None:
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list(
            [
                {
                    "delay": 1.0,
                    "text": "Looking.",
                    "tool_calls": [{"name": "slow_lookup", "arguments": {"query": "x"}}],
                },
                {"delay": 1.0, "text": "Found it."},
            ],
            clock,
        )
        async with Agent(backend, tools=[slow_lookup], clock=clock) as agent:
            line = timeline(agent, timer=ClockTimer(clock))
            await agent.send("find x")
            await agent.settled()
            await clock.sleep(0.1)
            lanes = {lane["label"]: lane for lane in line.data["lanes"]}
            states = [(s["v"], s["s"], s["e"]) for s in lanes["main"]["spans"]]
            assert [v for v, _, _ in states] == [
                "idle",
                "generating",
                "emitting",
                "idle",
                "generating",
                "emitting",
                "idle",
            ]
            assert states[1][1] == 0 and states[1][2] == 1.0
            [task] = [lane for lane in line.data["lanes"] if lane["kind"] == "task"]
            assert task["label"] == "t1 slow_lookup"
            assert [(s["s"], s["e"], s["v"]) for s in task["spans"]] == [(1.0, 11.0, "done")]
            assert [(m["kind"], m["what"]) for m in line.data["marks"]] == [
                ("user", "user"),
                ("notification", "tool_result"),
            ]
            text = line._repr_mimebundle_()[0]["text/plain"]
            assert "t1 slow_lookup" in text and "done 1.00–11.00" in text


async def test_chat_to_a_closed_agent_says_so_in_one_line(wire: Any) -> None:
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list([{"delay": 0.1, "text": "Hi."}], clock)
        async with Agent(backend, clock=clock) as agent:
            chat = chat_box(agent, timer=ClockTimer(clock))
            sent = wire(chat)
            await agent.send("hello")
            await agent.settled()
        chat._receive(chat, {"type": "send", "text": "are you there?"}, [])
        await clock.sleep(0.01)
        assert [m["text"] for m in sent.custom("error")] == [
            "agent 'main' was closed; create a new Agent to continue"
        ]
        assert kinds(agent) == ["user", "assistant"]


async def test_timeline_keeps_running_tasks_and_the_latest_finished_ones() -> None:
    from ipyagent.widgets.timeline import MAX_TASKS

    @tool
    async def quick(n: int) -> str:
        "A quick job."
        await current_clock().sleep(1 + n * 0.001)
        return "ok"

    calls = [{"name": "quick", "arguments": {"n": i}} for i in range(MAX_TASKS + 20)]
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list(
            [
                {"delay": 0.1, "text": "Go.", "tool_calls": calls},
                {
                    "delay": 0.1,
                    "text": "Long one.",
                    "tool_calls": [{"name": "slow_lookup", "arguments": {"query": "q"}}],
                },
            ]
            + [{"delay": 0.1, "text": "Noted."}] * (MAX_TASKS + 25),
            clock,
        )
        async with Agent(backend, tools=[quick, slow_lookup], clock=clock) as agent:
            line = timeline(agent, timer=ClockTimer(clock))
            await agent.send("run them all")
            # agent.tasks keeps only the newest ended tasks; the ledger has every result.
            await wait_for(
                agent, lambda: sum(e.source == "tool_result" for e in agent.ledger) == MAX_TASKS + 20
            )
            await agent.send("and a slow one")
            await wait_for(agent, lambda: any(t.name == "slow_lookup" and t.running for t in agent.tasks))
            await clock.sleep(0.1)
            tasks = [lane for lane in line.data["lanes"] if lane["kind"] == "task"]
            assert len(tasks) == MAX_TASKS
            assert tasks[-1]["label"].endswith("slow_lookup") and tasks[-1]["spans"][0]["e"] is None
            assert "t1 quick" not in {lane["label"] for lane in tasks}  # the oldest went first
            agent.cancel()
