"""Tool failure, timeout, cancellation, unknown tools and bad arguments all become notifications."""

from __future__ import annotations

import threading

from ipyagent import Agent, State, current_clock, tool
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.testing import VirtualClock, kinds
from support.failing_tools import explode, hang


@tool
async def slow() -> str:
    "Takes a minute."
    await current_clock().sleep(60)
    return "slow done"


@tool
def blocking_sum(a: int, b: int) -> int:
    "A synchronous tool; runs in a worker thread."
    assert threading.current_thread() is not threading.main_thread()
    return a + b


def call(name: str, **arguments: object) -> dict[str, object]:
    return {"name": name, "arguments": arguments}


async def run_script(
    script: list[dict[str, object]], tools: list[object], then: tuple[float, str] | None = None
) -> Agent:
    """Send "go"; optionally, after ``then[0]`` seconds, a second message; run until settled."""
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list(script, clock)
        async with Agent(backend, tools=tools, clock=clock) as agent:
            await agent.send("go")
            if then is not None:
                await clock.sleep(then[0])
                await agent.send(then[1])
            await agent.settled()
            assert agent.state is State.IDLE
            return agent


def notes(agent: Agent) -> list[tuple[str | None, str]]:
    return [(e.source, e.text) for e in agent.ledger if e.kind == "notification"]


async def test_tool_exception_becomes_error_notification() -> None:
    agent = await run_script(
        [{"text": "Checking.", "tool_calls": [call("explode", city="Atlantis")]}, {"text": "That failed."}],
        [explode],
    )
    assert notes(agent) == [("tool_error", "ValueError: no such city: Atlantis")]
    assert agent.ledger[-1].text == "That failed."
    assert agent.tasks[0].status == "failed"


async def test_tool_timeout_is_stopped_and_reported() -> None:
    agent = await run_script(
        [{"text": "Waiting.", "tool_calls": [call("hang")]}, {"text": "It hung."}], [hang]
    )
    assert notes(agent) == [("tool_timeout", "timed out after 5 s and was stopped")]
    assert agent.tasks[0].status == "timeout"
    assert agent.tasks[0].elapsed(0) == 5.0


async def test_model_cancels_a_running_task() -> None:
    agent = await run_script(
        [
            {"text": "Starting.", "tool_calls": [call("slow")]},
            {"text": "Cancelling.", "tool_calls": [call("cancel_task", task_id="t1")]},
            {"text": "Done."},
        ],
        [slow],
        then=(10, "Never mind, stop it."),
    )
    # The follow-up generation sees both outcomes at once.
    assert sorted(notes(agent)) == [
        ("tool_cancelled", "cancelled (cancelled by the agent)"),
        ("tool_result", "cancelled task t1 (slow)"),
    ]
    assert agent.tasks[0].status == "cancelled"


async def test_unknown_tool_and_invalid_arguments_are_rejected_to_the_model() -> None:
    agent = await run_script(
        [
            {"text": "", "tool_calls": [call("teleport", to="Mars"), call("blocking_sum", a="one", b=2)]},
            {"text": "Let me fix that.", "tool_calls": [call("blocking_sum", a=1, b=2)]},
            {"text": "It is 3."},
        ],
        [blocking_sum],
    )
    results = [(e.name, e.status, e.text) for e in agent.ledger if e.kind == "tool_result"]
    assert results[0][:2] == ("teleport", "rejected")
    assert "unknown tool 'teleport'" in results[0][2] and "blocking_sum" in results[0][2]
    assert results[1][:2] == ("blocking_sum", "rejected")
    assert "'one' is not of type 'integer'" in results[1][2]
    assert results[2][:2] == ("blocking_sum", "started")
    assert [s for s, _ in notes(agent)] == ["tool_rejected", "tool_rejected", "tool_result"]
    assert notes(agent)[-1] == ("tool_result", "3")
    assert agent.ledger[-1].text == "It is 3."


async def test_malformed_tool_arguments_are_rejected() -> None:
    agent = await run_script(
        [{"text": "", "tool_calls": [{"name": "blocking_sum", "arguments": "{a: 1,"}]}, {"text": "Oops."}],
        [blocking_sum],
    )
    call_entry = next(e for e in agent.ledger if e.kind == "tool_call")
    assert call_entry.arguments is None and call_entry.text == "{a: 1,"
    result = next(e for e in agent.ledger if e.kind == "tool_result")
    assert result.status == "rejected" and "not a JSON object" in result.text


async def test_model_failure_is_a_notification_and_no_retry_loop() -> None:
    agent = await run_script([], [])
    assert kinds(agent) == ["user", "notification"]
    note = agent.ledger[-1]
    assert note.source == "model_error"
    assert "has no turn left" in note.text


async def test_timer_and_list_tasks() -> None:
    agent = await run_script(
        [
            {"text": "Timer set.", "tool_calls": [call("set_timer", seconds=300, label="tea")]},
            {"text": "Let me look.", "tool_calls": [call("list_tasks")]},
            {"text": "Your tea timer is running."},
            {"text": "Tea is ready!"},
        ],
        [],
        then=(60, "What is running?"),
    )
    texts = notes(agent)
    assert texts[0] == (
        "tool_result",
        "t1 set_timer (timer): running for 1 min\nt2 list_tasks (tool): running for 0.0 s",
    )
    assert texts[1] == ("timer", "timer 'tea' went off (5 min after it was set)")
    assert agent.ledger[-1].text == "Tea is ready!"
    assert agent.ledger[-1].time - agent.ledger[0].time >= 300
