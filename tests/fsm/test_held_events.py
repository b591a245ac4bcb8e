"""Turn-taking: what arrives while the user speaks is held, then released, never lost or said over
them. Each test checks the ledger and the state explicitly, so a lost event fails an assertion
instead of hanging into the test timeout."""

from __future__ import annotations

import anyio

from ipyagent import Agent, State
from ipyagent import events as ev
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.fsm import Effect, step
from ipyagent.testing import VirtualClock, kinds, wait_for_state


def test_a_notification_while_the_user_speaks_is_held_not_answered() -> None:
    t = step(State.LISTENING, ev.ToolResult("job 1 done", task_id="t1", name="job"))
    assert t.next is State.LISTENING
    assert t.effects == (Effect.DEFER,)


def test_the_end_of_the_users_turn_releases_what_was_held() -> None:
    t = step(State.LISTENING, ev.UserMessage("and then?", "voice"))
    assert Effect.RELEASE_DEFERRED in t.effects
    t = step(State.LISTENING, ev.ListenTimeout())
    assert t.next is State.IDLE and Effect.RELEASE_DEFERRED in t.effects


async def test_a_tool_result_during_the_users_turn_waits_for_them_then_is_answered() -> None:
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list([{"delay": 0.2, "text": "Noted, and the job is done."}], clock)
        async with Agent(backend, clock=clock, builtins=False) as agent:
            agent.post(ev.UserStartedSpeaking())
            await wait_for_state(agent, State.LISTENING)
            agent.post(ev.ToolResult("job 1 done", task_id="t1", name="job"))
            await clock.sleep(0.5)  # the user is still talking (the listen timer has not run out)
            # Nothing recorded, nothing generated: the agent does not talk over the user.
            assert agent.state is State.LISTENING
            assert kinds(agent) == []
            agent.post(ev.UserMessage("remember the milk", "voice"))
            with anyio.fail_after(30):
                await agent.settled()
            # Released, not dropped: the user's words first, then the held result, then one answer.
            assert kinds(agent) == ["user", "notification", "assistant"]
            held = [e for e in agent.ledger if e.kind != "system"][1]
            assert (held.text, held.source) == ("job 1 done", "tool_result")
            assert agent.ledger[-1].text == "Noted, and the job is done."
            assert agent.state is State.IDLE


async def test_a_held_notification_is_released_when_the_user_stays_silent() -> None:
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list([{"delay": 0.2, "text": "The timer rang."}], clock)
        async with Agent(backend, clock=clock, builtins=False) as agent:
            agent.post(ev.UserStartedSpeaking())
            await wait_for_state(agent, State.LISTENING)
            agent.post(ev.TimerFired("tea is ready", task_id="t2"))
            await clock.sleep(0.1)
            assert kinds(agent) == []
            await clock.sleep(agent.listen_timeout + 5)
            assert kinds(agent) == ["notification", "assistant"]
            timer = next(e for e in agent.ledger if e.kind == "notification")
            assert (timer.text, timer.source) == ("tea is ready", "timer")
            assert agent.ledger[-1].text == "The timer rang."
            assert agent.state is State.IDLE
