"""Interruptions: what the user received is kept, a marker follows, nothing is left running."""

from __future__ import annotations

from ipyagent import Agent, State
from ipyagent.agents import EventHandled, Update
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.dispatch.output import PacedOutput
from ipyagent.events import Interrupt, ToolResult
from ipyagent.testing import VirtualClock, kinds, record_states, wait_for, wait_for_state
from support.simple_tools import lookup_tool

LONG = " ".join(f"word{i}" for i in range(20))  # 20 words


slow_job = lookup_tool(30, name="slow_job")  # a slow background job


async def test_interrupt_while_generating_keeps_partial_text() -> None:
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list([{"delay": 10.0, "text": LONG}], clock)
        async with Agent(backend, clock=clock) as agent:
            states = record_states(agent)
            await agent.send("Tell me a long story")
            await wait_for_state(agent, State.GENERATING)
            await clock.sleep(3.2)  # 20 words over 10 s: 6 words delivered by now
            agent.interrupt()
            await wait_for_state(agent, State.LISTENING)

            assert kinds(agent) == ["user", "assistant", "interruption"]
            said = agent.ledger[-2]
            assert said.status == "interrupted"
            assert said.text == "word0 word1 word2 word3 word4 word5 "
            assert agent.ledger[-1].text == "interrupted by the user"
            # Nothing of the cut-off generation is left running once the loop has turned
            # (virtual time only moves when every runnable task has run).
            await clock.sleep(0.001)
            assert agent.dispatcher.internal == set()
            assert agent.dispatcher.current is None
            assert states == [State.GENERATING, State.LISTENING]

            await agent.settled()  # the listen timer brings it back to idle
            assert agent.state is State.IDLE
            assert clock.now() >= 3.2 + agent.listen_timeout


async def test_interrupt_while_emitting_keeps_what_was_heard_and_tools_run_on() -> None:
    async with VirtualClock() as clock:
        script = [
            {
                "delay": 0.1,
                "text": "one two three four five six seven eight",
                "tool_calls": [{"name": "slow_job", "arguments": {"query": "job 1"}}],
            },
            {"delay": 0.1, "text": "Job one is done."},
        ]
        backend = ScriptedBackend.from_list(script, clock)
        output = PacedOutput(clock, words_per_second=2.0)  # speech-like: 0.5 s a word
        async with Agent(backend, tools=[slow_job], clock=clock, output=output) as agent:
            await agent.send("Count and start the job")
            await wait_for_state(agent, State.EMITTING)
            await clock.sleep(1.6)  # three words played by now
            agent.interrupt("the user started talking", source="speech")
            await wait_for_state(agent, State.LISTENING)

            entries = [e for e in agent.ledger if e.kind != "system"]
            assert [e.kind for e in entries] == [
                "user",
                "assistant",
                "tool_call",
                "tool_result",
                "interruption",
            ]
            assert entries[1].text == "one two three "
            assert entries[1].status == "interrupted"
            assert entries[3].status == "started"
            await clock.sleep(0.001)
            assert agent.dispatcher.internal == set()
            # The tool started by the cut-off answer keeps running and reports back.
            await agent.settled()
            assert agent.ledger[-2].kind == "notification"
            assert agent.ledger[-2].text == "found job 1"
            assert agent.ledger[-1].text == "Job one is done."


async def test_typed_message_interrupts_and_is_answered() -> None:
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list(
            [{"delay": 10.0, "text": LONG}, {"delay": 0.5, "text": "Sure, Rome instead."}], clock
        )
        async with Agent(backend, clock=clock) as agent:
            await agent.send("Plan Paris")
            await wait_for_state(agent, State.GENERATING)
            await clock.sleep(1.1)
            await agent.send("Actually, Rome", interrupt=True)
            await agent.settled()
            assert kinds(agent) == ["user", "assistant", "interruption", "user", "assistant"]
            assert agent.ledger[-1].text == "Sure, Rome instead."
            assert agent.ledger[-2].text == "Actually, Rome"
            # It went straight from listening to answering: no listen timeout waited out.
            assert clock.now() < 1.1 + 1.0


async def test_message_while_generating_is_queued_not_lost() -> None:
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list(
            [{"delay": 2.0, "text": "First answer."}, {"delay": 2.0, "text": "Second answer."}], clock
        )
        async with Agent(backend, clock=clock) as agent:
            await agent.send("first")
            await wait_for_state(agent, State.GENERATING)
            await agent.send("second")
            await agent.settled()
            texts = [(e.kind, e.text) for e in agent.ledger if e.kind != "system"]
            assert texts == [
                ("user", "first"),
                ("assistant", "First answer."),
                ("user", "second"),
                ("assistant", "Second answer."),
            ]


async def test_interruption_is_handled_before_a_thousand_queued_notifications() -> None:
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list(
            [{"delay": 5.0, "text": LONG}, {"delay": 0.1, "text": "ok"}], clock
        )
        async with Agent(backend, clock=clock) as agent:
            handled: list[type] = []

            def on_update(update: Update) -> None:
                if isinstance(update, EventHandled):
                    handled.append(type(update.event))

            await agent.send("go")
            await wait_for_state(agent, State.GENERATING)
            agent.subscribe(on_update)
            # Queue everything without yielding: the runner sees 1,000 notifications, then the interrupt.
            for i in range(1000):
                agent.post(ToolResult(f"result {i}", task_id=f"x{i}", name="bulk"))
            agent.interrupt()
            await wait_for(agent, lambda: len(handled) >= 1001)
            assert handled[0] is Interrupt
            assert set(handled[1:1001]) == {ToolResult}
            await agent.settled()
            notes = [e for e in agent.ledger if e.kind == "notification"]
            assert [e.text for e in notes] == [f"result {i}" for i in range(1000)]  # none lost, in order
            # All 1,000 were absorbed into one generation after the interruption.
            assert agent.ledger[-1].text == "ok"


async def test_interrupt_when_idle_changes_nothing() -> None:
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list([], clock)
        async with Agent(backend, clock=clock) as agent:
            agent.interrupt()
            await agent.settled()
            assert agent.state is State.IDLE
            assert kinds(agent) == []


async def test_speech_onset_while_emitting_is_a_barge_in() -> None:
    from ipyagent.events import UserMessage, UserStartedSpeaking

    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list(
            [{"delay": 0.1, "text": "a b c d e f"}, {"delay": 0.1, "text": "Yes?"}], clock
        )
        async with Agent(backend, clock=clock, output=PacedOutput(clock, 1.0)) as agent:
            await agent.send("talk")
            await wait_for_state(agent, State.EMITTING)
            await clock.sleep(2.5)
            agent.post(UserStartedSpeaking())
            await wait_for_state(agent, State.LISTENING)
            agent.post(UserMessage("wait a moment", "voice"))
            await agent.settled()
            said = [e for e in agent.ledger if e.kind == "assistant"]
            assert said[0].text == "a b " and said[0].status == "interrupted"
            assert said[1].text == "Yes?"
            assert kinds(agent) == ["user", "assistant", "interruption", "user", "assistant"]
