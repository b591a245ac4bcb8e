"""When tools start and when their results are answered, on the virtual clock: a call starts the
moment its arguments are decoded, results that arrive close together share one generation, and
each notification knows when its tool finished."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from ipyagent import Agent, current_clock, tool
from ipyagent.agents import TaskChanged, Update
from ipyagent.dispatch.backends import Chunk, ScriptedBackend
from ipyagent.dispatch.backends.base import TextChunk, ToolCallChunk
from ipyagent.events import ToolCallRequest
from ipyagent.ledger.render import render_openai
from ipyagent.ledger.render.context import Context
from ipyagent.testing import VirtualClock


class Recording:
    """A scripted backend that remembers each context it was given."""

    def __init__(self, turns: list[dict[str, Any]], clock: VirtualClock) -> None:
        self.inner = ScriptedBackend.from_list(turns, clock)
        self.name = "recording"
        self.contexts: list[Context] = []

    def stream(self, context: Context, *, agent: str) -> AsyncIterator[Chunk]:
        self.contexts.append(context)
        return self.inner.stream(context, agent=agent)


def started_at(agent: Agent) -> dict[str, float]:
    """Tool name -> when its task started (agent clock)."""
    return {t.name: t.started for t in agent.tasks}


@tool
async def lookup(city: str, seconds: float = 1.0) -> str:
    "Look a city up."
    await current_clock().sleep(seconds)
    return f"{city}: found"


async def test_a_call_starts_when_decoded_not_when_the_turn_ends() -> None:
    async with VirtualClock() as clock:
        turns = [
            {
                "delay": 10,
                "text": "Looking both up while I tell you about them at length.",
                "tool_calls": [
                    {"name": "lookup", "arguments": {"city": "Paris"}, "at": 2},
                    {"name": "lookup", "arguments": {"city": "Rome"}, "at": 4},
                ],
            },
            {"delay": 1, "text": "Both found."},
        ]
        async with Agent(Recording(turns, clock), tools=[lookup], clock=clock, fold_window=0) as agent:
            await agent.send("find Paris and Rome")
            await agent.settled()
        starts = sorted(t.started for t in agent.tasks)
        assert starts == [2.0, 4.0]  # not 10, when the turn's text ended
        # Both finished (at 3 and 5) while the turn was still being generated: one more answer.
        kinds = [(e.kind, e.status or e.source) for e in agent.ledger.own]
        assert kinds == [
            ("system", None),
            ("user", "api"),
            ("assistant", "complete"),
            ("tool_call", None),
            ("tool_result", "started"),
            ("tool_call", None),
            ("tool_result", "started"),
            ("notification", "tool_result"),
            ("notification", "tool_result"),
            ("assistant", "complete"),
        ]


async def test_interruption_keeps_calls_already_started_and_drops_the_rest() -> None:
    async with VirtualClock() as clock:
        turns = [
            {
                "delay": 10,
                "text": "one two three four five six seven eight nine ten",
                "tool_calls": [
                    {"name": "lookup", "arguments": {"city": "Paris", "seconds": 20}, "at": 2},
                    {"name": "lookup", "arguments": {"city": "Rome"}, "at": 8},
                ],
            },
        ]
        async with Agent(Recording(turns, clock), tools=[lookup], clock=clock, fold_window=0) as agent:
            await agent.send("find Paris and Rome")
            await clock.sleep(5)
            agent.interrupt("stop")
            await clock.sleep(30)
            await agent.settled()
        assert [(t.name, t.arguments["city"], t.status) for t in agent.tasks] == [("lookup", "Paris", "done")]
        own = agent.ledger.own
        assert [e.kind for e in own[2:6]] == ["assistant", "tool_call", "tool_result", "interruption"]
        assert own[2].status == "interrupted" and own[3].arguments == {"city": "Paris", "seconds": 20}
        assert own[6].kind == "notification" and own[6].task_id == "t1"


async def test_a_call_started_before_the_model_failed_is_recorded() -> None:
    class FailsAfterACall:
        """Its first stream makes a call, then breaks; later ones answer."""

        name = "fails"
        streams = 0

        async def stream(self, context: Context, *, agent: str) -> AsyncIterator[Chunk]:
            self.streams += 1
            if self.streams > 1:
                yield TextChunk("Oslo is found.")
                return
            yield ToolCallChunk(ToolCallRequest("lookup", {"city": "Oslo"}, "c1"))
            await current_clock().sleep(1)
            raise RuntimeError("connection reset")

    async with VirtualClock() as clock:
        async with Agent(FailsAfterACall(), tools=[lookup], clock=clock, fold_window=0) as agent:
            await agent.send("Oslo?")
            await clock.sleep(0.5)
            await agent.settled()
        kinds = [(e.kind, e.status or e.source) for e in agent.ledger.own[2:]]
        assert kinds[:3] == [("assistant", "incomplete"), ("tool_call", None), ("tool_result", "started")]
        assert ("notification", "model_error") in kinds and ("notification", "tool_result") in kinds


def generations(agent: Agent) -> int:
    return sum(1 for e in agent.ledger.own if e.kind == "assistant")


@pytest.mark.parametrize(("window", "answers"), [(0.0, 4), (0.5, 2)])
async def test_results_within_the_window_share_one_generation(window: float, answers: int) -> None:
    async with VirtualClock() as clock:
        calls = [{"name": "lookup", "arguments": {"city": c, "seconds": s}} for c, s in
                 [("Paris", 3.0), ("Rome", 3.2), ("Oslo", 3.4)]]  # fmt: skip
        turns = [{"delay": 1, "text": "On it.", "tool_calls": calls}] + [
            {"delay": 0.1, "text": "Here is what came back."}
        ] * 3
        backend = Recording(turns, clock)
        async with Agent(backend, tools=[lookup], clock=clock, fold_window=window) as agent:
            await agent.send("find three cities")
            await agent.settled()
        assert generations(agent) == answers
        if window:
            # All three results (at 4, 4.2, 4.4) are in one answer, started 0.5 s after the first.
            last = backend.contexts[-1]
            assert sum(1 for e in last.entries if e.kind == "notification") == 3
            assert agent.ledger.own[-1].time == pytest.approx(clock.epoch + 4.5 + 0.1)


async def test_a_user_message_is_answered_at_once_within_the_window() -> None:
    async with VirtualClock() as clock:
        turns = [
            {
                "delay": 1,
                "text": "On it.",
                "tool_calls": [
                    {"name": "lookup", "arguments": {"city": "Paris"}},
                    {"name": "lookup", "arguments": {"city": "Rome", "seconds": 30}},
                ],
            },
            {"delay": 1, "text": "Paris found, and hello."},
            {"delay": 1, "text": "Rome found."},
        ]
        async with Agent(Recording(turns, clock), tools=[lookup], clock=clock, fold_window=5) as agent:
            await agent.send("find Paris and Rome")
            # Paris arrived at 2 while Rome still runs; the window would hold it until 7.
            await clock.sleep(2.5)
            await agent.send("hello?")
            await clock.sleep(1.5)
            assert generations(agent) == 2
            assert agent.ledger.own[-1].text == "Paris found, and hello."
            assert agent.ledger.own[-1].time == clock.epoch + 2.5 + 1
            await agent.settled()
        assert generations(agent) == 3


async def test_a_lone_result_is_answered_at_once_whatever_the_window() -> None:
    async with VirtualClock() as clock:
        turns = [
            {
                "delay": 1,
                "text": "On it.",
                "tool_calls": [{"name": "lookup", "arguments": {"city": "Paris"}}],
            },
            {"delay": 1, "text": "Paris found."},
        ]
        async with Agent(Recording(turns, clock), tools=[lookup], clock=clock, fold_window=5) as agent:
            await agent.send("find Paris")
            await agent.settled()
        # Nothing else was running, so nothing could have joined it: no wait.
        assert agent.ledger.own[-1].time == clock.epoch + 2 + 1


async def test_a_result_held_during_a_generation_keeps_its_finish_time() -> None:
    async with VirtualClock() as clock:
        turns = [
            {
                "delay": 1,
                "text": "On it.",
                "tool_calls": [{"name": "lookup", "arguments": {"city": "Paris"}}],
            },
            {"delay": 10, "text": "Meanwhile, a long answer about something else entirely."},
            {"delay": 1, "text": "Paris is found."},
        ]
        backend = Recording(turns, clock)
        async with Agent(backend, tools=[lookup], clock=clock, fold_window=0) as agent:
            await agent.send("find Paris")
            await clock.sleep(1.5)
            await agent.send("tell me a story")  # generating from 1.5 to 11.5; Paris done at 2
            await agent.settled()
        note = next(e for e in agent.ledger.own if e.kind == "notification")
        assert note.finished == clock.epoch + 2
        assert note.time == clock.epoch + 11.5
        # The model is told both times, and how old the result is.
        messages, _ = render_openai(backend.contexts[-1])
        tagged = next(m["content"] for m in messages if "<notification" in str(m["content"]))
        assert 'finished="2026-01-01 09:00:02 UTC"' in tagged and 'time="2026-01-01 09:00:11 UTC"' in tagged
        assert "New results: t1 lookup finished 9.5 s ago" in messages[-1]["content"]


@tool
async def crawl(pages: int) -> str:
    "Crawl some pages."
    from ipyagent import progress

    for n in range(1, pages + 1):
        await current_clock().sleep(10)
        progress("pages crawled", done=n, total=pages, notify=n == pages - 1)
    return f"{pages} pages"


async def test_progress_is_shown_in_the_next_prompt_and_starts_no_generation() -> None:
    async with VirtualClock() as clock:
        turns = [
            {"delay": 1, "text": "Crawling.", "tool_calls": [{"name": "crawl", "arguments": {"pages": 4}}]},
            {"delay": 1, "text": "It is on page 2."},
            {"delay": 1, "text": "Almost done, I was told."},
            {"delay": 1, "text": "All four pages are done."},
        ]
        backend = Recording(turns, clock)
        seen: list[str | None] = []

        def on_update(update: Update) -> None:
            report = update.task.progress if isinstance(update, TaskChanged) else None
            if report is not None and report.text not in seen:
                seen.append(report.text)

        async with Agent(backend, tools=[crawl], clock=clock, fold_window=0) as agent:
            agent.subscribe(on_update)
            await agent.send("crawl four pages")
            await clock.sleep(25)  # two reports so far, and no generation for them
            assert generations(agent) == 1
            await agent.send("how far is it?")
            await agent.settled()
        assert seen == [f"pages crawled ({n} of 4)" for n in (1, 2, 3, 4)]
        pending = backend.contexts[1].pending
        assert [(p.task_id, p.progress, p.progress_age) for p in pending] == [
            ("t1", "pages crawled (2 of 4)", 4.0)
        ]
        messages, _ = render_openai(backend.contexts[1])
        assert (
            "t1 crawl (running 24 s; progress: pages crawled (2 of 4), 4.0 s ago)" in messages[-1]["content"]
        )
        # notify=True on page 3 asked for a generation; the other reports did not.
        notes = [e.text for e in agent.ledger.own if e.kind == "notification"]
        assert notes == ["progress: pages crawled (3 of 4)", "4 pages"]
        assert generations(agent) == 4


async def test_progress_from_a_sync_tool_in_a_worker_thread() -> None:
    from ipyagent import progress

    @tool
    def count(n: int) -> int:
        "Count to n."
        for i in range(1, n + 1):
            progress("counting", done=i, total=n)
        return n

    async with VirtualClock() as clock:
        turns = [{"delay": 1, "text": "Counting.", "tool_calls": [{"name": "count", "arguments": {"n": 3}}]},
                 {"delay": 1, "text": "Done."}]  # fmt: skip
        reports: list[str] = []

        def on_update(update: Update) -> None:
            if isinstance(update, TaskChanged) and update.task.progress is not None:
                reports.append(update.task.progress.text)

        async with Agent(Recording(turns, clock), tools=[count], clock=clock) as agent:
            agent.subscribe(on_update)
            await agent.send("count to 3")
            await agent.settled()
        assert reports[:3] == ["counting (1 of 3)", "counting (2 of 3)", "counting (3 of 3)"]


def test_progress_outside_a_task_does_nothing() -> None:
    from ipyagent import progress

    assert progress("alone") is False


async def test_an_error_in_an_agent_block_comes_out_as_itself() -> None:
    async with VirtualClock() as clock:
        backend = ScriptedBackend.from_list([{"delay": 5, "text": "A slow answer."}], clock)
        caught: TimeoutError | None = None
        try:
            async with Agent(backend, clock=clock) as agent:
                await agent.send("hi")
                await clock.sleep(1)
                raise TimeoutError("gave up")
        except TimeoutError as exc:  # not an ExceptionGroup around it
            caught = exc
        assert caught is not None and str(caught) == "gave up"
        assert agent.status == "closed"
        assert agent.ledger.own[-1].kind == "interruption"  # what was in flight is recorded
