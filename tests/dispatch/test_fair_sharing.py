"""Fair sharing of one model server: a student whose model forks 50 sub-agents, or who sends a
loop of messages, must not starve the others.

The server here serves one request at a time in arrival order, as llama.cpp's server does (and
as a saturated vLLM does, batch by batch), with a fixed service time on the virtual clock. Each
student is an agent tree with its own backend talking to that one server.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import anyio
import pytest

from ipyagent import Agent
from ipyagent.dispatch.backends.base import Chunk, TextChunk, ToolCallChunk
from ipyagent.dispatch.limits import ModelCallLimit
from ipyagent.events import ToolCallRequest
from ipyagent.ledger.render.context import Context
from ipyagent.testing import VirtualClock

SERVICE = 2.0  # seconds the server spends on one request
FORKS = 50


class SharedServer:
    """One worker, first come first served; counts the requests each student has queued."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self._worker = anyio.Lock()  # anyio locks hand over in arrival order
        self.queued: dict[str, int] = {}
        self.most_queued: dict[str, int] = {}

    async def serve(self, student: str) -> None:
        self.queued[student] = self.queued.get(student, 0) + 1
        self.most_queued[student] = max(self.most_queued.get(student, 0), self.queued[student])
        try:
            async with self._worker:
                await self.clock.sleep(SERVICE)
        finally:
            self.queued[student] -= 1


class StudentModel:
    """A student's model on the shared server. The flooding student's main agent answers its
    first message by forking FORKS sub-agents at once."""

    def __init__(self, server: SharedServer, student: str, *, floods: bool = False) -> None:
        self.server = server
        self.student = student
        self.floods = floods
        self.name = f"shared-server:{student}"

    async def stream(self, context: Context, *, agent: str) -> AsyncIterator[Chunk]:
        await self.server.serve(self.student)
        answered = sum(1 for e in context.entries if e.kind == "assistant")
        if self.floods and agent == "main" and answered == 0:
            for i in range(FORKS):
                yield ToolCallChunk(
                    ToolCallRequest("fork", {"name": f"helper{i}", "task": f"part {i}"}, f"call_{i}")
                )
            return
        yield TextChunk(f"{self.student} {agent} answer")


async def _first_answer_delay(limit: int | None) -> tuple[float, dict[str, int]]:
    """The quiet student's wait for an answer while the other floods the server."""
    async with VirtualClock() as clock:
        server = SharedServer(clock)
        flooder = Agent(StudentModel(server, "flooder", floods=True), clock=clock, model_calls=limit)
        quiet = Agent(StudentModel(server, "quiet"), clock=clock, model_calls=limit)
        async with flooder, quiet:
            await flooder.send("do everything at once")
            # The flood is in: the main agent's answer forked its helpers, all asking the server.
            while len(flooder.children) < FORKS:
                await clock.sleep(0.1)
            asked = clock.now()
            await quiet.send("what is a list comprehension?")
            while not any(e.kind == "assistant" for e in quiet.ledger):
                await clock.sleep(0.1)
            delay = clock.now() - asked
            await flooder.settled()
            assert all(child.status == "done" for child in flooder.children.values())
        return delay, server.most_queued


async def test_a_flooding_student_does_not_starve_the_others() -> None:
    limited, queued = await _first_answer_delay(limit=2)
    # At most the flooder's two calls are ahead of the quiet student's one.
    assert limited <= 3 * SERVICE + 1
    assert queued["flooder"] == 2
    assert queued["quiet"] == 1

    # Without a limit the same flood puts all its calls ahead of the quiet student.
    unlimited, queued = await _first_answer_delay(limit=None)
    assert unlimited >= (FORKS - 2) * SERVICE
    assert queued["flooder"] >= FORKS - 1


async def test_every_held_back_call_still_runs_in_order_and_says_it_waits() -> None:
    async with VirtualClock() as clock:
        server = SharedServer(clock)
        flooder = Agent(StudentModel(server, "flooder", floods=True), clock=clock, model_calls=1)
        notes: list[str] = []
        flooder.subscribe(
            lambda u: notes.append(u.text) if type(u).__name__ == "ModelStatus" else None,  # type: ignore[attr-defined]
            children=True,
        )
        async with flooder:
            await flooder.send("do everything at once")
            while len(flooder.children) < FORKS:
                await clock.sleep(0.1)
            await flooder.settled()
        # One at a time: the 50 helpers and the main agent's two turns, SERVICE seconds each.
        assert clock.now() >= (FORKS + 2) * SERVICE
        assert server.most_queued["flooder"] == 1
        assert all(child.status == "done" for child in flooder.children.values())
        answers = [
            e.text for e in flooder.ledger if e.kind == "notification" and e.source == "subagent_report"
        ]
        assert len(answers) == FORKS
        waiting = [n for n in notes if n.startswith("waiting for the model")]
        assert waiting and "at most 1 at once" in waiting[0]


@pytest.mark.parametrize("limit", [1, None])
async def test_a_loop_of_messages_keeps_one_call_in_the_queue(limit: int | None) -> None:
    # One agent answers its messages one after the other, with or without a limit.
    async with VirtualClock() as clock:
        server = SharedServer(clock)
        flooder = Agent(StudentModel(server, "flooder"), clock=clock, model_calls=limit)
        quiet = Agent(StudentModel(server, "quiet"), clock=clock, model_calls=limit)
        async with flooder, quiet:
            for i in range(30):
                await flooder.send(f"message {i}")
            await clock.sleep(0.1)
            asked = clock.now()
            await quiet.send("hello")
            while not any(e.kind == "assistant" for e in quiet.ledger):
                await clock.sleep(0.1)
            assert clock.now() - asked <= 2 * SERVICE + 1
            await flooder.settled()
        assert server.most_queued["flooder"] == 1


@pytest.mark.parametrize(
    ("value", "limit"),
    [("", None), ("3", 3), (" 1 ", 1), ("0", None), ("-2", None), ("two", None), ("1.5", None)],
)
def test_the_limit_comes_from_the_environment(
    value: str, limit: int | None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="ipyagent.dispatch.limits"):
        got = ModelCallLimit.from_environment({"IPYAGENT_MODEL_CALLS": value})
    assert got.limit == limit
    bad = value.strip() not in ("", "1", "3")
    assert bool(caplog.records) == bad
    if bad:
        assert "IPYAGENT_MODEL_CALLS" in caplog.records[0].getMessage()
