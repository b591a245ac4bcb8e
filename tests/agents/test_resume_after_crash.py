"""Resuming a session whose process died (SIGKILL, a kernel crash): the agent knows which of its
tasks died with it, and the ids it hands out never repeat the ones already in the ledger."""

from __future__ import annotations

from pathlib import Path

from ipyagent import Agent, current_clock, tool
from ipyagent.dispatch.backends import ScriptedBackend
from ipyagent.ledger import Ledger
from ipyagent.testing import VirtualClock


@tool
async def long_job() -> str:
    "Runs for a minute."
    await current_clock().sleep(60)
    return "finished"


def crashed_session(path: Path) -> None:
    """A file as a process killed mid-work leaves it: a tool and a sub-agent started, no results."""
    ledger = Ledger.open(path)
    at = 1_767_000_000.0
    ledger.append("system", "Be helpful.", time=at)
    ledger.append("user", "start the job and ask a helper", time=at, source="api")
    ledger.append("assistant", "Starting both.", time=at, status="complete", generation=1)
    ledger.append("tool_call", "", time=at, name="long_job", call_id="call_1_1", arguments={}, generation=1)
    ledger.append(
        "tool_result", "started", time=at, name="long_job", call_id="call_1_1", task_id="t1", status="started"
    )
    helper = {"name": "fork-1", "task": "check the job"}
    ledger.append("tool_call", "", time=at, name="fork", call_id="call_1_2", arguments=helper, generation=1)
    ledger.append(
        "tool_result", "started", time=at, name="fork", call_id="call_1_2", task_id="t2", status="started"
    )
    helper_ledger = ledger.fork("main/fork-1")
    helper_ledger.append("user", "check the job", time=at, source="task")
    assert ledger.store is not None
    ledger.store.close()


async def test_a_resumed_agent_records_the_tasks_that_died_and_never_reuses_an_id(tmp_path: Path) -> None:
    path = tmp_path / "session.sqlite"
    crashed_session(path)
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list(
            [
                {"agent": "main", "text": "Starting it again.", "tool_calls": [{"name": "long_job"}]},
                {"agent": "fork-2", "text": "Checked again."},
                {"agent": "main", "text": "Noted."},
                {"agent": "main", "text": "Noted too."},
            ],
            clock,
        )
        async with Agent(backend, tools=[long_job], clock=clock, ledger=path) as agent:
            # What died with the old process is in the ledger, for the model and the user to see.
            died = [(e.source, e.task_id, e.name) for e in agent.ledger[7:]]
            assert died == [("tool_cancelled", "t1", "long_job"), ("tool_cancelled", "t2", "fork")]
            assert "did not finish" in agent.ledger[7].text
            assert agent.tasks == []  # nothing of the old process pretends to run

            await agent.send("try again")
            agent.fork("check it again")  # fork-1 is taken by the old helper's ledger
            await agent.settled()

        new = agent.ledger[9:]
        assert "fork-2" in agent.children
        started = [e for e in new if e.kind in ("tool_result", "subagent")]
        assert sorted(e.task_id or "" for e in started) == ["t3", "t4"]
        calls = {e.call_id for e in started if e.kind == "tool_result"}
        assert calls and calls.isdisjoint({"call_1_1", "call_1_2"})
        assert min(e.generation or 0 for e in new if e.kind == "assistant") == 2

    # The file as a new process reads it: every task started once, each ended once.
    resumed = Ledger.open(path)
    tasks = [e.task_id for e in resumed if e.kind in ("subagent", "tool_result") and e.task_id]
    ended = [e.task_id for e in resumed if e.kind == "notification" and e.task_id]
    assert sorted(tasks) == sorted(set(tasks)) == sorted(ended)
